"""German letter salutations and address blocks (DIN 5008 practice), as the office would write them."""
from datetime import date, timedelta

import pytest

from crm.contacts.models import Affiliation, Salutation
from crm.contacts.salutation import address_lines, letter_salutation

FRAU, HERR, DIVERS = Salutation.frau, Salutation.herr, Salutation.divers

# (salutation, title, first name, last name, position) -> opening line of the letter
SALUTATIONS = [
    # Offices, in the person's form (also when the position is stored in the male form)
    ("frau-buergermeisterin", FRAU, None, "Erika", "Muster", "Bürgermeisterin",
     "Sehr geehrte Frau Bürgermeisterin Muster"),
    ("frau-stored-male", FRAU, None, "Erika", "Muster", "Bürgermeister", "Sehr geehrte Frau Bürgermeisterin Muster"),
    ("herr-buergermeister", HERR, None, "Michael", "Dreier", "Bürgermeister",
     "Sehr geehrter Herr Bürgermeister Dreier"),
    ("herr-stored-female", HERR, None, "Michael", "Dreier", "Bürgermeisterin",
     "Sehr geehrter Herr Bürgermeister Dreier"),
    ("position-with-place", HERR, None, "Michael", "Dreier", "Bürgermeister der Stadt Paderborn",
     "Sehr geehrter Herr Bürgermeister Dreier"),
    ("position-odd-spacing", HERR, None, "Michael", "Dreier", "  bürgermeister ",
     "Sehr geehrter Herr Bürgermeister Dreier"),
    ("oberbuergermeister", HERR, None, "Max", "Muster", "Oberbürgermeister",
     "Sehr geehrter Herr Oberbürgermeister Muster"),
    ("oberbuergermeisterin", FRAU, None, "Erika", "Muster", "Oberbürgermeisterin",
     "Sehr geehrte Frau Oberbürgermeisterin Muster"),
    ("ob-stored-male-for-frau", FRAU, None, "Erika", "Muster", "Oberbürgermeister",
     "Sehr geehrte Frau Oberbürgermeisterin Muster"),
    ("erster-buergermeister", HERR, None, "Peter", "Tschentscher", "Erster Bürgermeister",
     "Sehr geehrter Herr Erster Bürgermeister Tschentscher"),
    ("landrat", HERR, None, "Christoph", "Rüther", "Landrat", "Sehr geehrter Herr Landrat Rüther"),
    ("landraetin", FRAU, None, "Eva", "Irrgang", "Landrätin", "Sehr geehrte Frau Landrätin Irrgang"),
    ("landrat-stored-male-for-frau", FRAU, None, "Eva", "Irrgang", "Landrat", "Sehr geehrte Frau Landrätin Irrgang"),
    ("staatssekretaer", HERR, None, "Jan", "Beispiel", "Staatssekretär", "Sehr geehrter Herr Staatssekretär Beispiel"),
    ("staatssekretaerin", FRAU, None, "Jana", "Beispiel", "Staatssekretärin",
     "Sehr geehrte Frau Staatssekretärin Beispiel"),
    ("stadtdirektorin", FRAU, None, "Nicole", "Huber", "Stadtdirektorin", "Sehr geehrte Frau Stadtdirektorin Huber"),
    ("ministerpraesidentin", FRAU, None, "Anke", "Beispiel", "Ministerpräsidentin",
     "Sehr geehrte Frau Ministerpräsidentin Beispiel"),
    # Academic titles: "Dr." once, "Professor" written out and replacing "Dr."
    ("dr", FRAU, "Dr.", "Anna", "Mohrbacher", None, "Sehr geehrte Frau Dr. Mohrbacher"),
    ("dr-without-dot", FRAU, "Dr", "Anna", "Mohrbacher", None, "Sehr geehrte Frau Dr. Mohrbacher"),
    ("prof-dr", HERR, "Prof. Dr.", "Max", "Beispiel", None, "Sehr geehrter Herr Professor Beispiel"),
    ("prof-dr-frau", FRAU, "Prof. Dr.", "Maria", "Beispiel", None, "Sehr geehrte Frau Professorin Beispiel"),
    ("prof-alone", HERR, "Prof.", "Max", "Beispiel", None, "Sehr geehrter Herr Professor Beispiel"),
    ("prof-dr-ing", HERR, "Prof. Dr.-Ing.", "Max", "Beispiel", None, "Sehr geehrter Herr Professor Beispiel"),
    ("dr-ing", HERR, "Dr.-Ing.", "Max", "Beispiel", None, "Sehr geehrter Herr Dr. Beispiel"),
    ("dr-med", FRAU, "Dr. med.", "Anna", "Beispiel", None, "Sehr geehrte Frau Dr. Beispiel"),
    ("dr-dr", HERR, "Dr. Dr.", "Max", "Beispiel", None, "Sehr geehrter Herr Dr. Beispiel"),
    ("dr-rer-nat-habil", HERR, "Dr. rer. nat. habil.", "Max", "Beispiel", None, "Sehr geehrter Herr Dr. Beispiel"),
    ("dipl-ing-ignored", HERR, "Dipl.-Ing.", "Max", "Beispiel", None, "Sehr geehrter Herr Beispiel"),
    ("dipl-ing-dr", HERR, "Dipl.-Ing. Dr.", "Max", "Beispiel", None, "Sehr geehrter Herr Dr. Beispiel"),
    # Office and doctorate together: office first
    ("office-and-dr", HERR, "Dr.", "Max", "Muster", "Oberbürgermeister",
     "Sehr geehrter Herr Oberbürgermeister Dr. Muster"),
    ("office-and-dr-frau", FRAU, "Dr.", "Erika", "Muster", "Bürgermeister",
     "Sehr geehrte Frau Bürgermeisterin Dr. Muster"),
    # Positions that are not offices of address
    ("leiterin-ob-buero", FRAU, None, "Anna", "Beispiel", "Leiterin des OB-Büros", "Sehr geehrte Frau Beispiel"),
    ("projektleiterin", FRAU, None, "Anna", "Beispiel", "Projektleiterin", "Sehr geehrte Frau Beispiel"),
    ("sprecher", HERR, None, "Max", "Beispiel", "Sprecher", "Sehr geehrter Herr Beispiel"),
    ("stellvertretender", HERR, None, "Max", "Beispiel", "Stellvertretender Bürgermeister",
     "Sehr geehrter Herr Beispiel"),
    ("hyphenated-deputy", HERR, None, "Max", "Beispiel", "Bürgermeister-Stellvertreter", "Sehr geehrter Herr Beispiel"),
    ("hyphenated-candidate", FRAU, None, "Anna", "Beispiel", "Oberbürgermeister-Kandidatin",
     "Sehr geehrte Frau Beispiel"),
    ("buergermeisteramt", FRAU, None, "Anna", "Beispiel", "Bürgermeisteramt, Sachbearbeitung",
     "Sehr geehrte Frau Beispiel"),
    ("referent-des-landrats", HERR, "Dr.", "Max", "Beispiel", "Referent des Landrats",
     "Sehr geehrter Herr Dr. Beispiel"),
    # No known salutation: neutral, without title and office
    ("divers", DIVERS, "Dr.", "Kim", "Beispiel", "Bürgermeister", "Guten Tag Kim Beispiel"),
    ("none", None, "Prof. Dr.", "Kim", "Beispiel", "Landrat", "Guten Tag Kim Beispiel"),
    ("none-no-first-name", None, None, None, "Beispiel", None, "Guten Tag Beispiel"),
    ("divers-no-first-name", DIVERS, None, None, "Beispiel", None, "Guten Tag Beispiel"),
    # Stored as plain strings (form data) instead of the enum
    ("plain-string-frau", "frau", "Dr.", "Anna", "Mohrbacher", None, "Sehr geehrte Frau Dr. Mohrbacher"),
]


@pytest.mark.parametrize(
    ("salutation", "title", "first_name", "last_name", "position", "expected"),
    [case[1:] for case in SALUTATIONS],
    ids=[case[0] for case in SALUTATIONS],
)
def test_letter_salutation(salutation, title, first_name, last_name, position, expected):
    assert letter_salutation(salutation, title, first_name, last_name, position) == expected


ADDRESSES = [
    ("herr", HERR, None, "Max", "Beispiel", None, ["Herrn", "Max Beispiel"]),
    ("frau", FRAU, None, "Erika", "Muster", None, ["Frau", "Erika Muster"]),
    ("herr-office", HERR, None, "Michael", "Dreier", "Bürgermeister", ["Herrn Bürgermeister", "Michael Dreier"]),
    ("frau-office-stored-male", FRAU, None, "Erika", "Muster", "Bürgermeister",
     ["Frau Bürgermeisterin", "Erika Muster"]),
    ("full-title-kept", HERR, "Prof. Dr.", "Max", "Beispiel", None, ["Herrn", "Prof. Dr. Max Beispiel"]),
    ("dr-ing-kept", FRAU, "Dr.-Ing.", "Anna", "Mohrbacher", None, ["Frau", "Dr.-Ing. Anna Mohrbacher"]),
    ("office-and-title", HERR, "Dr.", "Max", "Muster", "Oberbürgermeister",
     ["Herrn Oberbürgermeister", "Dr. Max Muster"]),
    ("no-office", FRAU, None, "Anna", "Beispiel", "Leiterin des OB-Büros", ["Frau", "Anna Beispiel"]),
    ("neutral", None, None, "Kim", "Beispiel", None, ["Kim Beispiel"]),
    ("divers-with-title-and-office", DIVERS, "Dr.", "Kim", "Beispiel", "Bürgermeister", ["Dr. Kim Beispiel"]),
]


@pytest.mark.parametrize(
    ("salutation", "title", "first_name", "last_name", "position", "expected"),
    [case[1:] for case in ADDRESSES],
    ids=[case[0] for case in ADDRESSES],
)
def test_address_lines(salutation, title, first_name, last_name, position, expected):
    assert address_lines(salutation, title, first_name, last_name, position) == expected


def _affiliation(db, person, organization, position, **kw):
    affiliation = Affiliation(person=person, organization=organization, position=position, **kw)
    db.session.add(affiliation)
    db.session.flush()
    return affiliation


def test_person_salutation_ignores_an_ended_office(db, make):
    person = make.person(salutation=HERR, first_name="Michael", last_name="Dreier")
    town = make.organization(name="Stadt Paderborn")
    last_year = date.today() - timedelta(days=365)
    _affiliation(db, person, town, "Bürgermeister", is_primary=True,
                 start_date=last_year - timedelta(days=2000), end_date=last_year)  # fmt: skip
    _affiliation(db, person, make.organization(), "Sprecher", start_date=last_year)

    assert person.letter_salutation == "Sehr geehrter Herr Dreier"
    assert person.address_lines == ["Herrn", "Michael Dreier"]


def test_person_salutation_uses_the_primary_current_affiliation(db, make):
    person = make.person(salutation=FRAU, first_name="Erika", last_name="Muster", title="Dr.")
    _affiliation(db, person, make.organization(), "Projektleiterin", start_date=date(2024, 1, 1))
    _affiliation(db, person, make.organization(name="Stadt Musterstadt"), "Bürgermeister",
                 is_primary=True, start_date=date(2020, 5, 1))  # fmt: skip
    db.session.expire(person, ["affiliations"])  # as loaded from the database

    assert person.letter_salutation == "Sehr geehrte Frau Bürgermeisterin Dr. Muster"
    assert person.address_lines == ["Frau Bürgermeisterin", "Dr. Erika Muster"]


def test_person_salutation_with_a_non_primary_office_uses_the_primary_position(db, make):
    person = make.person(salutation=HERR, first_name="Max", last_name="Muster")
    _affiliation(db, person, make.organization(), "Landrat", start_date=date(2024, 1, 1))
    _affiliation(db, person, make.organization(), "Vorsitzender des Fachausschusses", is_primary=True)
    db.session.expire(person, ["affiliations"])

    assert person.letter_salutation == "Sehr geehrter Herr Muster"


def test_person_salutation_ends_with_the_office_when_the_end_date_passes(db, make):
    person = make.person(salutation=FRAU, first_name="Nicole", last_name="Huber")
    # The end date is the day the role ended ("beenden" sets today): before it, she is in office.
    _affiliation(db, person, make.organization(), "Stadtdirektorin", is_primary=True, end_date=date.today() + timedelta(days=1))
    assert person.letter_salutation == "Sehr geehrte Frau Stadtdirektorin Huber"  # still in office today

    person.affiliations[0].end_date = date.today()
    assert person.letter_salutation == "Sehr geehrte Frau Huber"
