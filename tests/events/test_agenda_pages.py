"""The agenda editor: add sessions (errors next to the field), parallel sessions side by side, reorder
and delete with POST buttons, and the speakers of a session (choose a person, edit the printed role)."""
import re

import pytest
import sqlalchemy as sa

from crm.events.models import EventSession, SessionSpeaker
from tests.contacts.pages import field_error, flashes, form_by_action, main_form
from tests.events.office import at, workshop
from tests.html import page_text


@pytest.fixture()
def office(login):
    return login("office")


@pytest.fixture()
def event(make, db):
    return workshop(make, db)


def agenda_titles(client, event) -> list[list[str]]:
    """The agenda page's rows: the session titles of each time slot."""
    markup = client.get(f"/veranstaltungen/{event.id}/ablauf").get_data(as_text=True)
    rows = re.findall(r'<li class="agenda-row[^"]*">(.*?)</li>\s*(?=<li class="agenda-row|</ol>)', markup, flags=re.S)
    return [[page_text(t) for t in re.findall(r'<h3><a [^>]*>(.*?)</a>', row, flags=re.S)] for row in rows]


def test_the_agenda_page_shows_parallel_sessions_in_one_row(client, office, event):
    assert agenda_titles(client, event) == [
        ["Eröffnung"], ["Aufgabe der Kommunen", "Rollen der Verwaltungsspitze"], ["Präsentation der Ergebnisse"],
    ]  # fmt: skip


def test_add_a_session_with_the_form(client, db, office, event):
    url = f"/veranstaltungen/{event.id}/ablauf"
    form = form_by_action(client.get(url).get_data(as_text=True), url)
    assert "day" not in form  # one day: no day to choose
    data = form | {"starts_at": "11:40", "ends_at": "12:10", "title": "Impulse aus der Praxis", "description": "Drei Kommunen berichten."}
    response = client.post(url, data=data, follow_redirects=True)
    assert flashes(response.get_data(as_text=True)) == ["„Impulse aus der Praxis“ wurde in den Ablauf aufgenommen."]
    assert agenda_titles(client, event)[1] == ["Impulse aus der Praxis"]
    session = db.session.scalar(sa.select(EventSession).where(EventSession.title == "Impulse aus der Praxis"))
    assert (session.starts_at, session.ends_at) == (at("2018-11-20 11:40"), at("2018-11-20 12:10"))


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"starts_at": "10:00"}, "starts_at", "Der Programmpunkt muss innerhalb der Veranstaltung liegen (20.11.2018, 11:30 Uhr bis 20.11.2018, 13:00 Uhr)."),
        ({"starts_at": "12:10", "ends_at": "12:50", "track": "Workshopsession 2"}, "track", None),
        ({"ends_at": "25:00"}, "ends_at", "Bitte eine Uhrzeit im Format HH:MM angeben, z. B. 11:30."),
        ({"title": ""}, "title", "Bitte geben Sie einen Titel an."),
    ],
)  # fmt: skip
def test_bad_sessions_are_refused_next_to_the_field(client, db, office, event, changes, field, message):
    url = f"/veranstaltungen/{event.id}/ablauf"
    data = form_by_action(client.get(url).get_data(as_text=True), url) | {"starts_at": "11:45", "title": "Neu"} | changes
    response = client.post(url, data=data)
    assert response.status_code == 200
    error = field_error(response.get_data(as_text=True), field)
    assert error == message if message else error.startswith("Zur selben Zeit läuft schon „Rollen der Verwaltungsspitze“")
    assert db.session.scalar(sa.select(sa.func.count()).select_from(EventSession)) == 4


def test_a_multi_day_event_asks_for_the_day(client, db, make, office):
    event = workshop(make, db, ends_at=at("2018-11-21 13:00"))
    url = f"/veranstaltungen/{event.id}/ablauf"
    markup = client.get(url).get_data(as_text=True)
    assert '<option value="2018-11-21">21.11.2018</option>' in markup
    client.post(url, data=form_by_action(markup, url) | {"day": "2018-11-21", "starts_at": "09:00", "title": "Zweiter Tag"})
    session = db.session.scalar(sa.select(EventSession).where(EventSession.title == "Zweiter Tag"))
    assert session.starts_at == at("2018-11-21 09:00")
    assert "Mi. 21. Nov., 09:00" in page_text(client.get(f"/veranstaltungen/{event.id}/programm").get_data(as_text=True))


def test_move_buttons_reorder_and_delete_removes(client, db, office, event):
    results = event.sessions[-1]
    client.post(f"/veranstaltungen/programmpunkte/{results.id}/verschieben", data={"direction": "up"})
    assert agenda_titles(client, event) == [
        ["Eröffnung"], ["Aufgabe der Kommunen"], ["Präsentation der Ergebnisse"], ["Rollen der Verwaltungsspitze"],
    ]  # fmt: skip
    client.post(f"/veranstaltungen/programmpunkte/{results.id}/verschieben", data={"direction": "sideways"})
    response = client.post(f"/veranstaltungen/programmpunkte/{results.id}/loeschen", follow_redirects=True)
    assert flashes(response.get_data(as_text=True)) == ["„Präsentation der Ergebnisse“ wurde aus dem Ablauf entfernt."]
    assert agenda_titles(client, event) == [["Eröffnung"], ["Aufgabe der Kommunen", "Rollen der Verwaltungsspitze"]]


def test_edit_a_session(client, db, office, event):
    opening = event.sessions[0]
    url = f"/veranstaltungen/programmpunkte/{opening.id}"
    form = main_form(client.get(url).get_data(as_text=True))
    assert (form["starts_at"], form["ends_at"], form["title"]) == ("11:30", "11:40", "Eröffnung")
    response = client.post(url, data=form | {"title": "Eröffnung des Zukunftsworkshops", "kind": "plenary"})
    assert response.headers["Location"] == f"/veranstaltungen/{event.id}/ablauf#punkt-{opening.id}"
    db.session.refresh(opening)
    assert (opening.title, opening.kind.value) == ("Eröffnung des Zukunftsworkshops", "plenary")
    markup = client.post(url, data=form | {"ends_at": "11:00"}).get_data(as_text=True)
    assert field_error(markup, "ends_at") == "Das Ende muss nach dem Beginn liegen."


# --- speakers ------------------------------------------------------------------------------------


@pytest.fixture()
def mayor(make, db):
    person = make.person(first_name="Michael", last_name="Dreier")
    make.affiliation(person, make.organization(name="Stadt Paderborn"), position="Bürgermeister")
    db.session.commit()
    return person


def test_speaker_suggestions_name_people_with_their_role(client, office, mayor):
    assert client.get("/veranstaltungen/personen-vorschlaege?q=dreier").get_json() == [
        {"value": f"Michael Dreier, Stadt Paderborn (Nr. {mayor.id})", "label": "Bürgermeister, Stadt Paderborn"}
    ]
    assert client.get("/veranstaltungen/personen-vorschlaege?q=").get_json() == []


def test_add_a_speaker_from_the_suggestions_with_the_role_from_the_crm(client, db, office, event, mayor):
    session = event.sessions[1]
    url = f"/veranstaltungen/programmpunkte/{session.id}/mitwirkende"
    page = client.get(f"/veranstaltungen/programmpunkte/{session.id}").get_data(as_text=True)
    assert 'data-suggest="/veranstaltungen/personen-vorschlaege"' in page
    response = client.post(url, data=form_by_action(page, url) | {"person": f"Michael Dreier, Stadt Paderborn (Nr. {mayor.id})"}, follow_redirects=True)
    markup = response.get_data(as_text=True)
    assert flashes(markup) == ["Michael Dreier wirkt bei „Aufgabe der Kommunen“ mit."]
    assert "Michael Dreier Bürgermeister, Stadt Paderborn" in page_text(markup)


def test_a_typed_role_is_printed_as_typed(client, db, office, event, mayor):
    session = event.sessions[1]
    data = {"person": "dreier", "role_text": "Bürgermeister", "affiliation_text": "Stadt Paderborn (Westfalen)"}
    client.post(f"/veranstaltungen/programmpunkte/{session.id}/mitwirkende", data=data)
    speaker = db.session.scalar(sa.select(SessionSpeaker).where(SessionSpeaker.person_id == mayor.id))
    assert speaker.affiliation_text == "Stadt Paderborn (Westfalen)"


@pytest.mark.parametrize(
    ("person", "message"),
    [
        ("", "Bitte wählen Sie eine Person aus."),
        ("Niemand Bekanntes", "Keine Person „Niemand Bekanntes“ gefunden. Bitte legen Sie sie zuerst unter „Personen“ an."),
        ("Handschuh", "Alexander Handschuh wirkt bei diesem Programmpunkt bereits mit."),
    ],
)
def test_speaker_refusals_next_to_the_person_field(client, db, office, event, person, message):
    opening = event.sessions[0]
    response = client.post(f"/veranstaltungen/programmpunkte/{opening.id}/mitwirkende", data={"person": person})
    assert response.status_code == 200
    assert field_error(response.get_data(as_text=True), "person") == message
    assert len(db.session.scalars(sa.select(SessionSpeaker)).all()) == 2


def test_edit_the_printed_role_move_and_remove_speakers(client, db, office, event):
    opening = event.sessions[0]
    first, second = opening.speakers
    page = page_text(client.get(f"/veranstaltungen/mitwirkende/{first.id}").get_data(as_text=True))
    assert "Im CRM (Hauptfunktion): keine aktuelle Funktion" in page
    response = client.post(f"/veranstaltungen/mitwirkende/{first.id}", data={"role_text": "Sprecher", "affiliation_text": "DStGB"})
    assert response.headers["Location"] == f"/veranstaltungen/programmpunkte/{opening.id}#mitwirkende"
    client.post(f"/veranstaltungen/mitwirkende/{second.id}/verschieben", data={"direction": "up"})
    names = re.findall(r'<li data-speaker="\d+"><a [^>]*>(.*?)</a>', client.get(f"/veranstaltungen/programmpunkte/{opening.id}").get_data(as_text=True))
    assert names == ["Anika Krellmann", "Alexander Handschuh"]
    response = client.post(f"/veranstaltungen/mitwirkende/{second.id}/entfernen", follow_redirects=True)
    assert flashes(response.get_data(as_text=True)) == ["Anika Krellmann wurde aus dem Programmpunkt entfernt."]
    db.session.refresh(first)
    assert (first.role_text, first.affiliation_text, first.position) == ("Sprecher", "DStGB", 0)
