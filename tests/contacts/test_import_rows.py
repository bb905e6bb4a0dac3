"""What the import does with each row: matching, update modes, checks, never half-written rows, consents, audit.

The tests drive the import service as the views do (create_job -> set_mapping -> start dry run -> start import);
TASKS_INLINE runs both at once. Each test reads what the office would see afterwards: the per-row report, the
counts and the records in the database.
"""
import io
from dataclasses import dataclass

import pytest
import sqlalchemy as sa
from werkzeug.datastructures import FileStorage

from crm.audit.models import AuditLog
from crm.contacts.imports import processor
from crm.contacts.imports.jobs import create_job, set_mapping, start
from crm.contacts.models import (
    Affiliation, Consent, ConsentChannel, ConsentMethod, ImportJob, ImportRowResult, ImportStatus, Organization,
    OrganizationKind, Person, Salutation, Tag,
)  # fmt: skip
from tests.conftest import count


@dataclass
class Line:
    row: int
    action: str
    column: str | None
    message: str
    label: str | None


@dataclass
class Outcome:
    job_id: int
    dry_counts: dict
    dry_lines: list[Line]
    counts: dict | None = None
    lines: list[Line] | None = None

    def dry(self, row: int) -> list[Line]:
        return [line for line in self.dry_lines if line.row == row]

    def done(self, row: int) -> list[Line]:
        return [line for line in self.lines if line.row == row]


def csv_file(*lines: str, encoding: str = "utf-8") -> bytes:
    return ("\r\n".join(lines) + "\r\n").encode(encoding)


def report_lines(db, job_id: int) -> list[Line]:
    results = db.session.scalars(
        sa.select(ImportRowResult)
        .where(ImportRowResult.job_id == job_id)
        .order_by(ImportRowResult.row, ImportRowResult.id)
    )
    return [Line(r.row, r.action, r.column, r.message, r.label) for r in results]


def run_import(db, user, content: bytes, *, filename: str = "liste.csv", mode: str = "fill", mapping=None,
               dry_run_only: bool = False) -> Outcome:  # fmt: skip
    """Upload, keep the proposed mapping (or use `mapping`), dry run, then import (unless dry_run_only)."""
    job = create_job(FileStorage(io.BytesIO(content), filename=filename), actor=user)
    set_mapping(job, dict(job.mapping) if mapping is None else mapping, mode)
    job_id = job.id
    start(job, actor=user, dry_run=True)
    job = db.session.get(ImportJob, job_id)
    assert job.status == ImportStatus.checked
    outcome = Outcome(job_id, dict(job.counts), report_lines(db, job_id))
    if dry_run_only:
        return outcome
    start(job, actor=user, dry_run=False)
    job = db.session.get(ImportJob, job_id)
    assert job.status == ImportStatus.done
    outcome.counts, outcome.lines = dict(job.counts), report_lines(db, job_id)
    return outcome


def counts(create=0, update=0, unchanged=0, error=0) -> dict:
    return {"create": create, "update": update, "unchanged": unchanged, "error": error}


def fresh(db, record):
    """The record as the database holds it now (the import detaches the objects loaded before it)."""
    return db.session.get(type(record), record.id, populate_existing=True)


def person_by_email(db, email: str) -> Person | None:
    return db.session.scalar(sa.select(Person).where(Person.email == email))


def people_named(db, last_name: str) -> list[Person]:
    return db.session.scalars(sa.select(Person).where(Person.last_name == last_name)).all()


def organizations_named(db, name: str) -> list[Organization]:
    return db.session.scalars(sa.select(Organization).where(Organization.name == name)).all()


@pytest.fixture()
def office(make):
    return make.user(role="office", person=make.person(first_name="Olga", last_name="Office", email="olga@example.org"))


# --- matching people -------------------------------------------------------------------------------


def test_person_is_matched_by_email_whatever_its_case_and_only_empty_fields_are_filled(db, make, office):
    anna = make.person(first_name="Anna", last_name="Alt", email="anna.alt@example.org", phone=None, title=None)
    people_before = count(Person)

    outcome = run_import(db, office, csv_file(
        "Vorname;Nachname;E-Mail;Telefon;Titel",
        "Annette;Neu;Anna.ALT@Example.ORG;030 1234567;Dr.",
    ))  # fmt: skip

    assert outcome.dry_counts == counts(update=1)
    messages = [line.message for line in outcome.dry(2)]
    assert "Telefon: – → 030 1234567" in messages
    assert "Titel: – → Dr." in messages
    assert not any("Vorname" in m or "Nachname" in m for m in messages)
    assert outcome.counts == counts(update=1)
    anna = fresh(db, anna)
    assert (anna.first_name, anna.last_name, anna.phone, anna.title) == ("Anna", "Alt", "030 1234567", "Dr.")
    assert count(Person) == people_before


def test_overwrite_mode_takes_the_values_from_the_file(db, make, office):
    anna = make.person(first_name="Anna", last_name="Alt", email="anna.alt@example.org", phone="030 111111")

    outcome = run_import(db, office, csv_file(
        "Vorname;Nachname;E-Mail;Telefon",
        "Annette;Neu;anna.alt@example.org;030 222222",
    ), mode="overwrite")  # fmt: skip

    messages = [line.message for line in outcome.dry(2)]
    assert "Vorname: Anna → Annette" in messages
    assert "Nachname: Alt → Neu" in messages
    assert "Telefon: 030 111111 → 030 222222" in messages
    assert outcome.counts == counts(update=1)
    anna = fresh(db, anna)
    assert (anna.first_name, anna.last_name, anna.phone) == ("Annette", "Neu", "030 222222")


@pytest.mark.parametrize("name", ["bernd;Brandt", "Bernd;BRANDT"], ids=["first-name-lower", "last-name-upper"])
def test_person_without_email_is_matched_by_name_and_organization(db, make, office, name):
    stadt = make.organization(name="Stadt Lüdenscheid", kind=OrganizationKind.municipality, ags="05962032", state="05")
    bernd = make.person(first_name="Bernd", last_name="Brandt", email=None, mobile=None)
    make.affiliation(bernd, stadt, position="Kämmerer")
    other_bernd = make.person(first_name="Bernd", last_name="Brandt", email=None)  # same name, no role there
    people_before = count(Person)

    outcome = run_import(db, office, csv_file(
        "Vorname;Nachname;Organisation;Handy",
        f"{name};stadt lüdenscheid;0171 2345678",
    ))  # fmt: skip

    assert outcome.dry_counts == counts(update=1)
    assert outcome.counts == counts(update=1)
    assert count(Person) == people_before
    bernd = fresh(db, bernd)
    other_bernd = fresh(db, other_bernd)
    assert bernd.mobile == "0171 2345678"
    assert other_bernd.mobile is None


def test_same_name_at_another_organization_is_a_new_person(db, make, office):
    stadt = make.organization(name="Stadt Lüdenscheid")
    bernd = make.person(first_name="Bernd", last_name="Brandt", email=None)
    make.affiliation(bernd, stadt)

    outcome = run_import(db, office, csv_file("Vorname;Nachname;Organisation", "Bernd;Brandt;Stadt Iserlohn"))

    assert outcome.counts == counts(create=1)
    assert len(people_named(db, "Brandt")) == 2


# --- matching and creating organizations -------------------------------------------------------------


def test_organization_is_matched_by_ags_even_under_another_name(db, make, office):
    koeln = make.organization(name="Stadt Köln", kind=OrganizationKind.municipality, ags="05315000", state="05")
    orgs_before = count(Organization)

    outcome = run_import(db, office, csv_file(
        "Vorname;Nachname;E-Mail;Organisation;AGS;Funktion",
        "Carla;Conrad;carla@example.org;Köln;05315000;Oberbürgermeisterin",
    ))  # fmt: skip

    assert outcome.counts == counts(create=1)
    assert count(Organization) == orgs_before
    carla = person_by_email(db, "carla@example.org")
    assert [(a.organization_id, a.position) for a in carla.affiliations] == [(koeln.id, "Oberbürgermeisterin")]


def test_two_rows_filling_the_same_empty_organization_field_keep_the_first_value(db, make, office):
    """Both rows are planned before either is written; the second finds the city filled and leaves it."""
    verband = make.organization(name="Digitalverband Ost", city=None)

    outcome = run_import(db, office, csv_file(
        "Nachname;E-Mail;Organisation;Ort",
        "Ahrens;ahrens@example.org;Digitalverband Ost;Leipzig",
        "Busch;busch@example.org;Digitalverband Ost;Dresden",
    ))  # fmt: skip

    assert outcome.counts == counts(update=0, create=2)
    assert db.session.get(Organization, verband.id, populate_existing=True).city == "Leipzig"
    changes = db.session.scalars(sa.select(AuditLog.changes).where(
        AuditLog.entity_type == "organizations", AuditLog.entity_id == verband.id, AuditLog.action == "update"
    )).all()  # fmt: skip
    assert changes == [{"city": [None, "Leipzig"]}]


@pytest.mark.parametrize("written", ["stadt münchen", "STADT MUENCHEN", "Stadt  München"])
def test_organization_is_matched_by_name_ignoring_case_and_umlaut_spelling(db, make, office, written):
    muenchen = make.organization(name="Stadt München")
    orgs_before = count(Organization)

    outcome = run_import(db, office, csv_file("Nachname;E-Mail;Organisation", f"Dietz;dietz@example.org;{written}"))

    assert outcome.counts == counts(create=1)
    assert count(Organization) == orgs_before
    assert [a.organization_id for a in person_by_email(db, "dietz@example.org").affiliations] == [muenchen.id]


def test_unknown_organization_with_ags_is_created_as_municipality_with_its_bundesland(db, office):
    outcome = run_import(db, office, csv_file(
        "Nachname;E-Mail;Organisation;AGS;PLZ;Ort",
        "Engel;engel@example.org;Stadt Heidelberg;08221000;69117;Heidelberg",
    ))  # fmt: skip

    assert outcome.dry_counts == counts(create=1)
    assert any("Organisation „Stadt Heidelberg“ wird angelegt" in line.message for line in outcome.dry(2))
    assert outcome.counts == counts(create=1)
    [heidelberg] = organizations_named(db, "Stadt Heidelberg")
    assert heidelberg.kind == OrganizationKind.municipality
    assert heidelberg.ags == "08221000"
    assert (heidelberg.state, heidelberg.postal_code, heidelberg.city) == ("08", "69117", "Heidelberg")
    assert [a.organization_id for a in person_by_email(db, "engel@example.org").affiliations] == [heidelberg.id]


def test_unknown_organization_without_ags_is_created_with_kind_other(db, office):
    outcome = run_import(
        db, office, csv_file("Nachname;E-Mail;Organisation", "Fuchs;fuchs@example.org;Digitalverein Nord")
    )

    assert outcome.counts == counts(create=1)
    [verein] = organizations_named(db, "Digitalverein Nord")
    assert verein.kind == OrganizationKind.other
    assert verein.ags is None


def test_a_row_with_only_an_organization_creates_the_organization(db, office):
    people_before = count(Person)

    outcome = run_import(db, office, csv_file(
        "Nachname;E-Mail;Organisation;AGS;Ort",
        ";;Gemeinde Musterdorf;09162000;Musterdorf",
    ))  # fmt: skip

    assert outcome.dry_counts == counts(create=1)
    assert outcome.counts == counts(create=1)
    [dorf] = organizations_named(db, "Gemeinde Musterdorf")
    assert dorf.kind == OrganizationKind.municipality
    assert (dorf.ags, dorf.state, dorf.city) == ("09162000", "09", "Musterdorf")
    assert count(Person) == people_before
    assert [line.label for line in outcome.done(2)] == ["Gemeinde Musterdorf"]


def test_rows_of_one_new_organization_create_it_once(db, office):
    outcome = run_import(db, office, csv_file(
        "Nachname;E-Mail;Organisation",
        "Gans;gans@example.org;Netzwerk Süd",
        "Hahn;hahn@example.org;netzwerk süd",
    ))  # fmt: skip

    assert outcome.dry_counts == counts(create=2)
    assert "Organisation wie in Zeile 2" in [line.message for line in outcome.dry(3)]
    assert outcome.counts == counts(create=2)
    [netzwerk] = organizations_named(db, "Netzwerk Süd")
    assert {a.person.last_name for a in netzwerk.affiliations} == {"Gans", "Hahn"}


# --- wrong AGS: an error, and nothing written ----------------------------------------------------------


@pytest.mark.parametrize(
    ("ags", "state", "reason"),
    [
        ("5315000", "", "Der Amtliche Gemeindeschlüssel (AGS) muss aus genau 8 Ziffern bestehen."),
        ("05315000", "Bayern", "Der Amtliche Gemeindeschlüssel (AGS) 05315000 gehört zu Nordrhein-Westfalen (05), nicht zu Bayern (09)."),
    ],
)  # fmt: skip
def test_a_wrong_ags_is_an_error_on_the_ags_column_and_writes_nothing(db, office, ags, state, reason):
    people_before, orgs_before, audit_before = count(Person), count(Organization), count(AuditLog)

    outcome = run_import(db, office, csv_file(
        "Vorname;Nachname;E-Mail;Organisation;Gemeindeschlüssel;Bundesland;Themen;Newsletter",
        f"Ida;Igel;ida@example.org;Stadt Köln;{ags};{state};Bildung;ja",
        "Jan;Jansen;jan@example.org;;;;;",
    ))  # fmt: skip

    for result in (outcome.dry(2), outcome.done(2)):
        assert [(line.action, line.column, line.message) for line in result] == [
            ("error", "Gemeindeschlüssel", reason)
        ]
    assert outcome.dry_counts == outcome.counts == counts(create=1, error=1)
    assert person_by_email(db, "ida@example.org") is None
    assert organizations_named(db, "Stadt Köln") == []
    assert count(Person) == people_before + 1  # only Jan
    assert count(Organization) == orgs_before
    assert db.session.scalar(sa.select(Tag).where(Tag.name == "Bildung")) is None
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Consent)) == 0
    new_entries = db.session.scalars(sa.select(AuditLog).order_by(AuditLog.id).offset(audit_before))
    assert {e.entity_label for e in new_entries} == {"Jan Jansen"}


def test_an_organization_found_by_name_with_another_ags_is_an_error_and_writes_nothing(db, make, office):
    make.organization(name="Stadt Köln", kind=OrganizationKind.municipality, ags="05315000", state="05")
    people_before, orgs_before = count(Person), count(Organization)

    outcome = run_import(db, office, csv_file(
        "Nachname;E-Mail;Organisation;AGS",
        "Kern;kern@example.org;Stadt Köln;05111000",
    ))  # fmt: skip

    assert outcome.dry_counts == outcome.counts == counts(error=1)
    [line] = outcome.done(2)
    assert (line.action, line.column) == ("error", "AGS")
    assert line.message == "Stadt Köln hat den AGS 05315000, nicht 05111000."
    assert (count(Person), count(Organization)) == (people_before, orgs_before)


# --- field checks: each an error on its column, with a German reason -----------------------------------

HEADER = "Anrede;Vorname;Nachname;E-Mail;Telefon;Organisation;PLZ;Newsletter"


@pytest.mark.parametrize(
    ("row", "column", "reason"),
    [
        (";Lea;Lang;lea@example;;;;", "E-Mail", "Bitte geben Sie eine gültige E-Mail-Adresse an (z. B. name@example.org)."),
        (";Lea;Lang;lea@example.org;abc;;;", "Telefon", "Bitte nur Ziffern, Leerzeichen und + ( ) / - verwenden"),
        (";Lea;Lang;lea@example.org;;Stadt Ulm;123;", "PLZ", "Eine deutsche Postleitzahl hat genau 5 Ziffern."),
        ("Hr. Dr.;Lea;Lang;lea@example.org;;;;", "Anrede", "Unbekannte Anrede „Hr. Dr.“ (erlaubt: Frau, Herr, divers)."),
        (";Lea;Lang;lea@example.org;;;;vielleicht", "Newsletter", "Bitte „ja“ oder „nein“ angeben, nicht „vielleicht“."),
        (";Lea;;lea@example.org;;;;", "Nachname", "Der Nachname fehlt."),
    ],
    ids=["email", "phone", "plz", "salutation", "newsletter", "last-name"],
)
def test_a_bad_value_is_an_error_naming_the_column_with_a_german_reason(db, office, row, column, reason):
    people_before, orgs_before = count(Person), count(Organization)

    outcome = run_import(db, office, csv_file(HEADER, row, ";Max;Muster;max@example.org;;;;"))

    assert outcome.dry_counts == outcome.counts == counts(create=1, error=1)
    for result in (outcome.dry(2), outcome.done(2)):
        [line] = result
        assert (line.action, line.column) == ("error", column)
        assert line.message.startswith(reason)
    assert person_by_email(db, "lea@example.org") is None
    assert organizations_named(db, "Stadt Ulm") == []
    assert count(Person) == people_before + 1
    assert count(Organization) == orgs_before


def test_accepted_spellings_of_salutation_and_newsletter(db, office):
    outcome = run_import(db, office, csv_file(
        "Anrede;Nachname;E-Mail;Newsletter",
        "Hr.;Herrmann;herrmann@example.org;Ja",
        "Frau;Frei;frei@example.org;x",
        "divers;Dorn;dorn@example.org;nein",
    ))  # fmt: skip

    assert outcome.counts == counts(create=3)
    assert person_by_email(db, "herrmann@example.org").salutation == Salutation.herr
    assert person_by_email(db, "herrmann@example.org").newsletter_consent is True
    assert person_by_email(db, "frei@example.org").salutation == Salutation.frau
    assert person_by_email(db, "frei@example.org").newsletter_consent is True
    assert person_by_email(db, "dorn@example.org").salutation == Salutation.divers


# --- duplicates within the file -----------------------------------------------------------------------


@pytest.mark.parametrize("batch_size", [10_000, 1], ids=["one-batch", "a-batch-per-row"])
def test_the_same_person_twice_in_the_file_is_one_person(db, office, monkeypatch, batch_size):
    monkeypatch.setattr(processor, "BATCH_SIZE", batch_size)
    people_before = count(Person)

    outcome = run_import(db, office, csv_file(
        "Vorname;Nachname;E-Mail",
        "Nina;Nowak;nina@example.org",
        "Nina;Nowak;NINA@example.org",
        "Nina;Nowak;",
    ))  # fmt: skip

    assert outcome.dry_counts == outcome.counts == counts(create=1, unchanged=2)
    for result in (outcome.dry, outcome.done):
        for row in (3, 4):
            assert [(line.action, line.message) for line in result(row)] == [("unchanged", "gleiche Person wie Zeile 2")]
    assert count(Person) == people_before + 1


def test_a_duplicate_row_with_more_data_is_reported_the_same_in_dry_run_and_import(db, office):
    """The dry run must not call a row "unverändert" that the import then changes."""
    outcome = run_import(db, office, csv_file(
        "Vorname;Nachname;E-Mail;Telefon",
        "Nina;Nowak;nina@example.org;",
        "Nina;Nowak;nina@example.org;030 9876543",
    ))  # fmt: skip

    assert outcome.counts == outcome.dry_counts
    assert len(people_named(db, "Nowak")) == 1


# --- topics, consents, audit ---------------------------------------------------------------------------


def test_topics_are_added_and_never_removed(db, make, office):
    bildung, klima = Tag(name="Bildung"), Tag(name="Klima")
    db.session.add_all([bildung, klima])
    olaf = make.person(first_name="Olaf", last_name="Ost", email="olaf@example.org")
    olaf.tags = [bildung, klima]
    db.session.flush()

    outcome = run_import(db, office, csv_file(
        "Nachname;E-Mail;Themen",
        "Ost;olaf@example.org;Mobilität, Bildung",
        'Neu;neu@example.org;"Mobilität; Digitales"',
    ))  # fmt: skip

    assert "Themen: + Mobilität" in [line.message for line in outcome.dry(2)]
    assert outcome.counts == counts(create=1, update=1)
    olaf = fresh(db, olaf)
    assert [t.name for t in olaf.tags] == ["Bildung", "Klima", "Mobilität"]
    assert [t.name for t in person_by_email(db, "neu@example.org").tags] == ["Digitales", "Mobilität"]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Tag).where(Tag.name == "Mobilität")) == 1


def test_topics_in_another_case_than_stored_are_not_added_twice(db, make, office):
    bildung = Tag(name="Bildung")
    db.session.add(bildung)
    olaf = make.person(first_name="Olaf", last_name="Ost", email="olaf@example.org", phone=None)
    olaf.tags = [bildung]
    db.session.flush()

    outcome = run_import(
        db, office, csv_file("Nachname;E-Mail;Telefon;Themen", "Ost;olaf@example.org;030 555555;bildung, Klima")
    )

    assert outcome.dry_counts == outcome.counts == counts(update=1)
    olaf = fresh(db, olaf)
    assert [t.name for t in olaf.tags] == ["Bildung", "Klima"]
    assert olaf.phone == "030 555555"


def test_newsletter_yes_writes_an_import_consent_with_the_file_as_source(db, make, office):
    known = make.person(first_name="Paula", last_name="Peters", email="paula@example.org")

    outcome = run_import(db, office, csv_file(
        "Nachname;E-Mail;Newsletter",
        "Peters;paula@example.org;ja",
        "Quast;quast@example.org;Ja",
    ), filename="Mitglieder Mai.csv")  # fmt: skip

    assert "Newsletter-Einwilligung: erteilt" in [line.message for line in outcome.dry(2)]
    assert outcome.counts == counts(create=1, update=1)
    new = person_by_email(db, "quast@example.org")
    for person in (fresh(db, known), new):
        assert person.newsletter_consent is True
        [consent] = db.session.scalars(sa.select(Consent).where(Consent.person_id == person.id)).all()
        assert consent.channel == ConsentChannel.newsletter
        assert consent.granted is True
        assert consent.method == ConsentMethod.import_
        assert consent.source == "Import Mitglieder Mai.csv"
        assert consent.email == person.email
        assert consent.recorded_by_id == office.id


def test_every_created_and_changed_record_is_audited_with_the_office_user(db, make, office):
    known = make.person(first_name="Rita", last_name="Roth", email="rita@example.org", phone=None)
    audit_before = count(AuditLog)

    run_import(db, office, csv_file(
        "Nachname;E-Mail;Telefon;Organisation;AGS;Funktion;Themen;Newsletter",
        "Roth;rita@example.org;030 444444;;;;;",
        "Sauer;sauer@example.org;;Stadt Heidelberg;08221000;Bürgermeister;Bildung;ja",
    ))  # fmt: skip

    entries = db.session.scalars(sa.select(AuditLog).order_by(AuditLog.id).offset(audit_before)).all()
    assert {e.actor_id for e in entries} == {office.id}
    sauer = person_by_email(db, "sauer@example.org")
    [heidelberg] = organizations_named(db, "Stadt Heidelberg")
    [affiliation] = sauer.affiliations
    seen = {(e.action, e.entity_type, e.entity_id) for e in entries}
    assert ("update", "people", known.id) in seen
    assert ("create", "people", sauer.id) in seen
    assert ("create", "organizations", heidelberg.id) in seen
    assert ("create", "affiliations", affiliation.id) in seen
    assert ("consent", "people", sauer.id) in seen
    rita_update = next(e for e in entries if (e.action, e.entity_id) == ("update", known.id))
    assert rita_update.changes == {"phone": [None, "030 444444"]}


def test_the_dry_run_writes_nothing(db, make, office):
    make.person(first_name="Tom", last_name="Tal", email="tom@example.org", phone=None)
    models = (Person, Organization, Affiliation, Tag, Consent, AuditLog)
    before = [count(model) for model in models]

    outcome = run_import(db, office, csv_file(
        "Nachname;E-Mail;Telefon;Organisation;AGS;Themen;Newsletter",
        "Tal;tom@example.org;030 333333;Stadt Heidelberg;08221000;Bildung;ja",
        "Uhl;uhl@example.org;;Stadt Heidelberg;08221000;Klima;ja",
    ), dry_run_only=True)  # fmt: skip

    assert outcome.dry_counts == counts(create=1, update=1)
    assert [count(model) for model in models] == before
    assert person_by_email(db, "tom@example.org").phone is None




def test_a_topic_written_twice_in_one_cell_is_one_topic(db, office):
    outcome = run_import(db, office, csv_file("Nachname;E-Mail;Themen", "Voss;voss@example.org;Bildung, bildung"))

    assert outcome.dry_counts == outcome.counts == counts(create=1)
    assert [t.name for t in person_by_email(db, "voss@example.org").tags] == ["Bildung"]


def test_a_value_too_long_for_its_field_is_an_error_on_its_column_and_the_rest_is_imported(db, office):
    """A 270-character Funktion does not fit the 200 characters the database keeps."""
    outcome = run_import(db, office, csv_file(
        "Nachname;E-Mail;Organisation;Funktion",
        f"Voss;voss@example.org;Stadt Ulm;{'Leiterin ' * 30}",
        "Wolf;wolf@example.org;;",
    ))  # fmt: skip

    for result in (outcome.dry(2), outcome.done(2)):
        assert [(line.action, line.column) for line in result] == [("error", "Funktion")]
    assert outcome.dry_counts == outcome.counts == counts(create=1, error=1)
    assert person_by_email(db, "voss@example.org") is None
    assert organizations_named(db, "Stadt Ulm") == []
    assert person_by_email(db, "wolf@example.org") is not None
