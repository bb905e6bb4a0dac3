"""Large files are imported in batches: an organization one batch created is used by the next, a batch whose
set-based write fails is written row by row, and new people written set-based get every audit entry and search
key. (Rows repeated across batches: test_import_rows.)

The batches here are two rows long, so that three-line files cross batch boundaries.
"""
import pytest
import sqlalchemy as sa

from crm.audit.models import AuditLog
from crm.contacts.imports import lookup, processor
from crm.contacts.models import Affiliation, Organization, Person
from crm.contacts.services.people import refresh_context_keys
from tests.conftest import count
from tests.contacts.test_import_rows import counts, csv_file, organizations_named, person_by_email, run_import


@pytest.fixture(autouse=True)
def small_batches(monkeypatch):
    monkeypatch.setattr(processor, "BATCH_SIZE", 2)


@pytest.fixture()
def office(make):
    return make.user(role="office", person=make.person(first_name="Olga", last_name="Office", email="olga@example.org"))


def test_an_organization_created_by_an_earlier_batch_is_not_created_again(db, office):
    outcome = run_import(db, office, csv_file(
        "Nachname;E-Mail;Organisation",
        "Gans;gans@example.org;Netzwerk Süd",
        "Ente;ente@example.org;",
        "Hahn;hahn@example.org;netzwerk süd",
    ))  # fmt: skip

    assert "Organisation wie in Zeile 2" in [line.message for line in outcome.dry(4)]
    assert outcome.counts == counts(create=3)
    [netzwerk] = organizations_named(db, "Netzwerk Süd")
    assert {a.person.last_name for a in netzwerk.affiliations} == {"Gans", "Hahn"}


def test_rows_of_an_organization_the_file_creates_are_reported_the_same_in_dry_run_and_import(db, office):
    """A later batch finds the organization an earlier one created; a person named there again is the same
    person, and a similar name there is not called a duplicate, as in the dry run, which cannot see them."""
    outcome = run_import(db, office, csv_file(
        "Vorname;Nachname;E-Mail;Organisation",
        "Gerd;Gans;;Netzwerk Nord",
        "Erik;Ente;ente@example.org;",
        "Gerd;Gans;;Netzwerk Nord",
        "Gerd;Ganz;ganz@example.org;Netzwerk Nord",
    ))  # fmt: skip

    for result in (outcome.dry, outcome.done):
        assert [(line.action, line.message) for line in result(4)] == [("unchanged", "gleiche Person wie Zeile 2")]
        assert "Person wird angelegt – Netzwerk Nord" in [line.message for line in result(5)]
        assert not [line for line in result(5) if "Duplikat" in line.message]
    [netzwerk] = organizations_named(db, "Netzwerk Nord")
    assert sorted(a.person.last_name for a in netzwerk.affiliations) == ["Gans", "Ganz"]


def test_a_person_created_meanwhile_fails_only_their_row_and_the_rest_is_written_one_by_one(db, make, office, monkeypatch):
    """Someone else adds a person with an address of the batch after it was looked up: the set-based write
    fails on the unique address, the rows are written one by one, and only that row is an error."""
    monkeypatch.setattr(processor, "BATCH_SIZE", 10)
    monkeypatch.setattr(lookup, "people_by_email", lambda emails: {})  # the lookup that missed her
    kim = make.person(first_name="Kim", last_name="Kern", email="kim@example.org", phone=None)
    audit_before = count(AuditLog)

    outcome = run_import(db, office, csv_file(
        "Nachname;E-Mail;Organisation;Telefon",
        "Albers;anna@example.org;Stadt Ulm;",
        "Kern;kim@example.org;Stadt Ulm;030 1234567",
        "Lang;lea@example.org;;",
    ))  # fmt: skip

    assert outcome.dry_counts == counts(create=3)
    assert outcome.counts == counts(create=2, error=1)
    [line] = outcome.done(3)
    assert (line.action, line.column, line.message) == ("error", "E-Mail", "Diese E-Mail-Adresse gehört bereits zu Kim Kern.")
    assert db.session.get(Person, kim.id, populate_existing=True).phone is None
    [ulm] = organizations_named(db, "Stadt Ulm")
    assert [a.person.last_name for a in ulm.affiliations] == ["Albers"]
    assert person_by_email(db, "lea@example.org") is not None
    labels = db.session.scalars(sa.select(AuditLog.entity_label).order_by(AuditLog.id).offset(audit_before)).all()
    assert sorted(labels) == ["Albers", "Albers – ohne Funktion (Stadt Ulm)", "Lang", "Stadt Ulm"]


def test_new_people_written_set_based_get_their_audit_entries_and_search_keys(db, office):
    audit_before = count(AuditLog)

    run_import(db, office, csv_file(
        "Anrede;Titel;Vorname;Nachname;E-Mail;Organisation;Funktion;Themen;Newsletter",
        "Frau;Dr.;Rita;Roth;rita@example.org;Stadt Heidelberg;Bürgermeisterin;Bildung;ja",
    ))  # fmt: skip

    rita = person_by_email(db, "rita@example.org")
    [role] = db.session.scalars(sa.select(Affiliation).where(Affiliation.person_id == rita.id)).all()
    heidelberg = db.session.get(Organization, role.organization_id)
    entries = db.session.scalars(sa.select(AuditLog).order_by(AuditLog.id).offset(audit_before)).all()
    changes = {(e.action, e.entity_type, e.entity_id): e.changes for e in entries}
    assert changes[("create", "people", rita.id)] == {
        "salutation": "frau", "title": "Dr.", "first_name": "Rita", "last_name": "Roth", "email": "rita@example.org",
    }  # fmt: skip
    assert changes[("update", "people", rita.id)] == {"tags": [[], ["Bildung"]]}
    assert changes[("consent", "people", rita.id)] == {"consent.newsletter": [None, "erteilt"]}
    assert changes[("create", "affiliations", role.id)] == {
        "person_id": rita.id, "organization_id": heidelberg.id, "position": "Bürgermeisterin", "is_primary": True,
    }  # fmt: skip
    labels = {(e.action, e.entity_type): e.entity_label for e in entries}
    assert labels[("create", "affiliations")] == "Dr. Rita Roth – Bürgermeisterin (Stadt Heidelberg)"
    assert rita.search_key == "rita roth rita@example.org"
    assert rita.context_key == "stadt heidelberg burgermeisterin"
    assert (rita.name_key, rita.name_phonetic, rita.newsletter_consent) == ("rita roth", "72", True)


def test_new_people_written_set_based_have_the_search_keys_of_people_entered_one_by_one(db, office):
    run_import(db, office, csv_file(
        "Vorname;Nachname;E-Mail;Organisation;Funktion",
        "José Ángel;Groß-Müller;jose@example.org;Gemeinde Öhringen;Kämmerer",
        "Zoë;  Ærø ;;;",
    ))  # fmt: skip

    people = db.session.scalars(sa.select(Person).where(Person.last_name.in_(["Groß-Müller", "Ærø"]))).all()
    assert len(people) == 2
    for person in people:
        imported = (person.search_key, person.name_key, person.name_phonetic, person.context_key)
        person.refresh_search_key()  # as the form saves a person
        refresh_context_keys([person.id])
        db.session.refresh(person)
        assert imported == (person.search_key, person.name_key, person.name_phonetic, person.context_key)
