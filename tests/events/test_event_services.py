"""Event services: Berlin times stored in UTC, German refusals on the field, guarded status changes,
the calendar SEQUENCE (once per save, only for what the calendar shows), delete and history."""
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from crm.audit.models import AuditLog
from crm.errors import ValidationFailed
from crm.events import agenda
from crm.events.models import Event, EventStatus, Invitation
from crm.events.services import change_status, create_event, delete_event, event_history, update_event
from crm.extensions import utcnow
from tests.events.office import at, event_data, workshop

UTC = timezone.utc


@pytest.fixture()
def office(make):
    return make.user(role="office")


def test_create_stores_berlin_times_in_utc_as_a_draft_with_a_new_calendar_uid(db, office):
    event = create_event(event_data(guiding_questions=["  Wer schreibt die Drehbücher? ", ""], partners="Innovators' Club\n"), actor=office)
    assert (event.starts_at, event.ends_at) == (datetime(2018, 11, 20, 10, 30, tzinfo=UTC), datetime(2018, 11, 20, 12, 0, tzinfo=UTC))
    assert (event.status, event.ical_sequence, event.all_day) == (EventStatus.draft, 0, False)
    assert event.ical_uid.startswith("event-") and event.ical_uid.endswith("@crm.test")
    assert event.guiding_questions == ["Wer schreibt die Drehbücher?"]
    assert event.partners == ["Innovators' Club"]
    entry = db.session.scalar(sa.select(AuditLog).where(AuditLog.entity_type == "events", AuditLog.entity_id == event.id))
    assert (entry.action, entry.actor_id, entry.changes["room"]) == ("create", office.id, "Workshop-Raum M8")


def test_summer_time_is_two_hours_ahead_of_utc(db, office):
    event = create_event(event_data(starts_at=at("2019-06-13 10:00"), ends_at=at("2019-06-13 16:00")), actor=office)
    assert event.starts_at == datetime(2019, 6, 13, 8, 0, tzinfo=UTC)


def test_an_all_day_event_spans_whole_berlin_days(db, office):
    event = create_event(event_data(all_day=True, starts_at=at("2015-09-30 14:00"), ends_at=at("2015-10-01 09:00")), actor=office)
    assert event.starts_at == at("2015-09-30 00:00")
    assert event.ends_at == at("2015-10-01 23:59")


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"title": "  "}, "title", "Bitte geben Sie einen Titel an."),
        ({"kind": "party"}, "kind", "Bitte wählen Sie eine Art der Veranstaltung aus der Liste."),
        ({"starts_at": None}, "starts_at", "Bitte geben Sie den Beginn an (Datum und Uhrzeit)."),
        ({"ends_at": at("2018-11-20 11:30")}, "ends_at", "Das Ende muss nach dem Beginn liegen."),
        ({"all_day": True, "ends_at": at("2018-11-19 12:00")}, "ends_at", "Der letzte Tag darf nicht vor dem ersten liegen."),
        ({"rsvp_deadline": at("2018-11-20 11:30")}, "rsvp_deadline", "Der Anmeldeschluss muss vor dem Beginn der Veranstaltung liegen."),
        ({"capacity": 0}, "capacity", "Bitte mindestens 1 Platz angeben – oder das Feld leer lassen."),
        ({"online_url": "meet.example.org/k20"}, "online_url", "Bitte eine vollständige Adresse mit http:// oder https:// angeben, z. B. https://www.example.org."),
        ({"postal_code": "1419"}, "postal_code", "Eine deutsche Postleitzahl hat genau 5 Ziffern."),
    ],
)
def test_refusals_are_german_and_name_the_field(db, office, overrides, field, message):
    with pytest.raises(ValidationFailed) as refused:
        create_event(event_data(**overrides), actor=office)
    assert (refused.value.field, refused.value.message) == (field, message)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Event)) == 0


# --- status --------------------------------------------------------------------------------------

ALLOWED = {("draft", "published"), ("published", "done"), ("published", "cancelled")}


@pytest.mark.parametrize("start", [s.value for s in EventStatus])
@pytest.mark.parametrize("target", [s.value for s in EventStatus])
def test_only_the_allowed_status_changes_happen(db, make, office, start, target):
    event = make.draft_event(status=EventStatus(start))
    if (start, target) in ALLOWED:
        change_status(event, target, actor=office)
        assert event.status == target
        return
    with pytest.raises(ValidationFailed) as refused:
        change_status(event, target, actor=office)
    assert refused.value.field == "status"
    assert event.status == start
    if start == target:
        assert refused.value.message == f"Die Veranstaltung ist bereits „{EventStatus(start).label}“."
    elif start in ("done", "cancelled"):
        assert refused.value.message == f"Die Veranstaltung ist {EventStatus(start).label}; das lässt sich nicht mehr ändern."


def test_an_event_is_done_only_once_it_has_begun(db, make, office):
    event = make.draft_event(status=EventStatus.published, starts_at=utcnow() + timedelta(days=3))
    with pytest.raises(ValidationFailed, match="erst abgeschlossen werden, wenn sie begonnen hat"):
        change_status(event, "done", actor=office)


def test_unknown_status_is_refused(db, make, office):
    with pytest.raises(ValidationFailed, match="Diesen Status gibt es nicht."):
        change_status(make.draft_event(), "archived", actor=office)


# --- calendar SEQUENCE ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "change",
    [{"title": "Neuer Titel"}, {"starts_at": at("2018-11-20 11:00")}, {"room": "Raum M9"}, {"city": "Potsdam"},
     {"online_url": "https://meet.example.org/k20"}, {"all_day": True}],
)  # fmt: skip
def test_what_the_calendar_shows_raises_the_sequence(db, make, office, change):
    event = workshop(make, db)
    update_event(event, change, actor=office)
    assert event.ical_sequence == 1


@pytest.mark.parametrize(
    "change",
    [{"description": "Mit Kaffee."}, {"guiding_questions": ["Wer?"]}, {"partners": ["Vitako"]}, {"capacity": 40},
     {"rsvp_deadline": at("2018-11-13 12:00")}, {"kind": "conference"}, {"title": "Zukunftsworkshop „Drehbuch Digitale Kommune“"}],
)  # fmt: skip
def test_what_the_calendar_does_not_show_leaves_the_sequence(db, make, office, change):
    event = workshop(make, db)
    update_event(event, change, actor=office)
    assert event.ical_sequence == 0


def test_one_save_raises_the_sequence_once_the_next_save_again(db, make, office):
    event = workshop(make, db)
    update_event(event, {"title": "Zukunftswerkstatt"}, actor=office)
    agenda.add_session(event, {"title": "Pause", "kind": "break", "starts_at": at("2018-11-20 12:00")}, actor=office)
    change_status(event, "published", actor=office)
    assert event.ical_sequence == 1
    db.session.commit()
    update_event(event, {"room": "Raum M9"}, actor=office)
    assert event.ical_sequence == 2


def test_a_new_event_starts_at_sequence_0_however_much_is_added_in_the_same_save(db, office):
    event = create_event(event_data(), actor=office)
    agenda.add_session(event, {"title": "Eröffnung", "starts_at": at("2018-11-20 11:30")}, actor=office)
    change_status(event, "published", actor=office)
    assert event.ical_sequence == 0


# --- the agenda follows the event -----------------------------------------------------------------


def test_postponing_moves_the_agenda_along_on_the_berlin_clock(db, make, office):
    event = workshop(make, db, day="2018-10-25")
    opening = event.sessions[0]
    # a week later, after the end of summer time: 11:30 stays 11:30 in Berlin
    update_event(event, {"starts_at": at("2018-11-01 11:30"), "ends_at": at("2018-11-01 13:00")}, actor=office)
    assert opening.starts_at == at("2018-11-01 11:30")
    assert [s.starts_at for s in event.sessions if s.starts_at][-1] == at("2018-11-01 12:50")
    assert event.ical_sequence == 1


def test_a_shorter_event_must_still_hold_its_agenda(db, make, office):
    event = workshop(make, db)
    with pytest.raises(ValidationFailed) as refused:
        update_event(event, {"ends_at": at("2018-11-20 12:30")}, actor=office)
    assert refused.value.field == "ends_at"
    assert "„Aufgabe der Kommunen“ (20.11.2018, 12:10 Uhr) läge außerhalb der neuen Zeiten" in refused.value.message


def test_update_returns_and_audits_only_real_changes(db, make, office):
    event = workshop(make, db)
    assert update_event(event, {"venue": "CityCube Berlin", "room": "Raum M9"}, actor=office) == {"room": ["Workshop-Raum M8", "Raum M9"]}
    assert update_event(event, {"room": "Raum M9"}, actor=office) == {}


# --- delete and history ---------------------------------------------------------------------------


def test_only_drafts_without_invitations_can_be_deleted(db, make, office):
    published = make.draft_event(status=EventStatus.published)
    with pytest.raises(ValidationFailed, match="Nur Entwürfe können gelöscht werden"):
        delete_event(published, actor=office)
    invited = make.draft_event()
    db.session.add(Invitation(event=invited, person=make.person(), token_digest="a" * 64))
    with pytest.raises(ValidationFailed, match="bereits Einladungen"):
        delete_event(invited, actor=office)


def test_deleting_a_draft_removes_its_agenda_and_leaves_the_history(db, make, office):
    event = workshop(make, db)
    event_id = event.id
    delete_event(event, actor=office)
    assert db.session.get(Event, event_id) is None
    deleted = db.session.scalars(sa.select(AuditLog.entity_type).where(AuditLog.action == "delete")).all()
    assert sorted(deleted) == ["event_sessions"] * 4 + ["events"] + ["session_speakers"] * 2


def test_history_shows_the_event_its_sessions_and_speakers_also_deleted_ones(db, make, office):
    event, other = workshop(make, db), workshop(make, db)
    results = event.sessions[-1]
    agenda.delete_session(results, actor=office)
    update_event(event, {"room": "Raum M9"}, actor=office)
    history = event_history(event)
    assert [(e.entity_type, e.action) for e in history[:3]] == [("events", "update"), ("event_sessions", "delete"), ("session_speakers", "create")]
    assert {e.entity_type for e in history} == {"events", "event_sessions", "session_speakers"}
    assert len(history) == 1 + 4 + 2 + 2  # create event, 4 sessions, 2 speakers; delete; update
    assert not {e.id for e in history} & {e.id for e in event_history(other)}


def test_history_survives_the_erasure_of_a_speaker(db, make, office):
    from crm.privacy.erasure import erase_person

    event = workshop(make, db)
    speaker = event.sessions[0].speakers[0].person
    erase_person(speaker, actor=office)
    db.session.commit()
    history = event_history(event)  # no failing cast of "[gelöscht]" (PostgreSQL)
    assert {e.entity_type for e in history} == {"events", "event_sessions", "session_speakers"}
    db.session.expire_all()
    assert [s.person.last_name for s in event.sessions[0].speakers] == ["Krellmann"]
