"""Amtlicher Gemeindeschlüssel (AGS) and Kreisschlüssel: checked with German messages, in the service too."""
import pytest
import sqlalchemy as sa

from crm.audit.models import AuditLog
from crm.contacts.models import Organization, OrganizationKind
from crm.contacts.municipal import BUNDESLAENDER, ags_error, kreisschluessel_error
from crm.contacts.services import create_organization
from crm.errors import ValidationFailed
from tests.conftest import count


@pytest.mark.parametrize(
    ("ags", "state"),
    [
        ("05315000", "05"),  # Köln, Nordrhein-Westfalen
        ("09162000", "09"),  # München, Bayern
        ("01001000", "01"),  # Flensburg, Schleswig-Holstein
        ("16051000", "16"),  # Erfurt, Thüringen
        ("11000000", "11"),  # Berlin
    ],
)
def test_valid_ags_with_its_bundesland(ags, state):
    assert ags_error(ags, state) is None


def test_no_ags_is_no_error():
    assert ags_error(None, None) is None
    assert ags_error("", "05") is None


def test_valid_kreisschluessel_with_its_bundesland():
    assert kreisschluessel_error("05334", "05") is None  # Städteregion Aachen
    assert kreisschluessel_error("09184", "09") is None  # Landkreis München


def test_every_bundesland_code_is_known():
    assert list(BUNDESLAENDER) == [f"{n:02d}" for n in range(1, 17)]
    assert BUNDESLAENDER["05"] == "Nordrhein-Westfalen"
    assert BUNDESLAENDER["16"] == "Thüringen"


@pytest.mark.parametrize("ags", ["0531500", "053150000", "05 315 000", "05A15000", "O5315000", "05315-00"])
def test_ags_must_be_eight_digits(ags):
    assert ags_error(ags, "05") == "Der Amtliche Gemeindeschlüssel (AGS) muss aus genau 8 Ziffern bestehen."


@pytest.mark.parametrize("key", ["0533", "053340", "05A34"])
def test_kreisschluessel_must_be_five_digits(key):
    assert kreisschluessel_error(key, "05") == "Der Kreisschlüssel muss aus genau 5 Ziffern bestehen."


@pytest.mark.parametrize("ags", ["17000000", "00000000", "99123456"])
def test_ags_with_unknown_bundesland_prefix(ags):
    message = ags_error(ags, "05")
    assert message == (
        f"Der Amtliche Gemeindeschlüssel (AGS) beginnt mit {ags[:2]}, das ist kein Bundesland-Schlüssel (01–16)."
    )


def test_ags_of_another_bundesland_names_both():
    message = ags_error("05315000", "09")
    assert message == (
        "Der Amtliche Gemeindeschlüssel (AGS) 05315000 gehört zu Nordrhein-Westfalen (05), nicht zu Bayern (09)."
    )


def test_kreisschluessel_of_another_bundesland_names_both():
    message = kreisschluessel_error("05334", "14")
    assert "Nordrhein-Westfalen" in message and "Sachsen" in message
    assert message.startswith("Der Kreisschlüssel 05334 gehört zu")


def test_ags_without_bundesland_asks_for_it_in_proper_german():
    message = ags_error("05315000", None)
    assert message is not None
    assert "Bundesland" in message
    # "das Bundesland zum Amtlichen Gemeindeschlüssel", not "zum Der Amtliche Gemeindeschlüssel"
    assert "zum Der" not in message
    assert "zum Amtlichen Gemeindeschlüssel" in message


def test_kreisschluessel_without_bundesland_asks_for_it_in_proper_german():
    message = kreisschluessel_error("05334", "")
    assert message is not None
    assert "zum Der" not in message
    assert "zum Kreisschlüssel" in message


# --- through the service that the forms use -------------------------------------------------------------------------


def _municipality(**kw):
    data = {"name": "Stadt Köln", "kind": OrganizationKind.municipality.value, "ags": "05315000", "state": "05"}
    data.update(kw)
    return data


def test_service_creates_municipality_with_ags_and_audit_row(db, make):
    office = make.user(role="office")
    organization = create_organization(_municipality(ags=" 05315000 "), actor=office)
    db.session.commit()

    stored = db.session.scalar(sa.select(Organization).where(Organization.name == "Stadt Köln"))
    assert stored.ags == "05315000"
    assert stored.state_name == "Nordrhein-Westfalen"
    entry = db.session.scalar(
        sa.select(AuditLog).where(AuditLog.entity_type == "organizations", AuditLog.entity_id == organization.id)
    )
    assert entry.action == "create"
    assert entry.actor_id == office.id
    assert entry.changes["ags"] == "05315000"


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"ags": "0531500"}, "muss aus genau 8 Ziffern bestehen"),
        ({"ags": "05315A00"}, "muss aus genau 8 Ziffern bestehen"),
        ({"ags": "17000000", "state": "05"}, "kein Bundesland-Schlüssel"),
        ({"ags": "05315000", "state": "09"}, "nicht zu Bayern (09)"),
        ({"ags": "05315000", "state": None}, "Bundesland"),
    ],
)
def test_service_refuses_malformed_ags_and_writes_nothing(db, make, data, expected):
    office = make.user(role="office")
    organizations, audit_rows = count(Organization), count(AuditLog)

    with pytest.raises(ValidationFailed) as refused:
        create_organization(_municipality(**data), actor=office)
    db.session.commit()

    assert refused.value.field == "ags"
    assert expected in refused.value.message
    assert count(Organization) == organizations
    assert count(AuditLog) == audit_rows
    assert db.session.scalar(sa.select(Organization).where(Organization.name == "Stadt Köln")) is None


def test_service_refuses_ags_on_an_association(db, make):
    office = make.user(role="office")
    organizations, audit_rows = count(Organization), count(AuditLog)
    with pytest.raises(ValidationFailed) as refused:
        create_organization(
            {"name": "Kommune 2.0 e. V.", "kind": OrganizationKind.association.value, "ags": "05315000", "state": "05"},
            actor=office,
        )
    assert refused.value.field == "ags"
    assert refused.value.message == "Einen AGS haben nur Städte und Gemeinden."
    assert count(Organization) == organizations
    assert count(AuditLog) == audit_rows


def test_service_refuses_kreisschluessel_on_a_municipality(db, make):
    with pytest.raises(ValidationFailed) as refused:
        create_organization(_municipality(ags=None, kreisschluessel="05334"), actor=None)
    assert refused.value.field == "kreisschluessel"
    assert refused.value.message == "Einen Kreisschlüssel haben nur Kreise."


def test_service_refuses_malformed_kreisschluessel(db):
    with pytest.raises(ValidationFailed) as refused:
        create_organization(
            {"name": "Städteregion Aachen", "kind": "county", "kreisschluessel": "5334", "state": "05"}, actor=None
        )
    assert refused.value.field == "kreisschluessel"
    assert refused.value.message == "Der Kreisschlüssel muss aus genau 5 Ziffern bestehen."


def test_service_refuses_duplicate_ags_naming_the_other_organization(db, make):
    office = make.user(role="office")
    create_organization(_municipality(name="Stadt Köln"), actor=office)
    db.session.commit()
    audit_rows = count(AuditLog)

    with pytest.raises(ValidationFailed) as refused:
        create_organization(_municipality(name="Köln (Dublette)"), actor=office)

    assert refused.value.field == "ags"
    assert refused.value.message == "Dieser Schlüssel ist bereits Stadt Köln zugeordnet."
    assert db.session.scalar(sa.select(Organization).where(Organization.name == "Köln (Dublette)")) is None
    assert count(AuditLog) == audit_rows


def test_service_refuses_duplicate_kreisschluessel(db):
    create_organization({"name": "Kreis Paderborn", "kind": "county", "kreisschluessel": "05774", "state": "05"},
                        actor=None)  # fmt: skip
    with pytest.raises(ValidationFailed) as refused:
        create_organization({"name": "Kreis PB", "kind": "county", "kreisschluessel": "05774", "state": "05"},
                            actor=None)  # fmt: skip
    assert refused.value.field == "kreisschluessel"
    assert "Kreis Paderborn" in refused.value.message
