"""Segments: saved people filters that always count the current people."""
import re

import pytest
import sqlalchemy as sa

from crm.audit.models import AuditLog
from crm.contacts.models import OrganizationKind, Person, Segment, Tag
from tests.conftest import count
from tests.contacts.pages import field_error, flashes, form_values, input_value, shown_count
from tests.html import page_text


@pytest.fixture()
def office(login):
    return login("office")


@pytest.fixture()
def scene(db, make, office):
    """Two people in Baden-Württemberg (one with topic Bildung), one in Bayern with Bildung."""
    bildung = Tag(name="Bildung")
    db.session.add(bildung)
    heidelberg = make.organization(
        name="Stadt Heidelberg", kind=OrganizationKind.municipality, ags="08221000", state="08"
    )
    muenchen = make.organization(
        name="Landeshauptstadt München", kind=OrganizationKind.municipality, ags="09162000", state="09"
    )
    anna = make.person(first_name="Anna", last_name="Arnold")
    make.affiliation(anna, heidelberg, position="Schulamtsleiterin")
    anna.tags = [bildung]
    make.affiliation(make.person(first_name="Bea", last_name="Berg"), heidelberg, position="Referentin")
    carl = make.person(first_name="Carl", last_name="Christ")
    make.affiliation(carl, muenchen, position="Stadtrat")
    carl.tags = [bildung]
    db.session.commit()
    return {"bildung": bildung, "heidelberg": heidelberg, "muenchen": muenchen}


def save_segment(client, query: str, name: str, description: str = ""):
    """What the user does: open the save page from the people list, type a name, press Speichern."""
    markup = client.get(f"/segmente/neu?{query}").get_data(as_text=True)
    data = form_values(markup)
    data.update(name=name, description=description)
    return client.post(f"/segmente/neu?{query}", data=data)


def test_save_current_filter_as_segment(client, db, office, scene):
    tag = scene["bildung"].id
    people_list = client.get(f"/personen/?state=08&tag={tag}").get_data(as_text=True)
    assert f'href="/segmente/neu?state=08&amp;tag={tag}"' in people_list  # "Als Segment speichern"

    markup = client.get(f"/segmente/neu?state=08&tag={tag}").get_data(as_text=True)
    assert "Filter: Bundesland: Baden-Württemberg · Thema: Bildung – zurzeit 1 Personen." in page_text(markup)

    response = save_segment(client, f"state=08&tag={tag}", "Bildung in BW", "Für die Schulkonferenz")

    assert response.status_code == 302
    segment = db.session.scalar(sa.select(Segment).where(Segment.name == "Bildung in BW"))
    assert response.headers["Location"] == f"/segmente/{segment.id}"
    assert segment.filters == {"state": "08", "tag": str(tag)}
    assert (segment.description, segment.created_by_id) == ("Für die Schulkonferenz", office.id)
    segment_page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Das Segment „Bildung in BW“ wurde gespeichert." in flashes(segment_page)
    [entry] = db.session.scalars(sa.select(AuditLog).where(AuditLog.entity_type == "segments")).all()
    assert (entry.action, entry.entity_id) == ("create", segment.id)


def test_sort_order_and_unknown_values_are_not_saved(client, db, office, scene):
    save_segment(client, "state=08&sort=-created&consent=egal&has_email=yes", "Mit E-Mail in BW")
    segment = db.session.scalar(sa.select(Segment).where(Segment.name == "Mit E-Mail in BW"))
    assert segment.filters == {"state": "08", "has_email": "yes"}


@pytest.mark.parametrize("name", ["Bildung in BW", "bildung in bw", "  Bildung in BW "])
def test_duplicate_name_is_refused(client, db, make, office, scene, name):
    make.segment(name="Bildung in BW", filters={"state": "08"})
    db.session.commit()
    segments = count(Segment)

    response = save_segment(client, "state=09", name)

    assert response.status_code == 200
    markup = response.get_data(as_text=True)
    assert field_error(markup, "name") == "Ein Segment „Bildung in BW“ gibt es bereits."
    assert input_value(markup, "name") == name.strip()
    assert 'type="hidden" name="state" value="09"' in markup  # the filter is still there
    assert count(Segment) == segments


def test_segment_without_a_name_is_refused(client, db, office, scene):
    response = save_segment(client, "state=08", "")
    assert response.status_code == 200
    assert field_error(response.get_data(as_text=True), "name") == "Bitte füllen Sie dieses Feld aus."
    assert count(Segment) == 0


def test_segment_page_counts_the_current_people(client, db, make, office, scene):
    segment = make.segment(name="Bildung in BW", filters={"state": "08", "tag": str(scene["bildung"].id)})
    db.session.commit()

    markup = client.get(f"/segmente/{segment.id}").get_data(as_text=True)
    page = page_text(markup)
    assert shown_count(markup) == 1
    assert "Filter: Bundesland: Baden-Württemberg · Thema: Bildung" in page
    assert "Vorschau Anna Arnold – Stadt Heidelberg" in page
    assert f'href="/personen/?state=08&amp;tag={scene["bildung"].id}"' in markup  # open in the people list

    later = make.person(first_name="Dora", last_name="Dach")
    make.affiliation(later, scene["heidelberg"], position="Schulleiterin")
    later.tags = [scene["bildung"]]
    db.session.commit()

    markup = client.get(f"/segmente/{segment.id}").get_data(as_text=True)
    assert shown_count(markup) == 2
    assert "Vorschau Anna Arnold – Stadt Heidelberg Dora Dach – Stadt Heidelberg" in page_text(markup)


def test_preview_shows_the_first_twenty(client, db, make, office, scene):
    for n in range(22):
        make.person(first_name="Leo", last_name=f"Leser{n:02d}", notes="Rundbrief")
    segment = make.segment(name="Leser", filters={"q": "Leser"})
    db.session.commit()

    markup = client.get(f"/segmente/{segment.id}").get_data(as_text=True)

    assert shown_count(markup) == 22
    assert "Vorschau (die ersten 20)" in page_text(markup)
    assert len(re.findall(r'<a href="/personen/\d+">Leo Leser\d\d</a>', markup)) == 20


def test_segment_with_nobody_says_so(client, db, make, office, scene):
    segment = make.segment(name="Niemand", filters={"state": "16"})
    db.session.commit()
    page = page_text(client.get(f"/segmente/{segment.id}").get_data(as_text=True))
    assert "Zurzeit 0 Personen." in page
    assert "Zurzeit passt niemand auf diesen Filter." in page


def test_rename(client, db, make, office, scene):
    segment = make.segment(name="Bildung in BW", filters={"state": "08"})
    db.session.commit()
    markup = client.get(f"/segmente/{segment.id}/bearbeiten").get_data(as_text=True)
    assert input_value(markup, "name") == "Bildung in BW"
    assert "zurzeit 2 Personen" in page_text(markup)

    response = client.post(
        f"/segmente/{segment.id}/bearbeiten", data={"name": "Baden-Württemberg", "description": "alle aus BW"}
    )

    assert response.status_code == 302
    db.session.expire_all()
    assert (segment.name, segment.description, segment.filters) == ("Baden-Württemberg", "alle aus BW", {"state": "08"})
    assert "Segment „Baden-Württemberg“" in page_text(client.get(f"/segmente/{segment.id}").get_data(as_text=True))
    [entry] = db.session.scalars(sa.select(AuditLog).where(AuditLog.action == "update")).all()
    assert entry.changes == {"name": ["Bildung in BW", "Baden-Württemberg"], "description": [None, "alle aus BW"]}


def test_rename_to_the_name_of_another_segment_is_refused(client, db, make, office, scene):
    make.segment(name="Bayern")
    segment = make.segment(name="Bildung in BW")
    db.session.commit()

    response = client.post(f"/segmente/{segment.id}/bearbeiten", data={"name": "BAYERN"})

    assert response.status_code == 200
    assert field_error(response.get_data(as_text=True), "name") == "Ein Segment „Bayern“ gibt es bereits."
    db.session.expire_all()
    assert segment.name == "Bildung in BW"


def test_replace_filter(client, db, make, office, scene):
    segment = make.segment(name="Ansprechpersonen", filters={"state": "08"})
    db.session.commit()

    response = client.post(f"/segmente/{segment.id}/filter-uebernehmen", data={"state": "09", "sort": "-created"})

    assert response.status_code == 302 and response.headers["Location"] == f"/segmente/{segment.id}"
    db.session.expire_all()
    assert segment.filters == {"state": "09"}
    markup = client.get(f"/segmente/{segment.id}").get_data(as_text=True)
    assert "Das Segment „Ansprechpersonen“ verwendet jetzt den aktuellen Filter." in flashes(markup)
    assert "Filter: Bundesland: Bayern" in page_text(markup)
    assert shown_count(markup) == 1
    [entry] = db.session.scalars(sa.select(AuditLog).where(AuditLog.action == "update")).all()
    assert entry.changes == {"filters": [{"state": "08"}, {"state": "09"}]}


def test_delete(client, db, make, office, scene):
    segment = make.segment(name="Weg damit", filters={"state": "08"})
    db.session.commit()
    people = count(Person)

    response = client.post(f"/segmente/{segment.id}/loeschen")

    assert response.status_code == 302 and response.headers["Location"] == "/segmente/"
    assert "Das Segment „Weg damit“ wurde gelöscht." in flashes(client.get("/segmente/").get_data(as_text=True))
    assert count(Segment) == 0
    assert count(Person) == people  # the people stay
    assert client.get(f"/segmente/{segment.id}").status_code == 404


def test_index_lists_segments_with_live_counts(client, db, make, office, scene):
    make.segment(name="Bayern", filters={"state": "09"})
    make.segment(name="Bildung", filters={"tag": str(scene["bildung"].id)})
    make.segment(name="Alle", filters={})
    db.session.commit()

    markup = client.get("/segmente/").get_data(as_text=True)

    body = re.search(r"<tbody>(.*?)</tbody>", markup, flags=re.S).group(1)
    rows = [
        tuple(page_text(cell) for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, flags=re.S))
        for row in re.findall(r"<tr>(.*?)</tr>", body, flags=re.S)
    ]
    assert rows == [
        ("Alle", "alle Personen", "4"),  # three people and the office user
        ("Bayern", "Bundesland: Bayern", "1"),
        ("Bildung", "Thema: Bildung", "2"),
    ]


def test_index_without_segments(client, office):
    assert "Noch keine Segmente." in page_text(client.get("/segmente/").get_data(as_text=True))
