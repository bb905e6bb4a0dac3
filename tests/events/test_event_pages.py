"""Event pages: the list (upcoming first, filters in the URL, counts), create and edit with German
errors next to the field, status buttons, delete, the detail page and its query count."""
import re
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from crm.events.models import Event, EventKind, EventStatus
from crm.extensions import utcnow
from tests.contacts.pages import field_error, flashes, main_form, shown_count
from tests.events.office import at, workshop
from tests.html import page_text

UTC = timezone.utc


@pytest.fixture()
def office(login):
    return login("office")


def listed(markup: str) -> list[str]:
    """The event titles in the list, in the order shown."""
    body = re.search(r'<table class="events">.*?<tbody>(.*?)</tbody>', markup, flags=re.S)
    return [page_text(t) for t in re.findall(r'<a href="/veranstaltungen/\d+">(.*?)</a>', body.group(1), flags=re.S)] if body else []


@pytest.fixture()
def calendar(db, make):
    """Two past events, one running now, two upcoming ones, a cancelled one."""
    now = utcnow()
    for title, start, status, kind in [
        ("Regionalkonferenz Stuttgart", datetime(2015, 9, 30, 8, tzinfo=UTC), EventStatus.done, EventKind.regional_conference),
        ("Zukunftsworkshop 2018", datetime(2018, 11, 20, 10, 30, tzinfo=UTC), EventStatus.done, EventKind.workshop),
        ("Läuft gerade", now - timedelta(minutes=30), EventStatus.published, EventKind.webinar),
        ("Übernächste Woche", now + timedelta(days=14), EventStatus.draft, EventKind.workshop),
        ("Nächste Woche", now + timedelta(days=7), EventStatus.published, EventKind.general_assembly),
        ("Abgesagt", now + timedelta(days=30), EventStatus.cancelled, EventKind.exchange),
    ]:
        make.draft_event(title=title, starts_at=start, status=status, kind=kind, city="Köln" if "Stuttgart" in title else None)
    db.session.commit()


def test_list_shows_upcoming_events_first_then_the_past_latest_first(client, office, calendar):
    markup = client.get("/veranstaltungen/").get_data(as_text=True)
    assert listed(markup) == [
        "Läuft gerade", "Nächste Woche", "Übernächste Woche", "Abgesagt", "Zukunftsworkshop 2018", "Regionalkonferenz Stuttgart",
    ]  # fmt: skip
    assert shown_count(markup) == 6
    assert 'data-status-count="published">2<' in markup and 'data-status-count="done">2<' in markup
    assert 'href="/veranstaltungen/neu"' in markup


@pytest.mark.parametrize(
    ("query", "titles"),
    [
        ("status=done", ["Zukunftsworkshop 2018", "Regionalkonferenz Stuttgart"]),
        ("kind=workshop", ["Übernächste Woche", "Zukunftsworkshop 2018"]),
        ("year=2015", ["Regionalkonferenz Stuttgart"]),
        ("q=köln", ["Regionalkonferenz Stuttgart"]),
        ("q=ZUKUNFTS+2018", ["Zukunftsworkshop 2018"]),
        ("status=bogus&year=20x5", None),  # nonsense is ignored, not an error
    ],
)
def test_list_filters_live_in_the_url(client, office, calendar, query, titles):
    response = client.get(f"/veranstaltungen/?{query}")
    assert response.status_code == 200
    shown = listed(response.get_data(as_text=True))
    assert shown == titles if titles is not None else len(shown) == 6


def test_list_counts_per_status_follow_the_other_filters_and_pages(client, office, calendar):
    markup = client.get("/veranstaltungen/?kind=workshop&per_page=1").get_data(as_text=True)
    assert shown_count(markup) == 2
    assert 'data-status-count="all">2<' in markup and 'data-status-count="draft">1<' in markup
    assert len(listed(markup)) == 1 and "Seite 1 von 2" in markup
    assert "Art: Workshop" in page_text(markup)
    assert listed(client.get("/veranstaltungen/?kind=workshop&per_page=1&page=2").get_data(as_text=True)) == ["Zukunftsworkshop 2018"]


def test_list_offers_the_years_of_the_events(client, office, calendar):
    markup = client.get("/veranstaltungen/").get_data(as_text=True)
    years = re.findall(r'<option value="(\d{4})"', re.search(r'<select id="year".*?</select>', markup, flags=re.S).group(0))
    assert years[0] == str(utcnow().year) or years[0] == str(utcnow().year + 1)
    assert years[-1] == "2015" and "2016" in years


# --- create and edit -----------------------------------------------------------------------------

VALID = {
    "title": "Zukunftsworkshop „Drehbuch Digitale Kommune“", "subtitle": "Welche Rollen spielen Städte und Gemeinden?",
    "kind": "workshop", "start_date": "20.11.2018", "starts_at": "11:30", "ends_at": "13:00", "end_date": "",
    "venue": "CityCube Berlin", "room": "Workshop-Raum M8", "street": "Messedamm 26", "postal_code": "14055", "city": "Berlin",
    "online_url": "", "description": "Auf der Smart Country Convention.", "capacity": "40",
    "guiding_questions": "Wer entwickelt die Drehbücher?\r\n\r\nWelche Rollen braucht eine Kommune?\r\n",
    "partners": "Innovators' Club", "rsvp_deadline": "2018-11-13", "rsvp_time": "",
}  # fmt: skip


def test_create_an_event_from_berlin_date_and_times(client, db, office):
    response = client.post("/veranstaltungen/neu", data=VALID)
    event = db.session.scalar(sa.select(Event))
    assert response.status_code == 302 and response.headers["Location"] == f"/veranstaltungen/{event.id}/ablauf"
    assert (event.starts_at, event.ends_at) == (at("2018-11-20 11:30"), at("2018-11-20 13:00"))
    assert event.rsvp_deadline == at("2018-11-13 23:59")
    assert event.guiding_questions == ["Wer entwickelt die Drehbücher?", "Welche Rollen braucht eine Kommune?"]
    assert (event.capacity, event.status, event.partners) == (40, EventStatus.draft, ["Innovators' Club"])
    agenda_page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert flashes(agenda_page) == ["„Zukunftsworkshop „Drehbuch Digitale Kommune““ wurde als Entwurf angelegt. Jetzt können Sie den Ablauf planen."]


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"title": ""}, "title", "Bitte füllen Sie dieses Feld aus."),
        ({"start_date": "31.11.2018"}, "start_date", "Bitte ein Datum im Format TT.MM.JJJJ angeben."),
        ({"start_date": ""}, "start_date", "Bitte geben Sie das Datum an (TT.MM.JJJJ)."),
        ({"starts_at": "halb zwölf"}, "starts_at", "Bitte eine Uhrzeit im Format HH:MM angeben, z. B. 11:30."),
        ({"ends_at": ""}, "ends_at", "Bitte geben Sie die Uhrzeit des Endes an – oder wählen Sie „ganztägig“."),
        ({"ends_at": "11:00"}, "ends_at", "Das Ende muss nach dem Beginn liegen."),
        ({"rsvp_deadline": "21.11.2018"}, "rsvp_deadline", "Der Anmeldeschluss muss vor dem Beginn der Veranstaltung liegen."),
        ({"postal_code": "1405"}, "postal_code", "Eine deutsche Postleitzahl hat genau 5 Ziffern."),
        ({"online_url": "www.example.org"}, "online_url", "Bitte eine vollständige Adresse mit http:// oder https:// angeben, z. B. https://www.example.org."),
        ({"capacity": "0"}, "capacity", "Bitte mindestens 1 Platz angeben – oder das Feld leer lassen."),
        ({"capacity": "vierzig"}, "capacity", "Bitte eine ganze Zahl ohne Punkte angeben, z. B. 160355."),
        ({"kind": "party"}, "kind", "Bitte wählen Sie einen Eintrag aus der Liste."),
    ],
)  # fmt: skip
def test_bad_input_is_shown_next_to_the_field_and_nothing_is_saved(client, db, office, changes, field, message):
    response = client.post("/veranstaltungen/neu", data=VALID | changes)
    markup = response.get_data(as_text=True)
    assert response.status_code == 200
    assert field_error(markup, field) == message
    assert main_form(markup)["title"] == (VALID | changes)["title"]  # the input stays
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Event)) == 0


def test_an_all_day_event_needs_no_times(client, db, office):
    data = VALID | {"all_day": "y", "starts_at": "", "ends_at": "", "end_date": "01.10.2015", "start_date": "30.09.2015", "rsvp_deadline": ""}
    assert client.post("/veranstaltungen/neu", data=data).status_code == 302
    event = db.session.scalar(sa.select(Event))
    assert (event.all_day, event.starts_at, event.ends_at) == (True, at("2015-09-30 00:00"), at("2015-10-01 23:59"))
    page = page_text(client.get(f"/veranstaltungen/{event.id}").get_data(as_text=True))
    assert "Wann Mittwoch, 30. September 2015 bis Donnerstag, 1. Oktober 2015 (ganztägig)" in page


def test_edit_shows_berlin_times_and_saves_changes(client, db, make, office):
    event = workshop(make, db)
    form = main_form(client.get(f"/veranstaltungen/{event.id}/bearbeiten").get_data(as_text=True))
    assert (form["start_date"], form["starts_at"], form["ends_at"], form["end_date"]) == ("2018-11-20", "11:30", "13:00", "")
    assert form["room"] == "Workshop-Raum M8"
    response = client.post(f"/veranstaltungen/{event.id}/bearbeiten", data=form | {"room": "Raum M9", "ends_at": "13:30"})
    assert response.headers["Location"] == f"/veranstaltungen/{event.id}"
    db.session.refresh(event)
    assert (event.room, event.ends_at, event.ical_sequence) == ("Raum M9", at("2018-11-20 13:30"), 1)
    page = page_text(client.get(f"/veranstaltungen/{event.id}").get_data(as_text=True))
    assert "Raum: Workshop-Raum M8 → Raum M9" in page
    assert "Ende: 20.11.2018, 13:00 Uhr → 20.11.2018, 13:30 Uhr" in page


def test_edit_refuses_to_cut_off_the_agenda(client, db, make, office):
    event = workshop(make, db)
    form = main_form(client.get(f"/veranstaltungen/{event.id}/bearbeiten").get_data(as_text=True))
    markup = client.post(f"/veranstaltungen/{event.id}/bearbeiten", data=form | {"ends_at": "12:30"}).get_data(as_text=True)
    assert "läge außerhalb der neuen Zeiten" in field_error(markup, "ends_at")
    db.session.refresh(event)
    assert event.ends_at == at("2018-11-20 13:00")


# --- status and delete ---------------------------------------------------------------------------


def status_buttons(markup: str) -> list[str]:
    section = re.search(r'<section class="card" id="status".*?</section>', markup, flags=re.S).group(0)
    return [page_text(label) for label in re.findall(r"<button[^>]*>(.*?)</button>", section, flags=re.S)]


@pytest.mark.parametrize(
    ("status", "buttons"),
    [("draft", ["Veröffentlichen"]), ("published", ["Als durchgeführt abschließen", "Absagen"]), ("done", []), ("cancelled", [])],
)
def test_detail_offers_only_the_allowed_status_changes(client, make, office, status, buttons):
    event = make.draft_event(status=EventStatus(status))
    assert status_buttons(client.get(f"/veranstaltungen/{event.id}").get_data(as_text=True)) == buttons


def test_publishing_and_a_refused_change(client, db, make, office):
    event = make.draft_event(starts_at=utcnow() + timedelta(days=10))
    db.session.commit()
    response = client.post(f"/veranstaltungen/{event.id}/status", data={"status": "published"}, follow_redirects=True)
    assert f"„{event.title}“ ist jetzt veröffentlicht." in flashes(response.get_data(as_text=True))
    response = client.post(f"/veranstaltungen/{event.id}/status", data={"status": "done"})
    assert response.status_code == 200
    assert "Eine Veranstaltung kann erst abgeschlossen werden, wenn sie begonnen hat" in page_text(response.get_data(as_text=True))
    db.session.refresh(event)
    assert (event.status, event.ical_sequence) == (EventStatus.published, 1)


def test_a_draft_can_be_deleted_a_published_event_not(client, db, make, office):
    draft, published = workshop(make, db), make.draft_event(status=EventStatus.published)
    db.session.commit()
    assert "4 Programmpunkte" in page_text(client.get(f"/veranstaltungen/{draft.id}/loeschen").get_data(as_text=True))
    response = client.post(f"/veranstaltungen/{draft.id}/loeschen", follow_redirects=True)
    assert f"Der Entwurf „{draft.title}“ wurde gelöscht." in flashes(response.get_data(as_text=True))
    response = client.post(f"/veranstaltungen/{published.id}/loeschen")
    assert response.status_code == 200 and "Nur Entwürfe können gelöscht werden." in page_text(response.get_data(as_text=True))
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Event)) == 1


def test_unknown_event_is_not_found(client, office):
    assert client.get("/veranstaltungen/999999").status_code == 404


# --- detail --------------------------------------------------------------------------------------


def test_detail_shows_facts_agenda_side_by_side_and_german_history(client, db, make, office):
    event = workshop(make, db)
    markup = client.get(f"/veranstaltungen/{event.id}").get_data(as_text=True)
    page = page_text(markup)
    assert "Wann Dienstag, 20. November 2018, 11:30–13:00 Uhr" in page
    assert "Ort CityCube Berlin, Workshop-Raum M8" in page
    assert "11:30–11:40 Eröffnung Alexander Handschuh Sprecher des Deutschen Städte- und Gemeindebunds Anika Krellmann Moderation" in page
    parallel = re.search(r'<li class="agenda-row parallel">.*?</li>\s*<li', markup, flags=re.S).group(0)
    assert "Aufgabe der Kommunen" in parallel and "Rollen der Verwaltungsspitze" in parallel and "--tracks: 2" in parallel
    assert "Verlauf" in page and "Veranstaltung Zukunftsworkshop „Drehbuch Digitale Kommune“ angelegt" in page
    assert "Mitwirkung Alexander Handschuh – Eröffnung angelegt" in page
    for link in ("/programm", "/kalender.ics", "/ablauf", "/bearbeiten"):
        assert f'href="/veranstaltungen/{event.id}{link}"' in markup


def _queries_for(client, db, count_queries, url: str) -> int:
    db.session.expunge_all()  # a fresh request starts with an empty session, as in production
    with count_queries() as queries:
        assert client.get(url).status_code == 200
    return queries.count


def test_list_and_detail_need_the_same_queries_for_small_and_large_agendas(client, db, make, office, count_queries):
    from crm.events import agenda

    event = workshop(make, db)
    small = (_queries_for(client, db, count_queries, "/veranstaltungen/"), _queries_for(client, db, count_queries, f"/veranstaltungen/{event.id}"))
    event = db.session.get(Event, event.id)
    for n in range(8):
        make.draft_event(title=f"Weitere {n}")
        session = agenda.add_session(event, {"title": f"Punkt {n}", "starts_at": at("2018-11-20 12:00")} | {"track": f"Raum {n}"}, actor=None)
        agenda.add_speaker(session, make.person(), actor=None)
    db.session.commit()
    large = (_queries_for(client, db, count_queries, "/veranstaltungen/"), _queries_for(client, db, count_queries, f"/veranstaltungen/{event.id}"))
    assert large == small
