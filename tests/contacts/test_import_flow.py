"""The import as the office goes through it: upload, mapping, dry run, import, report, corrected file, re-import.

Everything goes through the pages (TASKS_INLINE runs the dry run and the import inside the request), and the
tests read what the office reads: the mapping table, the figures (`data-result`), the row list, the flashes, the
downloadable report and the records in the database.
"""
import csv
import io
import re
import time
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa

from crm.contacts.imports import processor
from crm.contacts.models import Affiliation, ImportJob, ImportRowResult, ImportStatus, Organization, Person
from crm.extensions import db
from tests.conftest import count
from tests.html import page_text

# --- reading the pages -----------------------------------------------------------------------------


def csv_file(*lines: str, encoding: str = "utf-8") -> bytes:
    return ("\r\n".join(lines) + "\r\n").encode(encoding)


def upload(client, content: bytes, filename: str = "liste.csv"):
    return client.post("/import/", data={"file": (io.BytesIO(content), filename)}, content_type="multipart/form-data")


def uploaded_job(client, content: bytes, filename: str = "liste.csv") -> int:
    """Upload a file that must be accepted; the id of its job (from the redirect to the mapping page)."""
    response = upload(client, content, filename)
    assert response.status_code == 302, page_text(response.get_data(as_text=True))
    match = re.fullmatch(r"/import/(\d+)/zuordnung", urlsplit(response.headers["Location"]).path)
    assert match, response.headers["Location"]
    return int(match.group(1))


def proposed_mapping(markup: str) -> dict[str, str]:
    """{"column-<i>": field} as the mapping page's selects stand (empty string: not imported)."""
    mapping = {}
    for name, options in re.findall(r'<select id="(column-\d+)" name="column-\d+">(.*?)</select>', markup, flags=re.S):
        chosen = re.search(r'<option value="([^"]*)" selected>', options)
        mapping[name] = chosen.group(1) if chosen else ""
    return mapping


def checked_update_mode(markup: str) -> str | None:
    match = re.search(r'name="update_mode" value="(\w+)" checked', markup)
    return match.group(1) if match else None


def mapping_page(client, job_id: int) -> str:
    response = client.get(f"/import/{job_id}/zuordnung")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def start_dry_run(client, job_id: int, mapping: dict[str, str] | None = None, mode: str = "fill") -> str:
    """Post the mapping (the proposed one unless given) and return the dry-run page."""
    if mapping is None:
        mapping = proposed_mapping(mapping_page(client, job_id))
    response = client.post(f"/import/{job_id}/zuordnung", data={**mapping, "update_mode": mode})
    assert response.status_code == 302, page_text(response.get_data(as_text=True))
    assert urlsplit(response.headers["Location"]).path == f"/import/{job_id}"
    return client.get(f"/import/{job_id}").get_data(as_text=True)


def start_import(client, job_id: int) -> str:
    response = client.post(f"/import/{job_id}/starten", follow_redirects=True)
    assert response.status_code == 200
    return response.get_data(as_text=True)


def shown_counts(markup: str) -> dict[str, int]:
    """The four figures of the result page ("2.000" is German for 2000)."""
    return {key: int(value.replace(".", "")) for key, value in re.findall(r'data-result="(\w+)">([^<]*)<', markup)}


def shown_rows(markup: str) -> list[tuple[int, str, str, str, str]]:
    """(Zeile, Ergebnis, Datensatz, Spalte, Hinweis) of each line of the row list."""
    body = re.search(r'<table class="import-rows">.*?<tbody>(.*?)</tbody>', markup, flags=re.S)
    if not body:
        return []
    rows = []
    for cells in re.findall(r"<tr[^>]*>(.*?)</tr>", body.group(1), flags=re.S):
        row, *rest = [page_text(c) for c in re.findall(r"<td>(.*?)</td>", cells, flags=re.S)]
        rows.append((int(row), *rest))
    return rows


def flashes(markup: str) -> list[str]:
    return [page_text(m) for m in re.findall(r'<div class="flash [^"]*"[^>]*>(.*?)</div>', markup, flags=re.S)]


def form_errors(markup: str) -> list[str]:
    block = re.search(r'<div class="form-errors"[^>]*>(.*?)</div>', markup, flags=re.S)
    return [page_text(p) for p in re.findall(r"<p>(.*?)</p>", block.group(1), flags=re.S)] if block else []


def figures(create=0, update=0, unchanged=0, error=0) -> dict[str, int]:
    return {"create": create, "update": update, "unchanged": unchanged, "error": error}


def db_job(job_id: int) -> ImportJob:
    return db.session.get(ImportJob, job_id, populate_existing=True)


def people_emails() -> set[str]:
    return set(db.session.scalars(sa.select(Person.email).where(Person.email.is_not(None))))


@pytest.fixture()
def office(login, make):
    return login("office", person=make.person(first_name="Olga", last_name="Office", email="olga@example.org"))


# --- the files of the tests ----------------------------------------------------------------------------

HEADER = "Vorname;Nachname;E-Mail;Funktion;Organisation;AGS"
LIST = csv_file(
    HEADER,
    "Anna;Albers;anna@example.org;Bürgermeisterin;Stadt Heidelberg;08221000",
    "",
    "Bernd;Brandt;bernd@example;Kämmerer;Stadt Heidelberg;08221000",
    "Carla;Conrad;carla@example.org;Amtsleiterin;Stadt Köln;05315000",
    "Dieter;Dorn;dieter@example.org;;Stadt Köln;05315000",
)
#: The same list with Bernd's address corrected.
FIXED_LIST = LIST.replace(b"bernd@example;", b"bernd@example.org;")


# --- upload and mapping ---------------------------------------------------------------------------------


def test_mapping_page_shows_headers_samples_and_proposed_fields(client, office):
    job_id = uploaded_job(client, LIST)

    markup = mapping_page(client, job_id)
    text = page_text(markup)

    assert "Spalten zuordnen: liste.csv" in text
    assert "4 Datenzeilen · Zeichensatz UTF-8 · Trennzeichen „;“" in text
    for header in ("Vorname", "Nachname", "E-Mail", "Funktion", "Organisation", "AGS"):
        assert f'<label for="column-{HEADER.split(";").index(header)}">{header}</label>' in markup
    assert "Anna Bernd Carla" in text  # the first three data rows as samples (the empty line skipped)
    assert "Bürgermeisterin Kämmerer Amtsleiterin" in text
    assert "Dieter" not in text  # only three samples
    assert proposed_mapping(markup) == {
        "column-0": "first_name", "column-1": "last_name", "column-2": "email",
        "column-3": "position", "column-4": "organization", "column-5": "ags",
    }  # fmt: skip
    assert checked_update_mode(markup) == "fill"
    assert db_job(job_id).status == ImportStatus.uploaded


def test_dry_run_shows_figures_and_rows_numbered_as_in_the_spreadsheet_and_writes_nothing(client, office, make):
    make.person(first_name="Dieter", last_name="Dorn", email="dieter@example.org", phone=None)
    people, organizations, affiliations = count(Person), count(Organization), count(Affiliation)
    job_id = uploaded_job(client, LIST)

    markup = start_dry_run(client, job_id)
    text = page_text(markup)

    assert "Probelauf: liste.csv" in text
    assert shown_counts(markup) == figures(create=2, update=1, error=1)
    assert "2 neu 1 zu ändern 0 unverändert 1 mit Fehlern (übersprungen)" in text
    rows = shown_rows(markup)
    assert {row for row, *_ in rows} == {2, 4, 5, 6}  # header = 1, the empty line is row 3
    assert (2, "neu", "Anna Albers", "", "Person wird angelegt – Stadt Heidelberg als Bürgermeisterin") in rows
    invalid = "Bitte geben Sie eine gültige E-Mail-Adresse an (z. B. name@example.org)."
    assert (4, "Fehler", "", "E-Mail", invalid) in rows
    assert (5, "neu", "Carla Conrad", "", "Person wird angelegt – Stadt Köln als Amtsleiterin") in rows
    assert (6, "ändern", "Dieter Dorn", "Organisation", "Organisation wie in Zeile 5") in rows
    assert "Jetzt importieren" in text
    assert "Bericht herunterladen (CSV)" in text
    assert (count(Person), count(Organization), count(Affiliation)) == (people, organizations, affiliations)
    job = db_job(job_id)
    assert (job.status, job.total_rows, job.processed_rows) == (ImportStatus.checked, 4, 4)


def test_one_error_row_is_announced_in_the_singular(client, office):
    job_id = uploaded_job(client, LIST)

    text = page_text(start_dry_run(client, job_id))

    assert "1 Zeile hat Fehler und wird nicht importiert." in text


def test_the_row_list_can_show_only_the_errors(client, office):
    job_id = uploaded_job(client, LIST)
    start_dry_run(client, job_id)

    markup = client.get(f"/import/{job_id}?action=error").get_data(as_text=True)

    assert [row for row, *_ in shown_rows(markup)] == [4]
    assert "Zeilen: Fehler" in page_text(markup)


BAD_MAPPINGS = {
    "same field twice": (
        {"column-0": "last_name", "column-1": "last_name", "column-2": "email"},
        "Jedes Feld darf nur einer Spalte zugeordnet werden: Nachname.",
    ),
    "no last name, email or organization": (
        {"column-3": "position"},
        "Bitte ordnen Sie mindestens Nachname, E-Mail, Organisation oder AGS zu.",
    ),
    "first name without last name": (
        {"column-0": "first_name", "column-4": "organization"},
        "Für Personen wird eine Spalte mit dem Nachnamen benötigt.",
    ),
}


@pytest.mark.parametrize(("chosen", "message"), BAD_MAPPINGS.values(), ids=BAD_MAPPINGS.keys())
def test_a_wrong_mapping_is_explained_and_the_choice_is_kept(client, office, chosen, message):
    job_id = uploaded_job(client, LIST)
    mapping = {f"column-{i}": "" for i in range(6)} | chosen

    response = client.post(f"/import/{job_id}/zuordnung", data={**mapping, "update_mode": "fill"})

    assert response.status_code == 200
    markup = response.get_data(as_text=True)
    assert form_errors(markup) == [message]
    assert proposed_mapping(markup) == mapping
    assert db_job(job_id).status == ImportStatus.uploaded
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ImportRowResult)) == 0


def test_a_wrong_mapping_keeps_the_chosen_update_mode(client, office):
    job_id = uploaded_job(client, LIST)
    mapping = {f"column-{i}": "" for i in range(6)} | {"column-3": "position"}

    response = client.post(f"/import/{job_id}/zuordnung", data={**mapping, "update_mode": "overwrite"})

    assert form_errors(response.get_data(as_text=True))
    assert checked_update_mode(response.get_data(as_text=True)) == "overwrite"


def test_the_mapping_can_be_changed_after_a_dry_run(client, office):
    job_id = uploaded_job(client, LIST)
    start_dry_run(client, job_id)

    markup = mapping_page(client, job_id)
    mapping = proposed_mapping(markup) | {"column-3": ""}  # Funktion no longer imported
    text = page_text(start_dry_run(client, job_id, mapping))

    assert "Person wird angelegt – Stadt Heidelberg" in text
    assert "als Bürgermeisterin" not in text


# --- dry run before import ------------------------------------------------------------------------------


def test_importing_before_the_dry_run_is_refused(client, office):
    people = count(Person)
    job_id = uploaded_job(client, LIST)

    markup = start_import(client, job_id)

    assert "Bitte zuerst den Probelauf ansehen." in flashes(markup)
    assert db_job(job_id).status == ImportStatus.uploaded
    assert count(Person) == people


def test_import_does_what_the_dry_run_showed(client, office, make):
    make.person(first_name="Dieter", last_name="Dorn", email="dieter@example.org")
    job_id = uploaded_job(client, LIST)
    dry = shown_counts(start_dry_run(client, job_id))

    markup = start_import(client, job_id)
    text = page_text(markup)

    assert shown_counts(markup) == dry == figures(create=2, update=1, error=1)
    assert "Import: liste.csv" in text
    assert "2 neu 1 geändert 0 unverändert 1 mit Fehlern (übersprungen)" in text
    assert "Der Import ist abgeschlossen" in text
    assert "Jetzt importieren" not in text
    assert {"anna@example.org", "carla@example.org", "dieter@example.org"} <= people_emails()
    assert not any(e.startswith("bernd") for e in people_emails())
    job = db_job(job_id)
    assert (job.status, job.processed_rows, job.total_rows) == (ImportStatus.done, 4, 4)
    # Importing the same job again is refused: it needs a new upload and dry run.
    assert "Bitte zuerst den Probelauf ansehen." in flashes(start_import(client, job_id))
    assert shown_counts(client.get(f"/import/{job_id}").get_data(as_text=True)) == dry


def test_importing_the_same_file_again_changes_nothing(client, office):
    content = csv_file(
        "Anrede;Titel;Vorname;Nachname;E-Mail;Telefon;Handy;Funktion;Organisation;AGS;PLZ;Ort;Themen;Newsletter",
        "Frau;Dr.;Anna;Albers;anna@example.org;06221 581000;0171 1234567;Bürgermeisterin;Stadt Heidelberg;08221000;69117;Heidelberg;Bildung, Klima;ja",
        "Herr;;Bernd;Brandt;;06221 581001;;Kämmerer;Stadt Heidelberg;08221000;69117;Heidelberg;Finanzen;nein",
        ";;;;;;;;Verband Digitale Kommune;;10115;Berlin;;",
        "Herr;;Carl;Conrad;CARL@example.org;;;;;;;;;",
    )  # fmt: skip
    first = uploaded_job(client, content)
    start_dry_run(client, first)
    assert shown_counts(start_import(client, first)) == figures(create=4)
    people, organizations, affiliations = count(Person), count(Organization), count(Affiliation)

    again = uploaded_job(client, content)
    markup = start_dry_run(client, again)

    assert shown_counts(markup) == figures(unchanged=4)
    assert shown_rows(markup) == []
    assert shown_counts(start_import(client, again)) == figures(unchanged=4)
    assert (count(Person), count(Organization), count(Affiliation)) == (people, organizations, affiliations)


# --- the report -----------------------------------------------------------------------------------------


def test_report_download_is_a_csv_for_german_excel_listing_each_error_row(client, office):
    content = csv_file(
        "Vorname;Nachname;E-Mail;Telefon;PLZ;Organisation",
        "Anna;Albers;anna@example.org;;;",
        "Bernd;Brandt;bernd@example;;;",
        "Carla;Conrad;carla@example.org;abc;;",
        "Dieter;Dorn;dieter@example.org;;123;Stadt Ulm",
    )  # fmt: skip
    job_id = uploaded_job(client, content)
    start_dry_run(client, job_id)

    response = client.get(f"/import/{job_id}/bericht.csv")

    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"].startswith(f"attachment; filename=import-{job_id}-bericht-")
    body = response.get_data()
    assert body.startswith(b"\xef\xbb\xbf")
    table = list(csv.reader(io.StringIO(body.decode("utf-8-sig")), delimiter=";"))
    assert table[0] == ["Zeile", "Ergebnis", "Spalte", "Hinweis", "Datensatz"]
    errors = [line for line in table[1:] if line[1] == "Fehler"]
    assert [(line[0], line[2]) for line in errors] == [("3", "E-Mail"), ("4", "Telefon"), ("5", "PLZ")]
    assert errors[2][3] == "Eine deutsche Postleitzahl hat genau 5 Ziffern."
    assert ["2", "neu", "", "Person wird angelegt", "Anna Albers"] in table

    start_import(client, job_id)
    after = client.get(f"/import/{job_id}/bericht.csv").get_data().decode("utf-8-sig")
    after_errors = [line for line in csv.reader(io.StringIO(after), delimiter=";") if line[1] == "Fehler"]
    assert [(line[0], line[2]) for line in after_errors] == [("3", "E-Mail"), ("4", "Telefon"), ("5", "PLZ")]


# --- correcting the file --------------------------------------------------------------------------------


def test_fixing_the_bad_row_and_uploading_again_imports_just_that_row(client, office):
    first = uploaded_job(client, LIST)
    start_dry_run(client, first)
    assert shown_counts(start_import(client, first)) == figures(create=3, error=1)
    assert people_emails() >= {"anna@example.org", "carla@example.org", "dieter@example.org"}
    assert "bernd@example.org" not in people_emails()

    second = uploaded_job(client, FIXED_LIST)
    markup = start_dry_run(client, second)

    assert shown_counts(markup) == figures(create=1, unchanged=3)
    assert shown_rows(markup) == [
        (4, "neu", "Bernd Brandt", "", "Person wird angelegt – Stadt Heidelberg als Kämmerer")
    ]
    assert shown_counts(start_import(client, second)) == figures(create=1, unchanged=3)
    assert people_emails() >= {"anna@example.org", "bernd@example.org", "carla@example.org", "dieter@example.org"}
    heidelberg = db.session.scalar(sa.select(Organization).where(Organization.ags == "08221000"))
    assert sorted(a.person.last_name for a in heidelberg.affiliations) == ["Albers", "Brandt"]
    assert count(Organization) == 2
    index = page_text(client.get("/import/").get_data(as_text=True))
    assert "liste.csv importiert 4 " in index


# --- large files ------------------------------------------------------------------------------------------


def surname(n: int) -> str:
    """Pronounceable surnames that sound different (as the duplicate check hears them): Badefi, Ragumo, ..."""
    consonants, vowels = "bdfglmrs", "aeiou"
    return "".join(consonants[n // 8**place % 8] + vowels[(n + place) % 5] for place in range(4)).capitalize()


def large_list(rows: int) -> bytes:
    """Rows in a repeating pattern of eight: a new person, the same person again, six rows with errors.

    (New people are what costs time; the repeats and errors fill the batches cheaply.)
    """
    lines = ["Vorname;Nachname;E-Mail;PLZ;Organisation"]
    for n in range(rows):
        kind, first = n % 8, n - n % 8
        if kind == 0:
            lines.append(f"Kim;{surname(n)};kim.{n}@example.org;;")
        elif kind == 1:
            lines.append(f"Kim;{surname(first)};KIM.{first}@example.org;;")
        elif kind < 5:
            lines.append(f"Kim;{surname(n)};kim.{n}@example;;")
        else:
            lines.append(f"Kim;{surname(n)};kim.{n}@example.org;{n};Stadt {n}")
    return csv_file(*lines)


def test_two_thousand_rows_are_imported_in_batches(client, office, monkeypatch):
    monkeypatch.setattr(processor, "BATCH_SIZE", 500)  # four batches
    people, organizations = count(Person), count(Organization)
    job_id = uploaded_job(client, large_list(2000))

    started = time.perf_counter()
    dry = start_dry_run(client, job_id)
    assert shown_counts(dry) == figures(create=250, unchanged=250, error=1500)
    assert "1.500 mit Fehlern" in page_text(dry)
    done = start_import(client, job_id)
    elapsed = time.perf_counter() - started

    assert shown_counts(done) == figures(create=250, unchanged=250, error=1500)
    assert count(Person) == people + 250
    assert count(Organization) == organizations
    error_rows = db.session.scalars(
        sa.select(ImportRowResult.row).where(ImportRowResult.job_id == job_id, ImportRowResult.action == "error")
    ).all()  # fmt: skip
    assert sorted(error_rows) == [n + 2 for n in range(2000) if n % 8 >= 2]  # from every batch
    assert elapsed < 10, f"{elapsed:.1f} s"  # about 1 s on SQLite, 3 s on PostgreSQL
    job = db_job(job_id)
    assert (job.status, job.total_rows, job.processed_rows) == (ImportStatus.done, 2000, 2000)
