"""Finding people who are probably the same: Kölner Phonetik, the warning before saving a new person,
the list of likely pairs with "kein Duplikat", and the warning in the import dry run.

Everything is read the way the office reads it: the warning on the form, the pairs on
/personen/duplikate/, the row messages of the dry run; and the database says what was created.
"""
import re

import pytest
import sqlalchemy as sa

from crm.contacts.models import Affiliation, DuplicateDismissal, Person
from crm.contacts.search import cologne_phonetic
from tests.conftest import count
from tests.contacts.pages import flashes, main_form
from tests.contacts.test_import_flow import csv_file, shown_rows, start_dry_run, uploaded_job
from tests.html import page_text

WARNING = "Diese Person gibt es vielleicht schon"


@pytest.fixture()
def office(login):
    return login("office")


def person_at(make, organization, first_name, last_name, **kw):
    person = make.person(first_name=first_name, last_name=last_name, **kw)
    make.affiliation(person, organization)
    return person


def new_person(**fields) -> dict:
    return {"salutation": "herr", "title": "", "email": "", "phone": "", "mobile": "", "fax": "", "notes": "",
            "position": "", **fields}  # fmt: skip


def warning_items(markup: str) -> list[str]:
    """The lines of the duplicate warning on the create form ([] when there is no warning)."""
    block = re.search(r'<div class="form-errors duplicate-warning"[^>]*>(.*?)</div>', markup, flags=re.S)
    items = re.findall(r"<li>(.*?)</li>", block.group(1), flags=re.S) if block else []
    return [page_text(item).replace(" , ", ", ") for item in items]  # "</a>, Org": no space before the comma


def listed_pairs(markup: str) -> dict[tuple[int, int], str]:
    """The pairs on /personen/duplikate/: {(id of first, id of second): text of the line}."""
    pairs = {}
    for item in re.findall(r'<li class="duplicate-pair">(.*?)</li>', markup, flags=re.S):
        ids = [int(i) for i in re.findall(r'<a href="/personen/(\d+)">', item)]
        pairs[tuple(ids)] = page_text(item)
    return pairs


def duplicates_page(client) -> str:
    response = client.get("/personen/duplikate/")
    assert response.status_code == 200
    return response.get_data(as_text=True)


# --- Kölner Phonetik -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("names", "code"),
    [
        (("Meier", "Meyer", "Maier", "Mayr"), "67"),
        (("Schmidt", "Schmitt", "Schmid"), "862"),
        (("Müller", "Mueller", "MÜLLER", "müller"), "657"),
        (("Wikipedia",), "3412"),
        (("Müller-Lüdenscheidt",), "65752682"),
        (("", None, "  ", "-"), ""),
    ],
)
def test_cologne_phonetic(names, code):
    assert [cologne_phonetic(name) for name in names] == [code] * len(names)


def test_cologne_phonetic_tells_different_names_apart():
    assert len({cologne_phonetic(n) for n in ("Meier", "Schmidt", "Müller", "Becker", "Wagner")}) == 5


# --- the warning before saving a new person --------------------------------------------------------------


def test_same_name_at_same_organization_is_shown_and_nothing_is_created(client, db, make, office):
    rathaus = make.organization(name="Stadtverwaltung Musterstadt", city="Musterstadt")
    hans = person_at(make, rathaus, "Hans", "Meier")
    people, roles = count(Person), count(Affiliation)

    response = client.post("/personen/neu", data=new_person(first_name="Hans", last_name="Meier", organization=rathaus.name))

    assert response.status_code == 200
    markup = response.get_data(as_text=True)
    assert WARNING in page_text(markup)
    assert warning_items(markup) == ["Hans Meier, Stadtverwaltung Musterstadt – gleicher Name bei Stadtverwaltung Musterstadt"]
    assert f'<a href="/personen/{hans.id}">Hans Meier</a>' in markup
    assert 'name="confirm_duplicate" value="1"' in markup
    assert (count(Person), count(Affiliation)) == (people, roles)


def test_confirming_the_warning_creates_the_person_with_the_role(client, db, make, office):
    rathaus = make.organization(name="Stadtverwaltung Musterstadt", city="Musterstadt")
    hans = person_at(make, rathaus, "Hans", "Meier")
    typed = new_person(first_name="Hans", last_name="Meier", organization=rathaus.name, position="Kämmerer", email="hans.meier2@example.org")
    warned = client.post("/personen/neu", data=typed).get_data(as_text=True)
    assert warning_items(warned)

    form = main_form(warned)  # what the browser sends again: the typed values are kept
    assert (form["first_name"], form["last_name"], form["organization"], form["position"]) == ("Hans", "Meier", rathaus.name, "Kämmerer")
    response = client.post("/personen/neu", data={**form, "confirm_duplicate": "1"})

    assert response.status_code == 302
    created = db.session.scalar(sa.select(Person).where(Person.last_name == "Meier", Person.id != hans.id))
    assert response.headers["Location"] == f"/personen/{created.id}"
    assert created.email == "hans.meier2@example.org"
    assert [(a.organization_id, a.position, a.is_primary) for a in created.affiliations] == [(rathaus.id, "Kämmerer", True)]
    assert "Hans Meier wurde angelegt." in flashes(client.get(response.headers["Location"]).get_data(as_text=True))


def test_similar_name_at_another_organization_in_the_same_city_is_shown(client, db, make, office):
    rathaus = make.organization(name="Stadtverwaltung Musterstadt", city="Musterstadt")
    stadtwerke = make.organization(name="Energieversorgung Musterstadt GmbH", city="Musterstadt")
    hans = person_at(make, rathaus, "Hans", "Meier")
    person_at(make, rathaus, "Jens", "Meier")  # first name two letters apart: not the same person
    people = count(Person)

    response = client.post("/personen/neu", data=new_person(first_name="Hanns", last_name="Meyer", organization=stadtwerke.name))

    markup = response.get_data(as_text=True)
    assert response.status_code == 200
    assert warning_items(markup) == [
        "Hans Meier, Stadtverwaltung Musterstadt – ähnlicher Name (Hans Meier) und gleicher Ort (Musterstadt)"
    ]
    assert f'href="/personen/{hans.id}"' in markup
    assert count(Person) == people


def test_similar_name_in_a_city_beginning_with_an_umlaut_is_shown(client, db, make, office):
    """The city is compared in lower case: "Überlingen" must match "Überlingen" on every database."""
    rathaus = make.organization(name="Stadtverwaltung Überlingen", city="Überlingen")
    kurverwaltung = make.organization(name="Kur- und Touristik Überlingen GmbH", city="Überlingen")
    person_at(make, rathaus, "Hans", "Meier")

    response = client.post("/personen/neu", data=new_person(first_name="Hanns", last_name="Meyer", organization=kurverwaltung.name))

    assert response.status_code == 200, "created without a warning"
    assert warning_items(response.get_data(as_text=True)) == [
        "Hans Meier, Stadtverwaltung Überlingen – ähnlicher Name (Hans Meier) und gleicher Ort (Überlingen)"
    ]


def test_same_name_in_another_city_is_not_shown(client, db, make, office):
    bremen = make.organization(name="Senatskanzlei Bremen", city="Bremen")
    hamburg = make.organization(name="Senatskanzlei Hamburg", city="Hamburg")
    person_at(make, bremen, "Hans", "Meier")
    people = count(Person)

    response = client.post("/personen/neu", data=new_person(first_name="Hans", last_name="Meier", organization=hamburg.name))

    assert response.status_code == 302  # saved at once, no warning
    assert count(Person) == people + 1


# --- the list of likely pairs -------------------------------------------------------------------------------


@pytest.fixture()
def pairs(make):
    """Hans Meier and Hanns Meyer in Musterstadt (similar), two Petra Schmidts at one association
    (same name), and a Hans Meier in Bremen and a Jens Meier in Musterstadt that pair with no one."""
    rathaus = make.organization(name="Stadtverwaltung Musterstadt", city="Musterstadt")
    stadtwerke = make.organization(name="Energieversorgung Musterstadt GmbH", city="Musterstadt")
    verband = make.organization(name="Landkreistag Nordland", city="Nordhausen")
    bremen = make.organization(name="Senatskanzlei Bremen", city="Bremen")
    people = {
        "hans": person_at(make, rathaus, "Hans", "Meier"),
        "hanns": person_at(make, stadtwerke, "Hanns", "Meyer"),
        "petra": person_at(make, verband, "Petra", "Schmidt"),
        "petra2": person_at(make, verband, "Petra", "Schmidt"),
        "bremen": person_at(make, bremen, "Hans", "Meier"),
        "jens": person_at(make, rathaus, "Jens", "Meier"),
    }
    return people


def test_duplicates_page_lists_likely_pairs_with_their_reasons(client, db, office, pairs):
    shown = listed_pairs(duplicates_page(client))

    hans, hanns, petra, petra2 = pairs["hans"], pairs["hanns"], pairs["petra"], pairs["petra2"]
    assert set(shown) == {(hans.id, hanns.id), (petra.id, petra2.id)}
    assert shown[(hans.id, hanns.id)].startswith("Hans Meier") and " und Hanns Meyer" in shown[(hans.id, hanns.id)]
    assert "ähnlicher Name (Hanns Meyer) und gleicher Ort (Musterstadt)" in shown[(hans.id, hanns.id)]
    assert "gleicher Name bei Landkreistag Nordland" in shown[(petra.id, petra2.id)]


def test_no_duplicate_removes_the_pair_for_good(client, db, make, office, pairs):
    hans, hanns, petra, petra2 = pairs["hans"], pairs["hanns"], pairs["petra"], pairs["petra2"]

    response = client.post(f"/personen/duplikate/{hans.id}/{hanns.id}/kein-duplikat", follow_redirects=True)

    markup = response.get_data(as_text=True)
    assert response.request.path == "/personen/duplikate/"
    assert "Hans Meier und Hanns Meyer werden nicht mehr als mögliches Duplikat vorgeschlagen." in flashes(markup)
    assert set(listed_pairs(markup)) == {(petra.id, petra2.id)}
    # For good: also after other changes, and whichever way round the pair is named.
    person_at(make, hans.affiliations[0].organization, "Hanns", "Meier")
    assert (hans.id, hanns.id) not in listed_pairs(duplicates_page(client))
    client.post(f"/personen/duplikate/{petra2.id}/{petra.id}/kein-duplikat")
    client.post(f"/personen/duplikate/{petra2.id}/{petra.id}/kein-duplikat")  # twice: no error, one record
    assert (petra.id, petra2.id) not in listed_pairs(duplicates_page(client))
    assert count(DuplicateDismissal) == 2


def test_no_duplicate_for_an_unknown_person_is_404(client, db, office, pairs):
    assert client.post(f"/personen/duplikate/{pairs['hans'].id}/999999/kein-duplikat").status_code == 404
    assert count(DuplicateDismissal) == 0


# --- the import dry run -----------------------------------------------------------------------------------------


def test_import_dry_run_marks_a_new_person_who_probably_exists(client, db, make, office):
    rathaus = make.organization(name="Stadtverwaltung Musterstadt", city="Musterstadt")
    stadtwerke = make.organization(name="Energieversorgung Musterstadt GmbH", city="Musterstadt")
    hans = person_at(make, rathaus, "Hans", "Meier")
    people = count(Person)
    job_id = uploaded_job(client, csv_file(
        "Vorname;Nachname;E-Mail;Organisation",
        f"Hanns;Meyer;hanns.meyer@example.org;{stadtwerke.name}",
        f"Petra;Schmidt;petra.schmidt@example.org;{stadtwerke.name}",
    ))  # fmt: skip

    rows = shown_rows(start_dry_run(client, job_id))

    first = [r for r in rows if r[0] == 2]
    assert all(r[1] == first[0][1] for r in first)  # one action for the row
    hints = [r[4] for r in first]
    assert f"Achtung, mögliches Duplikat von Hans Meier (Nr. {hans.id}): ähnlicher Name (Hans Meier) und gleicher Ort (Musterstadt)" in hints
    assert not any("mögliches Duplikat" in r[4] for r in rows if r[0] == 3)
    assert count(Person) == people  # a dry run writes nothing
