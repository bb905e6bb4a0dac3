"""Memberships: numbering and creation."""
from datetime import date

import sqlalchemy as sa

from crm.audit.services import record, snapshot
from crm.contacts.models import Organization, Person
from crm.errors import ValidationFailed
from crm.extensions import db
from crm.members.models import Counter, Membership, MembershipStatus, MembershipType

MEMBER_NUMBER = "member_number"


def next_number(name: str) -> int:
    """The next value of a counter; numbers handed out are never handed out again."""
    value = db.session.execute(
        sa.update(Counter).where(Counter.name == name).values(value=Counter.value + 1).returning(Counter.value)
    ).scalar()
    if value is None:
        db.session.add(Counter(name=name, value=1))
        db.session.flush()
        value = 1
    return value


def create_membership(
    *,
    actor,
    type: str,
    status: str,
    person: Person | None = None,
    organization: Organization | None = None,
    start_date: date | None = None,
    end_date: date | None = None,
    notes: str | None = None,
) -> Membership:
    if (person is None) == (organization is None):
        raise ValidationFailed(None, "Mitglied ist entweder eine Person oder eine Organisation, nicht beides.")
    if end_date and start_date and end_date < start_date:
        raise ValidationFailed("end_date", "Das Ende darf nicht vor dem Beginn liegen.")
    membership = Membership(
        number=next_number(MEMBER_NUMBER),
        person=person,
        organization=organization,
        type=MembershipType(type),
        status=MembershipStatus(status),
        start_date=start_date,
        end_date=end_date,
        notes=notes,
    )
    db.session.add(membership)
    record("create", membership, actor=actor, changes=snapshot(membership, Membership.AUDITED_FIELDS))
    return membership
