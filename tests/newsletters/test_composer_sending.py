"""The send page: send now (once per person, however often clicked), plan, pause, resume, cancel, the
progress figures and the per-recipient delivery list with the mail server's answers."""
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller

from crm.extensions import db
from crm.mail.models import Delivery
from crm.newsletters import sending
from crm.newsletters.models import NewsletterStatus
from tests.conftest import free_port
from tests.html import field_error, page_text, text
from tests.portal import followed_flashes

BERLIN = ZoneInfo("Europe/Berlin")


def audience(make, n: int = 3, name: str = "Versandliste"):
    """A newsletter to a segment of `n` people with consent, and one person of the segment without."""
    segment = make.segment(name=name, filters={"q": name})
    people = [make.person(last_name=f"{name}{i}", newsletter_consent=True) for i in range(n)]
    make.person(last_name=f"{name}-ohne", newsletter_consent=False)
    newsletter = make.newsletter(subject="Neues aus Freiburg", segment=segment)
    db.session.commit()  # as in real use: a refused click rolls back, the setting stays
    return newsletter, people


def statuses(newsletter) -> list[str]:
    db.session.expire_all()
    rows = db.session.scalars(sa.select(Delivery.status).where(Delivery.subject_id == newsletter.id, Delivery.mailing == "newsletter"))
    return sorted(s.value for s in rows)


def test_send_page_shows_audience_exclusions_and_the_confirmation(client, login, make):
    login("office")
    newsletter, people = audience(make)
    response = client.get(f"/newsletters/{newsletter.id}/versand")
    page = page_text(text(response))
    assert "3 Personen erhalten den Newsletter, 1 nicht." in page
    assert "keine Einwilligung für den Newsletter: 1" in page and people[0].full_name in page
    assert 'data-confirm="„Neues aus Freiburg“ jetzt an 3 Personen senden?"' in text(response)
    assert "Jetzt senden (3)" in page and "Planen" in page


def test_send_now_reaches_everyone_once_even_when_clicked_twice(client, login, make, mailbox):
    login("office")
    newsletter, people = audience(make)
    response = client.post(f"/newsletters/{newsletter.id}/senden")
    assert followed_flashes(client, response) == ["Der Versand hat begonnen: 3 Personen erhalten den Newsletter."]
    response = client.post(f"/newsletters/{newsletter.id}/senden")  # a double click
    assert followed_flashes(client, response) == ["Das geht nicht bei einem Newsletter mit dem Status „versandt“."]

    assert sorted(a for e in mailbox.envelopes for a in e.rcpt_tos) == sorted(p.email for p in people)
    assert {m["Subject"] for m in mailbox.messages} == {"Neues aus Freiburg"}
    db.session.expire_all()
    assert newsletter.status == NewsletterStatus.sent and statuses(newsletter) == ["sent"] * 3
    progress = client.get(f"/newsletters/{newsletter.id}/fortschritt.json").get_json()
    assert progress["counts"] == {"queued": 0, "sent": 3, "failed": 0, "bounced": 0, "skipped": 0}
    assert (progress["status"], progress["percent"], progress["sending"]) == ("sent", 100, False)
    page = page_text(text(client.get(f"/newsletters/{newsletter.id}/versand")))
    assert "100 % erledigt – versandt: 3" in page and "Jetzt senden" not in page


def test_pause_resume_and_cancel_act_on_what_is_still_queued(client, login, make, mailbox):
    login("office")
    newsletter, people = audience(make)
    sending.start(newsletter, actor=None)  # queued, not yet dispatched
    db.session.commit()
    progress = client.get(f"/newsletters/{newsletter.id}/fortschritt.json").get_json()
    assert (progress["status"], progress["counts"]["queued"], progress["percent"], progress["sending"]) == ("sending", 3, 0, True)
    page = page_text(text(client.get(f"/newsletters/{newsletter.id}/versand")))
    assert "Versand anhalten" in page and "aktualisiert sich alle zwei Sekunden" in page

    response = client.post(f"/newsletters/{newsletter.id}/anhalten")
    assert "Der Versand ist angehalten." in followed_flashes(client, response)[0]
    assert newsletter.status == NewsletterStatus.paused and statuses(newsletter) == ["queued"] * 3 and mailbox.messages == []

    response = client.post(f"/newsletters/{newsletter.id}/fortsetzen")
    assert followed_flashes(client, response) == ["Der Versand geht weiter."]
    assert statuses(newsletter) == ["sent"] * 3 and len(mailbox.messages) == 3
    assert newsletter.status == NewsletterStatus.sent

    other, _ = audience(make, n=2, name="Zweitliste")
    sending.start(other, actor=None)
    db.session.commit()
    mailbox.clear()
    response = client.post(f"/newsletters/{other.id}/abbrechen")
    assert followed_flashes(client, response) == ["Der Versand ist abgebrochen. 2 Personen erhalten den Newsletter nicht mehr."]
    assert other.status == NewsletterStatus.cancelled and statuses(other) == ["skipped"] * 2 and mailbox.messages == []
    page = page_text(text(client.get(f"/newsletters/{other.id}/zustellungen")))
    assert page.count("nicht versandt (abgebrochen)") >= 2 and "Versand abgebrochen" in page


def test_planning_takes_berlin_time_and_can_be_undone(client, login, make):
    login("office")
    newsletter, _ = audience(make)
    when = (datetime.now(BERLIN) + timedelta(days=3)).replace(hour=9, minute=30, second=0, microsecond=0)
    response = client.post(f"/newsletters/{newsletter.id}/planen", data={"scheduled_at": when.strftime("%Y-%m-%dT%H:%M")})
    assert followed_flashes(client, response) == [f"Der Versand ist geplant für {when:%d.%m.%Y}, 09:30 Uhr."]
    db.session.expire_all()
    assert newsletter.status == NewsletterStatus.scheduled
    assert newsletter.scheduled_at.astimezone(BERLIN).replace(tzinfo=None) == when.replace(tzinfo=None)
    assert "Planung aufheben" in page_text(text(client.get(f"/newsletters/{newsletter.id}/versand")))

    response = client.post(f"/newsletters/{newsletter.id}/planung-aufheben")
    assert "wieder ein Entwurf" in followed_flashes(client, response)[0]
    assert newsletter.status == NewsletterStatus.draft and newsletter.scheduled_at is None

    past = (datetime.now(BERLIN) - timedelta(days=1)).strftime("%d.%m.%Y %H:%M")
    response = client.post(f"/newsletters/{newsletter.id}/planen", data={"scheduled_at": past})
    assert field_error(response, "scheduled_at") == "Der Zeitpunkt muss in der Zukunft liegen."
    response = client.post(f"/newsletters/{newsletter.id}/planen", data={"scheduled_at": "morgen früh"})
    assert field_error(response, "scheduled_at") == "Bitte Datum und Uhrzeit angeben, z. B. 20.11.2018 11:30."
    db.session.expire_all()
    assert newsletter.status == NewsletterStatus.draft


class RefusingServer:
    """Accepts every recipient but one, whose mailbox does not exist."""

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.startswith("unbekannt"):
            return "550 5.1.1 Mailbox unbekannt"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        return "250 Message accepted for delivery"


@pytest.fixture()
def refusing_server(app, monkeypatch):
    controller = Controller(RefusingServer(), hostname="127.0.0.1", port=free_port())
    controller.start()
    monkeypatch.setitem(app.config, "SMTP_PORT", controller.port)
    yield controller
    controller.stop()


def test_deliveries_list_each_recipient_with_the_mail_servers_answer(client, login, make, refusing_server):
    login("office")
    newsletter, people = audience(make, n=2)
    lost = make.person(first_name="Uwe", last_name="Versandliste-Unbekannt", email="unbekannt@example.org", newsletter_consent=True)
    db.session.commit()
    client.post(f"/newsletters/{newsletter.id}/senden")

    page = page_text(text(client.get(f"/newsletters/{newsletter.id}/zustellungen")))
    assert "alle 3" in page and "versandt 2" in page and "fehlgeschlagen 1" in page
    assert "Öffnungen und Klicks werden nicht erfasst." in page
    row = page.split("Uwe Versandliste-Unbekannt")[1][:300]
    assert row.startswith(" unbekannt@example.org fehlgeschlagen 1") and "550" in row and "Mailbox unbekannt" in row

    page = page_text(text(client.get(f"/newsletters/{newsletter.id}/zustellungen?status=failed")))
    assert lost.full_name in page and people[0].full_name not in page
    page = page_text(text(client.get(f"/newsletters/{newsletter.id}/zustellungen?status=sent")))
    assert all(p.full_name in page for p in people) and lost.full_name not in page


def test_deliveries_are_paginated(client, login, make):
    login("office")
    newsletter, people = audience(make, n=55)
    sending.start(newsletter, actor=None)
    db.session.commit()
    page = page_text(text(client.get(f"/newsletters/{newsletter.id}/zustellungen")))
    assert "Seite 1 von 2" in page and "in Warteschlange 55" in page
    page = page_text(text(client.get(f"/newsletters/{newsletter.id}/zustellungen?page=2")))
    assert page.count("in Warteschlange") == 5 + 1  # five rows and the tab
