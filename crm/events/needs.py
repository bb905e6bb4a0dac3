"""Dietary and access needs of invited people: health data (Art. 9 DSGVO).

Visible to the office only, never in the audit log or the participant export, handed to caterers
and the venue only as counts, and deleted once the event is over (`flask events purge-needs`).
"""
from datetime import datetime

import sqlalchemy as sa

from crm.audit.services import record
from crm.events.models import Event, EventStatus, Invitation, InvitationStatus
from crm.extensions import db, utcnow

NEEDS = {
    "vegetarisch": "vegetarisch", "vegan": "vegan", "glutenfrei": "glutenfrei", "laktosefrei": "laktosefrei",
    "rollstuhl": "rollstuhlgerechter Zugang", "hoeren": "Höranlage oder Gebärdensprache",
}  # fmt: skip
OTHER = "Sonstiges: "


def format_needs(choices: list[str], other: str | None) -> str | None:
    """The stored text: the chosen options in a fixed order, then anything else the person wrote."""
    parts = [label for key, label in NEEDS.items() if key in choices]
    if other and other.strip():
        parts.append(OTHER + " ".join(other.split()))
    return "; ".join(parts) or None


def parse_needs(text: str | None) -> tuple[list[str], str | None]:
    """(option keys, other text) of a stored value."""
    if not text:
        return [], None
    head, _, other = text.partition(OTHER)
    labels = {label: key for key, label in NEEDS.items()}
    return [labels[p] for p in head.split("; ") if p in labels], other or None


def needs_counts(event: Event) -> list[tuple[str, int]]:
    """For the caterer and the venue: how many accepted participants need what; no names, no free text."""
    texts = db.session.scalars(
        sa.select(Invitation.needs).where(
            Invitation.event_id == event.id, Invitation.status == InvitationStatus.accepted, Invitation.needs.is_not(None)
        )
    )
    counts = dict.fromkeys(NEEDS, 0)
    others = 0
    for text in texts:
        choices, other = parse_needs(text)
        for key in choices:
            counts[key] += 1
        others += other is not None
    return [(NEEDS[key], number) for key, number in counts.items()] + [("sonstige Angaben (bitte bei der Geschäftsstelle erfragen)", others)]


def purge_needs(event: Event, *, actor=None) -> int:
    """Delete the event's health data (after the event); returns how many answers held some."""
    number = db.session.execute(
        sa.update(Invitation).where(Invitation.event_id == event.id, Invitation.needs.is_not(None)).values(needs=None)
        .execution_options(synchronize_session="fetch")
    ).rowcount  # fmt: skip
    if number:
        record("update", event, actor=actor, changes={"needs": [f"{number} Angaben", "gelöscht (Art. 9 DSGVO)"]})
    return number


def purge_ended_needs(now: datetime | None = None) -> int:
    """purge_needs() for every event that has ended: for `flask events purge-needs` (daily cron)."""
    ended = db.session.scalars(
        sa.select(Event).where(
            sa.or_(Event.ends_at <= (now or utcnow()), Event.status == EventStatus.done),
            sa.exists().where(Invitation.event_id == Event.id, Invitation.needs.is_not(None)),
        )
    ).all()
    return sum(purge_needs(event) for event in ended)
