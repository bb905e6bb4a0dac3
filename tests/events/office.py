"""Shared pieces of the office event tests: Berlin times, a workshop with an agenda, and an assembly
whose speakers answer guiding questions."""
from datetime import datetime
from zoneinfo import ZoneInfo

from crm.events import agenda
from crm.events.services import create_event

BERLIN = ZoneInfo("Europe/Berlin")


def at(text: str) -> datetime:
    """ "2018-11-20 11:30" in Berlin time (aware)."""
    return datetime.fromisoformat(text).replace(tzinfo=BERLIN)


def event_data(day: str = "2018-11-20", **overrides) -> dict:
    """Valid service data for the Berlin workshop (20.11.2018, 11:30–13:00)."""
    return {
        "title": "Zukunftsworkshop „Drehbuch Digitale Kommune“", "kind": "workshop",
        "starts_at": at(f"{day} 11:30"), "ends_at": at(f"{day} 13:00"),
        "venue": "CityCube Berlin", "room": "Workshop-Raum M8", "city": "Berlin",
    } | overrides  # fmt: skip


def workshop(make, db, day: str = "2018-11-20", **overrides):
    """The Berlin workshop with opening, two parallel workshop sessions and results, and two speakers.

    Committed, so that the next save (a request or the test's next step) may raise SEQUENCE again.
    """
    event = create_event(event_data(day, **overrides), actor=None)
    opening = agenda.add_session(event, {"title": "Eröffnung", "starts_at": at(f"{day} 11:30"), "ends_at": at(f"{day} 11:40")}, actor=None)
    slot = {"starts_at": at(f"{day} 12:10"), "ends_at": at(f"{day} 12:50"), "kind": "workshop"}
    agenda.add_session(event, slot | {"title": "Aufgabe der Kommunen", "track": "Workshopsession 1"}, actor=None)
    agenda.add_session(event, slot | {"title": "Rollen der Verwaltungsspitze", "track": "Workshopsession 2"}, actor=None)
    agenda.add_session(event, {"title": "Präsentation der Ergebnisse", "starts_at": at(f"{day} 12:50"), "kind": "plenary"}, actor=None)
    speaker = make.person(first_name="Alexander", last_name="Handschuh")
    agenda.add_speaker(opening, speaker, actor=None, role_text="Sprecher des Deutschen Städte- und Gemeindebunds")
    agenda.add_speaker(opening, make.person(first_name="Anika", last_name="Krellmann"), actor=None, role_text="Moderation")
    db.session.commit()
    return event


#: Two of the Freiburg assembly's guiding questions.
QUESTIONS = ["Wie kann die lokale Politik begeistert werden?", "Welche Rolle spielt die regionale Wirtschaft?"]


def assembly(make, db):
    """An assembly with two guiding questions and two speakers, each in a session of their own
    (Brunzel for the Metropolregion Rhein Neckar, Hardtner for Pforzheim). Committed."""
    event = create_event(event_data(title="6. Mitgliederversammlung", guiding_questions=QUESTIONS), actor=None)
    for title, first, last, role, organization in (
        ("Metropolregion Rhein Neckar", "Marco", "Brunzel", "Leitung Digitalisierung und E-Government", "Metropolregion Rhein Neckar"),
        ("Pforzheim digital", "Sabrina", "Hardtner", "Leiterin des OB-Büros", "Stadt Pforzheim"),
    ):  # fmt: skip
        session = agenda.add_session(event, {"title": title}, actor=None)
        agenda.add_speaker(session, make.person(first_name=first, last_name=last), actor=None, role_text=role, affiliation_text=organization)
    db.session.commit()
    return event
