"""Topics for many people at once, and the CSV/XLSX exports of the filtered lists."""
import csv
import io
from datetime import date

import pytest
import sqlalchemy as sa
from openpyxl import load_workbook

from crm.audit.models import AuditLog
from crm.contacts.models import OrganizationKind, Person, Salutation, Tag
from tests.conftest import count
from tests.contacts.pages import flashes, form_by_action, listed_people


@pytest.fixture()
def office(make, login):
    return login("office", person=make.person(first_name="Olga", last_name="Office", email="olga@example.org"))


@pytest.fixture()
def people(db, make, office):
    """Three people in Baden-Württemberg, one in Bayern; Bildung for Müller and Christ."""
    bildung = Tag(name="Bildung")
    db.session.add(bildung)
    heidelberg = make.organization(
        name="Stadt Heidelberg", kind=OrganizationKind.municipality, ags="08221000", state="08", city="Heidelberg"
    )
    muenchen = make.organization(
        name="Landeshauptstadt München", kind=OrganizationKind.municipality, ags="09162000", state="09", city="München"
    )
    mueller = make.person(
        salutation=Salutation.herr, first_name="Jürgen", last_name="Müller", email="j.mueller@example.org",
        phone="+49 6221 58-0",
    )  # fmt: skip
    make.affiliation(mueller, heidelberg, position="Bürgermeister")
    mueller.tags = [bildung]
    gross = make.person(salutation=Salutation.frau, title="Dr.", first_name="Änne", last_name="Groß", email=None)
    make.affiliation(gross, heidelberg, position="Amtsleiterin Schulen")
    evil = make.person(salutation=None, first_name="@Hacker", last_name='=HYPERLINK("http://evil.example")', email=None)
    make.affiliation(evil, heidelberg, position="-1+2")
    christ = make.person(
        salutation=Salutation.herr, first_name="Carl", last_name="Christ", email="c.christ@example.org"
    )
    make.affiliation(christ, muenchen, position="Stadtrat")
    christ.tags = [bildung]
    db.session.commit()
    return {"mueller": mueller.id, "gross": gross.id, "evil": evil.id, "christ": christ.id, "bildung": bildung.id}


def tags_of(db, person_id: int) -> list[str]:
    db.session.expire_all()
    return [t.name for t in db.session.get(Person, person_id).tags]


def bulk_form(client, query: str = "") -> dict:
    """The 'Themen zuordnen' form below the people list, as the browser would send it."""
    return form_by_action(client.get(f"/personen/{query}").get_data(as_text=True), "/personen/themen")


# --- bulk topics -------------------------------------------------------------------------------------


def test_add_topic_to_selected_people_creates_the_topic(client, db, office, people):
    data = bulk_form(client, "?state=08")
    assert data["state"] == "08"  # the filter travels with the form
    data.update(tag="Klimaschutz", action="add", scope="selected", person_ids=[people["mueller"], people["gross"]])

    response = client.post("/personen/themen", data=data)

    assert response.status_code == 302 and response.headers["Location"] == "/personen/?state=08"
    assert "Thema „Klimaschutz“ bei 2 Personen zugeordnet." in flashes(client.get("/personen/").get_data(as_text=True))
    assert tags_of(db, people["mueller"]) == ["Bildung", "Klimaschutz"]
    assert tags_of(db, people["gross"]) == ["Klimaschutz"]
    assert tags_of(db, people["evil"]) == []
    entries = db.session.scalars(
        sa.select(AuditLog).where(AuditLog.action == "update").order_by(AuditLog.entity_id)
    ).all()
    assert [(e.entity_id, e.changes, e.actor_id) for e in entries] == [
        (people["mueller"], {"tags": [None, "+ Klimaschutz"]}, office.id),
        (people["gross"], {"tags": [None, "+ Klimaschutz"]}, office.id),
    ]


def test_adding_an_existing_topic_reuses_it_and_counts_only_changes(client, db, office, people):
    tags = count(Tag)
    data = bulk_form(client)
    data.update(tag="  bildung ", action="add", scope="selected", person_ids=[people["mueller"], people["gross"]])

    client.post("/personen/themen", data=data)

    assert count(Tag) == tags  # "bildung" is the existing "Bildung"
    assert tags_of(db, people["gross"]) == ["Bildung"]
    assert count(AuditLog) == 1  # Müller had it already
    assert "Thema „Bildung“ bei 1 Person zugeordnet." in flashes(client.get("/personen/").get_data(as_text=True))


def test_remove_topic_from_selected_people(client, db, office, people):
    data = bulk_form(client)
    data.update(
        tag="Bildung", action="remove", scope="selected",
        person_ids=[people["mueller"], people["gross"], people["christ"]],
    )  # fmt: skip

    client.post("/personen/themen", data=data)

    assert "Thema „Bildung“ bei 2 Personen entfernt." in flashes(client.get("/personen/").get_data(as_text=True))
    assert tags_of(db, people["mueller"]) == tags_of(db, people["christ"]) == []
    entries = db.session.scalars(sa.select(AuditLog).order_by(AuditLog.entity_id)).all()
    assert [(e.entity_id, e.changes) for e in entries] == [
        (people["mueller"], {"tags": [None, "− Bildung"]}),
        (people["christ"], {"tags": [None, "− Bildung"]}),
    ]  # Groß had no Bildung: nothing to remove, nothing logged


def test_add_topic_to_all_matches_of_the_filter(client, db, office, people):
    data = bulk_form(client, "?state=08")
    data.update(tag="Schulen", action="add", scope="all")  # nobody ticked: the whole filter counts

    response = client.post("/personen/themen", data=data)

    assert response.headers["Location"] == "/personen/?state=08"
    assert "Thema „Schulen“ bei 3 Personen zugeordnet." in flashes(client.get("/personen/").get_data(as_text=True))
    schulen = db.session.scalar(sa.select(Tag).where(Tag.name == "Schulen"))
    assert listed_people(client.get(f"/personen/?tag={schulen.id}").get_data(as_text=True)) == [
        '=HYPERLINK("http://evil.example"), @Hacker', "Groß, Änne", "Müller, Jürgen",
    ]  # fmt: skip
    assert count(AuditLog) == 3


def test_remove_topic_from_all_matches_of_the_filter(client, db, office, people):
    db.session.get(Person, people["gross"]).tags = [db.session.get(Tag, people["bildung"])]
    db.session.commit()
    data = bulk_form(client, "?state=08")
    data.update(tag="Bildung", action="remove", scope="all")

    client.post("/personen/themen", data=data)

    assert tags_of(db, people["mueller"]) == tags_of(db, people["gross"]) == []
    assert tags_of(db, people["christ"]) == ["Bildung"]  # in Bayern, outside the filter
    assert "Thema „Bildung“ bei 2 Personen entfernt." in flashes(client.get("/personen/").get_data(as_text=True))


def test_no_selection_is_refused(client, db, office, people):
    data = bulk_form(client, "?state=08")
    data.update(tag="Klimaschutz", action="add", scope="selected")
    tags = count(Tag)

    response = client.post("/personen/themen", data=data, follow_redirects=True)

    assert response.request.path == "/personen/" and response.request.args.to_dict() == {"state": "08"}
    assert flashes(response.get_data(as_text=True)) == ["Bitte wählen Sie mindestens eine Person aus."]
    assert count(Tag) == tags and count(AuditLog) == 0


def test_missing_topic_is_refused(client, db, office, people):
    data = bulk_form(client)
    data.update(tag="  ", action="add", scope="selected", person_ids=[people["mueller"]])

    response = client.post("/personen/themen", data=data, follow_redirects=True)

    assert flashes(response.get_data(as_text=True)) == ["Bitte geben Sie ein Thema an."]
    assert tags_of(db, people["mueller"]) == ["Bildung"] and count(AuditLog) == 0


# --- exports ---------------------------------------------------------------------------------------

HEADERS = [
    "Anrede", "Titel", "Vorname", "Nachname", "E-Mail", "Telefon", "Mobil", "Organisation", "Funktion", "Ort",
    "Briefanrede", "Themen",
]  # fmt: skip


def read_csv(response) -> list[list[str]]:
    body = response.get_data()
    assert body.startswith(b"\xef\xbb\xbf"), "UTF-8 BOM missing (Excel would garble the umlauts)"
    return list(csv.reader(io.StringIO(body.decode("utf-8")[1:], newline=""), delimiter=";"))


def read_xlsx(response) -> tuple[str, list[list]]:
    workbook = load_workbook(io.BytesIO(response.get_data()))
    sheet = workbook.worksheets[0]
    rows = [["" if cell.value is None else cell.value for cell in row] for row in sheet.iter_rows()]
    return sheet.title, rows


def test_people_csv_for_german_excel(client, db, office, people):
    response = client.get("/personen/export.csv?state=08")

    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"] == f"attachment; filename=personen-{date.today():%Y-%m-%d}.csv"
    assert b";" in response.get_data().split(b"\r\n")[0]
    rows = read_csv(response)
    assert rows[0] == HEADERS
    assert rows[1:] == [
        ["", "", "'@Hacker", "'=HYPERLINK(\"http://evil.example\")", "", "", "", "Stadt Heidelberg", "'-1+2",
         "Heidelberg", "Guten Tag @Hacker =HYPERLINK(\"http://evil.example\")", ""],
        ["Frau", "Dr.", "Änne", "Groß", "", "", "", "Stadt Heidelberg", "Amtsleiterin Schulen", "Heidelberg",
         "Sehr geehrte Frau Dr. Groß", ""],
        ["Herr", "", "Jürgen", "Müller", "j.mueller@example.org", "+49 6221 58-0", "", "Stadt Heidelberg",
         "Bürgermeister", "Heidelberg", "Sehr geehrter Herr Bürgermeister Müller", "Bildung"],
    ]  # fmt: skip  (Carl Christ in Bayern and the office user are not in the filter)


def test_people_csv_follows_search_and_topic_filter(client, db, office, people):
    assert [row[3] for row in read_csv(client.get("/personen/export.csv?q=mueller"))[1:]] == ["Müller"]
    rows = read_csv(client.get(f"/personen/export.csv?tag={people['bildung']}&sort=-created"))
    assert [row[3] for row in rows[1:]] == ["Christ", "Müller"]  # the list's order


def test_people_xlsx_has_the_same_rows(client, db, office, people):
    csv_rows = read_csv(client.get("/personen/export.csv?state=08"))

    response = client.get("/personen/export.xlsx?state=08")

    assert response.status_code == 200
    assert response.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert response.headers["Content-Disposition"] == f"attachment; filename=personen-{date.today():%Y-%m-%d}.xlsx"
    title, rows = read_xlsx(response)
    assert title == "Personen"
    # The same values; XLSX keeps text as text, so it needs no apostrophe against formulas.
    unguarded = [[value[1:] if value[:2] in ("'=", "'@", "'+", "'-") else value for value in row] for row in csv_rows]
    assert rows == unguarded
    workbook = load_workbook(io.BytesIO(response.get_data()))
    formulas = [cell.coordinate for row in workbook.worksheets[0].iter_rows() for cell in row if cell.data_type == "f"]
    assert formulas == []  # no cell runs as a formula


def test_export_of_many_people_is_complete_and_in_order(client, db, office):
    db.session.add_all(
        Person(first_name="Vera", last_name=f"Viele{n:04d}", email=f"viele{n}@example.org") for n in range(1203)
    )
    db.session.commit()

    rows = read_csv(client.get("/personen/export.csv?q=viele"))

    assert len(rows) == 1 + 1203
    assert [row[3] for row in rows[1:]] == [f"Viele{n:04d}" for n in range(1203)]


@pytest.mark.parametrize("url", ["/personen/export.pdf", "/organisationen/export.json"])
def test_unknown_export_format_is_404(client, office, url):
    assert client.get(url).status_code == 404


ORGANIZATION_HEADERS = [
    "Name", "Kurzname", "Art", "AGS", "Kreisschlüssel", "Bundesland", "Einwohner", "Straße", "PLZ", "Ort", "Website",
    "E-Mail", "Telefon",
]  # fmt: skip


@pytest.fixture()
def organizations(db, make, office):
    make.organization(
        name="Stadt Lörrach", short_name="Lörrach", kind=OrganizationKind.municipality, ags="08336050", state="08",
        population=49382, street="Luisenstraße 16", postal_code="79539", city="Lörrach",
        website="https://www.loerrach.de", email="stadt@loerrach.de", phone="07621 415-0",
    )  # fmt: skip
    make.organization(name="Landkreis Lörrach", kind=OrganizationKind.county, kreisschluessel="08336", state="08")
    make.organization(name="=cmd|' /C calc'!A0", kind=OrganizationKind.company, state="09")
    db.session.commit()


def test_organizations_csv(client, organizations):
    response = client.get("/organisationen/export.csv?state=08")

    assert response.status_code == 200
    assert response.headers["Content-Disposition"] == (
        f"attachment; filename=organisationen-{date.today():%Y-%m-%d}.csv"
    )
    assert read_csv(response) == [
        ORGANIZATION_HEADERS,
        ["Landkreis Lörrach", "", "Kreis", "", "08336", "Baden-Württemberg", "", "", "", "", "", "", ""],
        ["Stadt Lörrach", "Lörrach", "Stadt / Gemeinde", "08336050", "", "Baden-Württemberg", "49382",
         "Luisenstraße 16", "79539", "Lörrach", "https://www.loerrach.de", "stadt@loerrach.de", "07621 415-0"],
    ]  # fmt: skip


def test_organizations_export_neutralizes_formulas(client, organizations):
    rows = read_csv(client.get("/organisationen/export.csv?kind=company"))
    assert rows[1][0] == "'=cmd|' /C calc'!A0"


def test_organizations_xlsx_has_the_same_rows(client, organizations):
    csv_rows = read_csv(client.get("/organisationen/export.csv?q=loerrach"))

    response = client.get("/organisationen/export.xlsx?q=loerrach")

    assert response.status_code == 200
    title, rows = read_xlsx(response)
    assert title == "Organisationen"
    assert rows[0] == ORGANIZATION_HEADERS
    assert rows[2][6] == 49382  # a number Excel can sum, not text
    assert [[str(value) for value in row] for row in rows] == csv_rows
