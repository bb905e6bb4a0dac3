"""Event mails as they arrive at a real SMTP server: invitation, reminders, waitlist, change, cancellation."""
import re
from datetime import timedelta

import icalendar
import pytest
import sqlalchemy as sa

from crm.events import sending
from crm.events.invitations import Answer, invite, respond
from crm.events.links import find_invitation
from crm.events.models import EventStatus, Invitation, InvitationStatus
from crm.events.needs import needs_counts, purge_ended_needs
from crm.extensions import db, utcnow
from crm.mail.models import Delivery, DeliveryStatus, Suppression, SuppressionReason
from crm.templating import datetime_de
from tests.portal import html_body, plain_body

ACCEPTED, SENT = InvitationStatus.accepted, InvitationStatus.sent


def calendar_of(mail) -> icalendar.Calendar:
    [part] = [p for p in mail.iter_attachments() if p.get_content_type() == "text/calendar"]
    assert part.get_filename() == "veranstaltung.ics"
    return icalendar.Calendar.from_ical(part.get_content())


def deliver(event) -> None:
    db.session.commit()
    sending.deliver(event)


def test_the_invitation_mail_is_personal_with_agenda_button_and_calendar(make, mailbox):
    event = make.event(agenda=True, title="Digitale Dörfer", venue="Rathaus", city="Kaiserslautern",
                       rsvp_deadline=utcnow() + timedelta(days=7))  # fmt: skip
    mayor = make.person(salutation=None, first_name="Alex", last_name="Beispiel", invitation_consent=True)
    other = make.person(invitation_consent=True)
    invite(event, segment=None, person_ids=[mayor.id, other.id], actor=None)
    deliver(event)

    assert len(mailbox.messages) == 2
    [mail] = mailbox.to(mayor.email)
    assert mail["Subject"] == "Einladung: Digitale Dörfer" and mail["To"] == f"Alex Beispiel <{mayor.email}>"
    text, html = plain_body(mail), html_body(mail)
    assert text.startswith("Guten Tag Alex Beispiel,")
    assert "Begrüßung und Impuls" in text and "Michael Dreier, Bürgermeister" in text and "Rathaus, Kaiserslautern" in text
    assert f"Antwort bis: {datetime_de(event.rsvp_deadline)}" in text
    assert "Begrüßung und Impuls" in html and "Guten Tag Alex Beispiel," in html
    [link] = re.findall(r"http://crm\.test/teilnahme/\S+", text)
    assert f'href="{link}"' in html and "Zusagen oder absagen" in html
    assert find_invitation(link.rsplit("/", 1)[1]).person_id == mayor.id
    calendar = calendar_of(mail)
    assert calendar["METHOD"] == "PUBLISH" and str(calendar.walk("VEVENT")[0]["UID"]) == event.ical_uid

    db.session.expire_all()
    rows = db.session.scalars(sa.select(Invitation).where(Invitation.event_id == event.id)).all()
    assert {i.status for i in rows} == {SENT} and all(i.sent_at for i in rows)
    invite(event, segment=None, person_ids=[mayor.id, other.id], actor=None)  # a second start sends nothing
    deliver(event)
    assert len(mailbox.messages) == 2


def test_reminders_reach_only_whom_they_concern_and_never_twice(make, mailbox):
    event = make.event(rsvp_deadline=utcnow() + timedelta(days=2))
    open_ = make.invitation(event=event)
    accepted = make.invitation(event=event, status=ACCEPTED, deputy_name="Dora Vertreterin", deputy_email="dora@example.org")
    make.invitation(event=event, status=InvitationStatus.declined)

    assert sending.queue_reminder(event, sending.REMINDER_OPEN) == 1
    assert sending.queue_reminder(event, sending.REMINDER_UPCOMING) == 1
    assert sending.queue_reminder(event, sending.REMINDER_OPEN) == 0
    deliver(event)
    assert sending.queue_reminder(event, sending.REMINDER_UPCOMING) == 0
    deliver(event)

    [reminder] = mailbox.to(open_.person.email)
    assert reminder["Subject"] == f"Erinnerung: Ihre Antwort zu „{event.title}“" and reminder["List-Unsubscribe"]
    [upcoming] = mailbox.to(accepted.person.email)
    assert upcoming["Subject"] == f"Bis bald: {event.title}" and "Dora Vertreterin <dora@example.org>" == upcoming["Cc"]
    # Dora's mail program must not offer her a one-click "Abmelden" that would unsubscribe the invitee.
    assert upcoming["List-Unsubscribe"] is None and upcoming["List-Unsubscribe-Post"] is None
    assert len(mailbox.messages) == 2


def test_no_reminder_to_answer_after_the_deadline(make):
    from crm.errors import ValidationFailed

    event = make.event(rsvp_deadline=utcnow() - timedelta(hours=1))
    with pytest.raises(ValidationFailed, match="Keine Erinnerung möglich: Die Anmeldefrist"):
        sending.queue_reminder(event, sending.REMINDER_OPEN)


def test_a_reminder_for_someone_who_answered_meanwhile_is_dropped(make, mailbox):
    invitation = make.invitation()
    sending.queue_reminder(invitation.event, sending.REMINDER_OPEN)
    respond(invitation, Answer(ACCEPTED))
    deliver(invitation.event)
    [row] = db.session.scalars(sa.select(Delivery).where(Delivery.mailing == sending.REMINDER_OPEN)).all()
    assert row.status == DeliveryStatus.failed and "inzwischen „zugesagt“" in row.last_error
    assert [m["Subject"] for m in mailbox.messages] == []


def test_flask_events_send_reminders_is_idempotent(make, runner, mailbox):
    soon = make.event(rsvp_deadline=utcnow() + timedelta(days=2))
    tomorrow = make.event(starts_at=utcnow() + timedelta(days=1))
    later = make.event(rsvp_deadline=utcnow() + timedelta(days=20))
    cancelled = make.event(starts_at=utcnow() + timedelta(days=1), status=EventStatus.cancelled)
    waiting = make.invitation(event=soon)
    coming = make.invitation(event=tomorrow, status=ACCEPTED)
    make.invitation(event=later)
    make.invitation(event=cancelled, status=ACCEPTED)
    db.session.commit()

    result = runner.invoke(args=["events", "send-reminders"])
    assert result.exit_code == 0, result.output
    assert "2 Erinnerungen zu 2 Veranstaltungen versandt." in result.output
    assert "0 Erinnerungen zu 0 Veranstaltungen" in runner.invoke(args=["events", "send-reminders"]).output
    assert sorted(a for e in mailbox.envelopes for a in e.rcpt_tos) == sorted([waiting.person.email, coming.person.email])


def test_who_moves_up_from_the_waitlist_gets_a_mail(make, mailbox):
    event = make.event(capacity=1)
    holder, waiting = make.invitation(event=event), make.invitation(event=event)
    respond(holder, Answer(ACCEPTED))
    respond(waiting, Answer(ACCEPTED, companions=0))
    respond(holder, Answer(InvitationStatus.declined))
    deliver(event)
    [mail] = mailbox.messages
    assert mail["To"].endswith(f"<{waiting.person.email}>") and mail["Subject"] == f"Ein Platz ist frei geworden: {event.title}"
    assert "Sie sind von der Warteliste nachgerückt und jetzt angemeldet" in plain_body(mail)


def test_cancelling_tells_everyone_concerned_with_a_cancelling_calendar_entry(make, mailbox):
    event = make.event(ical_sequence=1)
    office = make.user(role="office")
    concerned = [make.invitation(event=event, status=s) for s in (ACCEPTED, InvitationStatus.tentative, InvitationStatus.waitlisted)]
    for status in (SENT, InvitationStatus.declined):
        make.invitation(event=event, status=status)
    suppressed = make.invitation(event=event, status=ACCEPTED)
    db.session.add(Suppression(email=suppressed.person.email, reason=SuppressionReason.unsubscribed))

    assert sending.cancel_event(event, actor=office) == 3
    assert sending.cancel_event(event, actor=office) == 0  # a second click
    deliver(event)

    assert sorted(a for e in mailbox.envelopes for a in e.rcpt_tos) == sorted(i.person.email for i in concerned)
    mail = mailbox.messages[0]
    assert mail["Subject"] == f"Abgesagt: {event.title}" and "leider müssen wir die Veranstaltung" in plain_body(mail)
    calendar = calendar_of(mail)
    [entry] = calendar.walk("VEVENT")
    assert calendar["METHOD"] == "CANCEL" and entry["STATUS"] == "CANCELLED" and entry["SEQUENCE"] == 2
    assert event.status == EventStatus.cancelled


def test_moving_shifts_the_agenda_and_sends_the_new_time(make, mailbox):
    event = make.event(agenda=True)
    office = make.user(role="office")
    invitation = make.invitation(event=event, status=ACCEPTED)
    make.invitation(event=event)  # no answer yet: the next invitation mail shows the new time anyway
    first_session = event.sessions[0].starts_at
    new_start = event.starts_at + timedelta(days=7)

    assert sending.move_event(event, starts_at=new_start, ends_at=new_start + timedelta(hours=3), actor=office) == 1
    assert sending.move_event(event, starts_at=new_start, ends_at=new_start + timedelta(hours=3), actor=office) == 0
    deliver(event)

    assert event.sessions[0].starts_at == first_session + timedelta(days=7)
    [mail] = mailbox.messages
    assert mail["To"].endswith(f"<{invitation.person.email}>") and mail["Subject"] == f"Geändert: {event.title}"
    assert datetime_de(new_start) in plain_body(mail)
    [entry] = calendar_of(mail).walk("VEVENT")
    assert entry.decoded("DTSTART") == new_start and entry["SEQUENCE"] == 1


def test_notify_change_is_one_notice_per_change_and_a_waiting_one_is_superseded(make, mailbox):
    event = make.event()
    make.invitation(event=event, status=ACCEPTED)
    assert sending.notify_change(event) == 1
    deliver(event)
    assert sending.notify_change(event) == 1
    db.session.commit()  # one save
    assert sending.notify_change(event) == 1  # two saved changes before the mails went out: one notice
    deliver(event)
    assert [calendar_of(m).walk("VEVENT")[0]["SEQUENCE"] for m in mailbox.messages] == [1, 3]


def test_health_data_is_counted_for_the_caterer_and_purged_after_the_event(make, runner):
    past = make.event(starts_at=utcnow() - timedelta(days=2))
    future = make.event()
    make.invitation(event=past, status=ACCEPTED, needs="vegetarisch; Sonstiges: Nussallergie")
    make.invitation(event=past, status=ACCEPTED, needs="vegetarisch; rollstuhlgerechter Zugang")
    make.invitation(event=past, status=InvitationStatus.declined, needs="vegan")
    kept = make.invitation(event=future, status=ACCEPTED, needs="vegan")

    counts = dict(needs_counts(past))
    assert counts["vegetarisch"] == 2 and counts["rollstuhlgerechter Zugang"] == 1 and counts["vegan"] == 0
    assert counts["sonstige Angaben (bitte bei der Geschäftsstelle erfragen)"] == 1
    assert "Nussallergie" not in str(counts)

    result = runner.invoke(args=["events", "purge-needs"])
    assert result.exit_code == 0 and "3 Angaben zu Verpflegung und Barrierefreiheit gelöscht." in result.output
    db.session.expire_all()
    assert db.session.scalars(sa.select(Invitation.needs).where(Invitation.event_id == past.id)).all() == [None] * 3
    assert kept.needs == "vegan"
    assert purge_ended_needs() == 0
