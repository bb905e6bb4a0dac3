"""Reading what offices upload: encodings, delimiters, line breaks in cells, empty lines, German headers,
remembered mappings, files that are no table at all, and Excel cells holding numbers and dates.

The awkward files are built here, byte by byte (CSV) or with openpyxl (XLSX), and uploaded through the page.
"""
import io
import re
from datetime import date, datetime

import pytest
import sqlalchemy as sa
from openpyxl import Workbook

from crm.contacts.models import ImportJob, ImportStatus, Organization, Person
from crm.extensions import db
from tests.conftest import count
from tests.contacts.test_import_flow import (
    csv_file, figures, mapping_page, proposed_mapping, shown_counts, shown_rows, start_dry_run, start_import, upload,
    uploaded_job,
)  # fmt: skip
from tests.html import page_text


@pytest.fixture()
def office(login, make):
    return login("office", person=make.person(first_name="Olga", last_name="Office", email="olga@example.org"))


def xlsx_file(*rows) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    for row in rows:
        sheet.append(list(row))
    output = io.BytesIO()
    workbook.save(output)
    return output.getvalue()


def person(email: str) -> Person:
    found = db.session.scalar(sa.select(Person).where(Person.email == email))
    assert found is not None, f"no person {email}"
    return found


def field_error(markup: str, field_id: str) -> str | None:
    match = re.search(rf'<p class="error-text" id="{field_id}-error">(.*?)</p>', markup, flags=re.S)
    return page_text(match.group(1)) if match else None


# --- encodings --------------------------------------------------------------------------------------------

UMLAUT_LINES = (
    "Vorname;Nachname;E-Mail;Funktion;Organisation;Ort",
    "Jürgen;Größer-Übel;juergen@example.org;Bürgermeister;Stadt Lüdenscheid;Lüdenscheid",
    "Änne;Weiß;aenne@example.org;Kämmerin;Gemeinde Öhringen;Öhringen",
)


@pytest.mark.parametrize(
    ("content", "shown"),
    [
        (csv_file(*UMLAUT_LINES, encoding="utf-8"), "Zeichensatz UTF-8 ·"),
        (b"\xef\xbb\xbf" + csv_file(*UMLAUT_LINES, encoding="utf-8"), "Zeichensatz UTF-8 mit BOM"),
        (csv_file(*UMLAUT_LINES, encoding="cp1252"), "Zeichensatz Windows-1252"),
    ],
    ids=["utf-8", "utf-8-bom", "windows-1252"],
)
def test_umlauts_come_out_right_whatever_the_encoding(client, office, content, shown):
    job_id = uploaded_job(client, content)
    mapping = mapping_page(client, job_id)
    assert shown in page_text(mapping)
    assert proposed_mapping(mapping)["column-0"] == "first_name"  # a BOM does not spoil the first header
    assert "Größer-Übel" in page_text(mapping)

    start_dry_run(client, job_id)
    markup = start_import(client, job_id)

    assert shown_counts(markup) == figures(create=2)
    juergen, aenne = person("juergen@example.org"), person("aenne@example.org")
    assert (juergen.first_name, juergen.last_name) == ("Jürgen", "Größer-Übel")
    assert (aenne.first_name, aenne.last_name) == ("Änne", "Weiß")
    assert juergen.affiliations[0].position == "Bürgermeister"
    organization = juergen.affiliations[0].organization
    assert (organization.name, organization.city) == ("Stadt Lüdenscheid", "Lüdenscheid")
    assert aenne.affiliations[0].organization.name == "Gemeinde Öhringen"


# --- delimiters, quotes, line breaks, empty lines -------------------------------------------------------------


@pytest.mark.parametrize(
    ("delimiter", "shown"), [(";", "„;“"), (",", "„,“"), ("\t", "„Tab“")], ids=["semicolon", "comma", "tab"]
)
def test_semicolon_comma_and_tab_separated_files(client, office, delimiter, shown):
    content = csv_file(
        delimiter.join(["Vorname", "Nachname", "E-Mail", "Themen"]),
        delimiter.join(["Anna", "Albers", "anna@example.org", '"Bildung; Klima, Mobilität"']),
        delimiter.join(["Bernd", "Brandt", "bernd@example.org", "Finanzen"]),
    )  # fmt: skip
    job_id = uploaded_job(client, content)
    assert f"Trennzeichen {shown}" in page_text(mapping_page(client, job_id))

    start_dry_run(client, job_id)
    markup = start_import(client, job_id)

    assert shown_counts(markup) == figures(create=2)
    assert [t.name for t in person("anna@example.org").tags] == ["Bildung", "Klima", "Mobilität"]
    assert person("bernd@example.org").last_name == "Brandt"


def test_quoted_cells_with_line_breaks_stay_in_their_row(client, office):
    content = csv_file(
        "Vorname;Nachname;E-Mail;Funktion;Organisation",
        'Anna;Albers;anna@example.org;"Leiterin\r\nAmt für Digitales";"Stadt ""Am See"""',
        "Bernd;Brandt;bern@example;;",
        "Carla;Conrad;carla@example.org;Kämmerin;Stadt Ulm",
    )  # fmt: skip
    job_id = uploaded_job(client, content)
    assert "3 Datenzeilen" in page_text(mapping_page(client, job_id))

    markup = start_dry_run(client, job_id)
    assert sorted({(row, result) for row, result, *_ in shown_rows(markup)}) == [(2, "neu"), (3, "Fehler"), (4, "neu")]
    markup = start_import(client, job_id)

    assert shown_counts(markup) == figures(create=2, error=1)
    [role] = person("anna@example.org").affiliations
    assert role.position.splitlines() == ["Leiterin", "Amt für Digitales"]
    assert role.organization.name == 'Stadt "Am See"'
    assert person("carla@example.org").affiliations[0].position == "Kämmerin"


def test_empty_lines_are_skipped_and_not_counted(client, office):
    content = (
        b"Vorname;Nachname;E-Mail\r\n"
        b"Anna;Albers;anna@example.org\r\n"
        b"\r\n"
        b";;\r\n"
        b"   ;  ;\r\n"
        b"Bernd;Brandt;bernd@example.org\r\n"
        b"\r\n\r\n"
    )
    job_id = uploaded_job(client, content)
    assert "2 Datenzeilen" in page_text(mapping_page(client, job_id))

    markup = start_dry_run(client, job_id)
    assert shown_counts(markup) == figures(create=2)
    assert [row for row, *_ in shown_rows(markup)] == [2, 6]  # as the spreadsheet numbers them (header = row 1)
    markup = start_import(client, job_id)

    assert shown_counts(markup) == figures(create=2)
    job = db.session.get(ImportJob, job_id, populate_existing=True)
    assert (job.total_rows, job.processed_rows) == (2, 2)
    assert person("bernd@example.org").first_name == "Bernd"


def test_rows_are_numbered_as_in_the_spreadsheet_when_empty_lines_precede_the_header(client, office):
    """Excel shows the empty first line as row 1, the header as row 2 and Anna as row 3."""
    job_id = uploaded_job(client, b"\r\nVorname;Nachname;E-Mail\r\nAnna;Albers;anna@example\r\n")

    markup = start_dry_run(client, job_id)

    assert [(row, result) for row, result, *_ in shown_rows(markup)] == [(3, "Fehler")]


@pytest.mark.parametrize("newline", ["\r", "\n"], ids=["cr-old-mac", "lf"])
def test_other_line_endings(client, office, newline):
    lines = ["Vorname;Nachname;E-Mail", "Anna;Albers;anna@example.org", "Bernd;Brandt;bernd@example.org"]
    content = newline.join(lines).encode()
    job_id = uploaded_job(client, content)
    assert "2 Datenzeilen" in page_text(mapping_page(client, job_id))

    start_dry_run(client, job_id)

    assert shown_counts(start_import(client, job_id)) == figures(create=2)
    assert person("bernd@example.org").last_name == "Brandt"


# --- headers -------------------------------------------------------------------------------------------------

GERMAN_HEADERS = {
    "Anrede": "salutation", "Titel": "title", "Vorname": "first_name", "Nachname": "last_name", "E-Mail": "email",
    "Funktion": "position", "Organisation": "organization", "AGS": "ags", "Telefon": "phone", "PLZ": "postal_code",
    "Ort": "city", "Bundesland": "state", "Themen": "tags", "Newsletter": "newsletter",
}  # fmt: skip


def test_german_headers_are_recognized(client, office):
    job_id = uploaded_job(client, csv_file(";".join(GERMAN_HEADERS), ";".join("x" for _ in GERMAN_HEADERS)))

    proposed = proposed_mapping(mapping_page(client, job_id))

    assert proposed == {f"column-{i}": field for i, field in enumerate(GERMAN_HEADERS.values())}


@pytest.mark.parametrize(
    ("header", "field"),
    [
        ("E-Mail-Adresse", "email"), ("Email", "email"), ("Name", "last_name"), ("Handy", "mobile"),
        ("Postleitzahl", "postal_code"), ("Straße", "street"), ("  Gemeindeschlüssel ", "ags"),
        ("VORNAME", "first_name"),
    ],
)  # fmt: skip
def test_header_variants_are_recognized(client, office, header, field):
    job_id = uploaded_job(client, csv_file(f"Zeile;{header}", "1;x"))

    assert proposed_mapping(mapping_page(client, job_id)) == {"column-0": "", "column-1": field}


def test_a_chosen_mapping_is_remembered_for_the_next_upload(client, office):
    first = uploaded_job(client, csv_file("Nachname;E-Mail;Kennung Amt", "Albers;anna@example.org;Kämmerin"))
    proposed = proposed_mapping(mapping_page(client, first))
    assert proposed == {"column-0": "last_name", "column-1": "email", "column-2": ""}
    start_dry_run(client, first, {"column-0": "last_name", "column-1": "email", "column-2": "position"})

    second = uploaded_job(client, csv_file("Kennung Amt;Name;Mail", "Kämmerer;Brandt;bernd@example.org"))

    proposed = proposed_mapping(mapping_page(client, second))
    assert proposed == {"column-0": "position", "column-1": "last_name", "column-2": "email"}


# --- files that cannot be read ---------------------------------------------------------------------------------

PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d4944415478da63f8cfc0f01f0005"
    "0001ff89993d1d0000000049454e44ae426082"
)
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


@pytest.mark.parametrize(
    ("content", "filename", "message"),
    [
        (b"", "leer.csv", "Die Datei ist leer."),
        (b"\r\n\r\n;;;\r\n", "nur-leerzeilen.csv", "Die Datei ist leer."),
        (xlsx_file(), "leer.xlsx", "Die Datei ist leer."),
        (PNG, "foto.xlsx", "Die Datei ist keine lesbare Excel-Datei (.xlsx)."),
        (csv_file("Vorname;Nachname", "Anna;Albers"), "liste.xlsx", "Die Datei ist keine lesbare Excel-Datei (.xlsx)."),
        (PDF, "liste.pdf", "Bitte eine CSV- oder Excel-Datei (.csv, .xlsx) hochladen."),
        (b"Vorname;Nachname\r\n", "liste", "Bitte eine CSV- oder Excel-Datei (.csv, .xlsx) hochladen."),
    ],
    ids=["empty", "only-empty-lines", "empty-xlsx", "png-as-xlsx", "csv-as-xlsx", "pdf", "no-suffix"],
)
def test_a_file_that_is_no_table_is_refused_next_to_the_file_field(client, office, content, filename, message):
    jobs = count(ImportJob)

    response = upload(client, content, filename)

    assert response.status_code == 200
    markup = response.get_data(as_text=True)
    assert field_error(markup, "file") == message
    assert 'aria-describedby="file-error"' in markup
    assert count(ImportJob) == jobs


def test_uploading_without_a_file_asks_for_one(client, office):
    response = client.post("/import/", data={}, content_type="multipart/form-data")

    assert field_error(response.get_data(as_text=True), "file") == "Bitte wählen Sie eine Datei aus."
    assert count(ImportJob) == 0


def test_a_picture_renamed_to_csv_is_refused(client, office):
    """A PNG has NUL bytes and no lines of text; it must not become a "table" with garbage headers."""
    response = upload(client, PNG, "foto.csv")

    assert response.status_code == 200
    assert field_error(response.get_data(as_text=True), "file")
    assert count(ImportJob) == 0


# --- Excel ------------------------------------------------------------------------------------------------------


def test_xlsx_cells_with_numbers_and_dates_are_read_as_the_office_sees_them(client, office):
    content = xlsx_file(
        ("Vorname", "Nachname", "E-Mail", "Organisation", "AGS", "PLZ", "Telefon", "Bemerkung", "Newsletter"),
        ("Anna", "Albers", "anna@example.org", "Stadt Heidelberg", "08221000", 69117, "06221 581000", date(2024, 3, 1), "ja"),
        (None, None, None, None, None, None, None, None, None),
        ("Bernd", "Brandt", "bernd@example.org", "Stadt Ulm", "08421000", 89073.0, "0731 1610", datetime(2024, 3, 1, 14, 30), 1),
        ("Carla", "Conrad", "carla@example.org", None, None, None, None, 3.5, None),
    )  # fmt: skip
    job_id = uploaded_job(client, content, "Liste.xlsx")
    mapping = mapping_page(client, job_id)
    assert "3 Datenzeilen" in page_text(mapping)
    assert "01.03.2024" in page_text(mapping)
    assert "Zeichensatz" not in page_text(mapping)
    assert proposed_mapping(mapping)["column-7"] == "notes"

    markup = start_dry_run(client, job_id)
    assert [row for row, *_ in shown_rows(markup)] == [2, 2, 4, 4, 5]  # the empty row 3 counts, as in Excel
    markup = start_import(client, job_id)

    assert shown_counts(markup) == figures(create=3)
    anna, bernd, carla = person("anna@example.org"), person("bernd@example.org"), person("carla@example.org")
    assert anna.notes == "01.03.2024"
    assert bernd.notes == "01.03.2024 14:30"
    assert carla.notes == "3.5"
    assert anna.newsletter_consent is True and bernd.newsletter_consent is True
    heidelberg = db.session.scalar(sa.select(Organization).where(Organization.ags == "08221000"))
    assert (heidelberg.postal_code, heidelberg.state) == ("69117", "08")
    ulm = db.session.scalar(sa.select(Organization).where(Organization.name == "Stadt Ulm"))
    assert ulm.postal_code == "89073"
    job = db.session.get(ImportJob, job_id, populate_existing=True)
    assert (job.status, job.file_format, job.total_rows, job.processed_rows) == (ImportStatus.done, "xlsx", 3, 3)
