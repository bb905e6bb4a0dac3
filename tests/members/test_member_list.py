"""The member list: search, filters, sorting, pagination, counts per status, export, fixed query count."""
import csv
import io
import re
from datetime import date

import pytest
from openpyxl import load_workbook

from crm.contacts.models import OrganizationKind
from tests.contacts.pages import shown_count
from tests.html import page_text


@pytest.fixture()
def office(login):
    return login("office")


@pytest.fixture()
def members(db, make, office):
    """Six memberships: organizations and people in Baden-Württemberg and Bayern, in every status."""
    heidelberg = make.organization(
        name="Stadt Heidelberg", kind=OrganizationKind.municipality, ags="08221000", state="08", email="ob@heidelberg.example.org"
    )
    muenchen = make.organization(name="Landeshauptstadt München", kind=OrganizationKind.municipality, ags="09162000", state="09")
    pforzheim = make.organization(name="Stadtwerke Pforzheim", kind=OrganizationKind.company, state="08")
    mueller = make.person(first_name="Jürgen", last_name="Müller", email="j.mueller@example.org")
    make.affiliation(mueller, heidelberg, position="Bürgermeister")
    gross = make.person(title="Dr.", first_name="Änne", last_name="Groß", email="a.gross@example.org")
    make.affiliation(gross, muenchen, position="CDO", is_primary=True)
    make.affiliation(gross, heidelberg, position="Beirätin", is_primary=False)  # not her primary organization
    christ = make.person(first_name="Carl", last_name="Christ", email=None)
    numbers = {
        "heidelberg": make.membership(organization=heidelberg, type="institutional", start_date=date(2018, 7, 1)),
        "muenchen": make.membership(organization=muenchen, type="institutional", status="applied"),
        "pforzheim": make.membership(
            organization=pforzheim, type="sponsoring", status="ended", start_date=date(2015, 1, 1), end_date=date(2018, 12, 31)
        ),
        "mueller": make.membership(person=mueller, start_date=date(2016, 6, 1)),
        "gross": make.membership(person=gross, status="suspended", start_date=date(2010, 1, 1)),
        "christ": make.membership(
            person=christ, type="honorary", status="ended", start_date=date(2001, 1, 1), end_date=date(2019, 12, 31)
        ),
    }
    db.session.commit()
    return {key: m.number for key, m in numbers.items()}


def rows(markup: str) -> list[list[str]]:
    """The member table as a person reads it: one list of cell texts per row."""
    body = re.search(r'<table class="members">.*?<tbody>(.*?)</tbody>', markup, flags=re.S)
    if not body:
        return []
    return [
        [page_text(cell) for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, flags=re.S)]
        for row in re.findall(r"<tr>(.*?)</tr>", body.group(1), flags=re.S)
    ]


def listed(client, **args) -> list[str]:
    """The member names shown for these URL arguments (and a check that the count agrees)."""
    response = client.get("/mitglieder/", query_string=args)
    assert response.status_code == 200
    markup = response.get_data(as_text=True)
    names = [row[1].rsplit(" ", 1)[0] for row in rows(markup)]
    if "page" not in args and "per_page" not in args:
        assert shown_count(markup) == len(names)
    return names


def test_list_shows_number_member_type_status_dates_and_place(client, members):
    markup = client.get("/mitglieder/").get_data(as_text=True)
    assert rows(markup) == [
        [str(members["christ"]), "Christ, Carl Person", "Ehrenmitglied", "beendet", "01.01.2001", "31.12.2019", "–", "–"],
        [str(members["gross"]), "Groß, Änne Person", "Ordentliches Mitglied", "ruhend", "01.01.2010", "–", "Landeshauptstadt München", "Bayern"],
        [str(members["muenchen"]), "Landeshauptstadt München Organisation", "Institutionelles Mitglied", "beantragt", "–", "–", "–", "Bayern"],
        [str(members["mueller"]), "Müller, Jürgen Person", "Ordentliches Mitglied", "aktiv", "01.06.2016", "–", "Stadt Heidelberg", "Baden-Württemberg"],
        [str(members["heidelberg"]), "Stadt Heidelberg Organisation", "Institutionelles Mitglied", "aktiv", "01.07.2018", "–", "–", "Baden-Württemberg"],
        [str(members["pforzheim"]), "Stadtwerke Pforzheim Organisation", "Fördermitglied", "beendet", "01.01.2015", "31.12.2018", "–", "Baden-Württemberg"],
    ]  # fmt: skip
    assert "6 Mitgliedschaften" in page_text(markup)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ({"status": "active"}, ["Müller, Jürgen", "Stadt Heidelberg"]),
        ({"status": "ended"}, ["Christ, Carl", "Stadtwerke Pforzheim"]),
        ({"type": "institutional"}, ["Landeshauptstadt München", "Stadt Heidelberg"]),
        ({"type": "honorary"}, ["Christ, Carl"]),
        ({"kind": "person"}, ["Christ, Carl", "Groß, Änne", "Müller, Jürgen"]),
        ({"kind": "organization", "status": "ended"}, ["Stadtwerke Pforzheim"]),
        # Bundesland of the organization, or of a person's primary organization (Groß is in Bayern).
        ({"state": "08"}, ["Müller, Jürgen", "Stadt Heidelberg", "Stadtwerke Pforzheim"]),
        ({"state": "09"}, ["Groß, Änne", "Landeshauptstadt München"]),
        ({"state": "08", "kind": "person"}, ["Müller, Jürgen"]),
        ({"state": "03"}, []),
        ({"q": "mueller"}, ["Müller, Jürgen"]),
        ({"q": "MÜLLER"}, ["Müller, Jürgen"]),
        ({"q": "gross"}, ["Groß, Änne"]),
        ({"q": "münchen"}, ["Landeshauptstadt München"]),
        ({"q": "stadt heidelberg"}, ["Stadt Heidelberg"]),
        ({"q": "stadt", "status": "ended"}, ["Stadtwerke Pforzheim"]),
        ({"q": "a.gross@example.org"}, ["Groß, Änne"]),
        ({"q": "nobody"}, []),
    ],
    ids=lambda value: "-".join(f"{k}={v}" for k, v in value.items()) if isinstance(value, dict) else None,
)
def test_list_filters_and_search(client, members, args, expected):
    assert listed(client, **args) == expected


@pytest.mark.parametrize("query", ["{n}", "Nr. {n}", "nr{n}"])
def test_search_by_member_number(client, members, query):
    assert listed(client, q=query.format(n=members["gross"])) == ["Groß, Änne"]


def test_person_without_primary_role_counts_in_the_state_of_a_current_role(client, db, make, members):
    heidelberg_it = make.organization(name="ITEOS", state="08")
    nina = make.person(first_name="Nina", last_name="Nebenamt")
    make.affiliation(nina, make.organization(name="Alt GmbH", state="09"), is_primary=False, end_date=date(2020, 1, 1))
    make.affiliation(nina, heidelberg_it, position="Beraterin", is_primary=False)
    make.membership(person=nina)
    db.session.commit()
    assert "Nebenamt, Nina" in listed(client, state="08")
    assert "Nebenamt, Nina" not in listed(client, state="09")


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("number", ["heidelberg", "muenchen", "pforzheim", "mueller", "gross", "christ"]),
        ("since", ["christ", "gross", "pforzheim", "mueller", "heidelberg", "muenchen"]),  # no start date last
        ("-since", ["heidelberg", "mueller", "pforzheim", "gross", "christ", "muenchen"]),
    ],
)
def test_sorting(client, members, sort, expected):
    markup = client.get("/mitglieder/", query_string={"sort": sort}).get_data(as_text=True)
    assert [int(row[0]) for row in rows(markup)] == [members[key] for key in expected]


def test_counts_per_status_follow_the_other_filters_and_keep_them_in_the_links(client, members):
    markup = client.get("/mitglieder/", query_string={"state": "08", "status": "active"}).get_data(as_text=True)
    counts = dict(re.findall(r'data-status-count="(\w+)">([^<]*)<', markup))
    assert counts == {"all": "3", "applied": "0", "active": "2", "suspended": "0", "ended": "1"}
    assert 'href="/mitglieder/?status=ended&amp;state=08"' in markup
    assert 'href="/mitglieder/?state=08"' in markup  # "alle" drops only the status
    assert "2 Mitgliedschaften (Status: aktiv, Bundesland: Baden-Württemberg)" in page_text(markup)


def test_pagination_keeps_the_filter(client, members):
    first = client.get("/mitglieder/", query_string={"kind": "person", "per_page": 2}).get_data(as_text=True)
    assert [row[1] for row in rows(first)] == ["Christ, Carl Person", "Groß, Änne Person"]
    assert shown_count(first) == 3
    assert 'href="/mitglieder/?page=2&amp;kind=person"' in first
    second = client.get("/mitglieder/", query_string={"kind": "person", "per_page": 2, "page": 2}).get_data(as_text=True)
    assert [row[1] for row in rows(second)] == ["Müller, Jürgen Person"]
    assert "Seite 2 von 2" in page_text(second)


@pytest.mark.parametrize(
    "args", [{"status": "paused"}, {"type": "gold"}, {"kind": "robot"}, {"state": "99"}, {"sort": "egal"}, {"page": "x"}],
    ids=["status", "type", "kind", "state", "sort", "page"],
)  # fmt: skip
def test_unknown_filter_values_are_ignored(client, members, args):
    assert len(listed(client, **args)) == 6


def test_csv_export_of_the_filtered_list(client, members):
    response = client.get("/mitglieder/export.csv", query_string={"state": "08", "sort": "number"})
    assert response.status_code == 200
    assert response.headers["Content-Disposition"].startswith("attachment; filename=mitglieder-")
    body = response.get_data(as_text=True)
    assert body.startswith("\ufeff")
    table = list(csv.reader(io.StringIO(body.lstrip("\ufeff")), delimiter=";"))
    assert table == [
        ["Mitgliedsnummer", "Mitglied", "Person / Organisation", "Art der Mitgliedschaft", "Status", "Seit", "Bis",
         "E-Mail", "Organisation", "Bundesland"],
        [str(members["heidelberg"]), "Stadt Heidelberg", "Organisation", "Institutionelles Mitglied", "aktiv",
         "01.07.2018", "", "ob@heidelberg.example.org", "Stadt Heidelberg", "Baden-Württemberg"],
        [str(members["pforzheim"]), "Stadtwerke Pforzheim", "Organisation", "Fördermitglied", "beendet",
         "01.01.2015", "31.12.2018", "", "Stadtwerke Pforzheim", "Baden-Württemberg"],
        [str(members["mueller"]), "Jürgen Müller", "Person", "Ordentliches Mitglied", "aktiv",
         "01.06.2016", "", "j.mueller@example.org", "Stadt Heidelberg", "Baden-Württemberg"],
    ]  # fmt: skip


def test_xlsx_export_has_the_same_rows(client, members):
    response = client.get("/mitglieder/export.xlsx", query_string={"kind": "person"})
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(response.data)).active
    values = [list(row) for row in sheet.iter_rows(values_only=True)]
    assert values[0][:3] == ["Mitgliedsnummer", "Mitglied", "Person / Organisation"]
    assert [row[:2] for row in values[1:]] == [
        [members["christ"], "Carl Christ"], [members["gross"], "Dr. Änne Groß"], [members["mueller"], "Jürgen Müller"],
    ]  # fmt: skip
    assert values[2][7:] == ["a.gross@example.org", "Landeshauptstadt München", "Bayern"]


def test_export_in_another_format_is_not_found(client, members):
    assert client.get("/mitglieder/export.pdf").status_code == 404


def _add_members(db, make, n: int, offset: int) -> None:
    for i in range(offset, offset + n):
        organization = make.organization(name=f"Gemeinde Nummer {i}", state="08")
        person = make.person(first_name="Paula", last_name=f"Querytest{i}")
        make.affiliation(person, organization, position=f"Funktion {i}")
        make.membership(person=person)
        make.membership(organization=organization, type="institutional")
    db.session.commit()


def _queries_for(client, db, count_queries, url: str) -> int:
    db.session.expunge_all()  # a fresh request starts with an empty session, as in production
    with count_queries() as queries:
        response = client.get(url)
        response.get_data()  # an export streams: its queries run while the body is read
    assert response.status_code == 200
    return queries.count


@pytest.mark.parametrize("url", ["/mitglieder/?per_page=100", "/mitglieder/?per_page=100&state=08&sort=-since"])
def test_member_list_needs_the_same_queries_for_4_and_40_rows(client, db, make, office, count_queries, url):
    _add_members(db, make, 2, 0)
    with_4 = _queries_for(client, db, count_queries, url)
    _add_members(db, make, 18, 2)
    markup = client.get(url).get_data(as_text=True)
    assert len(rows(markup)) == 40
    assert "Gemeinde Nummer 19" in markup  # the people's organizations are shown
    with_40 = _queries_for(client, db, count_queries, url)
    assert with_40 == with_4


def test_export_needs_the_same_queries_for_4_and_40_rows(client, db, make, office, count_queries):
    _add_members(db, make, 2, 0)
    with_4 = _queries_for(client, db, count_queries, "/mitglieder/export.csv")
    _add_members(db, make, 18, 2)
    with_40 = _queries_for(client, db, count_queries, "/mitglieder/export.csv")
    assert with_40 == with_4
