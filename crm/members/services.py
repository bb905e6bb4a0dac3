"""Memberships: numbering, creation, changes, guarded status transitions and deletion.

Every function validates, writes the audit entry and flushes at most; the caller commits.
"""
from datetime import date
from typing import Any

import sqlalchemy as sa

from crm.audit.services import apply_changes, record, snapshot
from crm.contacts.models import Organization, Person
from crm.contacts.validation import clean
from crm.errors import ValidationFailed
from crm.extensions import db
from crm.members.models import Counter, Membership, MembershipStatus, MembershipType

MEMBER_NUMBER = "member_number"

#: What the office may change with the edit form; the status only changes through change_status().
EDITABLE_FIELDS = ("type", "start_date", "end_date", "notes")

#: A member in one of these statuses has a start date (activating sets it).
STARTED = (MembershipStatus.active, MembershipStatus.suspended)


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


def _type(value: str) -> MembershipType:
    try:
        return MembershipType(value)
    except ValueError:
        raise ValidationFailed("type", "Bitte wählen Sie eine Art der Mitgliedschaft aus der Liste.") from None


def _de(day: date) -> str:
    return f"{day:%d.%m.%Y}"


def _check_order(start_date: date | None, end_date: date | None) -> None:
    if end_date and start_date and end_date < start_date:
        raise ValidationFailed("end_date", f"Das Ende darf nicht vor dem Beginn ({_de(start_date)}) liegen.")


def _check_dates(status: MembershipStatus, start_date: date | None, end_date: date | None) -> None:
    """The dates agree with each other and with the status."""
    _check_order(start_date, end_date)
    if status in STARTED and start_date is None:
        raise ValidationFailed("start_date", f"Eine Mitgliedschaft mit Status „{status.label}“ braucht ein Beginndatum.")
    if status == MembershipStatus.ended and end_date is None:
        raise ValidationFailed("end_date", "Eine beendete Mitgliedschaft braucht ein Enddatum.")


def running_membership(*, person: Person | None = None, organization: Organization | None = None) -> Membership | None:
    """The member's membership that has not ended, if any."""
    column, member = (Membership.person_id, person) if person is not None else (Membership.organization_id, organization)
    return db.session.scalar(
        sa.select(Membership).where(column == member.id, Membership.status != MembershipStatus.ended).limit(1)
    )


def _check_not_running(person: Person | None, organization: Organization | None) -> None:
    current = running_membership(person=person, organization=organization)
    if current is not None:
        raise ValidationFailed(
            None,
            f"{current.member_name} hat bereits die Mitgliedschaft Nr. {current.number} ({current.status.label}). "
            "Eine neue Mitgliedschaft kann erst angelegt werden, wenn diese beendet ist.",
        )


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
    """A new membership with the next member number; an active one without start date starts today."""
    if (person is None) == (organization is None):
        raise ValidationFailed(None, "Mitglied ist entweder eine Person oder eine Organisation, nicht beides.")
    status = MembershipStatus(status)
    if status in STARTED and start_date is None:
        start_date = date.today()
    # Not _check_dates: old records (demo data, imports) may be ended without a known end date.
    _check_order(start_date, end_date)
    _check_not_running(person, organization)
    membership = Membership(
        number=next_number(MEMBER_NUMBER),
        person=person,
        organization=organization,
        type=_type(type),
        status=status,
        start_date=start_date,
        end_date=end_date,
        notes=(notes or "").strip() or None,
    )
    db.session.add(membership)
    db.session.flush()  # person_id / organization_id are set on flush; the snapshot needs them
    record("create", membership, actor=actor, changes=snapshot(membership, Membership.AUDITED_FIELDS))
    return membership


def update_membership(membership: Membership, data: dict[str, Any], *, actor) -> dict:
    """Change type, dates and notes; returns {field: [old, new]} of what really changed."""
    data = clean({k: v for k, v in data.items() if k in EDITABLE_FIELDS})
    if "type" in data:
        data["type"] = _type(data["type"])
    merged = {f: getattr(membership, f) for f in EDITABLE_FIELDS} | data
    _check_dates(membership.status, merged["start_date"], merged["end_date"])
    changes = apply_changes(membership, data)
    if changes:
        record("update", membership, actor=actor, changes=changes)
    return changes


def _refuse_transition(membership: Membership, target: MembershipStatus) -> ValidationFailed:
    if membership.status == MembershipStatus.ended:
        message = (
            f"Die Mitgliedschaft Nr. {membership.number} ist beendet und bleibt es. "
            "Für eine Rückkehr legen Sie bitte eine neue Mitgliedschaft an (mit neuer Nummer)."
        )
    elif membership.status == target:
        message = f"Die Mitgliedschaft ist bereits „{target.label}“."
    else:
        message = f"Eine Mitgliedschaft mit Status „{membership.status.label}“ kann nicht auf „{target.label}“ gesetzt werden."
    return ValidationFailed("status", message)


def change_status(membership: Membership, status: str, *, actor, end_date: date | None = None) -> dict:
    """Move to `status` if the transition is allowed.

    Activating sets the start date to today when there is none; ending needs an end date
    (today unless given) that is not before the start.
    """
    try:
        target = MembershipStatus(status)
    except ValueError:
        raise ValidationFailed("status", "Diesen Status gibt es nicht.") from None
    if target not in membership.next_statuses:
        raise _refuse_transition(membership, target)
    data: dict[str, Any] = {"status": target}
    if target == MembershipStatus.active and membership.start_date is None:
        data["start_date"] = date.today()
    if target == MembershipStatus.ended:
        data["end_date"] = end_date or date.today()
    _check_dates(target, data.get("start_date", membership.start_date), data.get("end_date", membership.end_date))
    changes = apply_changes(membership, data)
    record("update", membership, actor=actor, changes=changes)
    return changes


def delete_membership(membership: Membership, *, actor) -> None:
    """Delete a membership; its number stays used (the counter never goes back) and the history stays."""
    record("delete", membership, actor=actor, changes=snapshot(membership, Membership.AUDITED_FIELDS))
    db.session.delete(membership)
    db.session.flush()
