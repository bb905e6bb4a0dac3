"""A mailing pauses itself when too many delivery attempts fail; the office sees why and resumes it."""
from datetime import timedelta

import pytest
import sqlalchemy as sa

from crm.events import sending as event_sending
from crm.events.invitations import invite
from crm.extensions import db, utcnow
from crm.mail import autopause, pipeline
from crm.mail.models import Delivery, DeliveryStatus, MailingPause
from crm.mail.transports import TransportError
from crm.newsletters import sending
from crm.newsletters.models import NewsletterStatus

REFUSAL = ("RCPT", "451 4.7.1 Bitte spaeter erneut versuchen")


def _failure() -> TransportError:
    return TransportError("abgelehnt", reply="451 4.7.1 Bitte spaeter erneut versuchen")


def test_the_window_judges_from_the_minimum_on_and_forgets_old_attempts():
    window = autopause.ErrorWindow(size=10, rate=0.3, minimum=5)
    assert [window.failed(_failure()) for _ in range(4)] == [None] * 4, "too few attempts to judge"
    assert window.failed(_failure()) == (
        "Automatisch angehalten: 5 von 5 Zustellversuchen sind gescheitert; "
        "letzte Antwort des Mailservers: 451 4.7.1 Bitte spaeter erneut versuchen"
    )

    window = autopause.ErrorWindow(size=10, rate=0.3, minimum=5)
    for _ in range(3):
        window.failed(_failure())
    for _ in range(7):
        window.succeeded()
    # Each new failure pushes an old one out of the window: 3 of the last 10, 30 % is allowed.
    assert [window.failed(_failure()) for _ in range(3)] == [None] * 3
    assert window.failed(_failure()).startswith("Automatisch angehalten: 4 von 10 ")


def test_the_window_can_be_switched_off():
    window = autopause.ErrorWindow(size=10, rate=0, minimum=1)
    assert all(window.failed(TransportError("keine Verbindung", connection=True)) is None for _ in range(20))


@pytest.fixture()
def strict(app, monkeypatch):
    """Judge from five attempts on; `serve(controller)` sends over that server."""
    monkeypatch.setitem(app.config, "MAIL_PAUSE_MIN_ATTEMPTS", 5)
    monkeypatch.setitem(app.config, "MAIL_PAUSE_WINDOW", 20)
    monkeypatch.setitem(app.config, "MAIL_PAUSE_ERROR_RATE", 0.3)
    return lambda controller: monkeypatch.setitem(app.config, "SMTP_SERVERS", f"smtp://127.0.0.1:{controller.port}")


def _statuses(mailing: str, subject_id: int) -> dict[str, int]:
    db.session.expire_all()
    rows = db.session.execute(
        sa.select(Delivery.status, sa.func.count()).where(Delivery.mailing == mailing, Delivery.subject_id == subject_id)
        .group_by(Delivery.status)
    )  # fmt: skip
    return {status.value: number for status, number in rows}


def test_a_newsletter_pauses_itself_and_the_office_sees_why_and_resumes(client, login, make, scripted, strict):
    login("office")
    refusing, accepting = scripted(everyone=REFUSAL), scripted()
    strict(refusing)
    people = [make.person(newsletter_consent=True) for _ in range(12)]
    newsletter = make.newsletter(segment=make.segment(filters={}))
    db.session.commit()

    client.post(f"/newsletters/{newsletter.id}/senden")

    db.session.refresh(newsletter)
    assert newsletter.status == NewsletterStatus.paused
    reason = ("Automatisch angehalten: 5 von 5 Zustellversuchen sind gescheitert; "
              "letzte Antwort des Mailservers: 451 4.7.1 Bitte spaeter erneut versuchen")  # fmt: skip
    assert newsletter.paused_reason == reason
    assert refusing.handler.attempts == 5, "stopped at once, not after the whole batch"
    assert _statuses(sending.MAILING, newsletter.id) == {"queued": len(people)}
    assert reason in client.get(f"/newsletters/{newsletter.id}/versand").get_data(as_text=True)

    strict(accepting)  # the office had the mail server fixed
    client.post(f"/newsletters/{newsletter.id}/fortsetzen")
    pipeline.dispatch_pending(now=_after_backoff())
    db.session.refresh(newsletter)
    assert newsletter.paused_reason is None and newsletter.status == NewsletterStatus.sent
    assert sorted(accepting.handler.received) == sorted(p.email for p in people)


def _after_backoff():
    return utcnow() + timedelta(hours=1)  # the five refused ones wait for their retry


def test_a_manual_pause_gives_no_automatic_reason(client, login, make):
    login("office")
    make.person(newsletter_consent=True)
    newsletter = make.newsletter(segment=make.segment(filters={}))
    sending.start(newsletter, actor=None)  # queued, not yet dispatched
    db.session.commit()

    client.post(f"/newsletters/{newsletter.id}/anhalten")
    page = client.get(f"/newsletters/{newsletter.id}/versand").get_data(as_text=True)
    assert "Von der Geschäftsstelle angehalten." in page and "Automatisch angehalten" not in page


def test_event_mails_pause_and_the_invitations_page_offers_to_resume(client, login, make, scripted, strict):
    login("office")
    refusing, accepting = scripted(everyone=REFUSAL), scripted()
    strict(refusing)
    event = make.event()
    people = [make.person(invitation_consent=True) for _ in range(8)]
    db.session.commit()

    invite(event, segment=None, person_ids=[p.id for p in people], actor=None)
    db.session.commit()
    event_sending.deliver(event)

    [row] = db.session.scalars(sa.select(MailingPause)).all()
    assert (row.mailing, row.subject_id) == ("event_invitation", event.id)
    assert row.reason.startswith("Automatisch angehalten: 5 von 5 Zustellversuchen sind gescheitert;")
    page = client.get(f"/veranstaltungen/{event.id}/einladungen/").get_data(as_text=True)
    assert "Versand „Einladungen“: Automatisch angehalten: 5 von 5" in page
    assert pipeline.dispatch("event_invitation", event.id).stopped == "angehalten", "stays paused until resumed"

    strict(accepting)
    response = client.post(f"/veranstaltungen/{event.id}/einladungen/versand-fortsetzen")
    assert response.status_code == 302
    assert db.session.scalars(sa.select(MailingPause)).all() == []
    assert len(accepting.handler.received) == 3, "the three not tried yet go at once; the five refused wait for their retry"
    pipeline.dispatch_pending(now=_after_backoff())
    assert _statuses("event_invitation", event.id) == {DeliveryStatus.sent.value: 8}
    assert "Automatisch angehalten" not in client.get(f"/veranstaltungen/{event.id}/einladungen/").get_data(as_text=True)
