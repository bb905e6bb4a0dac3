"""Membership services: numbers never reused, guarded status transitions, date rules, audit rows."""
from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from crm.audit.models import AuditLog
from crm.errors import ValidationFailed
from crm.members.models import Membership, MembershipStatus, MembershipType
from crm.members.services import change_status, create_membership, delete_membership, update_membership

ALLOWED = {
    ("applied", "active"), ("applied", "ended"),
    ("active", "suspended"), ("active", "ended"),
    ("suspended", "active"), ("suspended", "ended"),
}  # fmt: skip
ALL_PAIRS = [(a.value, b.value) for a in MembershipStatus for b in MembershipStatus]


@pytest.fixture()
def office(make):
    return make.user(role="office")


def membership_in(make, status: str, **kw) -> Membership:
    """A membership that has reached `status` the way the office gets there."""
    kw.setdefault("start_date", date(2020, 1, 1) if status != "applied" else None)
    if status == "ended":
        kw.setdefault("end_date", date(2023, 12, 31))
    return make.membership(status=status, **kw)


def audit_rows(db, membership_id: int) -> list[AuditLog]:
    return db.session.scalars(
        sa.select(AuditLog).where(AuditLog.entity_type == "memberships", AuditLog.entity_id == membership_id)
        .order_by(AuditLog.id)
    ).all()  # fmt: skip


# --- numbers -----------------------------------------------------------------------------------


def test_a_deleted_members_number_is_not_handed_out_again(db, make, office):
    first = make.membership()
    second = make.membership()
    db.session.commit()
    deleted_number = second.number
    delete_membership(second, actor=office)
    db.session.commit()

    third = make.membership()
    db.session.commit()

    assert third.number == deleted_number + 1
    assert db.session.scalar(sa.select(sa.func.count()).where(Membership.number == deleted_number)) == 0
    assert first.number < deleted_number


def test_a_returning_member_gets_a_new_membership_and_number(db, make, office):
    person = make.person()
    old = membership_in(make, "ended", person=person)
    new = create_membership(actor=office, type="regular", status="applied", person=person)
    assert new.number > old.number
    assert old.status == MembershipStatus.ended  # the old one keeps its end


def test_no_second_running_membership_for_the_same_member(db, make, office):
    organization = make.organization(name="Stadt Ulm")
    current = make.membership(organization=organization, type="institutional", status="suspended", start_date=date(2019, 1, 1))
    with pytest.raises(ValidationFailed) as refused:
        create_membership(actor=office, type="institutional", status="active", organization=organization)
    assert refused.value.message.startswith(f"Stadt Ulm hat bereits die Mitgliedschaft Nr. {current.number} (ruhend).")


def test_creating_an_active_membership_without_start_starts_it_today(db, make, office):
    membership = create_membership(actor=office, type="honorary", status="active", person=make.person())
    assert membership.start_date == date.today()
    applied = create_membership(actor=office, type="regular", status="applied", person=make.person())
    assert applied.start_date is None


# --- transitions -------------------------------------------------------------------------------


@pytest.mark.parametrize(("current", "target"), sorted(ALLOWED), ids=lambda v: v)
def test_allowed_transition(db, make, office, current, target):
    membership = membership_in(make, current)
    change_status(membership, target, actor=office)
    assert membership.status == MembershipStatus(target)


@pytest.mark.parametrize(("current", "target"), sorted(set(ALL_PAIRS) - ALLOWED), ids=lambda v: v)
def test_refused_transition(db, make, office, current, target):
    membership = membership_in(make, current)
    before = {f: getattr(membership, f) for f in ("status", "start_date", "end_date")}
    with pytest.raises(ValidationFailed) as refused:
        change_status(membership, target, actor=office)
    assert refused.value.field == "status"
    if current == "ended":
        assert "ist beendet und bleibt es" in refused.value.message
        assert "neue Mitgliedschaft" in refused.value.message
    elif current == target:
        assert refused.value.message == f"Die Mitgliedschaft ist bereits „{MembershipStatus(target).label}“."
    else:
        assert refused.value.message == (
            f"Eine Mitgliedschaft mit Status „{MembershipStatus(current).label}“ kann nicht auf "
            f"„{MembershipStatus(target).label}“ gesetzt werden."
        )
    assert {f: getattr(membership, f) for f in before} == before
    assert [row.action for row in audit_rows(db, membership.id)] == ["create"]


def test_unknown_status_is_refused_in_german(db, make, office):
    with pytest.raises(ValidationFailed, match="Diesen Status gibt es nicht."):
        change_status(make.membership(), "paused", actor=office)


def test_unknown_type_is_refused_in_german(db, make, office):
    with pytest.raises(ValidationFailed, match="Bitte wählen Sie eine Art der Mitgliedschaft aus der Liste."):
        update_membership(make.membership(), {"type": "gold"}, actor=office)


def test_activating_an_application_starts_it_today(db, make, office):
    membership = membership_in(make, "applied")
    change_status(membership, "active", actor=office)
    assert membership.start_date == date.today()


def test_activating_keeps_a_start_date_already_set(db, make, office):
    membership = membership_in(make, "applied", start_date=date(2025, 7, 1))
    change_status(membership, "active", actor=office)
    assert membership.start_date == date(2025, 7, 1)


def test_ending_defaults_to_today(db, make, office):
    membership = membership_in(make, "active")
    change_status(membership, "ended", actor=office)
    assert membership.end_date == date.today()


def test_ending_on_a_given_date(db, make, office):
    membership = membership_in(make, "suspended")
    change_status(membership, "ended", actor=office, end_date=date(2024, 12, 31))
    assert (membership.status, membership.end_date) == (MembershipStatus.ended, date(2024, 12, 31))


def test_ending_before_the_start_is_refused(db, make, office):
    membership = membership_in(make, "active", start_date=date(2022, 5, 1))
    with pytest.raises(ValidationFailed) as refused:
        change_status(membership, "ended", actor=office, end_date=date(2022, 4, 30))
    assert (refused.value.field, refused.value.message) == ("end_date", "Das Ende darf nicht vor dem Beginn (01.05.2022) liegen.")


def test_rejecting_an_application_without_start_date(db, make, office):
    membership = membership_in(make, "applied")
    change_status(membership, "ended", actor=office)
    assert (membership.status, membership.start_date, membership.end_date) == (MembershipStatus.ended, None, date.today())


# --- edit --------------------------------------------------------------------------------------


def test_edit_changes_type_dates_and_notes_and_audits_old_and_new(db, make, office):
    membership = membership_in(make, "active", start_date=date(2020, 1, 1))
    changes = update_membership(
        membership,
        {"type": "honorary", "start_date": date(2019, 6, 1), "end_date": None, "notes": "  Ehrenmitglied seit 2024 "},
        actor=office,
    )
    assert changes == {
        "type": ["regular", "honorary"], "start_date": ["2020-01-01", "2019-06-01"], "notes": [None, "Ehrenmitglied seit 2024"],
    }  # fmt: skip
    assert membership.type == MembershipType.honorary
    assert audit_rows(db, membership.id)[-1].changes == changes


def test_edit_without_change_writes_no_audit_row(db, make, office):
    membership = membership_in(make, "active")
    assert update_membership(membership, {"type": "regular", "start_date": date(2020, 1, 1)}, actor=office) == {}
    assert [row.action for row in audit_rows(db, membership.id)] == ["create"]


def test_edit_cannot_change_the_status_or_number(db, make, office):
    membership = membership_in(make, "active")
    number = membership.number
    update_membership(membership, {"status": "ended", "number": 999}, actor=office)
    assert (membership.status, membership.number) == (MembershipStatus.active, number)


@pytest.mark.parametrize(
    ("status", "data", "field", "message"),
    [
        ("active", {"start_date": None}, "start_date", "Eine Mitgliedschaft mit Status „aktiv“ braucht ein Beginndatum."),
        ("suspended", {"start_date": None}, "start_date", "Eine Mitgliedschaft mit Status „ruhend“ braucht ein Beginndatum."),
        ("ended", {"end_date": None}, "end_date", "Eine beendete Mitgliedschaft braucht ein Enddatum."),
        ("active", {"end_date": date(2019, 12, 31)}, "end_date", "Das Ende darf nicht vor dem Beginn (01.01.2020) liegen."),
        ("ended", {"start_date": date(2024, 1, 1)}, "end_date", "Das Ende darf nicht vor dem Beginn (01.01.2024) liegen."),
    ],
    ids=["active-no-start", "suspended-no-start", "ended-no-end", "end-before-start", "start-after-end"],
)
def test_edit_keeps_dates_consistent(db, make, office, status, data, field, message):
    membership = membership_in(make, status)
    with pytest.raises(ValidationFailed) as refused:
        update_membership(membership, data, actor=office)
    assert (refused.value.field, refused.value.message) == (field, message)


def test_a_fixed_term_membership_may_have_a_planned_end(db, make, office):
    membership = membership_in(make, "active")
    planned = date.today() + timedelta(days=365)
    update_membership(membership, {"end_date": planned}, actor=office)
    assert (membership.status, membership.end_date) == (MembershipStatus.active, planned)


# --- audit -------------------------------------------------------------------------------------


def test_every_change_is_audited_with_old_and_new_values_for_the_member(db, make, office):
    person = make.person(first_name="Anika", last_name="Krellmann")
    membership = create_membership(actor=office, type="regular", status="applied", person=person, notes="Antrag per Post")
    change_status(membership, "active", actor=office)
    change_status(membership, "ended", actor=office, end_date=date.today() + timedelta(days=1))
    membership_id, number = membership.id, membership.number
    delete_membership(membership, actor=office)
    db.session.flush()

    rows = audit_rows(db, membership_id)
    assert [row.action for row in rows] == ["create", "update", "update", "delete"]
    assert all(row.person_id == person.id and row.organization_id is None for row in rows)
    assert all(row.actor_id == office.id for row in rows)
    assert rows[0].changes == {
        "number": number, "person_id": person.id, "type": "regular", "status": "applied", "notes": "Antrag per Post",
    }  # fmt: skip
    assert rows[1].changes == {"status": ["applied", "active"], "start_date": [None, date.today().isoformat()]}
    assert rows[2].changes == {"status": ["active", "ended"], "end_date": [None, (date.today() + timedelta(days=1)).isoformat()]}
    assert rows[3].changes["number"] == number and rows[3].changes["status"] == "ended"
    assert rows[3].entity_label == f"Nr. {number} (Anika Krellmann)"
    assert db.session.get(Membership, membership_id) is None


def test_an_organizations_membership_is_audited_for_the_organization(db, make, office):
    organization = make.organization()
    membership = make.membership(organization=organization, type="institutional")
    change_status(membership, "suspended", actor=office)
    assert {(row.person_id, row.organization_id) for row in audit_rows(db, membership.id)} == {(None, organization.id)}
