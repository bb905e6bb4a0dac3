"""The event list filter: read from the URL, used by the list and its status counts."""
from dataclasses import asdict, dataclass, replace
from datetime import date
from typing import Any, Mapping

import sqlalchemy as sa

from crm.contacts.filters import _read_args
from crm.contacts.search import like_escape
from crm.events.models import Event, EventKind, EventStatus
from crm.events.times import berlin, local
from crm.extensions import db, utcnow


@dataclass
class EventFilter:
    q: str = ""
    status: str = ""
    kind: str = ""
    year: str = ""

    @classmethod
    def from_args(cls, args: Mapping[str, Any]) -> "EventFilter":
        """Read the filter from request.args; unknown values are ignored, not errors."""
        values = _read_args(cls, args, {"status": EventStatus.__members__, "kind": EventKind.__members__})
        if not (values["year"].isdigit() and len(values["year"]) == 4):
            values["year"] = ""
        return cls(**values)

    def to_args(self, **overrides: str) -> dict[str, str]:
        """The non-empty arguments, for links that keep the filter (`overrides` replace single ones)."""
        return {k: v for k, v in (asdict(self) | overrides).items() if v}

    @property
    def is_empty(self) -> bool:
        return not self.to_args()

    def conditions(self) -> list:
        conditions = []
        for term in self.q.lower().split():
            pattern = f"%{like_escape(term)}%"
            columns = (Event.title, Event.subtitle, Event.city, Event.venue)
            conditions.append(sa.or_(*(sa.func.lower(column).like(pattern, escape="\\") for column in columns)))
        if self.status:
            conditions.append(Event.status == self.status)
        if self.kind:
            conditions.append(Event.kind == self.kind)
        if self.year:
            year = int(self.year)
            conditions.append(Event.starts_at >= berlin(date(year, 1, 1)))
            conditions.append(Event.starts_at < berlin(date(year + 1, 1, 1)))
        return conditions

    def statement(self) -> sa.Select:
        """The matching events: upcoming and running ones first (soonest first), then past ones (latest first)."""
        upcoming = Event.ends_at >= utcnow()
        return (
            sa.select(Event)
            .where(*self.conditions())
            .order_by(sa.case((upcoming, 0), else_=1), sa.case((upcoming, Event.starts_at)), Event.starts_at.desc(), Event.id)
        )

    def status_counts(self) -> sa.Select:
        """(status, count) for the filter as it is apart from the status, for the status tabs."""
        return sa.select(Event.status, sa.func.count()).where(*replace(self, status="").conditions()).group_by(Event.status)

    def describe(self) -> list[str]:
        """The filter in words ("Art: Workshop"), for the list heading."""
        parts = [f"Suche: „{self.q}“"] if self.q else []
        if self.status:
            parts.append(f"Status: {EventStatus(self.status).label}")
        if self.kind:
            parts.append(f"Art: {EventKind(self.kind).label}")
        if self.year:
            parts.append(f"Jahr {self.year}")
        return parts


def event_years() -> list[str]:
    """The years from the first to the last event, newest first (for the year filter)."""
    first, last = db.session.execute(sa.select(sa.func.min(Event.starts_at), sa.func.max(Event.starts_at))).one()
    if first is None:
        return []
    return [str(year) for year in range(local(last).year, local(first).year - 1, -1)]
