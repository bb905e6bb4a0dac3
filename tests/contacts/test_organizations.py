"""Organizations and municipalities: list, create with checked keys, hierarchy, detail, delete, suggestions."""
import re
from datetime import date

import pytest
import sqlalchemy as sa

from crm.audit.models import AuditLog
from crm.contacts.models import Affiliation, Organization, OrganizationKind, Person
from crm.members.models import Membership, MembershipStatus
from crm.members.services import create_membership
from tests.conftest import count
from tests.contacts.pages import (
    field_error, field_errors, flashes, input_value, main_form, selected_option, shown_count,
)  # fmt: skip
from tests.html import page_text


@pytest.fixture()
def office(login):
    return login("office")


@pytest.fixture()
def land(db, make, office):
    """Heidelberg and Dossenheim in the Rhein-Neckar-Kreis (BW), München (BY), a Verband; people in them."""
    kreis = make.organization(
        name="Rhein-Neckar-Kreis", kind=OrganizationKind.county, kreisschluessel="08226", state="08", city="Heidelberg"
    )
    heidelberg = make.organization(
        name="Stadt Heidelberg", kind=OrganizationKind.municipality, ags="08221000", state="08",
        city="Heidelberg", population=160355, postal_code="69117", street="Marktplatz 10",
    )  # fmt: skip
    dossenheim = make.organization(
        name="Gemeinde Dossenheim", kind=OrganizationKind.municipality, ags="08226013", state="08",
        city="Dossenheim", parent=kreis,
    )  # fmt: skip
    muenchen = make.organization(
        name="Landeshauptstadt München", kind=OrganizationKind.municipality, ags="09162000", state="09", city="München"
    )
    verband = make.organization(name="Digitalverband", kind=OrganizationKind.association, city="Berlin")
    eckart = make.person(first_name="Eckart", last_name="Würzner")
    make.affiliation(eckart, heidelberg, position="Oberbürgermeister")
    make.affiliation(make.person(first_name="Nora", last_name="Neu"), heidelberg, position="Referentin")
    make.affiliation(
        make.person(first_name="Alf", last_name="Alt"), heidelberg, position="Kämmerer",
        start_date=date(2000, 1, 1), end_date=date(2015, 12, 31),
    )  # fmt: skip
    make.affiliation(make.person(first_name="Dieter", last_name="Reiter"), muenchen, position="Oberbürgermeister")
    make.affiliation(make.person(first_name="Kurt", last_name="Kreis"), kreis, position="Landrat")
    db.session.commit()
    return {
        "kreis": kreis, "heidelberg": heidelberg, "dossenheim": dossenheim, "muenchen": muenchen, "verband": verband,
    }  # fmt: skip


def rows(markup: str) -> list[tuple[str, ...]]:
    """The organizations table: (name, kind, city, Bundesland, key, people) per row."""
    body = re.search(r"<tbody>(.*?)</tbody>", markup, flags=re.S)
    if not body:
        return []
    return [
        tuple(page_text(cell) for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, flags=re.S))
        for row in re.findall(r"<tr>(.*?)</tr>", body.group(1), flags=re.S)
    ]


def listed(client, **args) -> list[str]:
    response = client.get("/organisationen/", query_string=args)
    assert response.status_code == 200
    markup = response.get_data(as_text=True)
    found = [row[0] for row in rows(markup)]
    assert shown_count(markup) == len(found)
    return found


def test_list_shows_kind_place_key_and_current_people(client, land):
    markup = client.get("/organisationen/").get_data(as_text=True)
    assert rows(markup) == [
        ("Digitalverband", "Verband / Verein", "Berlin", "–", "–", "0"),
        ("Gemeinde Dossenheim", "Stadt / Gemeinde", "Dossenheim", "Baden-Württemberg", "08226013", "0"),
        ("Landeshauptstadt München", "Stadt / Gemeinde", "München", "Bayern", "09162000", "1"),
        ("Rhein-Neckar-Kreis", "Kreis", "Heidelberg", "Baden-Württemberg", "08226", "1"),
        ("Stadt Heidelberg", "Stadt / Gemeinde", "Heidelberg", "Baden-Württemberg", "08221000", "2"),  # not Alf Alt
    ]
    assert "5 Organisationen" in page_text(markup)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ({"q": "munchen"}, ["Landeshauptstadt München"]),
        ({"q": "MUENCHEN"}, ["Landeshauptstadt München"]),
        ({"q": "heidelberg"}, ["Rhein-Neckar-Kreis", "Stadt Heidelberg"]),  # the Kreis sits in Heidelberg
        ({"q": "stadt heidelberg"}, ["Stadt Heidelberg"]),
        ({"q": "08226"}, ["Gemeinde Dossenheim", "Rhein-Neckar-Kreis"]),
        ({"kind": "county"}, ["Rhein-Neckar-Kreis"]),
        ({"kind": "association"}, ["Digitalverband"]),
        ({"state": "08"}, ["Gemeinde Dossenheim", "Rhein-Neckar-Kreis", "Stadt Heidelberg"]),
        ({"state": "08", "kind": "municipality"}, ["Gemeinde Dossenheim", "Stadt Heidelberg"]),
        ({"state": "09", "q": "heidelberg"}, []),
    ],
    ids=lambda value: "-".join(f"{k}={v}" for k, v in value.items()) if isinstance(value, dict) else None,
)
def test_list_filters(client, land, args, expected):
    assert listed(client, **args) == expected


def test_list_sorted_by_population_puts_unknown_figures_last(client, db, land):
    land["kreis"].population = 548233
    db.session.commit()
    expected = ["Rhein-Neckar-Kreis", "Stadt Heidelberg", "Gemeinde Dossenheim"]  # no figure for Dossenheim
    assert listed(client, sort="-population", state="08") == expected


@pytest.mark.parametrize(
    "args", [{"kind": "raumschiff"}, {"state": "99"}, {"sort": "egal"}, {"page": "x"}],
    ids=["kind", "state", "sort", "page"],
)  # fmt: skip
def test_list_ignores_unknown_values(client, land, args):
    response = client.get("/organisationen/", query_string=args)
    assert response.status_code == 200
    assert shown_count(response.get_data(as_text=True)) == 5


# --- create -----------------------------------------------------------------------------------------

NEW = {
    "name": "Stadt Schwetzingen",
    "short_name": "Schwetzingen",
    "kind": "municipality",
    "parent": "",
    "state": "08",
    "ags": "08226084",
    "kreisschluessel": "",
    "population": "21500",
    "street": "Hebelstraße 1",
    "postal_code": "68723",
    "city": "Schwetzingen",
    "website": "https://www.schwetzingen.de",
    "email": "Info@Schwetzingen.de",
    "phone": "06202 87-0",
    "notes": "",
}


def test_create_municipality_with_matching_ags(client, db, office):
    response = client.post("/organisationen/neu", data=NEW)

    assert response.status_code == 302
    organization = db.session.scalar(sa.select(Organization).where(Organization.ags == "08226084"))
    assert response.headers["Location"] == f"/organisationen/{organization.id}"
    assert organization.kind == OrganizationKind.municipality
    assert (organization.state, organization.population) == ("08", 21500)
    assert organization.email == "info@schwetzingen.de"
    page = page_text(client.get(response.headers["Location"]).get_data(as_text=True))
    assert "Stadt Schwetzingen wurde angelegt." in page
    assert "Bundesland Baden-Württemberg AGS 08226084 Einwohner 21.500" in page
    assert "Anschrift Hebelstraße 1 68723 Schwetzingen" in page
    assert "Organisation Stadt Schwetzingen angelegt" in page  # history
    [entry] = db.session.scalars(sa.select(AuditLog).where(AuditLog.organization_id == organization.id)).all()
    assert (entry.action, entry.actor_id, entry.changes["ags"]) == ("create", office.id, "08226084")


def test_create_county_with_kreisschluessel(client, db, office):
    data = {**NEW, "name": "Landkreis Karlsruhe", "kind": "county", "ags": "", "kreisschluessel": "08215"}
    assert client.post("/organisationen/neu", data=data).status_code == 302
    assert db.session.scalar(sa.select(Organization.name).where(Organization.kreisschluessel == "08215")) == (
        "Landkreis Karlsruhe"
    )


AGS_OTHER_LAND = (
    "Der Amtliche Gemeindeschlüssel (AGS) 08226084 gehört zu Baden-Württemberg (08), nicht zu Bayern (09)."
)


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"name": ""}, "name", "Bitte füllen Sie dieses Feld aus."),
        ({"ags": "0822608"}, "ags", "Der Amtliche Gemeindeschlüssel (AGS) muss aus genau 8 Ziffern bestehen."),
        ({"ags": "0822608x"}, "ags", "Der Amtliche Gemeindeschlüssel (AGS) muss aus genau 8 Ziffern bestehen."),
        ({"ags": "17226084"}, "ags",
         "Der Amtliche Gemeindeschlüssel (AGS) beginnt mit 17, das ist kein Bundesland-Schlüssel (01–16)."),
        ({"state": "09"}, "ags", AGS_OTHER_LAND),
        ({"state": ""}, "ags", "Bitte wählen Sie das Bundesland zum Amtlichen Gemeindeschlüssel (AGS)."),
        ({"kind": "association"}, "ags", "Einen AGS haben nur Städte und Gemeinden."),
        ({"ags": "08221000"}, "ags", "Dieser Schlüssel ist bereits Stadt Heidelberg zugeordnet."),
        ({"kreisschluessel": "08226"}, "kreisschluessel", "Einen Kreisschlüssel haben nur Kreise."),
        ({"kind": "county", "ags": "", "kreisschluessel": "08226"}, "kreisschluessel",
         "Dieser Schlüssel ist bereits Rhein-Neckar-Kreis zugeordnet."),
        ({"kind": "county", "ags": "", "kreisschluessel": "09162"}, "kreisschluessel",
         "Der Kreisschlüssel 09162 gehört zu Bayern (09), nicht zu Baden-Württemberg (08)."),
        ({"postal_code": "1234"}, "postal_code", "Eine deutsche Postleitzahl hat genau 5 Ziffern."),
        ({"website": "www.example.org"}, "website",
         "Bitte eine vollständige Adresse mit http:// oder https:// angeben, z. B. https://www.example.org."),
        ({"population": "-5"}, "population", "Die Einwohnerzahl darf nicht negativ sein."),
        ({"population": "viele"}, "population", "Bitte eine ganze Zahl ohne Punkte angeben, z. B. 160355."),
        ({"population": "21.500"}, "population", "Bitte eine ganze Zahl ohne Punkte angeben, z. B. 160355."),
        ({"email": "info@"}, "email", "Bitte geben Sie eine gültige E-Mail-Adresse an (z. B. name@example.org)."),
        ({"phone": "sechs"}, "phone", "Bitte nur Ziffern, Leerzeichen und + ( ) / - verwenden"),
        ({"parent": "Atlantis"}, "parent", "Keine Organisation „Atlantis“ gefunden. Bitte legen Sie sie zuerst an."),
    ],
    ids=lambda value: "-".join(f"{k}={v}" for k, v in value.items()) if isinstance(value, dict) else None,
)  # fmt: skip
def test_create_refused_with_german_message_next_to_the_field(client, db, land, changes, field, message):
    organizations, audit = count(Organization), count(AuditLog)
    data = {**NEW, **changes}

    response = client.post("/organisationen/neu", data=data)

    assert response.status_code == 200
    markup = response.get_data(as_text=True)
    assert message in (field_error(markup, field) or "")
    assert list(field_errors(markup)) == [field]
    for name in ("name", "ags", "kreisschluessel", "population", "postal_code", "website", "parent", "city"):
        assert input_value(markup, name) == data[name]  # everything typed is still there
    assert selected_option(markup, "kind") == data["kind"]
    assert selected_option(markup, "state") == data["state"]
    assert (count(Organization), count(AuditLog)) == (organizations, audit)


def test_create_with_parent_by_name(client, db, land):
    data = {**NEW, "parent": "Rhein-Neckar-Kreis"}

    response = client.post("/organisationen/neu", data=data)

    assert response.status_code == 302
    child = db.session.scalar(sa.select(Organization).where(Organization.ags == "08226084"))
    assert child.parent_id == land["kreis"].id
    assert "Gehört zu Rhein-Neckar-Kreis" in page_text(client.get(f"/organisationen/{child.id}").get_data(as_text=True))
    kreis_page = page_text(client.get(f"/organisationen/{land['kreis'].id}").get_data(as_text=True))
    assert "Untergeordnet Gemeinde Dossenheim (08226013) Stadt Schwetzingen (08226084)" in kreis_page


def test_a_county_cannot_be_put_under_its_own_gemeinde(client, db, land):
    kreis = land["kreis"]
    data = main_form(client.get(f"/organisationen/{kreis.id}/bearbeiten").get_data(as_text=True))
    assert data["name"] == "Rhein-Neckar-Kreis" and data["parent"] == ""
    data["parent"] = "Gemeinde Dossenheim"

    response = client.post(f"/organisationen/{kreis.id}/bearbeiten", data=data)

    assert response.status_code == 200
    markup = response.get_data(as_text=True)
    assert field_error(markup, "parent") == "Eine Organisation kann nicht unter sich selbst oder ihren Teilen stehen."
    assert input_value(markup, "parent") == "Gemeinde Dossenheim"
    db.session.expire_all()
    assert kreis.parent_id is None


def test_an_organization_cannot_be_its_own_parent(client, db, land):
    verband = land["verband"]
    data = main_form(client.get(f"/organisationen/{verband.id}/bearbeiten").get_data(as_text=True))
    data["parent"] = "Digitalverband"

    response = client.post(f"/organisationen/{verband.id}/bearbeiten", data=data)

    assert response.status_code == 200
    assert "nicht unter sich selbst" in field_error(response.get_data(as_text=True), "parent")
    db.session.expire_all()
    assert verband.parent_id is None


def test_edit_form_of_a_gemeinde_shows_its_kreis_and_saves_unchanged(client, db, land):
    dossenheim = land["dossenheim"]
    markup = client.get(f"/organisationen/{dossenheim.id}/bearbeiten").get_data(as_text=True)
    data = main_form(markup)
    assert data["parent"] == "Rhein-Neckar-Kreis"
    assert (data["kind"], data["state"], data["ags"]) == ("municipality", "08", "08226013")

    data["population"] = "12650"
    response = client.post(f"/organisationen/{dossenheim.id}/bearbeiten", data=data)

    assert response.status_code == 302
    db.session.expire_all()
    assert (dossenheim.population, dossenheim.parent_id) == (12650, land["kreis"].id)


def test_edit_is_audited_with_old_and_new_values(client, db, land):
    heidelberg = land["heidelberg"]
    data = main_form(client.get(f"/organisationen/{heidelberg.id}/bearbeiten").get_data(as_text=True))
    assert (data["name"], data["population"], data["state"]) == ("Stadt Heidelberg", "160355", "08")
    data.update(population="162273", website="https://www.heidelberg.de")

    assert client.post(f"/organisationen/{heidelberg.id}/bearbeiten", data=data).status_code == 302

    [entry] = db.session.scalars(
        sa.select(AuditLog).where(AuditLog.organization_id == heidelberg.id, AuditLog.action == "update")
    ).all()
    assert entry.changes == {"population": [160355, 162273], "website": [None, "https://www.heidelberg.de"]}
    page = page_text(client.get(f"/organisationen/{heidelberg.id}").get_data(as_text=True))
    assert "Die Änderungen wurden gespeichert." in page
    assert "Einwohner: 160355 → 162273" in page
    assert "Einwohner 162.273" in page


# --- detail -----------------------------------------------------------------------------------------


def test_detail_shows_people_children_municipal_data_and_history(client, db, land):
    heidelberg_page = page_text(client.get(f"/organisationen/{land['heidelberg'].id}").get_data(as_text=True))
    assert "Stammdaten Art Stadt / Gemeinde Anschrift Marktplatz 10 69117 Heidelberg" in heidelberg_page
    assert "Kommunale Daten Bundesland Baden-Württemberg AGS 08221000 Einwohner 160.355" in heidelberg_page
    assert "Personen (2) Eckart Würzner – Oberbürgermeister Nora Neu – Referentin" in heidelberg_page
    assert "Frühere Alf Alt – Kämmerer bis 31. Dezember 2015" in heidelberg_page
    assert "Untergeordnet" not in heidelberg_page

    kreis_page = page_text(client.get(f"/organisationen/{land['kreis'].id}").get_data(as_text=True))
    assert "Kreisschlüssel 08226" in kreis_page
    assert "Untergeordnet Gemeinde Dossenheim (08226013)" in kreis_page
    assert "Personen (1) Kurt Kreis – Landrat" in kreis_page

    verband_page = page_text(client.get(f"/organisationen/{land['verband'].id}").get_data(as_text=True))
    assert "Bundesland – Einwohner –" in verband_page
    assert "Keine aktuellen Ansprechpersonen." in verband_page
    assert "Keine Einträge." in verband_page  # no history yet (made by the factory, not the app)


def test_history_on_the_detail_page_shows_roles_added_there(client, db, land):
    person = db.session.scalar(sa.select(Person).where(Person.last_name == "Neu"))
    client.post(
        f"/personen/{person.id}/funktionen/neu", data={"organization": "Digitalverband", "position": "Beirätin"}
    )
    page = page_text(client.get(f"/organisationen/{land['verband'].id}").get_data(as_text=True))
    assert "Funktion Nora Neu – Beirätin (Digitalverband) angelegt" in page
    assert "Vollständiges Protokoll" in page


def test_unknown_organization_is_404(client, office):
    response = client.get("/organisationen/999999")
    assert response.status_code == 404
    assert "Seite nicht gefunden" in response.get_data(as_text=True)


# --- delete -----------------------------------------------------------------------------------------


def test_delete_confirmation_and_deletion_keep_the_people(client, db, office, land):
    kreis = land["kreis"]
    create_membership(actor=office, type="institutional", status=MembershipStatus.active, organization=kreis)
    db.session.commit()
    kreis_id, landrat = kreis.id, db.session.scalar(sa.select(Person).where(Person.last_name == "Kreis"))

    page = page_text(client.get(f"/organisationen/{kreis_id}/loeschen").get_data(as_text=True))
    assert "Rhein-Neckar-Kreis löschen?" in page
    assert "1 Funktion(en) von Personen in dieser Organisation (die Personen bleiben)" in page
    assert "1 Mitgliedschaft(en) der Organisation" in page
    assert "1 untergeordnete Organisation(en) verlieren ihre Zuordnung, bleiben aber erhalten." in page

    response = client.post(f"/organisationen/{kreis_id}/loeschen")

    assert response.status_code == 302 and response.headers["Location"] == "/organisationen/"
    assert "Rhein-Neckar-Kreis wurde gelöscht." in flashes(client.get("/organisationen/").get_data(as_text=True))
    db.session.expire_all()
    assert db.session.get(Organization, kreis_id) is None
    assert db.session.get(Person, landrat.id) is not None  # the person stays …
    roles = db.session.scalars(sa.select(Affiliation).where(Affiliation.person_id == landrat.id)).all()
    assert roles == []  # … the role goes
    assert db.session.scalars(sa.select(Membership).where(Membership.organization_id == kreis_id)).all() == []
    assert land["dossenheim"].parent_id is None
    assert db.session.get(Organization, land["dossenheim"].id) is not None
    deleted = db.session.scalars(sa.select(AuditLog).where(AuditLog.action == "delete").order_by(AuditLog.id)).all()
    assert [(e.entity_type, e.entity_label) for e in deleted] == [
        ("affiliations", "Kurt Kreis – Landrat (Rhein-Neckar-Kreis)"),
        ("organizations", "Rhein-Neckar-Kreis"),
    ]


# --- suggestions ------------------------------------------------------------------------------------


def test_suggestions_are_umlaut_tolerant_json(client, db, land):
    response = client.get("/organisationen/vorschlaege", query_string={"q": "muench"})
    assert response.status_code == 200 and response.is_json
    assert response.get_json() == [{"value": "Landeshauptstadt München", "label": "Landeshauptstadt München (München)"}]

    assert [s["value"] for s in client.get("/organisationen/vorschlaege?q=Heidelb").get_json()] == [
        "Stadt Heidelberg", "Rhein-Neckar-Kreis",  # shorter names first
    ]  # fmt: skip
    assert client.get("/organisationen/vorschlaege?q=08221000").get_json()[0]["value"] == "Stadt Heidelberg"
    assert client.get("/organisationen/vorschlaege?q=Atlantis").get_json() == []
    assert client.get("/organisationen/vorschlaege?q=").get_json() == []
    assert client.get("/organisationen/vorschlaege").get_json() == []


def test_suggestions_are_limited_to_ten(client, db, make, office):
    for n in range(12):
        make.organization(name=f"Gemeinde Beispielort {n:02d}")
    db.session.commit()
    suggestions = client.get("/organisationen/vorschlaege?q=beispielort").get_json()
    assert len(suggestions) == 10
    assert suggestions[0] == {"value": "Gemeinde Beispielort 00", "label": "Gemeinde Beispielort 00"}
