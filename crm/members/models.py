"""Memberships of people and organizations in the association."""
from datetime import date, datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.extensions import db, str_enum, utcnow


class MembershipType(StrEnum):
    regular = "regular"
    institutional = "institutional"
    sponsoring = "sponsoring"
    honorary = "honorary"

    @property
    def label(self) -> str:
        return {
            "regular": "Ordentliches Mitglied",
            "institutional": "Institutionelles Mitglied",
            "sponsoring": "Fördermitglied",
            "honorary": "Ehrenmitglied",
        }[self.value]


class MembershipStatus(StrEnum):
    applied = "applied"
    active = "active"
    suspended = "suspended"
    ended = "ended"

    @property
    def label(self) -> str:
        return {"applied": "beantragt", "active": "aktiv", "suspended": "ruhend", "ended": "beendet"}[self.value]


#: The statuses a membership may move to. Ended is final: a former member who returns gets a new
#: membership with a new number, so the old one keeps telling when the first one ended.
STATUS_TRANSITIONS = {
    MembershipStatus.applied: (MembershipStatus.active, MembershipStatus.ended),
    MembershipStatus.active: (MembershipStatus.suspended, MembershipStatus.ended),
    MembershipStatus.suspended: (MembershipStatus.active, MembershipStatus.ended),
    MembershipStatus.ended: (),
}


class Counter(db.Model):
    """Named counters for numbers that must never be reused (member numbers)."""

    __tablename__ = "counters"

    name: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    value: Mapped[int] = mapped_column(default=0)


class Membership(db.Model):
    __tablename__ = "memberships"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: Assigned from the member_number counter; never reused, even after deletion.
    number: Mapped[int] = mapped_column(unique=True)
    person_id: Mapped[int | None] = mapped_column(sa.ForeignKey("people.id", ondelete="CASCADE"), index=True)
    organization_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    type: Mapped[MembershipType] = mapped_column(str_enum(MembershipType, "type"))
    status: Mapped[MembershipStatus] = mapped_column(str_enum(MembershipStatus, "status"))
    start_date: Mapped[date | None] = mapped_column()
    end_date: Mapped[date | None] = mapped_column()
    notes: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    person = relationship("Person")
    organization = relationship("Organization")

    __table_args__ = (
        # A member is a person or an organization, never both, never neither.
        sa.CheckConstraint("(person_id IS NULL) <> (organization_id IS NULL)", "person_xor_organization"),
        sa.CheckConstraint("end_date IS NULL OR start_date IS NULL OR end_date >= start_date", "dates_ordered"),
        sa.CheckConstraint("number > 0", "number_positive"),
        # The people list's membership filter reads the people of a status from this index alone.
        sa.Index("ix_memberships_status_person", "status", "person_id"),
    )

    AUDITED_FIELDS = ("number", "person_id", "organization_id", "type", "status", "start_date", "end_date", "notes")

    @property
    def audit_subjects(self) -> tuple[int | None, int | None]:
        return self.person_id, self.organization_id

    @property
    def next_statuses(self) -> tuple[MembershipStatus, ...]:
        """The statuses this membership may be changed to now."""
        return STATUS_TRANSITIONS[self.status]

    @property
    def member_kind_label(self) -> str:
        return "Person" if self.person_id else "Organisation"

    @property
    def home_organization(self):
        """The member organization itself, or a person member's current primary organization."""
        if self.organization is not None:
            return self.organization
        primary = self.person.primary_affiliation
        return primary.organization if primary else None

    @property
    def member_name(self) -> str:
        return self.person.full_name if self.person else self.organization.name

    @property
    def audit_label(self) -> str:
        return f"Nr. {self.number} ({self.member_name})"
