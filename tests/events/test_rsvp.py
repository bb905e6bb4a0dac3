"""The invited person's page: a GET shows, only a POST answers; deadlines, the end of the event, the .ics file."""
from datetime import timedelta

import icalendar
import pytest
import sqlalchemy as sa

from crm.audit.models import AuditLog
from crm.events.links import rsvp_token
from crm.events.models import EventStatus, InvitationStatus
from crm.extensions import db, utcnow
from tests.html import page_text, text
from tests.portal import followed_flashes, plain_body

ACCEPT = {"status": "accepted", "companions": "1", "companion_names": "Jonas Begleiter", "note": "Ich komme mit dem Zug."}


def url(invitation) -> str:
    return f"/teilnahme/{rsvp_token(invitation)}"


def test_get_shows_event_agenda_and_answer_and_changes_nothing(client, make, mailbox):
    event = make.event(agenda=True, title="Digitale Dörfer", venue="Rathaus", city="Kaiserslautern",
                       guiding_questions=["Was brauchen Dörfer?"], rsvp_deadline=utcnow() + timedelta(days=3))  # fmt: skip
    invitation = make.invitation(event=event)
    for _ in range(3):  # a link scanner, a preview, the person
        response = client.get(url(invitation))
        assert response.status_code == 200
    page = page_text(text(response))
    assert "Digitale Dörfer" in page and "Rathaus, Kaiserslautern" in page
    assert "Begrüßung und Impuls" in page and "Michael Dreier, Bürgermeister" in page and "Was brauchen Dörfer?" in page
    assert "Derzeit: noch keine Antwort" in page and "Antwort speichern" in page
    assert f"Einladung für {invitation.person.full_name}" in page
    db.session.expire_all()
    assert invitation.status == InvitationStatus.sent and invitation.responded_at is None
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditLog).where(AuditLog.entity_type == "invitations")) == 0
    assert mailbox.messages == []
    assert 'name="robots" content="noindex"' in text(response)


def test_post_accepts_with_a_companion_and_confirms_by_mail(client, make, mailbox):
    invitation = make.invitation()
    response = client.post(url(invitation), data={**ACCEPT, "needs": ["vegetarisch", "rollstuhl"], "needs_other": "Nussallergie"})
    assert followed_flashes(client, response) == ["Vielen Dank für Ihre Zusage! Eine Bestätigung ist per E-Mail unterwegs."]
    db.session.expire_all()
    assert (invitation.status, invitation.companions, invitation.companion_names) == (InvitationStatus.accepted, 1, "Jonas Begleiter")
    assert invitation.needs == "vegetarisch; rollstuhlgerechter Zugang; Sonstiges: Nussallergie"
    assert invitation.responded_at is not None

    [mail] = mailbox.to(invitation.person.email)
    assert mail["Subject"] == f"Ihre Antwort: {invitation.event.title}"
    body = plain_body(mail)
    assert body.startswith("Sehr geehrte Frau ") and "vielen Dank für die Zusage" in body and "Begleitung: 1 (Jonas Begleiter)" in body
    assert "Nussallergie" not in body  # health data stays out of mails
    [calendar] = [part for part in mail.iter_attachments() if part.get_content_type() == "text/calendar"]
    assert icalendar.Calendar.from_ical(calendar.get_content())["METHOD"] == "PUBLISH"

    page = page_text(text(client.get(url(invitation)))).replace(" ,", ",")
    assert "Derzeit: zugesagt, mit 1 Begleitperson" in page
    form = text(client.get(url(invitation)))
    assert '<input checked id="needs-0" name="needs" type="checkbox" value="vegetarisch">' in form
    assert 'value="Nussallergie"' in form


def test_the_deputy_gets_the_confirmation(client, make, mailbox):
    invitation = make.invitation(person=make.person(first_name="Michael", last_name="Dreier", salutation=None, invitation_consent=True))
    client.post(url(invitation), data={"status": "accepted", "companions": "0", "deputy_name": "Dora Vertreterin",
                                       "deputy_email": "dora@example.org"})  # fmt: skip
    [mail] = mailbox.messages
    assert mail["To"] == "Dora Vertreterin <dora@example.org>"
    assert invitation.person.email in mail["Cc"]
    assert sorted(mailbox.envelopes[0].rcpt_tos) == sorted(["dora@example.org", invitation.person.email])
    body = plain_body(mail)
    assert body.startswith("Guten Tag Dora Vertreterin,") and "Michael Dreier hat Sie als Vertretung" in body


def test_when_full_an_acceptance_goes_to_the_waitlist(client, make, mailbox):
    event = make.event(capacity=1)
    make.invitation(event=event, status=InvitationStatus.accepted)
    invitation = make.invitation(event=event)
    response = client.post(url(invitation), data={"status": "accepted", "companions": "0"})
    assert "Sie stehen auf der Warteliste" in followed_flashes(client, response)[0]
    assert "(Platz 1 auf der Warteliste)" in page_text(text(client.get(url(invitation))))
    assert "auf die Warteliste gesetzt" in plain_body(mailbox.messages[0])


def test_a_form_error_keeps_the_input_and_records_nothing(client, make):
    invitation = make.invitation()
    response = client.post(url(invitation), data={"status": "accepted", "companions": "0", "deputy_name": "Dora"})
    assert response.status_code == 200
    assert "Bitte geben Sie Name und E-Mail-Adresse der Vertretung an." in text(response)
    assert 'value="Dora"' in text(response)
    db.session.expire_all()
    assert invitation.status == InvitationStatus.sent


def test_after_the_deadline_the_page_shows_the_answer_but_no_form(client, make):
    invitation = make.invitation(event=make.event(rsvp_deadline=utcnow() - timedelta(minutes=5)), status=InvitationStatus.accepted)
    page = page_text(text(client.get(url(invitation))))
    assert "Die Anmeldefrist ist am" in page and "abgelaufen" in page and "Antwort speichern" not in page
    response = client.post(url(invitation), data={"status": "declined"})
    assert "Die Anmeldefrist ist am" in page_text(text(response))
    db.session.expire_all()
    assert invitation.status == InvitationStatus.accepted


def test_after_the_event_the_link_stops_working(client, make):
    event = make.event(starts_at=utcnow() - timedelta(days=1))
    invitation = make.invitation(event=event)
    for path in (url(invitation), url(invitation) + "/kalender.ics"):
        response = client.get(path)
        assert response.status_code == 410
        assert "Die Veranstaltung ist vorbei. Der persönliche Link gilt nicht mehr" in page_text(text(response))
    assert client.post(url(invitation), data={"status": "accepted"}).status_code == 410


def test_a_cancelled_event_shows_so(client, make):
    invitation = make.invitation(event=make.event(status=EventStatus.cancelled))
    page = page_text(text(client.get(url(invitation))))
    assert "Diese Veranstaltung wurde abgesagt." in page and "Antwort speichern" not in page and "kalender.ics" not in page


@pytest.mark.parametrize("token", ["invalid-token", "eyJhbGciOi.abc.def"])
def test_tampered_links_get_a_german_400_page(client, make, token):
    make.invitation()
    response = client.get(f"/teilnahme/{token}")
    assert response.status_code == 400
    assert "Dieser Link ist ungültig oder wurde bereits verwendet." in text(response)
    assert client.get(f"/teilnahme/{token}/kalender.ics").status_code == 400


def test_a_tampered_token_of_a_real_invitation_is_refused(client, make):
    token = rsvp_token(make.invitation())
    signature_start = token.rindex(".") + 1  # change a character that carries full bits, not base64 padding
    tampered = token[:signature_start + 3] + ("A" if token[signature_start + 3] != "A" else "B") + token[signature_start + 4:]
    assert client.get(f"/teilnahme/{tampered}").status_code == 400


def test_the_preview_link_explains_itself(client):
    response = client.get("/teilnahme/vorschau")
    assert response.status_code == 200 and "Dies ist die Vorschau oder Testmail einer Einladung" in text(response)


def test_the_calendar_file_parses_back(client, make):
    event = make.event(agenda=True, title="Regionalkonferenz Süd", venue="Stadthalle", city="Ulm", ical_sequence=2)
    response = client.get(url(make.invitation(event=event)) + "/kalender.ics")
    assert response.status_code == 200 and response.mimetype == "text/calendar"
    assert "attachment; filename=veranstaltung.ics" == response.headers["Content-Disposition"]
    calendar = icalendar.Calendar.from_ical(response.data)
    [entry] = calendar.walk("VEVENT")
    assert str(entry["UID"]) == event.ical_uid and entry["SEQUENCE"] == 2
    assert str(entry["SUMMARY"]) == "Regionalkonferenz Süd" and "Stadthalle, Ulm" in str(entry["LOCATION"])
    assert entry.decoded("DTSTART") == event.starts_at and entry.decoded("DTEND") == event.ends_at
    assert "Begrüßung und Impuls (Michael Dreier)" in str(entry["DESCRIPTION"])


def test_tentative_then_declined(client, make, mailbox):
    invitation = make.invitation()
    response = client.post(url(invitation), data={"status": "tentative", "companions": "0"})
    assert followed_flashes(client, response) == ["Danke für Ihre Rückmeldung. Bitte sagen Sie uns noch endgültig Bescheid."]
    response = client.post(url(invitation), data={"status": "declined", "companions": "2"})
    assert followed_flashes(client, response) == ["Schade, dass Sie nicht kommen können. Danke für Ihre Rückmeldung."]
    db.session.expire_all()
    assert (invitation.status, invitation.companions) == (InvitationStatus.declined, 0)
    assert [m.get_content_type() for m in mailbox.messages[-1].iter_attachments()] == []  # no calendar for a no
