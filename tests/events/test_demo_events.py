"""The demo events from the association's documents, loaded through the services."""
from datetime import date

import pytest
import sqlalchemy as sa

from crm.demo.loader import load_demo
from crm.events.models import Event, EventKind, EventStatus
from crm.events.summaries import review_markdown
from crm.events.times import local
from tests.events.office import at
from tests.html import page_text


@pytest.fixture()
def demo(db):
    refs = load_demo()
    db.session.commit()
    return refs["events"]


def speakers_of(session) -> list[tuple[str, str]]:
    return [(s.person.full_name, ", ".join(p for p in (s.role_text, s.affiliation_text) if p)) for s in session.speakers]


def test_the_berlin_workshop_with_its_agenda_and_room_m8(demo):
    event = demo["zukunftsworkshop_2018"]
    assert (event.title, event.kind, event.status) == ("Zukunftsworkshop „Drehbuch Digitale Kommune“", EventKind.workshop, EventStatus.done)
    assert (event.starts_at, event.ends_at, event.all_day) == (at("2018-11-20 11:30"), at("2018-11-20 13:00"), False)
    assert (event.venue, event.room, event.city) == ("CityCube Berlin", "Workshop-Raum M8", "Berlin")
    assert event.street is None and event.postal_code is None  # not in the documents
    assert len(event.guiding_questions) == 4 and event.partners == ["Innovators' Club"]
    assert [(local(s.starts_at).strftime("%H:%M"), s.track, s.title) for s in event.sessions] == [
        ("11:30", None, "Eröffnung des Zukunftsworkshops"),
        ("11:40", None, "Impulse aus der Praxis"),
        ("12:10", None, "Einführung in den Workshop"),
        ("12:10", "Workshopsession 1", "Was ist überhaupt die Aufgabe der Städte und Gemeinden im digitalen Zeitalter?"),
        ("12:10", "Workshopsession 2", "Welche Rollen kommen auf die HauptverwaltungsbeamtInnen und politischen Vertreter zu?"),
        ("12:50", None, "Präsentation der Ergebnisse"),
    ]
    opening, impulses, introduction = event.sessions[:3]
    assert speakers_of(opening) == [("Alexander Handschuh", "Sprecher des Deutschen Städte- und Gemeindebunds")]
    assert speakers_of(impulses) == [
        ("Michael Dreier", "Bürgermeister, Stadt Paderborn"), ("Nicole Huber", "Stadtdirektorin, Stadt Heidelberg"),
        ("Christoph Meineke", "Bürgermeister, Gemeinde Wennigsen (Deister)"),
    ]  # fmt: skip
    assert speakers_of(introduction) == [
        ("Marc Groß", "Kommune 2.0-Koordinator „Digitale Ökosysteme für Kommunen“, KGSt"), ("Anika Krellmann", "Mitglied des Kommune 2.0 e. V., KGSt"),
    ]  # fmt: skip


def test_the_freiburg_assembly_with_six_speakers_and_five_guiding_questions(demo):
    event = demo["mv6_freiburg"]
    assert (event.kind, event.city, event.all_day, event.status) == (EventKind.general_assembly, "Freiburg im Breisgau", True, EventStatus.done)
    assert event.guiding_questions == [
        "Wie kann die lokale Politik begeistert werden?", "Wie werden Mitarbeiter der Verwaltung „mitgenommen“?",
        "Welche Rolle spielen kommunale Unternehmen?", "Welche Rolle spielt die regionale Wirtschaft?",
        "Wie muss die Zivilgesellschaft eingebunden werden?",
    ]  # fmt: skip
    speakers = [s for session in event.sessions for s in session.speakers if s.role_text != "Moderation"]
    assert [s.person.last_name for s in speakers] == ["Brunzel", "Baumgartner", "Hardtner", "Scheffler", "Rethmann", "Mohrbacher"]
    assert speakers_of(event.sessions[0]) == [("Ivan Acimovic", "Moderation, Fraunhofer Institut IESE"), ("Marc Groß", "Moderation, KGSt")]
    assert [s.title for s in event.sessions[1:]] == [
        "Metropolregion Rhein Neckar", "Digitales Heidelberg", "Pforzheim digital", "Digitalisierungszentrum Merseburg",
        "#freiburg_gestalten", "DIGIHUB Südbaden",
    ]  # fmt: skip


def test_nine_regional_conferences_with_their_dates_and_cities(db, demo):
    conferences = db.session.scalars(
        sa.select(Event).where(Event.kind == EventKind.regional_conference).order_by(Event.starts_at)
    ).all()
    assert [(local(e.starts_at).date(), e.city) for e in conferences] == [
        (date(2015, 9, 30), "Stuttgart"), (date(2015, 10, 8), "Delmenhorst"), (date(2015, 10, 19), "Köln"),
        (date(2015, 12, 2), "Frankenthal"), (date(2016, 1, 27), "Kiel"), (date(2016, 4, 13), "Brehna"),
        (date(2016, 9, 7), "Schwerte"), (date(2016, 10, 18), "München"), (date(2016, 11, 2), "Saarbrücken"),
    ]  # fmt: skip
    assert all(e.all_day and e.status == EventStatus.done for e in conferences)
    assert all(e.partners[0] == "Vitako – Bundes-Arbeitsgemeinschaft der Kommunalen IT-Dienstleister" for e in conferences)


def test_demo_events_are_finished_with_calendar_version_0_and_show_up_in_the_list(client, login, demo):
    past = {key: e for key, e in demo.items() if key != "webinar_oekosysteme"}  # the demo newsletter's upcoming event
    assert {(e.status, e.ical_sequence) for e in past.values()} == {(EventStatus.done, 0)}
    assert demo["webinar_oekosysteme"].status == EventStatus.published
    login("office")
    page = page_text(client.get("/veranstaltungen/?year=2016").get_data(as_text=True))
    assert "5 Veranstaltungen" in page and "Regionalkonferenz Saarbrücken" in page
    workshop = demo["zukunftsworkshop_2018"]
    programme = page_text(client.get(f"/veranstaltungen/{workshop.id}/programm").get_data(as_text=True))
    assert "Dienstag, 20. November 2018" in programme and "Workshop-Raum M8" in programme
    freiburg = client.get(f"/veranstaltungen/{demo['mv6_freiburg'].id}/programm").get_data(as_text=True)
    assert "Datum Donnerstag, 28. November 2019 Ort Freiburg im Breisgau Mit der Entwicklung" in page_text(freiburg)
    assert '<th scope="row"' not in freiburg  # no times in the agenda: no time column


def test_the_berlin_workshop_has_its_review_with_theses_and_bold_leads(demo):
    event = demo["zukunftsworkshop_2018"]
    opening, impulses, introduction = event.sessions[:3]
    assert [s.person.last_name for s in opening.statements] == ["Handschuh"] * 10
    assert opening.statements[2].lead == "Digitalisierung ist ein Prozess, kein Projekt."
    assert all(s.lead and s.question is None for s in opening.statements + impulses.statements)
    assert [s.person.last_name for s in impulses.statements] == ["Dreier"] * 3 + ["Huber"] * 2 + ["Meineke"] * 3
    assert opening.summary and impulses.summary and introduction.summary and not introduction.statements
    markdown = review_markdown(event)
    assert markdown.startswith("### Eröffnung des Zukunftsworkshops\n\n")
    assert "**Michael Dreier** (Bürgermeister, Stadt Paderborn)\n\n1. **Kommunen sind der Motor der Digitalisierung.** Weil" in markdown
    assert "### Präsentation der Ergebnisse" not in markdown  # nothing written about it


def test_the_freiburg_assembly_has_answers_to_the_guiding_questions(demo):
    event = demo["mv6_freiburg"]
    statements = [s for session in event.sessions for s in session.statements]
    answered = {(s.person.last_name, s.question) for s in statements if s.question is not None}
    # Every speaker answers the questions their statement paper answers (of five).
    assert {name: sorted(q + 1 for n, q in answered if n == name) for name, _ in answered} == {
        "Brunzel": [1, 2, 3, 4, 5], "Baumgartner": [1, 2, 3, 5], "Hardtner": [1, 2, 3, 4, 5],
        "Scheffler": [1, 2, 3, 4, 5], "Rethmann": [1, 2, 5], "Mohrbacher": [4],
    }  # fmt: skip
    assert len(answered) == sum(1 for s in statements if s.question is not None)  # one answer per speaker and question
    # Each speaker's statements belong to their own session of the programme.
    assert all(s.person_id in {sp.person_id for sp in s.session.speakers} for s in statements)
    markdown = review_markdown(event)
    assert "#### Leitfrage: Wie kann die lokale Politik begeistert werden?\n\n**Marco Brunzel** (Leitung Digitalisierung" in markdown
    assert "### #freiburg_gestalten" in markdown and "#### Weitere Aussagen" in markdown


def test_the_review_pages_show_the_demo(client, login, demo):
    login("office")
    freiburg = demo["mv6_freiburg"]
    by_question = page_text(client.get(f"/veranstaltungen/{freiburg.id}/rueckblick/leitfragen").get_data(as_text=True))
    regional = by_question[by_question.index("Leitfrage 4:") : by_question.index("Leitfrage 5:")]
    assert [name for name in ("Marco Brunzel", "Sabrina Hardtner", "Sirko Scheffler", "Dr. Julia Mohrbacher") if name in regional] == [
        "Marco Brunzel", "Sabrina Hardtner", "Sirko Scheffler", "Dr. Julia Mohrbacher",
    ]  # fmt: skip
    berlin = demo["zukunftsworkshop_2018"]
    by_session = client.get(f"/veranstaltungen/{berlin.id}/rueckblick").get_data(as_text=True)
    assert "<strong>Digitalisierung ist ein Prozess, kein Projekt.</strong>" in by_session
