"""Event times: entered and shown in Europe/Berlin, stored as aware UTC datetimes."""
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

BERLIN = ZoneInfo("Europe/Berlin")
#: An all-day event ends at this time of its last day.
DAY_END = time(23, 59)


def berlin(day: date, at: time | None = None) -> datetime:
    """`at` o'clock (midnight when None) on `day` in Berlin, as an aware UTC datetime."""
    return datetime.combine(day, at or time(0), tzinfo=BERLIN).astimezone(timezone.utc)


def to_utc(value: datetime) -> datetime:
    """An aware datetime in UTC; a naive one is taken as Berlin time (as people enter it)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=BERLIN)
    return value.astimezone(timezone.utc)


def local(value: datetime) -> datetime:
    return value.astimezone(BERLIN)


def wall_clock(value: datetime) -> datetime:
    """The Berlin wall-clock time without zone, for arithmetic that ignores daylight-saving shifts."""
    return local(value).replace(tzinfo=None)


def days_between(start: datetime, end: datetime) -> list[date]:
    """Every Berlin day from the one of `start` to the one of `end`."""
    first, last = local(start).date(), local(end).date()
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def clock(value: datetime | None) -> str:
    """ "11:30" in Berlin time ("" for None)."""
    return f"{local(value):%H:%M}" if value else ""


def short_date(value: datetime) -> str:
    return f"{local(value):%d.%m.%Y}"


def outside(starts_at: datetime | None, ends_at: datetime | None, first: datetime, last: datetime) -> str | None:
    """Which of a session's times ("starts_at", "ends_at") lies outside [first, last], if any."""
    if starts_at and not first <= starts_at <= last:
        return "starts_at"
    if ends_at and not first <= ends_at <= last:
        return "ends_at"
    return None
