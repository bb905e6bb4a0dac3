"""The office imports a list with one bad row, corrects the file, imports it again and finds the person."""
import re

import pytest
from playwright.sync_api import expect

from crm.auth.services import create_user
from crm.contacts.models import Organization, OrganizationKind, Person
from crm.extensions import db
from tests.e2e.conftest import count

pytestmark = pytest.mark.e2e

PASSWORD = "import-test-passwort"

HEADER = "Anrede;Vorname;Nachname;E-Mail;Funktion;Organisation;AGS"
ROWS = [
    "Frau;Anna;Albers;anna.albers@heidelberg.example;Bürgermeisterin;Stadt Heidelberg;08221000",
    "Herr;Bernd;Brandt;bernd.brandt@heidelberg,example;Kämmerer;Stadt Heidelberg;08221000",
    "Frau;Carla;Conrad;carla.conrad@koeln.example;Amtsleiterin;Stadt Köln;05315000",
]


@pytest.fixture(scope="module")
def import_journey(live_server, tmp_path_factory):
    """An office user, Stadt Heidelberg, and the two files: with Bernd's broken address and corrected."""
    app, _ = live_server
    with app.app_context():
        user = create_user(
            email="import@example.org", role="office", first_name="Ines", last_name="Import",
            salutation="frau", password=PASSWORD, actor=None,
        )  # fmt: skip
        db.session.add(Organization(name="Stadt Heidelberg", kind=OrganizationKind.municipality, ags="08221000",
                                    state="08", city="Heidelberg"))  # fmt: skip
        db.session.commit()
        email = user.email
    directory = tmp_path_factory.mktemp("import-files")
    broken, fixed = directory / "broken" / "mitglieder.csv", directory / "fixed" / "mitglieder.csv"
    fixed_rows = [row.replace("@heidelberg,example", "@heidelberg.example") for row in ROWS]
    for path, rows in ((broken, ROWS), (fixed, fixed_rows)):
        path.parent.mkdir()
        path.write_bytes("\r\n".join([HEADER, *rows, ""]).encode("cp1252"))  # as German Excel saves it
    return {"email": email, "broken": broken, "fixed": fixed}


def figure(page, key: str) -> str:
    """ "1 neu": the number and its label, as the office reads the figure."""
    return " ".join(page.locator(".figure", has=page.locator(f'[data-result="{key}"]')).inner_text().split())


def upload_and_check(page, base_url, path):
    page.goto(f"{base_url}/import/")
    page.get_by_label("Datei (CSV oder Excel)").set_input_files(path)
    page.get_by_role("button", name="Hochladen und Spalten zuordnen").click()
    page.wait_for_url(re.compile(r"/import/\d+/zuordnung$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Spalten zuordnen: mitglieder.csv")
    expect(page.get_by_text("3 Datenzeilen · Zeichensatz Windows-1252")).to_be_visible()
    # The proposed mapping is kept as it is.
    expect(page.get_by_label("E-Mail", exact=True)).to_have_value("email")
    expect(page.get_by_label("Nachname", exact=True)).to_have_value("last_name")
    expect(page.get_by_label("Funktion", exact=True)).to_have_value("position")
    page.get_by_role("button", name="Probelauf starten").click()
    page.wait_for_url(re.compile(r"/import/\d+$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Probelauf: mitglieder.csv")


def test_office_imports_a_list_fixes_the_bad_row_and_finds_the_person(page, live_server, import_journey):
    app, base_url = live_server
    people_before = count(app, Person)
    page.goto(f"{base_url}/login")
    page.get_by_label("E-Mail-Adresse").fill(import_journey["email"])
    page.get_by_label("Passwort").fill(PASSWORD)
    page.get_by_role("button", name="Anmelden").click()
    page.wait_for_url(f"{base_url}/start")

    # First file: Bernd's address is broken.
    upload_and_check(page, base_url, import_journey["broken"])
    assert figure(page, "create") == "2 neu"
    assert figure(page, "error") == "1 mit Fehlern (übersprungen)"
    error_row = page.locator("table.import-rows tr.result-error")
    expect(error_row).to_have_count(1)
    expect(error_row.locator("td")).to_have_text(
        ["3", "Fehler", "", "E-Mail", "Bitte geben Sie eine gültige E-Mail-Adresse an (z. B. name@example.org)."]
    )
    assert count(app, Person) == people_before  # the dry run writes nothing
    page.get_by_role("button", name="Jetzt importieren").click()
    expect(page.get_by_text("Der Import ist abgeschlossen")).to_be_visible()
    expect(page.get_by_role("heading", level=1)).to_have_text("Import: mitglieder.csv")
    assert figure(page, "create") == "2 neu"
    assert count(app, Person) == people_before + 2

    # The corrected file: only Bernd is new.
    upload_and_check(page, base_url, import_journey["fixed"])
    assert figure(page, "create") == "1 neu"
    assert figure(page, "update") == "0 zu ändern"
    assert figure(page, "unchanged") == "2 unverändert"
    assert figure(page, "error") == "0 mit Fehlern (übersprungen)"
    expect(page.locator("table.import-rows tr.result-create td").first).to_have_text("3")
    page.get_by_role("button", name="Jetzt importieren").click()
    expect(page.get_by_text("Der Import ist abgeschlossen")).to_be_visible()
    assert figure(page, "create") == "1 neu"

    page.get_by_role("link", name="Zur Personenliste").click()
    page.wait_for_url(re.compile(r"/personen/"))
    page.get_by_label("Suche").fill("Brandt")
    page.get_by_role("button", name="Filtern").click()
    page.wait_for_url(re.compile(r"/personen/\?.*q=Brandt"))
    expect(page.locator("table.people tbody").get_by_role("link", name="Brandt, Bernd")).to_be_visible()
    expect(page.locator("table.people tbody")).to_contain_text("Stadt Heidelberg")
    assert count(app, Person) == people_before + 3
