"""One-click unsubscribe (RFC 8058): a POST with a valid token leaves the list at once; a GET only shows a button."""
import re

import pytest
import sqlalchemy as sa

from crm.contacts.models import ConsentChannel, ConsentMethod
from crm.extensions import db
from crm.mail.models import SuppressionReason, suppressed
from crm.newsletters import subscription
from crm.newsletters.links import preferences_token, unsubscribe_token
from tests.html import page_text, text
from tests.newsletters import BROWSER, FROM, enable_csrf, ledger, suppression

NEWSLETTER, INVITATIONS = ConsentChannel.newsletter, ConsentChannel.event_invitation

BODIES = {
    "rfc8058": {"data": "List-Unsubscribe=One-Click", "content_type": "application/x-www-form-urlencoded"},
    "empty": {},
    "form": {"data": {"irgendwas": "egal"}},
    "binary": {"data": b"\x00\xff nonsense", "content_type": "application/octet-stream"},
}


def blocked(email: str, channel: ConsentChannel) -> bool:
    return db.session.scalar(sa.select(suppressed(sa.literal(email), channel)))


@pytest.fixture()
def mail_program(app, db, monkeypatch):
    """What a mail program is: no cookies, no CSRF token, no login (CSRF protection switched on)."""
    enable_csrf(app, monkeypatch)
    return app.test_client(use_cookies=False)


@pytest.mark.parametrize("body", BODIES, ids=list(BODIES))
@pytest.mark.parametrize(("channel", "other"), [(NEWSLETTER, INVITATIONS), (INVITATIONS, NEWSLETTER)])
def test_a_post_with_any_body_unsubscribes_at_once_from_that_list_only(mail_program, make, body, channel, other):
    person = make.person(email="leser@example.org", newsletter_consent=True, invitation_consent=True)
    db.session.commit()
    response = mail_program.post(f"/abmelden/{unsubscribe_token(person, channel)}", headers=BROWSER, environ_base=FROM,
                                 **BODIES[body])  # fmt: skip
    assert response.status_code == 200 and "Location" not in response.headers
    assert "Set-Cookie" not in response.headers
    assert "Sie sind abgemeldet" in text(response)

    db.session.expire_all()
    [withdrawal] = ledger(person)
    assert (withdrawal.channel, withdrawal.granted, withdrawal.method) == (channel, False, ConsentMethod.unsubscribe)
    assert withdrawal.request_ip == "203.0.113.7" and withdrawal.user_agent == BROWSER["User-Agent"]
    assert withdrawal.source == (subscription.ONE_CLICK_SOURCE if body == "rfc8058" else subscription.PAGE_SOURCE)
    assert withdrawal.recorded_by is None
    row = suppression("leser@example.org")
    assert (row.channel, row.reason) == (channel, SuppressionReason.unsubscribed)
    assert blocked("leser@example.org", channel) and not blocked("leser@example.org", other)
    consent = {NEWSLETTER: person.newsletter_consent, INVITATIONS: person.invitation_consent}
    assert consent == {channel: False, other: True}


def test_unsubscribing_twice_records_nothing_new(mail_program, make):
    person = make.person(email="zweimal@example.org", newsletter_consent=True)
    db.session.commit()
    path = f"/abmelden/{unsubscribe_token(person, NEWSLETTER)}"
    for _ in range(2):
        assert mail_program.post(path, data="List-Unsubscribe=One-Click").status_code == 200
    assert len(ledger(person)) == 1
    assert suppression("zweimal@example.org").channel == NEWSLETTER


def test_both_lists_block_all_bulk_mail(mail_program, make):
    person = make.person(email="beide@example.org", newsletter_consent=True, invitation_consent=True)
    db.session.commit()
    for channel in (NEWSLETTER, INVITATIONS):
        mail_program.post(f"/abmelden/{unsubscribe_token(person, channel)}")
    assert suppression("beide@example.org").channel is None
    assert [c.channel for c in ledger(person)] == [NEWSLETTER, INVITATIONS]


def test_opening_the_link_shows_a_button_and_changes_nothing(app, make):
    person = make.person(email="kim.leser@example.org", newsletter_consent=True)
    db.session.commit()
    token = unsubscribe_token(person, NEWSLETTER)
    response = app.test_client().get(f"/abmelden/{token}")
    assert response.status_code == 200
    markup = text(response)
    form = rf'<form method="post" action="/abmelden/{re.escape(token)}">\s*<button type="submit">Jetzt abmelden</button>'
    assert re.search(form, markup)
    assert "Möchten Sie den Newsletter an k***@example.org nicht mehr erhalten?" in page_text(markup)
    assert "kim.leser@example.org" not in markup
    assert "/einstellungen/" in markup  # or choose instead
    db.session.expire_all()
    assert ledger(person) == [] and suppression("kim.leser@example.org") is None and person.newsletter_consent is True


def test_the_page_after_unsubscribing_says_so_and_offers_the_preference_centre(app, client, make):
    person = make.person(email="danach@example.org", newsletter_consent=True)
    db.session.commit()
    path = f"/abmelden/{unsubscribe_token(person, NEWSLETTER)}"
    response = client.post(path)
    assert "An d***@example.org senden wir den Newsletter nicht mehr." in page_text(text(response))
    [preferences] = re.findall(r'href="(/einstellungen/[^"]+)"', text(response))
    assert client.get(preferences).status_code == 200
    again = page_text(text(client.get(path)))
    assert "Sie sind bereits abgemeldet" in again and "Jetzt abmelden" not in again


@pytest.mark.parametrize("method", ["get", "post"])
def test_a_tampered_token_gets_a_german_400_page(mail_program, make, method):
    person = make.person(newsletter_consent=True)
    db.session.commit()
    good = unsubscribe_token(person, NEWSLETTER)
    forged = good.replace(good.split(".")[0], unsubscribe_token(make.person(), NEWSLETTER).split(".")[0])
    for token in (good[:-2] + "xx", forged, preferences_token(person), "kaputt"):
        response = getattr(mail_program, method)(f"/abmelden/{token}")
        assert response.status_code == 400
        assert "Dieser Link ist ungültig" in text(response)
    db.session.expire_all()
    assert ledger(person) == [] and person.newsletter_consent is True


def test_a_person_deleted_meanwhile_gets_mail_no_more_and_a_plain_answer(mail_program, make):
    person = make.person(email="geloescht@example.org", newsletter_consent=True)
    db.session.flush()
    token = unsubscribe_token(person, NEWSLETTER)
    db.session.delete(person)
    db.session.commit()
    response = mail_program.post(f"/abmelden/{token}", data="List-Unsubscribe=One-Click")
    assert response.status_code == 200 and "Wir senden Ihnen den Newsletter nicht mehr." in page_text(text(response))


def test_the_preview_link_unsubscribes_nobody(client):
    response = client.post("/abmelden/vorschau")
    assert response.status_code == 200 and "hier wird niemand abgemeldet" in text(response)
