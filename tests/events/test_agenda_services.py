"""Agenda services: sessions in time order, inside the event, parallel only in different tracks,
breaks, reordering; speakers with the role as printed (from the CRM unless typed); choosing a person."""
import pytest
import sqlalchemy as sa

from crm.audit.models import AuditLog
from crm.errors import ValidationFailed
from crm.events import agenda
from crm.events.display import agenda_rows
from crm.events.services import create_event
from crm.extensions import utcnow
from tests.events.office import at, event_data, workshop


@pytest.fixture()
def office(make):
    return make.user(role="office")


@pytest.fixture()
def event(make, db):
    return workshop(make, db)


def titles(event) -> list[str]:
    return [s.title for s in event.sessions]


def test_sessions_take_their_place_in_time_order_untimed_ones_last(db, office, event):
    agenda.add_session(event, {"title": "Ohne Uhrzeit"}, actor=office)
    agenda.add_session(event, {"title": "Impulse aus der Praxis", "starts_at": at("2018-11-20 11:40")}, actor=office)
    assert titles(event) == [
        "Eröffnung", "Impulse aus der Praxis", "Aufgabe der Kommunen", "Rollen der Verwaltungsspitze",
        "Präsentation der Ergebnisse", "Ohne Uhrzeit",
    ]  # fmt: skip
    assert [s.position for s in event.sessions] == list(range(6))


def test_parallel_sessions_form_one_row(db, event):
    assert [[s.title for s in row] for row in agenda_rows(event.sessions)] == [
        ["Eröffnung"], ["Aufgabe der Kommunen", "Rollen der Verwaltungsspitze"], ["Präsentation der Ergebnisse"],
    ]  # fmt: skip


def test_a_break_is_called_pause_unless_named(db, office, event):
    session = agenda.add_session(event, {"kind": "break", "starts_at": at("2018-11-20 11:40"), "ends_at": at("2018-11-20 11:50")}, actor=office)
    assert (session.title, session.kind.label) == ("Pause", "Pause")
    with pytest.raises(ValidationFailed, match="Eine Pause hat keine Mitwirkenden."):
        agenda.add_speaker(session, event.sessions[0].speakers[0].person, actor=office)


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"title": ""}, "title", "Bitte geben Sie einen Titel an."),
        ({"kind": "party"}, "kind", "Bitte wählen Sie eine Art des Programmpunkts aus der Liste."),
        ({"ends_at": at("2018-11-20 12:00")}, "starts_at", "Bitte geben Sie zum Ende auch den Beginn an."),
        ({"starts_at": at("2018-11-20 12:00"), "ends_at": at("2018-11-20 11:45")}, "ends_at", "Das Ende muss nach dem Beginn liegen."),
        ({"starts_at": at("2018-11-20 11:00")}, "starts_at",
         "Der Programmpunkt muss innerhalb der Veranstaltung liegen (20.11.2018, 11:30 Uhr bis 20.11.2018, 13:00 Uhr)."),
        ({"starts_at": at("2018-11-20 12:50"), "ends_at": at("2018-11-20 13:10")}, "ends_at",
         "Der Programmpunkt muss innerhalb der Veranstaltung liegen (20.11.2018, 11:30 Uhr bis 20.11.2018, 13:00 Uhr)."),
        ({"starts_at": at("2018-11-21 11:30")}, "starts_at",
         "Der Programmpunkt muss innerhalb der Veranstaltung liegen (20.11.2018, 11:30 Uhr bis 20.11.2018, 13:00 Uhr)."),
    ],
)  # fmt: skip
def test_session_refusals(db, office, event, data, field, message):
    with pytest.raises(ValidationFailed) as refused:
        agenda.add_session(event, {"title": "Neu"} | data, actor=office)
    assert (refused.value.field, refused.value.message) == (field, message)


def test_the_same_slot_needs_a_different_track(db, office, event):
    slot = {"starts_at": at("2018-11-20 12:10"), "ends_at": at("2018-11-20 12:50"), "title": "Dritte Session"}
    with pytest.raises(ValidationFailed) as refused:
        agenda.add_session(event, slot | {"track": "workshopsession 1"}, actor=office)
    assert refused.value.field == "track"
    assert refused.value.message.startswith("Zur selben Zeit läuft schon „Aufgabe der Kommunen“ in der Spur „Workshopsession 1“.")
    third = agenda.add_session(event, slot | {"track": "Workshopsession 3"}, actor=office)
    assert [s.title for s in agenda_rows(event.sessions)[1]] == ["Aufgabe der Kommunen", "Rollen der Verwaltungsspitze", "Dritte Session"]
    # moving a session into an occupied slot and track is refused as well
    with pytest.raises(ValidationFailed, match="Zur selben Zeit läuft schon „Aufgabe der Kommunen“"):
        agenda.update_session(third, {"track": "Workshopsession 1"}, actor=office)


def test_all_day_events_take_sessions_at_any_time_of_their_days(db, office):
    event = create_event(event_data(all_day=True, starts_at=at("2015-09-30 00:00"), ends_at=at("2015-10-01 00:00")), actor=office)
    late = agenda.add_session(event, {"title": "Abendempfang", "starts_at": at("2015-10-01 19:00")}, actor=office)
    assert late.starts_at == at("2015-10-01 19:00")


def test_moving_swaps_neighbours_and_audits_the_new_order(db, office, event):
    results = event.sessions[-1]
    assert agenda.move_session(results, "up", actor=office) is True
    assert titles(event)[-2:] == ["Präsentation der Ergebnisse", "Rollen der Verwaltungsspitze"]
    assert agenda.move_session(event.sessions[0], "up", actor=office) is False
    assert agenda.move_session(event.sessions[-1], "down", actor=office) is False
    entry = db.session.scalar(sa.select(AuditLog).where(AuditLog.entity_type == "event_sessions", AuditLog.entity_id == results.id, AuditLog.action == "update"))
    assert entry.changes == {"order": [4, 3]}
    db.session.commit()
    db.session.expire_all()
    assert titles(event)[-2:] == ["Präsentation der Ergebnisse", "Rollen der Verwaltungsspitze"]  # as stored


def test_a_new_start_time_puts_a_session_in_its_place(db, office, event):
    results = event.sessions[-1]
    agenda.update_session(results, {"starts_at": at("2018-11-20 11:45")}, actor=office)
    assert titles(event)[:2] == ["Eröffnung", "Präsentation der Ergebnisse"]
    assert event.ical_sequence == 1


def test_a_session_description_does_not_touch_the_calendar(db, office, event):
    changes = agenda.update_session(event.sessions[0], {"description": "Begrüßung"}, actor=office)
    assert changes == {"description": [None, "Begrüßung"]}
    assert event.ical_sequence == 0


def test_deleting_a_session_takes_its_speakers_and_renumbers(db, office, event):
    opening = event.sessions[0]
    agenda.delete_session(opening, actor=office)
    assert titles(event)[0] == "Aufgabe der Kommunen"
    assert [s.position for s in event.sessions] == [0, 1, 2]
    deleted = db.session.scalars(sa.select(AuditLog).where(AuditLog.action == "delete")).all()
    assert sorted(e.entity_type for e in deleted) == ["event_sessions", "session_speakers", "session_speakers"]
    assert {e.changes["event_id"] for e in deleted} == {str(event.id)}
    assert event.ical_sequence == 1


# --- speakers ------------------------------------------------------------------------------------


@pytest.fixture()
def mayor(make, db):
    """Michael Dreier, Bürgermeister der Stadt Paderborn (his primary role) and Kreistag member."""
    person = make.person(first_name="Michael", last_name="Dreier")
    make.affiliation(person, make.organization(name="Stadt Paderborn"), position="Bürgermeister", is_primary=True)
    make.affiliation(person, make.organization(name="Kreis Paderborn"), position="Kreistagsmitglied", is_primary=False)
    return person


def test_a_speaker_without_role_and_affiliation_gets_them_from_the_crm(db, office, event, mayor):
    speaker = agenda.add_speaker(event.sessions[1], mayor, actor=office)
    assert (speaker.role_text, speaker.affiliation_text) == ("Bürgermeister", "Stadt Paderborn")
    assert event.ical_sequence == 1
    entry = db.session.scalar(sa.select(AuditLog).where(AuditLog.entity_type == "session_speakers", AuditLog.entity_id == speaker.id))
    assert (entry.person_id, entry.changes["event_id"]) == (mayor.id, str(event.id))  # shows in his history too


def test_the_printed_role_may_differ_from_the_crm(db, office, event, mayor):
    speaker = agenda.add_speaker(event.sessions[1], mayor, actor=office, role_text="Bürgermeister a. D.", affiliation_text="")
    assert (speaker.role_text, speaker.affiliation_text) == ("Bürgermeister a. D.", None)
    db.session.commit()
    assert agenda.update_speaker(speaker, {"role_text": "Bürgermeister", "affiliation_text": "Stadt Paderborn"}, actor=office)
    assert mayor.primary_affiliation.position == "Bürgermeister"  # the CRM role is untouched
    assert event.ical_sequence == 1  # the printed role is not in the calendar entry


def test_a_person_speaks_once_per_session(db, office, event):
    person = event.sessions[0].speakers[0].person
    with pytest.raises(ValidationFailed) as refused:
        agenda.add_speaker(event.sessions[0], person, actor=office)
    assert (refused.value.field, refused.value.message) == ("person", "Alexander Handschuh wirkt bei diesem Programmpunkt bereits mit.")


def test_speakers_keep_their_order_and_can_be_moved_and_removed(db, make, office, event):
    opening = event.sessions[0]
    third = agenda.add_speaker(opening, make.person(first_name="Marc", last_name="Groß"), actor=office)
    assert [s.person.last_name for s in opening.speakers] == ["Handschuh", "Krellmann", "Groß"]
    agenda.move_speaker(third, "up", actor=office)
    assert [s.person.last_name for s in opening.speakers] == ["Handschuh", "Groß", "Krellmann"]
    agenda.remove_speaker(opening.speakers[0], actor=office)
    assert [(s.person.last_name, s.position) for s in opening.speakers] == [("Groß", 0), ("Krellmann", 1)]


# --- choosing a person ---------------------------------------------------------------------------


def test_a_suggestion_names_the_person_exactly(db, make, mayor):
    make.person(first_name="Michael", last_name="Dreier", email="der.andere@example.org")
    label = agenda.person_label(mayor)
    assert label == f"Michael Dreier, Stadt Paderborn (Nr. {mayor.id})"
    assert agenda.resolve_person(label) is mayor


def test_a_name_is_enough_when_only_one_person_fits(db, make, mayor):
    assert agenda.resolve_person("dreier paderborn") is mayor
    assert agenda.resolve_person("Bürgermeister Dreier") is mayor  # the function counts too


def test_unknown_or_ambiguous_people_are_refused_in_german(db, make, mayor):
    with pytest.raises(ValidationFailed, match="Keine Person „Niemand“ gefunden. Bitte legen Sie sie zuerst unter „Personen“ an."):
        agenda.resolve_person("Niemand")
    make.person(first_name="Michaela", last_name="Dreier")
    with pytest.raises(ValidationFailed, match="„Dreier“ passt auf mehrere Personen. Bitte wählen Sie aus der Vorschlagsliste."):
        agenda.resolve_person("Dreier")


def test_erased_people_are_not_offered(db, make, mayor):
    mayor.erased_at = utcnow()
    assert agenda.find_people("dreier") == []
