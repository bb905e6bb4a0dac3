"""Events: create, edit, guarded status changes, delete, history, and the calendar SEQUENCE.

Every function validates (a German ValidationFailed on the field), writes the audit entry and
flushes at most; the caller commits. Times arrive as aware datetimes (people enter Berlin time)
and are stored in UTC. The agenda (sessions and speakers) lives in crm.events.agenda.

SEQUENCE rule: a downloaded .ics file must update when something its calendar entry shows
changes: title, subtitle, times, place, online link, status and the agenda (sessions added,
deleted, moved, their times, titles and tracks; speakers added, removed, moved). Description,
guiding questions, partners, capacity, RSVP deadline, kind, a session's description or kind and a
speaker's printed role are not in the calendar entry and leave SEQUENCE alone.
"""
import uuid
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import Session

from crm.audit.models import AuditLog
from crm.audit.services import apply_changes, record, snapshot
from crm.contacts.validation import clean, postal_code_error, url_error
from crm.errors import ValidationFailed
from crm.events.models import Event, EventKind, EventSession, EventStatus, Invitation, SessionSpeaker, Statement
from crm.events.times import DAY_END, berlin, clock, local, outside, short_date, to_utc, wall_clock
from crm.extensions import db, utcnow

#: What the edit form changes; the status only changes through change_status().
EDITABLE_FIELDS = (
    "title", "subtitle", "kind", "starts_at", "ends_at", "all_day", "venue", "room", "street", "postal_code", "city",
    "online_url", "description", "guiding_questions", "partners", "capacity", "rsvp_deadline",
)  # fmt: skip

#: Changes to these raise the calendar SEQUENCE (see the module docstring).
CALENDAR_FIELDS = frozenset(
    ("title", "subtitle", "starts_at", "ends_at", "all_day", "venue", "room", "street", "postal_code", "city",
     "online_url", "status")
)  # fmt: skip

STATUS_TRANSITIONS: dict[EventStatus, tuple[EventStatus, ...]] = {
    EventStatus.draft: (EventStatus.published,),
    EventStatus.published: (EventStatus.done, EventStatus.cancelled),
    EventStatus.cancelled: (),
    EventStatus.done: (),
}

_BUMPED = "crm.events.sequence_bumped"


# --- calendar SEQUENCE ---------------------------------------------------------------------------


def bump_sequence(event: Event) -> None:
    """Raise the event's .ics SEQUENCE by one, at most once per transaction (one save = one step)."""
    bumped = db.session.info.setdefault(_BUMPED, set())
    if event.id in bumped:
        return
    bumped.add(event.id)
    event.ical_sequence = (event.ical_sequence or 0) + 1


@sa.event.listens_for(Session, "after_transaction_end")
def _forget_bumps(session, transaction) -> None:
    """A new transaction (the next request or save) may bump again."""
    if transaction.parent is None:
        session.info.pop(_BUMPED, None)


def new_ical_uid() -> str:
    """A UID that never changes and is unique world-wide (RFC 5545: "…@host")."""
    host = urlsplit(current_app.config["BASE_URL"]).hostname or "crm"
    return f"event-{uuid.uuid4().hex}@{host}"


# --- validation ----------------------------------------------------------------------------------


def _lines(values) -> list[str]:
    """Guiding questions or partners: the non-empty entries, trimmed, in order."""
    if isinstance(values, str):
        values = values.splitlines()
    return [v.strip() for v in values or [] if v and v.strip()]


def _kind(value) -> EventKind:
    try:
        return EventKind(value)
    except ValueError:
        raise ValidationFailed("kind", "Bitte wählen Sie eine Art der Veranstaltung aus der Liste.") from None


def _check_times(values: dict[str, Any]) -> None:
    """Start and end exist and are in order; all-day events span whole Berlin days."""
    if values["starts_at"] is None:
        raise ValidationFailed("starts_at", "Bitte geben Sie den Beginn an (Datum und Uhrzeit).")
    if values["ends_at"] is None:
        raise ValidationFailed("ends_at", "Bitte geben Sie das Ende an.")
    starts_at, ends_at = to_utc(values["starts_at"]), to_utc(values["ends_at"])
    if values["all_day"]:
        if local(ends_at).date() < local(starts_at).date():
            raise ValidationFailed("ends_at", "Der letzte Tag darf nicht vor dem ersten liegen.")
        starts_at, ends_at = berlin(local(starts_at).date()), berlin(local(ends_at).date(), DAY_END)
    elif ends_at <= starts_at:
        raise ValidationFailed("ends_at", "Das Ende muss nach dem Beginn liegen.")
    values["starts_at"], values["ends_at"] = starts_at, ends_at
    deadline = values["rsvp_deadline"]
    if deadline is not None:
        values["rsvp_deadline"] = deadline = to_utc(deadline)
        if deadline >= starts_at:
            raise ValidationFailed("rsvp_deadline", "Der Anmeldeschluss muss vor dem Beginn der Veranstaltung liegen.")


def _validated(values: dict[str, Any]) -> dict[str, Any]:
    """The event's editable values checked and normalized (UTC times, lists, enum)."""
    values = clean(values)
    if not values["title"]:
        raise ValidationFailed("title", "Bitte geben Sie einen Titel an.")
    values["kind"] = _kind(values["kind"])
    values["all_day"] = bool(values["all_day"])
    _check_times(values)
    capacity = values["capacity"]
    if capacity is not None and (not isinstance(capacity, int) or capacity < 1):
        raise ValidationFailed("capacity", "Bitte mindestens 1 Platz angeben – oder das Feld leer lassen.")
    for field, check in (("online_url", url_error), ("postal_code", postal_code_error)):
        if message := check(values[field]):
            raise ValidationFailed(field, message)
    values["guiding_questions"] = _lines(values["guiding_questions"])
    values["partners"] = _lines(values["partners"])
    return values


# --- the agenda follows the event's times --------------------------------------------------------


def _fit_agenda(event: Event, starts_at: datetime, ends_at: datetime, *, actor) -> None:
    """Keep the agenda inside the event's new times.

    Moved as a whole (same length, e.g. postponed by a week), the agenda moves along on the Berlin
    wall clock; otherwise every timed session must still fit, or the change is refused.
    """
    old_start, old_end = event.starts_at, event.ends_at
    if old_start is None or not event.sessions or (starts_at, ends_at) == (old_start, old_end):
        return
    delta = wall_clock(starts_at) - wall_clock(old_start)
    if wall_clock(ends_at) - wall_clock(starts_at) == wall_clock(old_end) - wall_clock(old_start):
        for session in event.sessions:
            times = {f: getattr(session, f) for f in ("starts_at", "ends_at")}
            moved = {f: to_utc(wall_clock(value) + delta) for f, value in times.items() if value}
            if changes := apply_changes(session, moved):
                record("update", session, actor=actor, changes=changes)
        return
    for session in event.sessions:
        if outside(session.starts_at, session.ends_at, starts_at, ends_at):
            raise ValidationFailed(
                "starts_at" if session.starts_at and session.starts_at < starts_at else "ends_at",
                f"Der Programmpunkt „{session.title}“ ({short_date(session.starts_at)}, {clock(session.starts_at)} Uhr) läge "
                "außerhalb der neuen Zeiten. Bitte passen Sie zuerst den Ablauf an.",
            )


# --- create, update, status, delete --------------------------------------------------------------


def create_event(data: dict[str, Any], *, actor) -> Event:
    """A new event in status draft, with a fresh calendar UID (SEQUENCE 0)."""
    values = _validated({field: data.get(field) for field in EDITABLE_FIELDS})
    event = Event(status=EventStatus.draft, ical_uid=new_ical_uid(), ical_sequence=0, **values)
    db.session.add(event)
    db.session.flush()
    db.session.info.setdefault(_BUMPED, set()).add(event.id)  # nobody has the file yet: nothing to update
    record("create", event, actor=actor, changes=snapshot(event, Event.AUDITED_FIELDS))
    return event


def update_event(event: Event, data: dict[str, Any], *, actor) -> dict:
    """Change the editable fields given in `data`; returns {field: [old, new]} of what changed."""
    current = {field: getattr(event, field) for field in EDITABLE_FIELDS}
    values = _validated(current | {k: v for k, v in data.items() if k in EDITABLE_FIELDS})
    if len(values["guiding_questions"]) < len(event.guiding_questions or []):
        _keep_answered_questions(event, values["guiding_questions"])
    _fit_agenda(event, values["starts_at"], values["ends_at"], actor=actor)
    changes = apply_changes(event, values)
    if changes:
        record("update", event, actor=actor, changes=changes)
    if CALENDAR_FIELDS & changes.keys():
        bump_sequence(event)
    return changes


def _keep_answered_questions(event: Event, questions: list[str]) -> None:
    """Statements name their guiding question by its number: a shorter list must not drop an answered one."""
    answered = sa.select(sa.func.max(Statement.question)).join(EventSession).where(EventSession.event_id == event.id)
    highest = db.session.scalar(answered)
    if highest is not None and highest >= len(questions):
        raise ValidationFailed(
            "guiding_questions", f"Im Rückblick gibt es Antworten auf Leitfrage {highest + 1}. Bitte ordnen Sie diese Aussagen "
            "zuerst einer anderen Leitfrage zu (oder keiner), bevor Sie die Leitfrage streichen."
        )  # fmt: skip


def next_statuses(event: Event) -> tuple[EventStatus, ...]:
    """The statuses this event may be changed to now."""
    return STATUS_TRANSITIONS[event.status]


def _refuse_transition(event: Event, target: EventStatus) -> ValidationFailed:
    if event.status == target:
        message = f"Die Veranstaltung ist bereits „{target.label}“."
    elif not next_statuses(event):
        message = f"Die Veranstaltung ist {event.status.label}; das lässt sich nicht mehr ändern."
    else:
        message = f"Eine Veranstaltung mit Status „{event.status.label}“ kann nicht auf „{target.label}“ gesetzt werden."
    return ValidationFailed("status", message)


def change_status(event: Event, status: str, *, actor) -> dict:
    """Draft → published → done, published → cancelled; cancelled and done are final.

    An event is done only once it has begun.
    """
    try:
        target = EventStatus(status)
    except ValueError:
        raise ValidationFailed("status", "Diesen Status gibt es nicht.") from None
    if target not in next_statuses(event):
        raise _refuse_transition(event, target)
    if target == EventStatus.done and event.starts_at > utcnow():
        raise ValidationFailed(
            "status",
            f"Eine Veranstaltung kann erst abgeschlossen werden, wenn sie begonnen hat ({short_date(event.starts_at)}).",
        )
    changes = apply_changes(event, {"status": target})
    record("update", event, actor=actor, changes=changes)
    bump_sequence(event)
    return changes


def delete_event(event: Event, *, actor) -> None:
    """Delete a draft with its agenda; published events are cancelled instead, never deleted."""
    if event.status != EventStatus.draft:
        raise ValidationFailed(
            None, "Nur Entwürfe können gelöscht werden. Eine veröffentlichte Veranstaltung sagen Sie bitte ab."
        )
    if db.session.scalar(sa.select(sa.func.count()).where(Invitation.event_id == event.id)):
        raise ValidationFailed(None, "Zu diesem Entwurf gibt es bereits Einladungen. Bitte entfernen Sie sie zuerst.")
    for session in event.sessions:
        for speaker in session.speakers:
            record("delete", speaker, actor=actor, changes=snapshot(speaker, SessionSpeaker.AUDITED_FIELDS))
        for statement in session.statements:
            record("delete", statement, actor=actor, changes=snapshot(statement, Statement.AUDITED_FIELDS))
        record("delete", session, actor=actor, changes=snapshot(session, EventSession.AUDITED_FIELDS))
    record("delete", event, actor=actor, changes=snapshot(event, Event.AUDITED_FIELDS))
    db.session.delete(event)
    db.session.flush()


# --- history -------------------------------------------------------------------------------------


def event_key(event: Event) -> str:
    """How agenda audit entries name their event: the id as text, which compares alike on SQLite and
    PostgreSQL and needs no cast (an erased speaker's entry reads "[gelöscht]" instead)."""
    return str(event.id)


def _ids_created_for(entity_type: str, event: Event) -> sa.Select:
    """Ids of the sessions or speakers ever added to the event (their create entries name it)."""
    return sa.select(AuditLog.entity_id).where(
        AuditLog.entity_type == entity_type,
        AuditLog.action == "create",
        AuditLog.changes["event_id"].as_string() == event_key(event),
    )


def event_history(event: Event, limit: int = 100) -> list[AuditLog]:
    """The audit entries of the event and of its sessions, speakers and statements (also deleted ones), newest first."""
    parts = [sa.and_(AuditLog.entity_type == Event.__tablename__, AuditLog.entity_id == event.id)]
    for table in (EventSession.__tablename__, SessionSpeaker.__tablename__, Statement.__tablename__):
        parts.append(sa.and_(AuditLog.entity_type == table, AuditLog.entity_id.in_(_ids_created_for(table, event))))
    return db.session.scalars(sa.select(AuditLog).where(sa.or_(*parts)).order_by(AuditLog.id.desc()).limit(limit)).all()
