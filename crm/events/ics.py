"""iCalendar (.ics) files for events: attached to invitations and downloadable from the RSVP page.

The UID never changes and SEQUENCE rises with every change (crm.events.services bumps it), so
calendar programs update the entry people already have instead of adding a second one.
"""
from datetime import timedelta
from zoneinfo import ZoneInfo

from flask import current_app

from crm.events.models import Event, EventStatus
from crm.extensions import utcnow

BERLIN = ZoneInfo("Europe/Berlin")


def location(event: Event) -> str:
    place = ", ".join(p for p in (event.venue, event.room) if p)
    address = " ".join(p for p in (event.postal_code, event.city) if p)
    return ", ".join(p for p in (place, event.street, address) if p) or (event.online_url or "")


def _description(event: Event) -> str:
    lines = [event.subtitle or ""]
    for session in event.sessions:
        start = session.starts_at.astimezone(BERLIN).strftime("%H:%M") if session.starts_at else ""
        speakers = ", ".join(s.person.full_name for s in session.speakers)
        lines.append(f"{start} {session.title}{f' ({speakers})' if speakers else ''}".strip())
    if event.online_url:
        lines.append(f"Online: {event.online_url}")
    return "\n".join(line for line in lines if line)


def event_calendar(event: Event, *, method: str = "PUBLISH") -> bytes:
    """The event as a calendar file; a cancelled event is sent with METHOD:CANCEL."""
    import icalendar  # here, not at the top: a process that builds no calendar saves its 3 MB

    cancelled = event.status == EventStatus.cancelled

    calendar = icalendar.Calendar()
    calendar.add("prodid", f"-//{current_app.config['ORGANIZATION_NAME']}//CRM//DE")
    calendar.add("version", "2.0")
    calendar.add("method", "CANCEL" if cancelled else method)
    entry = icalendar.Event()
    entry.add("uid", event.ical_uid)
    entry.add("sequence", event.ical_sequence)
    entry.add("dtstamp", utcnow())
    if event.all_day:  # whole days: DATE values, DTEND is the day after the last one
        entry.add("dtstart", event.starts_at.astimezone(BERLIN).date())
        entry.add("dtend", event.ends_at.astimezone(BERLIN).date() + timedelta(days=1))
    else:
        entry.add("dtstart", event.starts_at)
        entry.add("dtend", event.ends_at)
    entry.add("summary", event.title)
    entry.add("description", _description(event))
    if where := location(event):
        entry.add("location", where)
    if event.online_url:
        entry.add("url", event.online_url)
    entry.add("status", "CANCELLED" if cancelled else "CONFIRMED")
    calendar.add_component(entry)
    return calendar.to_ical()
