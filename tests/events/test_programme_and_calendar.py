"""The printable programme and the .ics download (read back with the icalendar package)."""
import re
from datetime import date

import icalendar
import pytest

from crm.events.models import EventStatus
from tests.events.office import at, workshop
from tests.html import page_text


@pytest.fixture()
def office(login):
    return login("office")


@pytest.fixture()
def event(make, db):
    return workshop(
        make, db, subtitle="Welche Rollen spielen Städte und Gemeinden im Digitalen Zeitalter?", street="Messedamm 26",
        postal_code="14055", guiding_questions=["Wer entwickelt eigentlich die Drehbücher zur Digitalisierung?"],
        partners=["Innovators' Club"],
    )  # fmt: skip


def test_the_programme_reads_like_a_printed_programme(client, office, event):
    markup = client.get(f"/veranstaltungen/{event.id}/programm").get_data(as_text=True)
    page = page_text(markup)
    assert "Kommune 2.0 e. V. & Innovators' Club Workshop Zukunftsworkshop „Drehbuch Digitale Kommune“" in page
    assert "Welche Rollen spielen Städte und Gemeinden im Digitalen Zeitalter?" in page
    assert "Datum Dienstag, 20. November 2018 Zeit 11:30–13:00 Uhr Ort CityCube Berlin, Workshop-Raum M8 Messedamm 26, 14055 Berlin" in page
    assert "Leitfragen Wer entwickelt eigentlich die Drehbücher zur Digitalisierung?" in page
    assert "11:30–11:40 Eröffnung Alexander Handschuh Sprecher des Deutschen Städte- und Gemeindebunds Anika Krellmann Moderation" in page
    assert "Partner und Mitveranstalter Innovators' Club" in page
    assert "window.print()" in markup  # a print button; the print styles are in app.css


def test_parallel_sessions_are_columns_of_the_timetable(client, office, event):
    markup = client.get(f"/veranstaltungen/{event.id}/programm").get_data(as_text=True)
    rows = re.findall(r"<tr class=\"([^\"]*)\">(.*?)</tr>", markup, flags=re.S)
    assert [page_text(re.search(r"<th[^>]*>(.*?)</th>", row).group(1)) for _, row in rows] == ["11:30–11:40", "12:10–12:50", "12:50"]
    css, parallel = rows[1]
    assert css == "parallel"
    cells = re.findall(r"<td([^>]*)>(.*?)</td>", parallel, flags=re.S)
    assert [page_text(body) for _, body in cells] == ["Workshopsession 1 Aufgabe der Kommunen", "Workshopsession 2 Rollen der Verwaltungsspitze"]
    assert 'colspan="2"' in rows[0][1] and "colspan" not in parallel  # single sessions span both columns


def test_an_all_day_event_prints_only_its_date(client, db, make, office):
    event = make.draft_event(title="Regionalkonferenz Kiel", all_day=True, starts_at=at("2016-01-27 00:00"), ends_at=at("2016-01-27 23:59"), city="Kiel")
    db.session.commit()
    page = page_text(client.get(f"/veranstaltungen/{event.id}/programm").get_data(as_text=True))
    assert "Datum Mittwoch, 27. Januar 2016 Ort Kiel" in page
    assert "Zeit" not in page.split("Datum")[1]


def calendar_entry(client, event) -> icalendar.Event:
    response = client.get(f"/veranstaltungen/{event.id}/kalender.ics")
    assert response.status_code == 200 and response.mimetype == "text/calendar"
    assert response.headers["Content-Disposition"] == 'attachment; filename="zukunftsworkshop-drehbuch-digitale-kommune.ics"'
    [entry] = icalendar.Calendar.from_ical(response.get_data()).walk("VEVENT")
    return entry


def test_the_calendar_file_updates_after_an_agenda_change(client, db, office, event):
    first = calendar_entry(client, event)
    assert (first["SUMMARY"], first["SEQUENCE"]) == ("Zukunftsworkshop „Drehbuch Digitale Kommune“", 0)
    assert first.decoded("DTSTART") == at("2018-11-20 11:30") and first.decoded("DTEND") == at("2018-11-20 13:00")
    assert str(first["LOCATION"]) == "CityCube Berlin, Workshop-Raum M8, Messedamm 26, 14055 Berlin"
    url = f"/veranstaltungen/{event.id}/ablauf"
    client.post(url, data={"starts_at": "11:40", "title": "Impulse aus der Praxis", "kind": "talk"})
    second = calendar_entry(client, event)
    assert second["UID"] == first["UID"]
    assert second["SEQUENCE"] == 1
    assert "11:40 Impulse aus der Praxis" in str(second["DESCRIPTION"])
    client.post(f"/veranstaltungen/programmpunkte/{event.sessions[0].id}/verschieben", data={"direction": "down"})
    assert calendar_entry(client, event)["SEQUENCE"] == 2


def test_a_cosmetic_change_keeps_the_calendar_version(client, db, office, event):
    from tests.contacts.pages import main_form

    form = main_form(client.get(f"/veranstaltungen/{event.id}/bearbeiten").get_data(as_text=True))
    client.post(f"/veranstaltungen/{event.id}/bearbeiten", data=form | {"description": "Mit Kaffee und Kuchen."})
    assert calendar_entry(client, event)["SEQUENCE"] == 0


def test_an_all_day_event_is_a_date_in_the_calendar_and_a_cancelled_one_says_so(client, db, make, office):
    event = make.draft_event(title="Zukunftsworkshop Drehbuch Digitale Kommune", all_day=True, status=EventStatus.published,
                       starts_at=at("2016-01-27 00:00"), ends_at=at("2016-01-27 23:59"))  # fmt: skip
    db.session.commit()
    entry = calendar_entry(client, event)
    assert (entry.decoded("DTSTART"), entry.decoded("DTEND")) == (date(2016, 1, 27), date(2016, 1, 28))
    client.post(f"/veranstaltungen/{event.id}/status", data={"status": "cancelled"})
    response = client.get(f"/veranstaltungen/{event.id}/kalender.ics")
    calendar = icalendar.Calendar.from_ical(response.get_data())
    assert calendar["METHOD"] == "CANCEL"
    assert (calendar.walk("VEVENT")[0]["STATUS"], calendar.walk("VEVENT")[0]["SEQUENCE"]) == ("CANCELLED", 1)
