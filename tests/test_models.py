"""Rules the DATABASE enforces, whatever code writes to it (rows inserted through the ORM, bypassing services)."""
import itertools
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError, StatementError

from crm.audit.models import AuditLog
from crm.contacts.models import (
    Affiliation, Consent, ConsentChannel, ConsentMethod, Organization, OrganizationKind, Person, Salutation,
)  # fmt: skip
from crm.contacts.models.consents import AppendOnlyError
from crm.contacts.services import update_person
from crm.members.models import Membership, MembershipStatus, MembershipType
from crm.members.services import MEMBER_NUMBER, create_membership, next_number


def assert_refused(db, *objects, constraint: str, or_: str | None = None):
    """Flushing `objects` must fail in the database, naming `constraint` (SQLite names unique columns instead)."""
    with pytest.raises(IntegrityError) as excinfo:
        with db.session.begin_nested():
            db.session.add_all(objects)
            db.session.flush()
    message = str(excinfo.value.orig)
    assert constraint in message or (or_ is not None and or_ in message), message


def municipality(**kw) -> Organization:
    kw.setdefault("name", "Stadt Köln")
    kw.setdefault("kind", OrganizationKind.municipality)
    kw.setdefault("state", "05")
    kw.setdefault("ags", "05315000")
    return Organization(**kw)


def county(**kw) -> Organization:
    kw.setdefault("name", "Kreis Paderborn")
    kw.setdefault("kind", OrganizationKind.county)
    kw.setdefault("state", "05")
    kw.setdefault("kreisschluessel", "05774")
    return Organization(**kw)


_numbers = itertools.count(900_000)


def membership(**kw) -> Membership:
    kw.setdefault("number", next(_numbers))
    kw.setdefault("type", MembershipType.regular)
    kw.setdefault("status", MembershipStatus.active)
    return Membership(**kw)


def consent(person, **kw) -> Consent:
    kw.setdefault("channel", ConsentChannel.newsletter)
    kw.setdefault("granted", True)
    kw.setdefault("method", ConsentMethod.office)
    return Consent(person=person, email=person.email, **kw)


# --- people -------------------------------------------------------------------------------------------------------


def test_person_email_is_unique(db, make):
    make.person(email="n.huber@example.org")
    assert_refused(db, Person(last_name="Huber", email="n.huber@example.org"), constraint="uq_people_email",
                   or_="people.email")  # fmt: skip


def test_many_people_without_email(db):
    db.session.add_all([Person(last_name=f"Ohne Adresse {n}", email=None) for n in range(3)])
    db.session.flush()
    assert db.session.scalar(sa.select(sa.func.count()).where(Person.last_name.like("Ohne Adresse%"))) == 3


@pytest.mark.parametrize("email", ["N.Huber@example.org", "n.huber@EXAMPLE.ORG", "keine-adresse"])
def test_person_email_must_be_normalized(db, email):
    assert_refused(db, Person(last_name="Huber", email=email), constraint="ck_people_email_normalized")


# --- organizations ------------------------------------------------------------------------------------------------


def test_valid_municipality_and_county_are_stored(db):
    db.session.add_all([municipality(), county()])
    db.session.flush()
    assert db.session.scalar(sa.select(Organization.ags).where(Organization.name == "Stadt Köln")) == "05315000"


def test_ags_is_unique(db):
    db.session.add(municipality())
    db.session.flush()
    assert_refused(db, municipality(name="Köln (Dublette)"), constraint="uq_organizations_ags", or_="organizations.ags")


@pytest.mark.parametrize("ags", ["0531500", "05315A00", "0531500 ", "05315.00"])
def test_ags_must_be_eight_digits(db, ags):
    assert_refused(db, municipality(ags=ags), constraint="ck_organizations_ags_format")


def test_ags_must_start_with_the_state(db):
    assert_refused(db, municipality(ags="05315000", state="09"), constraint="ck_organizations_ags_state")


def test_ags_needs_a_state(db):
    assert_refused(db, municipality(ags="05315000", state=None), constraint="ck_organizations_ags_state")


@pytest.mark.parametrize("kind", [OrganizationKind.county, OrganizationKind.association, OrganizationKind.region])
def test_ags_only_on_municipalities(db, kind):
    assert_refused(db, municipality(kind=kind), constraint="ck_organizations_ags_kind")


@pytest.mark.parametrize("key", ["0577", "05A74", "0577 "])
def test_kreisschluessel_must_be_five_digits(db, key):
    assert_refused(db, county(kreisschluessel=key), constraint="ck_organizations_kreisschluessel_format")


def test_kreisschluessel_must_start_with_the_state(db):
    assert_refused(db, county(state="06"), constraint="ck_organizations_kreisschluessel_state")


def test_kreisschluessel_only_on_counties(db):
    assert_refused(db, county(kind=OrganizationKind.municipality), constraint="ck_organizations_kreisschluessel_kind")


def test_kreisschluessel_is_unique(db):
    db.session.add(county())
    db.session.flush()
    assert_refused(db, county(name="Kreis PB"), constraint="uq_organizations_kreisschluessel",
                   or_="organizations.kreisschluessel")  # fmt: skip


@pytest.mark.parametrize("state", ["00", "17", "99", "5", "NW"])
def test_state_must_be_a_bundesland_code(db, state):
    assert_refused(db, Organization(name="Irgendwo", kind=OrganizationKind.other, state=state),
                   constraint="ck_organizations_state_code")  # fmt: skip


def test_every_bundesland_code_is_accepted(db):
    db.session.add_all(
        Organization(name=f"Verband {n:02d}", kind=OrganizationKind.association, state=f"{n:02d}") for n in range(1, 17)
    )
    db.session.flush()


# --- memberships and affiliations ---------------------------------------------------------------------------------


def test_membership_of_person_and_organization_at_once_is_refused(db, make):
    assert_refused(db, membership(person=make.person(), organization=make.organization()),
                   constraint="ck_memberships_person_xor_organization")  # fmt: skip


def test_membership_of_nobody_is_refused(db):
    assert_refused(db, membership(), constraint="ck_memberships_person_xor_organization")


def test_membership_of_a_person_or_an_organization_is_stored(db, make):
    db.session.add_all([membership(number=900_101, person=make.person()),
                        membership(number=900_102, organization=make.organization())])  # fmt: skip
    db.session.flush()


def test_member_number_is_unique(db, make):
    db.session.add(membership(number=900_201, person=make.person()))
    db.session.flush()
    assert_refused(db, membership(number=900_201, person=make.person()), constraint="uq_memberships_number",
                   or_="memberships.number")  # fmt: skip


def test_at_most_one_primary_affiliation_per_person(db, make):
    person, other = make.person().id, make.person().id
    a, b, c = (make.organization().id for _ in range(3))
    db.session.add_all([
        Affiliation(person_id=person, organization_id=a, is_primary=True),
        Affiliation(person_id=person, organization_id=b, is_primary=False),
        Affiliation(person_id=person, organization_id=c, is_primary=False),
        Affiliation(person_id=other, organization_id=a, is_primary=True),
    ])  # fmt: skip
    db.session.flush()
    assert_refused(db, Affiliation(person_id=person, organization_id=c, is_primary=True),
                   constraint="uq_affiliations_primary_per_person", or_="affiliations.person_id")  # fmt: skip


def test_affiliation_cannot_end_before_it_starts(db, make):
    assert_refused(
        db,
        Affiliation(person_id=make.person().id, organization_id=make.organization().id, start_date=date(2024, 5, 1),
                    end_date=date(2024, 4, 30)),
        constraint="ck_affiliations_dates_ordered",
    )  # fmt: skip


def test_affiliation_may_end_on_its_first_day(db, make):
    db.session.add(Affiliation(person_id=make.person().id, organization_id=make.organization().id,
                               start_date=date(2024, 5, 1), end_date=date(2024, 5, 1)))  # fmt: skip
    db.session.flush()


# --- the consent ledger -------------------------------------------------------------------------------------------


def test_consent_rows_cannot_be_changed(db, make):
    row = consent(make.person())
    db.session.add(row)
    db.session.flush()

    with pytest.raises(AppendOnlyError, match="unveränderlich"):
        with db.session.begin_nested():
            row.granted = False
            db.session.flush()

    db.session.expire_all()
    assert db.session.scalar(sa.select(Consent.granted).where(Consent.id == row.id)) is True


def test_consent_rows_cannot_be_deleted(db, make):
    row = consent(make.person())
    db.session.add(row)
    db.session.flush()

    with pytest.raises(AppendOnlyError, match="nicht gelöscht"):
        with db.session.begin_nested():
            db.session.delete(row)
            db.session.flush()

    assert db.session.scalar(sa.select(sa.func.count()).where(Consent.id == row.id)) == 1


def test_deleting_a_person_keeps_the_consents_and_removes_the_affiliations(db, make):
    person, town, association = make.person(), make.organization(), make.organization()
    db.session.add_all([
        consent(person),
        consent(person, channel=ConsentChannel.event_invitation, granted=False, method=ConsentMethod.unsubscribe),
        Affiliation(person=person, organization=town, position="Bürgermeister", is_primary=True),
        Affiliation(person=person, organization=association, position="Sprecher"),
    ])  # fmt: skip
    db.session.flush()
    person_id, email = person.id, person.email

    db.session.delete(person)
    db.session.flush()
    db.session.expire_all()

    ledger = db.session.execute(sa.select(Consent.person_id, Consent.email).where(Consent.email == email)).all()
    assert ledger == [(None, email), (None, email)]
    remaining = db.session.scalar(sa.select(sa.func.count()).where(Affiliation.person_id == person_id))
    assert remaining == 0


def test_database_cascades_without_the_orm(db, make):
    """Also a bulk DELETE, which never loads the rows, leaves the ledger and removes the affiliations."""
    person, organization = make.person(), make.organization()
    db.session.add_all([consent(person), Affiliation(person=person, organization=organization)])
    db.session.flush()
    person_id, email = person.id, person.email

    db.session.execute(sa.delete(Person).where(Person.id == person_id),
                       execution_options={"synchronize_session": False})  # fmt: skip
    db.session.expire_all()

    assert db.session.scalar(sa.select(sa.func.count()).where(Consent.email == email)) == 1
    assert db.session.scalar(sa.select(sa.func.count()).where(Consent.person_id == person_id)) == 0
    assert db.session.scalar(sa.select(sa.func.count()).where(Affiliation.person_id == person_id)) == 0


def test_the_database_refuses_bulk_changes_to_the_ledger(db, make):
    """Bulk SQL bypasses the ORM; the trigger still keeps the ledger append-only."""
    row = consent(make.person())
    db.session.add(row)
    db.session.flush()

    for statement in (
        sa.update(Consent).where(Consent.id == row.id).values(granted=False),
        sa.update(Consent).where(Consent.id == row.id).values(source="nachträglich geändert"),
        sa.update(Consent).where(Consent.id == row.id).values(email="andere@example.org"),
        sa.delete(Consent).where(Consent.id == row.id),
    ):
        with pytest.raises(sa.exc.DatabaseError, match="append-only"):
            with db.session.begin_nested():
                db.session.execute(statement, execution_options={"synchronize_session": False})

    db.session.expire_all()
    assert db.session.get(Consent, row.id).granted is True


def test_personal_data_can_be_removed_from_the_ledger(db, make):
    """Erasure keeps that consent existed and how, without the address."""
    row = consent(make.person(), request_ip="192.0.2.10", user_agent="Testbrowser")
    db.session.add(row)
    db.session.flush()

    row.email, row.request_ip, row.user_agent, row.person_id = None, None, None, None
    db.session.flush()
    db.session.execute(sa.update(Consent).where(Consent.id == row.id).values(confirmed_ip=None))
    db.session.expire_all()

    kept = db.session.get(Consent, row.id)
    assert (kept.email, kept.request_ip, kept.person_id) == (None, None, None)
    assert kept.granted is True and kept.channel == ConsentChannel.newsletter


# --- member numbers -----------------------------------------------------------------------------------------------


def test_member_numbers_increase_and_are_never_reused(db, make):
    first = create_membership(actor=None, type="regular", status="active", person=make.person())
    second = create_membership(actor=None, type="institutional", status="applied", organization=make.organization())
    db.session.commit()
    assert second.number > first.number > 0

    db.session.delete(second)
    db.session.commit()
    third = create_membership(actor=None, type="regular", status="active", person=make.person())
    db.session.commit()

    assert third.number > second.number
    numbers = [next_number(MEMBER_NUMBER) for _ in range(3)]
    assert numbers == sorted(numbers) and len(set(numbers)) == 3
    assert numbers[0] > third.number


def test_counters_are_independent(db):
    a1, b1, a2 = next_number("test_counter_a"), next_number("test_counter_b"), next_number("test_counter_a")
    assert a2 == a1 + 1
    assert b1 == 1


# --- audit trail --------------------------------------------------------------------------------------------------


def test_update_person_records_old_and_new_values_and_the_actor(db, make):
    office = make.user(role="office")
    person = make.person(first_name="Nicole", last_name="Huber", salutation=Salutation.frau, email="nh@example.org")

    changes = update_person(
        person,
        {"first_name": "Nicole", "last_name": "Huber-Meier", "email": " N.Huber@Example.ORG ", "salutation": "divers"},
        actor=office,
    )
    db.session.commit()
    db.session.expire_all()

    expected = {
        "last_name": ["Huber", "Huber-Meier"],
        "email": ["nh@example.org", "n.huber@example.org"],
        "salutation": ["frau", "divers"],
    }
    assert changes == expected
    entries = db.session.scalars(
        sa.select(AuditLog).where(AuditLog.entity_type == "people", AuditLog.entity_id == person.id)
    ).all()
    assert len(entries) == 1
    entry = entries[0]
    assert entry.action == "update"
    assert entry.changes == expected
    assert entry.actor_id == office.id
    assert entry.actor_label == office.email
    assert entry.entity_label == "Nicole Huber-Meier"


def test_update_without_changes_writes_no_audit_row(db, make):
    person = make.person(first_name="Nicole", last_name="Huber")
    before = db.session.scalar(sa.select(sa.func.count()).select_from(AuditLog))
    assert update_person(person, {"first_name": "Nicole", "last_name": " Huber "}, actor=None) == {}
    db.session.commit()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditLog)) == before


# --- schema conventions -------------------------------------------------------------------------------------------

EXPECTED_NAMES = {
    "people": {"pk_people", "uq_people_email", "ck_people_email_normalized"},
    "organizations": {
        "uq_organizations_ags", "uq_organizations_kreisschluessel", "ck_organizations_ags_format",
        "ck_organizations_ags_state", "ck_organizations_ags_kind", "ck_organizations_state_code",
        "fk_organizations_parent_id_organizations",
    },
    "memberships": {
        "uq_memberships_number", "ck_memberships_person_xor_organization", "ck_memberships_dates_ordered",
        "fk_memberships_person_id_people", "fk_memberships_organization_id_organizations",
    },
    "affiliations": {"ck_affiliations_dates_ordered", "fk_affiliations_person_id_people"},
    "consents": {"fk_consents_person_id_people"},
}  # fmt: skip


@pytest.mark.parametrize("table", sorted(EXPECTED_NAMES))
def test_constraint_names_follow_the_naming_convention(db, table):
    names = {constraint.name for constraint in db.metadata.tables[table].constraints}
    assert EXPECTED_NAMES[table] <= names
    prefixes = ("pk_", "uq_", "ck_", "fk_")
    assert all(name and name.startswith(prefixes) and name[3:].startswith(table) for name in names), names


def test_every_constraint_and_index_is_named(db):
    unnamed = [
        f"{table.name}: {item!r}"
        for table in db.metadata.sorted_tables
        for item in [*table.constraints, *table.indexes]
        if not item.name or not str(item.name).startswith(("pk_", "uq_", "ck_", "fk_", "ix_"))
    ]
    assert unnamed == []


def test_named_constraints_exist_in_the_database(db):
    inspector = sa.inspect(db.session.connection())
    checks = {c["name"] for c in inspector.get_check_constraints("memberships")}
    assert "ck_memberships_person_xor_organization" in checks
    foreign_keys = {fk["name"] for fk in inspector.get_foreign_keys("consents")}
    assert "fk_consents_person_id_people" in foreign_keys
    indexes = {ix["name"]: ix for ix in inspector.get_indexes("affiliations")}
    assert indexes["uq_affiliations_primary_per_person"]["unique"]


# --- datetimes ----------------------------------------------------------------------------------------------------


def _berlin_session(db):
    """Make the database session use German time, as a server set up in Germany may do (PostgreSQL)."""
    if db.session.connection().dialect.name == "postgresql":
        db.session.execute(sa.text("SET LOCAL TIME ZONE 'Europe/Berlin'"))


def test_datetimes_come_back_aware_in_utc(db, make):
    _berlin_session(db)
    person = make.person()
    db.session.expire(person)

    created = person.created_at
    assert created.tzinfo is not None
    assert created.utcoffset() == timedelta(0)
    assert abs(datetime.now(timezone.utc) - created) < timedelta(minutes=5)


def test_datetimes_in_other_zones_are_stored_as_the_same_instant_in_utc(db, make):
    _berlin_session(db)
    summer_noon_berlin = datetime(2024, 7, 1, 14, 0, tzinfo=ZoneInfo("Europe/Berlin"))
    row = consent(make.person(), effective_at=summer_noon_berlin)
    db.session.add(row)
    db.session.flush()
    db.session.expire(row)

    assert row.effective_at == datetime(2024, 7, 1, 12, 0, tzinfo=timezone.utc)
    assert row.effective_at.utcoffset() == timedelta(0)


def test_naive_datetimes_are_refused(db):
    with pytest.raises(StatementError, match="naive datetime"):
        with db.session.begin_nested():
            db.session.add(Person(last_name="Naiv", created_at=datetime(2024, 1, 1, 12, 0)))
            db.session.flush()
