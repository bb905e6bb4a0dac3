"""The text-search index (crm.contacts.search_index): a search through it finds exactly the people
whose keys hold every term, and it stays in step with every write: edits, roles, renamed and
deleted organizations, deleted people, merge and undo, and the set-based import."""
import pytest
import sqlalchemy as sa

from crm.contacts import filters
from crm.contacts.filters import PersonFilter
from crm.contacts.merge import merge_people, undo_merge
from crm.contacts.models import Person
from crm.contacts.search import fold
from crm.contacts.services import add_affiliation, delete_person, update_person
from crm.contacts.services.organizations import delete_organization, update_organization
from crm.contacts.services.people import end_affiliation
from crm.extensions import db
from tests.contacts.pages import listed_people, search_people, shown_count
from tests.contacts.test_import_flow import csv_file, start_dry_run, start_import, uploaded_job
from tests.html import page_text


def expected_names(q: str) -> list[str]:
    """What the list must show for `q`, worked out in Python from the stored keys: the people whose
    search_key or context_key holds each folded term, in name order."""
    terms = fold(q).split()
    people = db.session.scalars(sa.select(Person).order_by(Person.last_name, Person.first_name, Person.id))
    return [
        f"{p.last_name}, {p.first_name}" for p in people if all(t in p.search_key or t in p.context_key for t in terms)
    ]


def assert_index_in_step() -> None:
    """SQLite: the FTS5 index holds exactly the people's current keys (it raises "database disk
    image is malformed" otherwise). PostgreSQL maintains its GIN indexes itself."""
    if db.session.get_bind().dialect.name == "sqlite":
        db.session.execute(sa.text("INSERT INTO people_fts(people_fts, rank) VALUES ('integrity-check', 1)"))


@pytest.fixture()
def town(make, login):
    """People with roles in two organizations; the logged-in office user is one more person."""
    werk = make.organization(name="Zweckverband Wasserwerk", city="Talheim")
    kreis = make.organization(name="Landkreis Oberberg", city="Gummersbach")
    juergen = make.person(first_name="Jürgen", last_name="Müller", email="jm@example.net")
    make.affiliation(juergen, werk, position="Bürgermeister")
    karin = make.person(first_name="Karin", last_name="Mueller", email="k.m@example.net")
    make.affiliation(karin, kreis, position="Pressesprecherin")
    helga = make.person(first_name="Helga", last_name="Groß", email="helga@gross-gerau.example")
    rita = make.person(first_name="Rita", last_name="Rabatt", email="rabatt100%@example.org")
    anna = make.person(first_name="Anna", last_name="Unterstrich", email="a_b@example.org")
    axel = make.person(first_name="Axel", last_name="Ohnestrich", email="axb@example.org")
    login("office", person=make.person(first_name="Olga", last_name="Office", email="olga@example.org"))
    return {"werk": werk, "kreis": kreis, "juergen": juergen, "karin": karin, "helga": helga, "rita": rita,
            "anna": anna, "axel": axel}  # fmt: skip


QUERIES = [
    "muller", "Müller", "MUELLER", "mül", "ller", "gross", "Groß", "wasserwerk", "zweckverband talheim",
    "müller talheim", "bürgermeister", "oberberg mueller", "example", "example.net", "niemand", "mu", "l",
    "%", "_", "0%", "a_b", "100%", "rabatt100%", "a%b", "ab", '"', 'x"yz', "xyz\\", "gummersbach pressesprecherin",
]  # fmt: skip


@pytest.mark.parametrize("broad", [False, True], ids=["hits sorted", "name index walked"])
@pytest.mark.parametrize("q", QUERIES)
def test_search_finds_exactly_the_people_whose_keys_hold_every_term(client, town, monkeypatch, q, broad):
    if broad:  # every search counts as broad: its page is read by walking the name index
        monkeypatch.setattr(filters, "BROAD_HITS", 1)
    expected = expected_names(q)
    assert search_people(client, q) == (len(expected), expected)


def test_wildcards_typed_by_users_are_literal(client, town):
    assert search_people(client, "a_b") == (1, ["Unterstrich, Anna"])
    assert search_people(client, "_") == (1, ["Unterstrich, Anna"])
    assert search_people(client, "100%") == (1, ["Rabatt, Rita"])
    assert search_people(client, "%") == (1, ["Rabatt, Rita"])


@pytest.mark.parametrize("broad", [False, True], ids=["hits sorted", "name index walked"])
def test_later_pages_of_a_search(client, town, monkeypatch, broad):
    if broad:
        monkeypatch.setattr(filters, "BROAD_HITS", 1)
    expected = expected_names("example")
    assert len(expected) == 7
    assert search_people(client, "example", per_page=3, page=2) == (7, expected[3:6])
    assert search_people(client, "example", per_page=3, page=3) == (7, expected[6:])
    assert search_people(client, "example", per_page=3, page=4) == (7, [])


def test_a_very_broad_search_counts_up_to_the_limit_and_says_so(client, town, monkeypatch):
    monkeypatch.setattr(filters, "COUNTED_HITS", 4)
    expected = expected_names("example")  # 7 people

    markup = client.get("/personen/", query_string={"q": "example", "per_page": 2}).get_data(as_text=True)
    assert "mehr als 4 Personen" in page_text(markup)
    assert "Seite 1 von mehr als 2" in page_text(markup)
    assert (shown_count(markup), listed_people(markup)) == (4, expected[:2])
    assert 'rel="next"' in markup

    # Beyond the limit the count reaches the end of the page shown, so the next page is certain.
    markup = client.get("/personen/", query_string={"q": "example", "per_page": 2, "page": 3}).get_data(as_text=True)
    assert "mehr als 6 Personen" in page_text(markup) and "Seite 3 von mehr als 3" in page_text(markup)
    assert listed_people(markup) == expected[4:6] and 'rel="next"' in markup

    markup = client.get("/personen/", query_string={"q": "example", "per_page": 2, "page": 4}).get_data(as_text=True)
    assert "mehr als" not in page_text(markup)
    assert (shown_count(markup), listed_people(markup)) == (7, expected[6:])
    assert "Seite 4 von 4" in page_text(markup) and 'rel="next"' not in markup


def test_a_search_with_as_many_hits_as_counted_shows_the_exact_count(client, town, monkeypatch):
    monkeypatch.setattr(filters, "COUNTED_HITS", 7)
    markup = client.get("/personen/", query_string={"q": "example"}).get_data(as_text=True)
    assert "mehr als" not in page_text(markup)
    assert shown_count(markup) == 7


def test_renamed_organization_finds_its_people_under_the_new_name_only(client, db, town):
    update_organization(town["werk"], {"name": "Zweckverband Klärwerk"}, actor=None)
    db.session.commit()
    assert search_people(client, "wasserwerk") == (0, [])
    assert search_people(client, "klaerwerk") == (1, ["Müller, Jürgen"])
    assert search_people(client, "zweckverband") == (1, ["Müller, Jürgen"])
    assert_index_in_step()


def test_deleted_organization_is_no_longer_found(client, db, town):
    delete_organization(town["kreis"], actor=None)
    db.session.commit()
    assert search_people(client, "oberberg") == (0, [])
    assert search_people(client, "karin") == (1, ["Mueller, Karin"])
    assert_index_in_step()


def test_edited_person_is_found_under_the_new_name_and_address_only(client, db, town):
    update_person(town["juergen"], {"last_name": "Lüdenscheidt", "email": "neu@beispiel.example"}, actor=None)
    db.session.commit()
    assert search_people(client, "muller") == (1, ["Mueller, Karin"])
    assert search_people(client, "jm@example") == (0, [])
    assert search_people(client, "ludenscheidt") == (1, ["Lüdenscheidt, Jürgen"])
    assert search_people(client, "beispiel.example") == (1, ["Lüdenscheidt, Jürgen"])
    assert_index_in_step()


def test_ended_role_and_new_role(client, db, town):
    end_affiliation(town["juergen"].affiliations[0], actor=None)
    add_affiliation(town["helga"], town["werk"], actor=None, position="Kämmerin")
    db.session.commit()
    assert search_people(client, "wasserwerk") == (1, ["Groß, Helga"])
    assert search_people(client, "burgermeister") == (0, [])
    assert search_people(client, "kammerin talheim") == (1, ["Groß, Helga"])
    assert_index_in_step()


def test_deleted_person_is_no_longer_found(client, db, town):
    delete_person(town["karin"], actor=None)
    db.session.commit()
    assert search_people(client, "oberberg") == (0, [])
    assert search_people(client, "mueller") == (1, ["Müller, Jürgen"])
    assert_index_in_step()


def test_merge_and_its_undo_keep_the_index_in_step(client, db, town):
    merge = merge_people(town["juergen"], town["karin"], choices={}, actor=None)
    db.session.commit()
    assert search_people(client, "oberberg") == (1, ["Müller, Jürgen"])  # Karin's role moved over
    assert search_people(client, "karin") == (0, [])
    assert_index_in_step()

    undo_merge(merge, actor=None)  # (person, what could not be given back)
    db.session.commit()
    assert search_people(client, "oberberg") == (1, ["Mueller, Karin"])
    assert search_people(client, "karin") == (1, ["Mueller, Karin"])
    assert_index_in_step()


def test_imported_people_are_found(client, town):
    job_id = uploaded_job(client, csv_file(
        "Vorname;Nachname;E-Mail;Funktion;Organisation",
        "Ida;Importa;ida@import.example;Kämmerin;Zweckverband Wasserwerk",
        "Ole;Importo;ole@import.example;Referent;Gemeinde Neuimport",
    ))  # fmt: skip
    start_dry_run(client, job_id)
    start_import(client, job_id)
    assert search_people(client, "import") == (2, ["Importa, Ida", "Importo, Ole"])
    assert search_people(client, "wasserwerk kammerin") == (1, ["Importa, Ida"])
    assert search_people(client, "neuimport") == (1, ["Importo, Ole"])
    assert_index_in_step()


def test_search_uses_the_text_search_index(db, town):
    """The plan reads the index, so a search does not scan every person (the speed target)."""
    statement = PersonFilter(q="wasserwerk").statement()
    sql = statement.compile(db.session.connection(), compile_kwargs={"literal_binds": True})
    if db.session.get_bind().dialect.name == "sqlite":
        plan = db.session.execute(sa.text(f"EXPLAIN QUERY PLAN {sql}")).all()
        assert any("people_fts VIRTUAL TABLE" in row.detail for row in plan), plan
    else:
        # Planned with the search terms, not once for all terms (search_index.lookup).
        assert db.session.scalar(sa.text("SHOW plan_cache_mode")) == "force_custom_plan"
        db.session.execute(sa.text("SET LOCAL enable_seqscan = off"))  # a few test rows would be scanned anyway
        plan = "\n".join(db.session.scalars(sa.text(f"EXPLAIN {sql}")))
        assert "ix_people_search_key_trgm" in plan and "ix_people_context_key_trgm" in plan, plan
