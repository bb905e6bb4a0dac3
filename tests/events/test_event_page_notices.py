"""The event pages and the invitations work together: the office sees the answers on the event, and
a move, a cancellation or the end of an event reaches the people concerned."""
from datetime import timedelta

import icalendar

from crm.events.invitations import Answer, respond
from crm.events.models import EventStatus, InvitationStatus
from crm.extensions import db, utcnow
from crm.events.ics import BERLIN
from tests.contacts.pages import main_form
from tests.html import page_text, text


def accepted(make, event, **kw):
    invitation = make.invitation(event=event, **kw)
    respond(invitation, Answer(status=InvitationStatus.accepted, companions=0), actor=None)
    db.session.commit()
    return invitation


def calendar_of(mail) -> icalendar.Calendar:
    [part] = [p for p in mail.iter_attachments() if p.get_content_type() == "text/calendar"]
    return icalendar.Calendar.from_ical(part.get_content())


def test_the_event_page_shows_the_answers_and_leads_to_the_invitation_pages(client, login, make):
    login("office")
    event = make.event()
    accepted(make, event)
    make.invitation(event=event)
    db.session.commit()
    markup = client.get(f"/veranstaltungen/{event.id}").get_data(as_text=True)
    assert "zugesagt: 1" in page_text(markup) and "eingeladen, offen: 1" in page_text(markup)
    for path in ("einladungen/", "einladungen/neu", "einladungen/einlass"):
        assert f'href="/veranstaltungen/{event.id}/{path}"' in markup


def test_cancelling_on_the_event_page_tells_everyone_who_accepted(client, login, make, mailbox):
    login("office")
    event = make.event()
    guest = accepted(make, event)
    mailbox.clear()
    response = client.post(f"/veranstaltungen/{event.id}/status", data={"status": "cancelled"})
    assert response.status_code == 302
    [mail] = mailbox.to(guest.person.email)
    assert calendar_of(mail)["METHOD"] == "CANCEL"
    client.post(f"/veranstaltungen/{event.id}/status", data={"status": "cancelled"})  # refused, and nobody is told twice
    assert len(mailbox.to(guest.person.email)) == 1


def test_moving_the_event_in_the_form_sends_the_new_time_with_a_higher_sequence(client, login, make, mailbox):
    login("office")
    event = make.event()
    guest = accepted(make, event)
    sequence = event.ical_sequence
    mailbox.clear()
    later = event.starts_at + timedelta(days=7)
    form = main_form(client.get(f"/veranstaltungen/{event.id}/bearbeiten").get_data(as_text=True))
    new_day = later.astimezone(BERLIN).strftime("%d.%m.%Y")
    response = client.post(f"/veranstaltungen/{event.id}/bearbeiten", data=form | {"start_date": new_day, "end_date": ""})
    assert response.status_code == 302, text(response)
    [mail] = mailbox.to(guest.person.email)
    entry = calendar_of(mail).walk("VEVENT")[0]
    assert entry.decoded("dtstart") == later and int(entry["SEQUENCE"]) == sequence + 1

    # Changing only the description tells nobody.
    mailbox.clear()
    form = main_form(client.get(f"/veranstaltungen/{event.id}/bearbeiten").get_data(as_text=True))
    client.post(f"/veranstaltungen/{event.id}/bearbeiten", data=form | {"description": "Mit Mittagessen."})
    assert mailbox.to(guest.person.email) == []


def test_marking_the_event_done_deletes_the_health_data(client, login, make):
    login("office")
    event = make.event(starts_at=utcnow() - timedelta(hours=6))
    guest = make.invitation(event=event, status=InvitationStatus.accepted, needs="vegetarisch")
    db.session.commit()
    client.post(f"/veranstaltungen/{event.id}/status", data={"status": "done"})
    db.session.expire_all()
    assert event.status == EventStatus.done and guest.needs is None
