"""How events read in German (Berlin time), and the agenda as rows of parallel sessions."""
from datetime import datetime

from babel.dates import format_datetime

from crm.events.models import Event, EventSession
from crm.events.times import BERLIN, clock, local
from crm.templating import LOCALE

LONG_DATE = "EEEE, d. MMMM y"


def _format(value: datetime, fmt: str) -> str:
    return format_datetime(value, fmt, tzinfo=BERLIN, locale=LOCALE)


def is_multi_day(event: Event) -> bool:
    return local(event.starts_at).date() != local(event.ends_at).date()


def event_date(event: Event) -> str:
    """ "Dienstag, 20. November 2018", or "Montag, 2. Dezember 2019 bis Dienstag, 3. Dezember 2019"."""
    if not is_multi_day(event):
        return _format(event.starts_at, LONG_DATE)
    return f"{_format(event.starts_at, LONG_DATE)} bis {_format(event.ends_at, LONG_DATE)}"


def event_time(event: Event) -> str:
    """ "11:30–13:00 Uhr"; over several days "Beginn 10:00 Uhr, Ende 16:00 Uhr"; "" when all-day."""
    if event.all_day:
        return ""
    if is_multi_day(event):
        return f"Beginn {clock(event.starts_at)} Uhr, Ende {clock(event.ends_at)} Uhr"
    return f"{clock(event.starts_at)}–{clock(event.ends_at)} Uhr"


def event_when(event: Event) -> str:
    """Date and time in one line: "Dienstag, 20. November 2018, 11:30–13:00 Uhr"."""
    return ", ".join(part for part in (event_date(event), event_time(event)) if part)


def event_short_date(event: Event) -> str:
    """ "20.11.2018" or "02.12.2019 – 03.12.2019", for lists."""
    first, last = (f"{local(value):%d.%m.%Y}" for value in (event.starts_at, event.ends_at))
    return first if first == last else f"{first} – {last}"


def event_place(event: Event) -> str:
    """ "CityCube Berlin, Workshop-Raum M8, Berlin" – what a list shows of the place."""
    return ", ".join(p for p in (event.venue, event.room, event.city) if p) or ("online" if event.online_url else "")


def event_address(event: Event) -> str:
    return ", ".join(p for p in (event.street, " ".join(p for p in (event.postal_code, event.city) if p)) if p)


def session_slot(session: EventSession, with_day: bool = False) -> str:
    """ "11:30–11:40", "11:30" or "" (no time); with the day for events over several days."""
    if session.starts_at is None:
        return ""
    slot = clock(session.starts_at) + (f"–{clock(session.ends_at)}" if session.ends_at else "")
    return f"{_format(session.starts_at, 'EE d. MMM')}, {slot}" if with_day else slot


def agenda_rows(sessions: list[EventSession]) -> list[list[EventSession]]:
    """The agenda in order, sessions of the same time slot side by side (parallel tracks)."""
    rows: list[list[EventSession]] = []
    for session in sessions:
        previous = rows[-1][0] if rows else None
        if previous is not None and session.starts_at is not None and (previous.starts_at, previous.ends_at) == (
            session.starts_at, session.ends_at
        ):  # fmt: skip
            rows[-1].append(session)
        else:
            rows.append([session])
    return rows


def speaker_line(speaker) -> str:
    """Role and affiliation as printed: "Bürgermeister, Stadt Paderborn"."""
    return ", ".join(p for p in (speaker.role_text, speaker.affiliation_text) if p)


TEMPLATE_FILTERS = {
    "event_date": event_date,
    "event_time": event_time,
    "event_when": event_when,
    "event_short_date": event_short_date,
    "event_place": event_place,
    "event_address": event_address,
    "session_slot": session_slot,
    "agenda_rows": agenda_rows,
    "multi_day": is_multi_day,
    "speaker_line": speaker_line,
}
