"""A person's roles in organizations: found by what the user types, one primary, ended roles stay."""
import re
from datetime import date

import pytest
import sqlalchemy as sa

from crm.audit.models import AuditLog
from crm.contacts.models import Affiliation, Organization, OrganizationKind, Salutation
from tests.conftest import count
from tests.contacts.pages import field_error, flashes, input_value
from tests.html import page_text


@pytest.fixture()
def office(login):
    return login("office")


@pytest.fixture()
def orgs(db, make):
    organizations = {
        "heidelberg": make.organization(
            name="Stadt Heidelberg", kind=OrganizationKind.municipality, ags="08221000", state="08", city="Heidelberg"
        ),
        "rostock": make.organization(name="Rostock", kind=OrganizationKind.municipality, ags="13003000", state="13"),
        "lk_rostock": make.organization(
            name="Landkreis Rostock", kind=OrganizationKind.county, kreisschluessel="13072", state="13"
        ),
        "loerrach": make.organization(name="Stadt Lörrach", kind=OrganizationKind.municipality, city="Lörrach"),
    }
    db.session.commit()
    return organizations


@pytest.fixture()
def maria(db, make):
    person = make.person(
        salutation=Salutation.frau, first_name="Maria", last_name="Muster", email="m.muster@example.org"
    )
    db.session.commit()
    return person


def add_role(client, person, **data):
    return client.post(f"/personen/{person.id}/funktionen/neu", data=data)


def roles(db, person) -> list[Affiliation]:
    db.session.expire_all()
    return db.session.scalars(
        sa.select(Affiliation).where(Affiliation.person_id == person.id).order_by(Affiliation.id)
    ).all()


def person_page(client, person) -> str:
    return page_text(client.get(f"/personen/{person.id}").get_data(as_text=True))


def role_line(client, person, organization_name: str) -> str:
    """The line of the 'Organisationen und Funktionen' list for one organization."""
    markup = client.get(f"/personen/{person.id}").get_data(as_text=True)
    section = re.search(r'<section class="card" id="funktionen".*?</section>', markup, flags=re.S).group(0)
    for item in re.findall(r"<li>(.*?)</li>", section, flags=re.S):
        text = page_text(item)
        if text.startswith(organization_name):
            return text
    raise AssertionError(f"no role at {organization_name} shown")


def test_add_role_by_exact_name_even_if_the_name_is_part_of_another(client, db, office, orgs, maria):
    response = add_role(client, maria, organization="Rostock", position="Bürgermeisterin")

    assert response.status_code == 302
    assert response.headers["Location"] == f"/personen/{maria.id}#funktionen"
    [role] = roles(db, maria)
    assert role.organization_id == orgs["rostock"].id
    assert role.is_primary  # the first role is the primary one
    page = person_page(client, maria)
    assert "Die Funktion bei Rostock wurde hinzugefügt." in page
    assert "Rostock – Bürgermeisterin Hauptfunktion" in page
    [entry] = db.session.scalars(sa.select(AuditLog).where(AuditLog.entity_type == "affiliations")).all()
    assert (entry.action, entry.person_id, entry.organization_id) == ("create", maria.id, orgs["rostock"].id)


@pytest.mark.parametrize(
    ("typed", "expected"),
    [("08221000", "heidelberg"), ("13072", "lk_rostock"), ("loerrach", "loerrach"), ("Lörr", "loerrach"),
     ("stadt heidelberg", "heidelberg"), ("  Landkreis Rostock ", "lk_rostock")],
)  # fmt: skip
def test_add_role_by_key_or_unique_part_of_the_name(client, db, office, orgs, maria, typed, expected):
    assert add_role(client, maria, organization=typed, position="Referentin").status_code == 302
    [role] = roles(db, maria)
    assert role.organization_id == orgs[expected].id


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("Atlantis", "Keine Organisation „Atlantis“ gefunden. Bitte legen Sie sie zuerst an."),
        ("99999999", "Keine Organisation „99999999“ gefunden. Bitte legen Sie sie zuerst an."),
        ("Stadt", "„Stadt“ passt auf mehrere Organisationen. Bitte wählen Sie aus der Vorschlagsliste oder geben Sie den AGS an."),
        ("rostock", "„rostock“ passt auf mehrere Organisationen. Bitte wählen Sie aus der Vorschlagsliste oder geben Sie den AGS an."),
        ("", "Bitte füllen Sie dieses Feld aus."),
    ],
)
def test_organization_not_found_or_ambiguous(client, db, office, orgs, maria, typed, message):
    before = count(AuditLog)

    response = add_role(client, maria, organization=typed, position="Referentin", start_date="01.03.2021")

    assert response.status_code == 200
    markup = response.get_data(as_text=True)
    assert field_error(markup, "organization") == message
    assert input_value(markup, "organization") == typed
    assert input_value(markup, "position") == "Referentin"
    assert roles(db, maria) == []
    assert count(AuditLog) == before


def test_new_primary_role_demotes_the_old_primary(client, db, office, orgs, maria):
    add_role(client, maria, organization="Stadt Heidelberg", position="Bürgermeisterin")
    add_role(client, maria, organization="Landkreis Rostock", position="Kreisrätin")
    first, second = roles(db, maria)
    assert (first.is_primary, second.is_primary) == (True, False)  # a second role does not take over by itself

    add_role(client, maria, organization="Rostock", position="Referentin", is_primary="y")

    first, second, third = roles(db, maria)
    assert (first.is_primary, second.is_primary, third.is_primary) == (False, False, True)
    assert role_line(client, maria, "Rostock").endswith("Hauptfunktion bearbeiten beenden löschen")
    assert "Hauptfunktion" not in role_line(client, maria, "Stadt Heidelberg")


def test_letter_salutation_follows_the_primary_role(client, db, office, orgs, maria):
    assert "Briefanrede Sehr geehrte Frau Muster," in person_page(client, maria)

    add_role(client, maria, organization="Stadt Heidelberg", position="Bürgermeisterin")
    page = person_page(client, maria)
    assert "Briefanrede Sehr geehrte Frau Bürgermeisterin Muster," in page
    assert "Anschrift Frau Bürgermeisterin Maria Muster Stadt Heidelberg" in page

    add_role(client, maria, organization="Rostock", position="Referentin für Digitales", is_primary="y")
    page = person_page(client, maria)
    assert "Briefanrede Sehr geehrte Frau Muster," in page
    assert "Anschrift Frau Maria Muster Rostock" in page


def test_ending_a_role_keeps_it_in_the_history(client, db, office, orgs, maria):
    add_role(client, maria, organization="Stadt Heidelberg", position="Bürgermeisterin", start_date="2018-11-20")
    [role] = roles(db, maria)

    response = client.post(f"/personen/funktionen/{role.id}/beenden")

    assert response.status_code == 302
    assert response.headers["Location"] == f"/personen/{maria.id}#funktionen"
    [role] = roles(db, maria)
    assert (role.end_date, role.is_primary) == (date.today(), False)
    page = person_page(client, maria)
    assert "Die Funktion bei Stadt Heidelberg endet heute; sie bleibt in der Historie." in page
    line = role_line(client, maria, "Stadt Heidelberg")  # still listed …
    assert "beendet" in line  # … but shown as ended,
    assert "Hauptfunktion" not in line
    assert "beenden" not in line.replace("beendet", "")  # and it cannot be ended again
    assert "Briefanrede Sehr geehrte Frau Muster," in page  # the office no longer in the salutation
    [update] = db.session.scalars(
        sa.select(AuditLog).where(AuditLog.entity_type == "affiliations", AuditLog.action == "update")
    ).all()
    assert update.changes == {"end_date": [None, date.today().isoformat()], "is_primary": [True, False]}


def test_role_ended_in_the_past_shows_as_ended(client, db, make, office, orgs, maria):
    make.affiliation(
        maria, orgs["heidelberg"], position="Bürgermeisterin", is_primary=False,
        start_date=date(2010, 5, 1), end_date=date(2018, 4, 30),
    )  # fmt: skip
    db.session.commit()

    line = role_line(client, maria, "Stadt Heidelberg")
    assert line.startswith("Stadt Heidelberg – Bürgermeisterin beendet seit 1. Mai 2010 bis 30. April 2018")
    assert "Briefanrede Sehr geehrte Frau Muster," in person_page(client, maria)
    page = page_text(client.get(f"/organisationen/{orgs['heidelberg'].id}").get_data(as_text=True))
    assert "Frühere Maria Muster – Bürgermeisterin bis 30. April 2018" in page


def test_a_role_entered_as_already_ended_does_not_block_the_next_primary(client, db, office, orgs, maria):
    """An ended role cannot stay primary: the next current role becomes the primary one."""
    add_role(
        client, maria, organization="Stadt Heidelberg", position="Bürgermeisterin", is_primary="y",
        start_date="01.05.2010", end_date="30.04.2018",
    )  # fmt: skip

    response = add_role(client, maria, organization="Rostock", position="Referentin")

    assert response.status_code == 302
    old, new = roles(db, maria)
    assert (old.is_primary, new.is_primary) == (False, True)


def test_delete_a_role(client, db, office, orgs, maria):
    add_role(client, maria, organization="Stadt Heidelberg", position="Bürgermeisterin")
    [role] = roles(db, maria)

    response = client.post(f"/personen/funktionen/{role.id}/loeschen")

    assert response.status_code == 302
    assert roles(db, maria) == []
    page = person_page(client, maria)
    assert "Die Funktion bei Stadt Heidelberg wurde gelöscht." in page
    assert "Noch keine Organisation zugeordnet." in page
    assert db.session.get(Organization, orgs["heidelberg"].id) is not None
    deleted = db.session.scalars(
        sa.select(AuditLog).where(AuditLog.entity_type == "affiliations", AuditLog.action == "delete")
    ).all()
    assert [(e.entity_id, e.changes["position"]) for e in deleted] == [(role.id, "Bürgermeisterin")]


def test_end_before_start_is_refused(client, db, office, orgs, maria):
    response = add_role(
        client, maria, organization="Stadt Heidelberg", position="Bürgermeisterin",
        start_date="01.02.2020", end_date="01.01.2020",
    )  # fmt: skip

    assert response.status_code == 200
    markup = response.get_data(as_text=True)
    assert field_error(markup, "end_date") == "Das Ende darf nicht vor dem Beginn liegen."
    assert input_value(markup, "organization") == "Stadt Heidelberg"
    assert roles(db, maria) == []


def test_german_dates_are_accepted(client, db, office, orgs, maria):
    response = add_role(
        client, maria, organization="Stadt Heidelberg", position="Bürgermeisterin",
        start_date="20.11.2018", end_date="2030-11-19",
    )  # fmt: skip

    assert response.status_code == 302
    [role] = roles(db, maria)
    assert (role.start_date, role.end_date) == (date(2018, 11, 20), date(2030, 11, 19))
    assert "seit 20. November 2018 bis 19. November 2030" in role_line(client, maria, "Stadt Heidelberg")


@pytest.mark.parametrize("typed", ["31.02.2020", "2020-13-01", "gestern"])
def test_impossible_date_gets_a_german_message(client, db, office, orgs, maria, typed):
    response = add_role(client, maria, organization="Stadt Heidelberg", start_date=typed)

    assert response.status_code == 200
    assert field_error(response.get_data(as_text=True), "start_date") == "Bitte ein Datum im Format TT.MM.JJJJ angeben."
    assert roles(db, maria) == []


def test_edit_a_role_shows_the_organization_and_saves_a_new_function(client, db, office, orgs, maria):
    add_role(client, maria, organization="Stadt Heidelberg", position="Bürgermeisterin", start_date="20.11.2018")
    [role] = roles(db, maria)

    markup = client.get(f"/personen/funktionen/{role.id}/bearbeiten").get_data(as_text=True)
    assert input_value(markup, "organization") == "Stadt Heidelberg"
    assert input_value(markup, "position") == "Bürgermeisterin"
    assert input_value(markup, "start_date") == "2018-11-20"

    response = client.post(
        f"/personen/funktionen/{role.id}/bearbeiten",
        data={"organization": input_value(markup, "organization"), "position": "Oberbürgermeisterin",
              "start_date": "2018-11-20", "is_primary": "y"},
    )  # fmt: skip
    assert response.status_code == 302
    [role] = roles(db, maria)
    assert (role.organization_id, role.position) == (orgs["heidelberg"].id, "Oberbürgermeisterin")
    assert "Die Funktion wurde gespeichert." in flashes(client.get(f"/personen/{maria.id}").get_data(as_text=True))


def test_move_a_role_to_another_organization(client, db, office, orgs, maria):
    add_role(client, maria, organization="Stadt Heidelberg", position="Referentin")
    [role] = roles(db, maria)

    response = client.post(
        f"/personen/funktionen/{role.id}/bearbeiten",
        data={"organization": "13003000", "position": "Referentin", "is_primary": "y"},
    )

    assert response.status_code == 302
    [role] = roles(db, maria)
    assert role.organization_id == orgs["rostock"].id


def test_ending_a_role_that_has_not_started_yet_is_explained_not_an_error(client, db, make, office, orgs, maria):
    starts = date.fromordinal(date.today().toordinal() + 30)
    make.affiliation(maria, orgs["heidelberg"], position="Amtsleiterin", start_date=starts)
    db.session.commit()
    [role] = roles(db, maria)

    response = client.post(f"/personen/funktionen/{role.id}/beenden", follow_redirects=True)

    assert response.status_code == 200  # not "Interner Fehler"
    assert response.request.path == f"/personen/{maria.id}"
    assert flashes(response.get_data(as_text=True))  # a German explanation
    [role] = roles(db, maria)
    assert role.end_date is None  # nothing half-written


@pytest.fixture()
def two_neuhaus(db, make):
    """Two Gemeinden of the same name in different Länder (as there are in Germany)."""
    bayern = make.organization(
        name="Gemeinde Neuhaus", kind=OrganizationKind.municipality, ags="09275135", state="09", city="Neuhaus am Inn"
    )
    thueringen = make.organization(
        name="Gemeinde Neuhaus", kind=OrganizationKind.municipality, ags="16072017", state="16",
        city="Neuhaus am Rennweg",
    )  # fmt: skip
    db.session.commit()
    return bayern, thueringen


def test_each_suggestion_identifies_one_organization_even_with_the_same_name(client, db, office, maria, two_neuhaus):
    suggestions = client.get("/organisationen/vorschlaege?q=neuhaus").get_json()
    assert len(suggestions) == 2
    assert {s["label"] for s in suggestions} == {
        "Gemeinde Neuhaus (Neuhaus am Inn)", "Gemeinde Neuhaus (Neuhaus am Rennweg)",
    }  # fmt: skip

    for suggestion in suggestions:  # the user picks each suggestion in turn
        response = add_role(client, maria, organization=suggestion["value"], position="Referentin")
        assert response.status_code == 302, field_error(response.get_data(as_text=True), "organization")

    assert {role.organization_id for role in roles(db, maria)} == {o.id for o in two_neuhaus}


def test_editing_a_role_at_an_organization_whose_name_is_not_unique(client, db, make, office, maria, two_neuhaus):
    bayern, _ = two_neuhaus
    role = make.affiliation(maria, bayern, position="Referentin")
    db.session.commit()
    markup = client.get(f"/personen/funktionen/{role.id}/bearbeiten").get_data(as_text=True)

    response = client.post(
        f"/personen/funktionen/{role.id}/bearbeiten",
        data={"organization": input_value(markup, "organization"), "position": "Hauptamtsleiterin", "is_primary": "y"},
    )

    assert response.status_code == 302, field_error(response.get_data(as_text=True), "organization")
    [role] = roles(db, maria)
    assert (role.organization_id, role.position) == (bayern.id, "Hauptamtsleiterin")
