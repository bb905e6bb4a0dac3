"""The people list: filters, their combinations, sorting, pagination, and a fixed number of queries."""
import html
import re
from datetime import date
from urllib.parse import parse_qs, urlsplit

import pytest
import sqlalchemy as sa

from crm.contacts.models import ConsentChannel, ConsentMethod, OrganizationKind, Person, Tag
from crm.contacts.services import record_consent
from crm.members.models import MembershipStatus
from crm.members.services import create_membership
from tests.contacts.pages import listed_people, selected_option, shown_count

OFFICE = "Office, Olga"


@pytest.fixture()
def office(make, login):
    return login("office", person=make.person(first_name="Olga", last_name="Office", email="olga@example.org"))


@pytest.fixture()
def world(db, make, office):
    """Five people with different organizations, topics, memberships and consents.

    Anders:  Stadt Heidelberg (BW, Gemeinde), topic Bildung, active member, newsletter yes
    Brandt:  Landeshauptstadt München (BY, Gemeinde), no email, membership applied, newsletter no
    Conrad:  Bayerischer Verband (BY, Verband), topic Mobilität, no membership, never asked
    Dietz:   role in Heidelberg ended in 2019, former member
    Ebert:   no organization, no email, nothing else
    plus Olga Office, the logged-in user (email, nothing else).
    """
    heidelberg = make.organization(
        name="Stadt Heidelberg", kind=OrganizationKind.municipality, ags="08221000", state="08", city="Heidelberg"
    )
    muenchen = make.organization(
        name="Landeshauptstadt München", kind=OrganizationKind.municipality, ags="09162000", state="09", city="München"
    )
    verband = make.organization(name="Bayerischer Verband", kind=OrganizationKind.association, state="09")
    bildung, mobilitaet = Tag(name="Bildung"), Tag(name="Mobilität")
    db.session.add_all([bildung, mobilitaet])

    anders = make.person(first_name="Alma", last_name="Anders", email="alma@example.net")
    make.affiliation(anders, heidelberg, position="Bürgermeisterin")
    anders.tags = [bildung]
    brandt = make.person(first_name="Bernd", last_name="Brandt", email=None)
    make.affiliation(brandt, muenchen, position="Stadtrat")
    conrad = make.person(first_name="Cora", last_name="Conrad", email="cora@example.net")
    make.affiliation(conrad, verband, position="Geschäftsführerin")
    conrad.tags = [mobilitaet]
    dietz = make.person(first_name="Dora", last_name="Dietz", email="dora@example.net")
    make.affiliation(dietz, heidelberg, position="Kämmerin", start_date=date(2015, 1, 1), end_date=date(2019, 6, 30))
    ebert = make.person(first_name="Emil", last_name="Ebert", email=None)

    create_membership(actor=office, type="regular", status=MembershipStatus.active, person=anders)
    create_membership(actor=office, type="regular", status=MembershipStatus.applied, person=brandt)
    create_membership(actor=office, type="regular", status=MembershipStatus.ended, person=dietz)
    create_membership(actor=office, type="institutional", status=MembershipStatus.active, organization=verband)
    for person, granted in ((anders, True), (brandt, True), (brandt, False)):
        record_consent(
            person, actor=office, channel=ConsentChannel.newsletter, granted=granted,
            method=ConsentMethod.office, source="Telefonat",
        )  # fmt: skip
    db.session.commit()
    return {"bildung": bildung.id, "mobilitaet": mobilitaet.id, "ebert": ebert.id}


A, B, C, D, E = "Anders, Alma", "Brandt, Bernd", "Conrad, Cora", "Dietz, Dora", "Ebert, Emil"


def names(client, **args) -> list[str]:
    response = client.get("/personen/", query_string=args)
    assert response.status_code == 200
    markup = response.get_data(as_text=True)
    shown = listed_people(markup)
    assert shown_count(markup) == len(shown)
    return shown


def test_without_filter_everybody_is_listed_by_name(client, world):
    assert names(client) == [A, B, C, D, E, OFFICE]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ({"state": "08"}, [A]),  # Dietz's role in Heidelberg has ended
        ({"state": "09"}, [B, C]),
        ({"state": "05"}, []),
        ({"kind": "municipality"}, [A, B]),
        ({"kind": "association"}, [C]),
        ({"kind": "county"}, []),
        ({"membership": "active"}, [A]),  # the Verband's institutional membership is not Conrad's
        ({"membership": "applied"}, [B]),
        ({"membership": "ended"}, [D]),
        ({"membership": "suspended"}, []),
        ({"membership": "none"}, [C, E, OFFICE]),
        ({"consent": "newsletter_yes"}, [A]),
        ({"consent": "newsletter_no"}, [B]),  # the later withdrawal counts
        ({"consent": "newsletter_none"}, [C, D, E, OFFICE]),
        ({"consent": "invitation_none"}, [A, B, C, D, E, OFFICE]),
        ({"has_email": "yes"}, [A, C, D, OFFICE]),
        ({"has_email": "no"}, [B, E]),
    ],
    ids=lambda value: "-".join(f"{k}={v}" for k, v in value.items()) if isinstance(value, dict) else None,
)
def test_each_filter(client, world, args, expected):
    assert names(client, **args) == expected


def test_tag_filter(client, world):
    assert names(client, tag=world["bildung"]) == [A]
    assert names(client, tag=world["mobilitaet"]) == [C]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ({"state": "09", "kind": "municipality"}, [B]),
        ({"state": "09", "has_email": "yes"}, [C]),
        ({"state": "08", "membership": "active", "consent": "newsletter_yes"}, [A]),
        ({"state": "08", "membership": "applied"}, []),
        ({"membership": "none", "has_email": "no"}, [E]),
        ({"q": "heidelberg", "has_email": "yes"}, [A]),
    ],
    ids=lambda value: "-".join(f"{k}={v}" for k, v in value.items()) if isinstance(value, dict) else None,
)
def test_filters_combine(client, world, args, expected):
    assert names(client, **args) == expected


def test_tag_combined_with_state(client, world):
    assert names(client, tag=world["bildung"], state="08") == [A]
    assert names(client, tag=world["bildung"], state="09") == []


def test_chosen_filters_stay_selected_in_the_form(client, world):
    markup = client.get("/personen/", query_string={"state": "09", "consent": "newsletter_no", "tag": world["bildung"]})
    markup = markup.get_data(as_text=True)
    assert selected_option(markup, "state") == "09"
    assert selected_option(markup, "consent") == "newsletter_no"
    assert selected_option(markup, "tag") == str(world["bildung"])
    assert "Filter zurücksetzen" in markup


def test_sort_by_name_and_by_newest(client, world):
    assert names(client, sort="name") == [A, B, C, D, E, OFFICE]
    # Olga Office was created first (by the login), then Anders … Ebert in this order.
    assert names(client, sort="-created") == [E, D, C, B, A, OFFICE]


@pytest.mark.parametrize(
    "args",
    [
        {"state": "99"},
        {"state": "Bayern"},
        {"kind": "raumschiff"},
        {"tag": "abc"},
        {"membership": "vielleicht"},
        {"consent": "maybe"},
        {"has_email": "perhaps"},
        {"sort": "shoesize"},
        {"page": "abc"},
        {"per_page": "-3"},
    ],
    ids=lambda value: "-".join(f"{k}={v}" for k, v in value.items()),
)
def test_unknown_filter_values_are_ignored(client, world, args):
    response = client.get("/personen/", query_string=args)
    assert response.status_code == 200
    assert listed_people(response.get_data(as_text=True)) == [A, B, C, D, E, OFFICE]


def test_tag_that_does_not_exist_finds_nobody_without_error(client, world):
    response = client.get("/personen/", query_string={"tag": "999999"})
    assert response.status_code == 200
    assert shown_count(response.get_data(as_text=True)) == 0


def test_page_beyond_the_end_shows_an_empty_page(client, world):
    response = client.get("/personen/", query_string={"page": "99"})
    assert response.status_code == 200
    assert listed_people(response.get_data(as_text=True)) == []


def _next_link(markup: str) -> str | None:
    match = re.search(r'<a href="([^"]+)" rel="next">', markup)
    return html.unescape(match.group(1)) if match else None


def test_fifty_per_page_and_the_filter_stays_in_the_page_links(client, db, world):
    newsletter = Tag(name="Rundbrief")
    people = [Person(first_name="Vorname", last_name=f"Leser{n:02d}", email=f"leser{n}@example.net") for n in range(53)]
    for person in people:
        person.tags = [newsletter]
    db.session.add_all(people)
    db.session.commit()

    first = client.get("/personen/", query_string={"tag": newsletter.id, "sort": "-created"}).get_data(as_text=True)
    assert shown_count(first) == 53
    assert len(listed_people(first)) == 50
    assert listed_people(first)[0] == "Leser52, Vorname"  # newest first
    assert "Seite 1 von 2" in first
    link = _next_link(first)
    assert link is not None
    assert urlsplit(link).path == "/personen/"
    assert parse_qs(urlsplit(link).query) == {"page": ["2"], "tag": [str(newsletter.id)], "sort": ["-created"]}

    second = client.get(link).get_data(as_text=True)
    assert listed_people(second) == ["Leser02, Vorname", "Leser01, Vorname", "Leser00, Vorname"]
    assert shown_count(second) == 53
    assert _next_link(second) is None
    assert "Seite 2 von 2" in second
    # The export and "save as segment" links on page 2 still carry the filter.
    assert f"/personen/export.csv?tag={newsletter.id}&amp;sort=-created" in second


# --- a fixed number of queries, however many rows --------------------------------------------------


def _add_people(db, make, count: int, start: int) -> None:
    """`count` people, each with a role in an organization of their own and a topic."""
    topic = db.session.scalar(sa.select(Tag).where(Tag.name == "Querytest")) or Tag(name="Querytest")
    for n in range(start, start + count):
        organization = make.organization(name=f"Gemeinde Nummer {n}", city=f"Ort {n}")
        person = make.person(first_name="Paula", last_name=f"Zahl{n:03d}")
        make.affiliation(person, organization, position="Bürgermeisterin")
        person.tags = [topic]
    db.session.commit()


def _queries_for(client, db, count_queries, url: str) -> int:
    db.session.expunge_all()  # a fresh request starts with an empty session, as in production
    with count_queries() as queries:
        response = client.get(url)
    assert response.status_code == 200
    return queries.count


def test_people_list_needs_the_same_queries_for_5_and_50_people(client, db, make, office, count_queries):
    _add_people(db, make, 5, 0)
    with_5 = _queries_for(client, db, count_queries, "/personen/?q=paula")
    _add_people(db, make, 45, 5)
    markup = client.get("/personen/?q=paula").get_data(as_text=True)
    assert len(listed_people(markup)) == 50
    assert "Gemeinde Nummer 49" in markup  # organizations and functions are shown …
    assert "Querytest" in markup  # … and topics
    with_50 = _queries_for(client, db, count_queries, "/personen/?q=paula")
    assert with_50 == with_5


def test_person_page_needs_the_same_queries_for_1_and_10_roles(client, db, make, office, count_queries):
    person = make.person(first_name="Rita", last_name="Rollen")
    person_id, url = person.id, f"/personen/{person.id}"
    make.affiliation(person, make.organization(name="Organisation 0"), position="Funktion 0")
    person.tags = [Tag(name="Querytest")]
    db.session.commit()
    with_1 = _queries_for(client, db, count_queries, url)

    person = db.session.get(Person, person_id)
    for n in range(1, 10):
        make.affiliation(person, make.organization(name=f"Organisation {n}"), position=f"Funktion {n}")
    db.session.commit()
    markup = client.get(url).get_data(as_text=True)
    assert all(f"Organisation {n}</a>" in markup and f"Funktion {n}" in markup for n in range(10))
    with_10 = _queries_for(client, db, count_queries, url)
    assert with_10 == with_1
