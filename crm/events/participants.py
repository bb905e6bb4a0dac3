"""The office's lists of an event's invitations: answers with filters, export, sign-in list, check-in."""
from dataclasses import asdict, dataclass
from typing import Any, Iterator, Mapping

import sqlalchemy as sa
from sqlalchemy.orm import contains_eager, selectinload

from crm.contacts.export import Column, rows_in_batches
from crm.contacts.models import Affiliation, Person
from crm.contacts.search import fold, like_escape
from crm.events.invitations import is_over
from crm.events.links import rsvp_token
from crm.events.models import Event, EventStatus, Invitation, InvitationStatus
from crm.extensions import db
from crm.templating import datetime_short_de

#: The status tabs of the answers page: key -> (label, statuses).
TABS = {
    "accepted": ("zugesagt", (InvitationStatus.accepted,)),
    "tentative": ("vielleicht", (InvitationStatus.tentative,)),
    "declined": ("abgesagt", (InvitationStatus.declined,)),
    "open": ("offen", (InvitationStatus.planned, InvitationStatus.sent)),
    "waitlisted": ("Warteliste", (InvitationStatus.waitlisted,)),
    "cancelled": ("zurückgezogen", (InvitationStatus.cancelled,)),
}


#: Which tab a status belongs to (for the colour of its badge).
STATUS_TAB = {status.value: key for key, (_, statuses) in TABS.items() for status in statuses}


def tab_counts(counts: Mapping[InvitationStatus, int]) -> dict[str, int]:
    return {key: sum(counts.get(s, 0) for s in statuses) for key, (_, statuses) in TABS.items()}


@dataclass
class InvitationFilter:
    status: str = ""
    q: str = ""
    checked_in: str = ""

    @classmethod
    def from_args(cls, args: Mapping[str, Any]) -> "InvitationFilter":
        status = str(args.get("status", "") or "")
        checked_in = str(args.get("checked_in", "") or "")
        return cls(
            status=status if status in TABS else "", q=str(args.get("q", "") or "").strip()[:200],
            checked_in=checked_in if checked_in in ("yes", "no") else "",
        )  # fmt: skip

    def to_args(self, **override) -> dict[str, str]:
        return {k: v for k, v in {**asdict(self), **override}.items() if v}

    def statement(self, event: Event) -> sa.Select:
        """The event's invitations that match, by name (the person's, or the deputy's)."""
        stmt = sa.select(Invitation).join(Person, Person.id == Invitation.person_id).where(Invitation.event_id == event.id)
        if self.status:
            stmt = stmt.where(Invitation.status.in_(TABS[self.status][1]))
        for term in fold(self.q).split():
            pattern = f"%{like_escape(term)}%"
            stmt = stmt.where(sa.or_(
                Person.search_key.like(pattern, escape="\\"), sa.func.lower(Invitation.deputy_name).like(pattern, escape="\\"),
            ))  # fmt: skip
        if self.checked_in:
            present = Invitation.checked_in_at.is_not(None)
            stmt = stmt.where(present if self.checked_in == "yes" else ~present)
        return stmt.order_by(Person.last_name, Person.first_name, Invitation.id)


def with_people(stmt: sa.Select) -> sa.Select:
    """Load each row's person and current organizations in a fixed number of queries."""
    return stmt.options(selectinload(Invitation.person).selectinload(Person.affiliations).joinedload(Affiliation.organization))


def _organization(invitation: Invitation) -> str:
    affiliation = invitation.person.primary_affiliation
    return affiliation.organization.name if affiliation else ""


def _position(invitation: Invitation) -> str:
    affiliation = invitation.person.primary_affiliation
    return affiliation.position or "" if affiliation else ""


#: The participant list for download: no health data (the caterer gets counts, see crm.events.needs).
EXPORT_COLUMNS: list[Column] = [
    ("Nachname", lambda i: i.person.last_name),
    ("Vorname", lambda i: i.person.first_name),
    ("Titel", lambda i: i.person.title),
    ("Organisation", _organization),
    ("Funktion", _position),
    ("E-Mail", lambda i: i.person.email),
    ("Status", lambda i: i.status.label),
    ("Begleitpersonen", lambda i: i.companions),
    ("Namen der Begleitung", lambda i: i.companion_names),
    ("Vertretung", lambda i: i.deputy_name),
    ("E-Mail der Vertretung", lambda i: i.deputy_email),
    ("Nachricht", lambda i: i.note),
    ("Geantwortet am", lambda i: datetime_short_de(i.responded_at)),
    ("Anwesend", lambda i: datetime_short_de(i.checked_in_at) if i.checked_in_at else "nein"),
]


def export_rows(event: Event, invitation_filter: InvitationFilter) -> Iterator[Invitation]:
    """The filtered invitations in the list's order, loaded in batches while the download streams."""
    ids = db.session.scalars(invitation_filter.statement(event).with_only_columns(Invitation.id)).all()

    def load(batch: list[int]) -> dict[int, Invitation]:
        return {i.id: i for i in db.session.scalars(with_people(sa.select(Invitation).where(Invitation.id.in_(batch))))}

    return rows_in_batches(ids, load)


def attendees(event: Event) -> list[Invitation]:
    """Everyone with a place (accepted), by name: the sign-in list."""
    return list(db.session.scalars(with_people(InvitationFilter(status="accepted").statement(event))))


def waitlist_position(invitation: Invitation) -> int | None:
    """1 for the first in line; None when not waiting."""
    if invitation.status != InvitationStatus.waitlisted or invitation.waitlisted_at is None:
        return None
    ahead = db.session.scalar(
        sa.select(sa.func.count()).where(
            Invitation.event_id == invitation.event_id, Invitation.status == InvitationStatus.waitlisted,
            sa.or_(Invitation.waitlisted_at < invitation.waitlisted_at,
                   sa.and_(Invitation.waitlisted_at == invitation.waitlisted_at, Invitation.id < invitation.id)),
        )
    )  # fmt: skip
    return ahead + 1


def for_person(person) -> list[tuple[Invitation, str | None]]:
    """A person's invitations, newest event first, each with a token for its answer page while it can be used."""
    invitations = db.session.scalars(
        sa.select(Invitation).join(Event).where(Invitation.person_id == person.id).order_by(Event.starts_at.desc())
        .options(contains_eager(Invitation.event))
    ).all()  # fmt: skip
    return [
        (i, rsvp_token(i) if i.event.status != EventStatus.cancelled and not is_over(i.event) else None) for i in invitations
    ]
