"""Newsletter sign-up with double opt-in: the proof, the confirmation mail, the scanner-safe link, expiry."""
import hashlib
import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from crm.contacts.models import ConsentChannel, ConsentMethod, Person, Tag
from crm.extensions import db, utcnow
from crm.mail.models import Suppression, SuppressionReason
from crm.mail.pipeline import suppress
from crm.newsletters import subscription
from crm.newsletters.models import Signup
from crm.security import load_token
from tests.conftest import count, free_port
from tests.html import field_error, page_text, text
from tests.newsletters import BROWSER, FROM, ledger, suppression
from tests.portal import audit_rows, html_body, link_path, move_clock, plain_body

CONFIRMED_FROM = {"REMOTE_ADDR": "198.51.100.9"}


def sign_up(client, email="neu.abonnentin@example.org", **fields):
    data = {"email": email, "consent": "y", **fields}
    return client.post("/newsletter/anmelden", data=data, headers=BROWSER, environ_base=FROM)


def signups(email: str) -> list[Signup]:
    return db.session.scalars(sa.select(Signup).where(Signup.email == email).order_by(Signup.id)).all()


def confirm_path(mailbox, email: str) -> str:
    [mail] = mailbox.to(email)
    return link_path(mail, "/newsletter/bestaetigen/")


def person_by_email(email: str) -> Person | None:
    return db.session.scalar(sa.select(Person).where(Person.email == email))


def test_the_form_shows_the_wording_topics_and_a_hidden_trap(client, make):
    db.session.add_all([Tag(name="Digitalisierung"), Tag(name="Klimaschutz")])
    markup = text(client.get("/newsletter/anmelden"))
    assert "Newsletter bestellen" in markup
    assert subscription.signup_wording() in page_text(markup)
    assert re.findall(r'<input[^>]*name="tags"[^>]*>\s*<label[^>]*>([^<]*)</label>', markup) == ["Digitalisierung", "Klimaschutz"]
    assert re.search(r'<div class="visually-hidden" aria-hidden="true">\s*<label for="website"', markup)
    assert re.search(r'<input[^>]*name="website"[^>]*tabindex="-1"', markup)


def test_a_sign_up_stores_the_proof_and_mails_the_confirmation_at_once(client, mailbox):
    tag = Tag(name="Mobilität")
    db.session.add(tag)
    db.session.flush()
    response = sign_up(client, email="  Neu.Abonnentin@Example.org ", first_name="Kauft", last_name="Billigpillen",
                       tags=[str(tag.id)])  # fmt: skip
    assert response.status_code == 302 and response.headers["Location"] == "/newsletter/anmelden/danke"
    assert "Bitte öffnen Sie ihn und bestätigen Sie die Anmeldung" in page_text(text(client.get("/newsletter/anmelden/danke")))

    [signup] = signups("neu.abonnentin@example.org")
    assert (signup.first_name, signup.last_name, signup.topics) == ("Kauft", "Billigpillen", [tag.id])
    assert signup.request_ip == "203.0.113.7" and signup.user_agent == BROWSER["User-Agent"]
    assert signup.wording == subscription.signup_wording() and signup.wording_version == subscription.SIGNUP_WORDING_VERSION
    assert utcnow() - signup.requested_at < timedelta(minutes=1)
    assert signup.expires_at - signup.requested_at == timedelta(hours=48)
    assert signup.confirmed_at is None and signup.person_id is None
    assert person_by_email("neu.abonnentin@example.org") is None  # nobody is added before confirming

    [mail] = mailbox.messages
    assert mail["To"] == "neu.abonnentin@example.org"  # no name: the form's names never reach the mail
    assert mail["Subject"] == "Bitte bestätigen Sie Ihre Anmeldung zum Newsletter"
    assert signup.message_id == mail["Message-ID"] and signup.mail_sent_at is not None
    assert "List-Unsubscribe" not in mail  # nothing to unsubscribe from: not a list mail
    body = plain_body(mail)
    assert "48 Stunden gültig" in body and "Sie haben den Newsletter nicht bestellt? Dann brauchen Sie nichts zu tun" in body
    assert signup.wording in body
    assert "Billigpillen" not in body and "Kauft" not in body and "Billigpillen" not in html_body(mail)
    token = confirm_path(mailbox, "neu.abonnentin@example.org").rsplit("/", 1)[1]
    secret = load_token(subscription.SIGNUP_PURPOSE, token, 3600)
    assert signup.token_digest == hashlib.sha256(secret.encode()).hexdigest() and secret not in signup.token_digest


def test_opening_the_link_confirms_nothing_the_form_confirms_once(app, client, mailbox):
    tag = Tag(name="Bildung")
    db.session.add(tag)
    db.session.flush()
    sign_up(client, email="lea@example.org", first_name="Lea", last_name="Beispiel", tags=[str(tag.id)])
    path = confirm_path(mailbox, "lea@example.org")
    [signup] = signups("lea@example.org")

    scanner = app.test_client()
    page = scanner.get(path)
    assert page.status_code == 200
    markup = text(page)
    assert re.search(r'<form method="post" id="confirm-form" data-autosubmit>', markup)
    assert "Ja, ich möchte den Newsletter erhalten</button>" in markup and "autosubmit.js" in markup
    assert "l***@example.org" in markup
    db.session.expire_all()
    assert signup.confirmed_at is None and person_by_email("lea@example.org") is None

    response = client.post(path, data={"csrf_token": ""}, headers={"User-Agent": "Anderer/2.0"}, environ_base=CONFIRMED_FROM)
    assert response.status_code == 200
    assert "Vielen Dank, Ihre Anmeldung ist bestätigt" in text(response)
    assert "/einstellungen/" in text(response)  # the next step: invitations and topics

    db.session.expire_all()
    person = person_by_email("lea@example.org")
    assert (person.first_name, person.last_name, [t.name for t in person.tags]) == ("Lea", "Beispiel", ["Bildung"])
    assert person.newsletter_consent is True and person.invitation_consent is None
    [consent] = ledger(person)
    assert consent.channel == ConsentChannel.newsletter and consent.granted and consent.method == ConsentMethod.form
    assert consent.source == subscription.SIGNUP_SOURCE and consent.email == "lea@example.org" and consent.recorded_by is None
    request = (consent.requested_at, consent.request_ip, consent.user_agent)
    assert request == (signup.requested_at, "203.0.113.7", BROWSER["User-Agent"])  # the sign-up's, not the confirmation's
    assert (consent.wording, consent.wording_version) == (signup.wording, signup.wording_version)
    assert consent.confirmed_ip == "198.51.100.9" and consent.confirmed_at == signup.confirmed_at == consent.effective_at
    assert (signup.confirmed_ip, signup.person_id) == ("198.51.100.9", person.id)
    rows = audit_rows("people", person.id)
    assert [row.action for row in rows] == ["create", "consent", "update"]
    assert rows[2].changes == {"tags": [[], ["Bildung"]]}

    for method in ("post", "get"):  # the link is used up: it says so, and records nothing again
        again = getattr(client, method)(path, data={"csrf_token": ""}, environ_base=CONFIRMED_FROM)
        assert again.status_code == 200 and "Ihre Anmeldung ist bereits bestätigt" in text(again)
    assert len(ledger(person)) == 1 and count(Person) == 1


def test_confirming_a_known_person_adds_topics_and_lifts_only_their_newsletter_unsubscribe(client, make, mailbox):
    old, new = Tag(name="Breitband"), Tag(name="Smart City")
    person = make.person(email="bekannt@example.org", tags=[old], invitation_consent=False, newsletter_consent=False)
    db.session.add(new)
    suppress("bekannt@example.org", SuppressionReason.unsubscribed, channel=ConsentChannel.newsletter)
    suppress("bekannt@example.org", SuppressionReason.unsubscribed, channel=ConsentChannel.event_invitation)
    db.session.flush()
    assert suppression("bekannt@example.org").channel is None  # both lists: one row for all bulk mail

    sign_up(client, email="bekannt@example.org", last_name="Anders", tags=[str(new.id)])
    client.post(confirm_path(mailbox, "bekannt@example.org"), data={"csrf_token": ""}, environ_base=CONFIRMED_FROM)

    db.session.expire_all()
    assert count(Person) == 1 and person.last_name != "Anders"  # the form does not rename a known person
    assert sorted(t.name for t in person.tags) == ["Breitband", "Smart City"]
    assert person.newsletter_consent is True and person.invitation_consent is False
    assert suppression("bekannt@example.org").channel == ConsentChannel.event_invitation  # invitations stay blocked


def test_a_sign_up_without_a_name_creates_a_person_the_office_recognises(client, mailbox):
    sign_up(client, email="ohne.name@example.org")
    client.post(confirm_path(mailbox, "ohne.name@example.org"), data={"csrf_token": ""})
    person = person_by_email("ohne.name@example.org")
    assert person.last_name == "ohne.name@example.org" and person.first_name is None
    assert "Name wurde nicht angegeben" in person.notes


def test_an_expired_link_says_so_and_offers_a_new_sign_up(client, mailbox, monkeypatch):
    sign_up(client, email="spaet@example.org")
    path = confirm_path(mailbox, "spaet@example.org")
    move_clock(monkeypatch, 48 * 3600 + 60)
    for method in ("get", "post"):
        response = getattr(client, method)(path, data={"csrf_token": ""})
        assert response.status_code == 410
        markup = text(response)
        assert "Dieser Bestätigungslink ist abgelaufen" in markup and 'href="/newsletter/anmelden"' in markup
    assert person_by_email("spaet@example.org") is None


def test_the_stored_expiry_counts_too(client, mailbox):
    sign_up(client, email="kurz@example.org")
    path = confirm_path(mailbox, "kurz@example.org")
    [signup] = signups("kurz@example.org")
    signup.expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    assert client.post(path, data={"csrf_token": ""}).status_code == 410
    assert person_by_email("kurz@example.org") is None


@pytest.mark.parametrize("token", ["kaputt", "eyJhbGciOiJIUzUxMiJ9.manipuliert.x"])
def test_a_tampered_link_gets_a_german_400_page(client, token):
    response = client.get(f"/newsletter/bestaetigen/{token}")
    assert response.status_code == 400
    assert "Dieser Bestätigungslink ist ungültig" in text(response) and 'href="/newsletter/anmelden"' in text(response)


def test_purge_deletes_unconfirmed_expired_sign_ups_only(client, mailbox, runner):
    sign_up(client, email="bleibt@example.org")
    client.post(confirm_path(mailbox, "bleibt@example.org"), data={"csrf_token": ""})
    mailbox.clear()
    sign_up(client, email="verfaellt@example.org")
    sign_up(client, email="offen@example.org")
    later = utcnow() + timedelta(hours=49)
    [expired] = signups("verfaellt@example.org")
    expired.expires_at = utcnow() - timedelta(minutes=1)
    db.session.commit()

    result = runner.invoke(args=["newsletters", "purge-signups"])
    assert result.exit_code == 0 and result.output.strip() == "1 abgelaufene, unbestätigte Anmeldungen gelöscht."
    assert signups("verfaellt@example.org") == [] and len(signups("offen@example.org")) == 1
    assert subscription.purge_expired(now=later) == 1  # the open one, once its time is up
    assert [s.email for s in db.session.scalars(sa.select(Signup))] == ["bleibt@example.org"]  # the proof stays


def test_the_honeypot_answers_like_a_success_and_does_nothing(client, mailbox):
    response = sign_up(client, email="bot@example.org", website="https://spam.example.org")
    assert response.status_code == 302 and response.headers["Location"] == "/newsletter/anmelden/danke"
    assert count(Signup) == 0 and mailbox.messages == []


def test_missing_consent_and_a_bad_address_are_shown_next_to_the_fields(client, mailbox):
    response = client.post("/newsletter/anmelden", data={"email": "kein-at-zeichen", "first_name": "Kim"})
    assert response.status_code == 200
    assert field_error(response, "email") == "Bitte geben Sie eine gültige E-Mail-Adresse an (z. B. name@example.org)."
    assert "Bitte bestätigen Sie, dass Sie den Newsletter erhalten möchten." in text(response)
    assert 'value="Kim"' in text(response)  # the input is kept
    response = client.post("/newsletter/anmelden", data={"consent": "y"})
    assert field_error(response, "email") == "Bitte geben Sie Ihre E-Mail-Adresse an."
    assert count(Signup) == 0 and mailbox.messages == []


def test_the_answer_never_tells_whether_an_address_is_known(client, make, mailbox):
    make.person(email="mitglied@example.org", newsletter_consent=True)
    known, unknown = sign_up(client, email="mitglied@example.org"), sign_up(client, email="fremd@example.org")
    assert (known.status_code, known.headers["Location"]) == (unknown.status_code, unknown.headers["Location"])
    assert len(mailbox.messages) == 2


def test_a_repeated_sign_up_sends_no_second_mail_for_a_while(client, mailbox):
    first, second = sign_up(client, email="doppelt@example.org"), sign_up(client, email="doppelt@example.org")
    assert first.headers["Location"] == second.headers["Location"] == "/newsletter/anmelden/danke"
    assert len(mailbox.messages) == 1 and len(signups("doppelt@example.org")) == 1
    [signup] = signups("doppelt@example.org")
    signup.requested_at = utcnow() - subscription.RESEND_INTERVAL - timedelta(seconds=1)
    db.session.commit()
    sign_up(client, email="doppelt@example.org")
    assert len(mailbox.messages) == 2
    # Confirming one link ends the other: it would only repeat the consent.
    client.post(link_path(mailbox.messages[1], "/newsletter/bestaetigen/"), data={"csrf_token": ""})
    assert [s.confirmed_at is not None for s in signups("doppelt@example.org")] == [True]
    assert client.get(link_path(mailbox.messages[0], "/newsletter/bestaetigen/")).status_code == 410


def test_no_mail_to_an_address_that_bounced_or_complained(client, mailbox):
    db.session.add(Suppression(email="weg@example.org", reason=SuppressionReason.hard_bounce))
    response = sign_up(client, email="weg@example.org")
    assert response.headers["Location"] == "/newsletter/anmelden/danke"
    assert mailbox.messages == [] and count(Signup) == 0


def test_when_the_mail_cannot_be_sent_nothing_is_stored(app, client, mailbox, monkeypatch):
    monkeypatch.setitem(app.config, "SMTP_PORT", free_port())  # nobody listens there
    response = sign_up(client, email="spaeter@example.org")
    assert response.status_code == 200
    assert "Die Bestätigungs-E-Mail konnte gerade nicht versandt werden" in text(response)
    assert count(Signup) == 0
