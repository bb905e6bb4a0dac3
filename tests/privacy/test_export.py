"""Art. 15: the export holds everything stored about the person, and every table is covered."""
import json
import re

import sqlalchemy as sa

from crm.extensions import db as _db
from crm.privacy.erasure import ERASERS
from crm.privacy.export import EXPORTED_TABLES, SECTIONS, personal_data
from tests.conftest import PASSWORD
from tests.html import text
from tests.privacy.conftest import EMAIL, NAME


def tables_with_personal_data(metadata: sa.MetaData) -> set[str]:
    """Tables that point at a person (a foreign key to people, or a person_id column)."""
    found = set()
    for table in metadata.tables.values():
        if table.name == "people" or "person_id" in table.c or any(fk.column.table.name == "people" for fk in table.foreign_keys):
            found.add(table.name)
    return found


def test_the_detection_finds_a_new_table_that_points_at_people(app):
    metadata = sa.MetaData()
    sa.Table("people", metadata, sa.Column("id", sa.Integer, primary_key=True))
    sa.Table("badges", metadata, sa.Column("owner_id", sa.ForeignKey("people.id")))
    sa.Table("notes", metadata, sa.Column("person_id", sa.Integer))
    sa.Table("rooms", metadata, sa.Column("id", sa.Integer, primary_key=True))
    assert tables_with_personal_data(metadata) == {"people", "badges", "notes"}


def test_every_table_with_a_person_reference_is_in_the_export(app):
    missing = tables_with_personal_data(_db.metadata) - EXPORTED_TABLES
    assert not missing, f"Add a Section to crm/privacy/export.py for: {sorted(missing)}"


def test_every_table_with_a_person_reference_has_an_erasure_step(app):
    missing = tables_with_personal_data(_db.metadata) - set(ERASERS)
    assert not missing, f"Add a step to ERASERS in crm/privacy/erasure.py for: {sorted(missing)}"


def test_export_contains_every_kind_of_data(rich_person):
    data = personal_data(rich_person)
    assert data["person"]["last_name"] == NAME and data["person"]["email"] == EMAIL
    assert data["person"]["phone"] == "030 1234567" and data["person"]["notes"] == "Ruft gern abends an."
    assert data["topics"] == ["Digitalisierung"]
    assert data["affiliations"][0]["organization"] == "Gemeinde Quellental"
    assert data["affiliations"][0]["position"] == "Bürgermeister"
    assert data["memberships"][0]["status"] == "active" and data["memberships"][0]["notes"] == "Beitrag per Lastschrift"
    [consent] = data["consents"]
    assert (consent["channel"], consent["granted"], consent["request_ip"]) == ("newsletter", True, "192.0.2.7")
    assert data["account"]["email"] == EMAIL and "password_hash" not in data["account"]
    assert data["login_attempts"][0]["ip"] == "192.0.2.7"
    assert data["links"][0]["purpose"] == "login" and "digest" not in data["links"][0]
    assert "Quirin Quastenberg" in data["requests"][0]["message"]
    assert len(data["not_duplicates"]) == 1 and "Anders" not in json.dumps(data["not_duplicates"])
    assert data["merges"][0]["merged_record"]["email"] == "q.quastenberg.alt@example.org"
    actions = [entry["action"] for entry in data["history"]]
    assert "angelegt" in actions and "Einwilligung erfasst" in actions
    mobile = next(e for e in data["history"] if "mobile" in e["changes"])
    assert mobile["changes"]["mobile"] == [None, "0171 2345678"]
    assert mobile["by"] == "Geschäftsstelle"  # staff are not named to the requester
    assert data["invitations"][0]["needs"] == "vegetarisch" and data["invitations"][0]["event"] == "Zukunftswerkstatt"
    assert data["speaking"][0]["role_text"] == "Bürgermeister von Quellental"
    assert data["deliveries"][0]["email"] == EMAIL
    assert {s.key for s in SECTIONS} == set(data)


def test_member_downloads_json_and_reads_the_page(client, rich_person):
    client.post("/login", data={"email": EMAIL, "password": PASSWORD})
    response = client.get("/mein-bereich/daten.json")
    assert response.status_code == 200
    assert response.headers["Content-Disposition"].startswith('attachment; filename="meine-daten-')
    data = json.loads(response.get_data(as_text=True))
    assert data["person"]["email"] == EMAIL and data["consents"]

    page = text(client.get("/mein-bereich/daten"))
    for section in SECTIONS:
        assert section.title in page
    assert "Gemeinde Quellental" in page and "Bürgermeister" in page and "192.0.2.7" in page
    # Codes and timestamps read as German, as on the rest of the site.
    assert "Ordentliches Mitglied" in page and "Mitgliederportal" in page and "Anmeldelink" in page
    assert "regular" not in page and "portal" not in page.replace("Mitgliederportal", "")
    assert not re.search(r"\d{4}-\d{2}-\d{2}T", page)


def test_office_can_export_a_person_for_a_written_request(client, login, rich_person):
    login("office")
    response = client.get(f"/personen/{rich_person.id}/auskunft.json")
    assert response.status_code == 200
    assert json.loads(response.get_data(as_text=True))["person"]["last_name"] == NAME
