"""The agenda of an event: sessions (time slots, parallel tracks, breaks) and their speakers.

Like crm.events.services: validate (German ValidationFailed on the field), audit, flush at most.
Create and delete entries of sessions and speakers name their event ("event_id", see
crm.events.services.event_history), so the event's history finds them. Changes that the calendar
entry shows raise the event's SEQUENCE.
"""
import re
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from crm.audit.services import apply_changes, record, snapshot
from crm.contacts.models import Affiliation, Person
from crm.contacts.search import fold, like_escape
from crm.contacts.validation import clean
from crm.errors import ValidationFailed
from crm.events.models import Event, EventSession, SessionKind, SessionSpeaker, Statement
from crm.events.services import bump_sequence, event_key
from crm.events.times import clock, outside, short_date, to_utc
from crm.extensions import db

SESSION_FIELDS = ("kind", "starts_at", "ends_at", "track", "title", "description")
#: Session changes the calendar entry shows (the others leave SEQUENCE alone).
SESSION_CALENDAR_FIELDS = frozenset(("starts_at", "ends_at", "track", "title"))
SPEAKER_FIELDS = ("role_text", "affiliation_text")


def audit_created(entity, fields, event: Event, *, actor) -> None:
    """A create entry that names its event (see the module docstring)."""
    record("create", entity, actor=actor, changes=snapshot(entity, fields) | {"event_id": event_key(event)})


def audit_deleted(entity, fields, event: Event, *, actor) -> None:
    """A delete entry that names its event."""
    record("delete", entity, actor=actor, changes=snapshot(entity, fields) | {"event_id": event_key(event)})


# --- order ---------------------------------------------------------------------------------------


def renumber(items: list) -> None:
    """Positions 0, 1, 2, … in list order."""
    for position, item in enumerate(items):
        item.position = position


def move_item(items: list, item, direction: str, *, actor) -> bool:
    """Swap `item` with its neighbour above ("up") or below ("down"); False at either end."""
    index = items.index(item)
    other = index - 1 if direction == "up" else index + 1
    if direction not in ("up", "down") or not 0 <= other < len(items):
        return False
    ordered = list(items)
    ordered[index], ordered[other] = ordered[other], ordered[index]
    before = {id(i): i.position for i in ordered}
    renumber(ordered)
    items[:] = ordered
    for moved in (ordered[other], ordered[index]):
        record("update", moved, actor=actor, changes={"order": [before[id(moved)] + 1, moved.position + 1]})
    return True


# --- sessions ------------------------------------------------------------------------------------


def _session_values(event: Event, data: dict[str, Any], session: EventSession | None = None) -> dict[str, Any]:
    """Checked session values: a title (a break is called "Pause"), times inside the event, and
    a parallel session only in a track of its own."""
    values = clean({field: data.get(field) for field in SESSION_FIELDS})
    try:
        values["kind"] = SessionKind(values["kind"] or SessionKind.talk)
    except ValueError:
        raise ValidationFailed("kind", "Bitte wählen Sie eine Art des Programmpunkts aus der Liste.") from None
    if not values["title"]:
        if values["kind"] != SessionKind.break_:
            raise ValidationFailed("title", "Bitte geben Sie einen Titel an.")
        values["title"] = "Pause"
    starts_at, ends_at = (to_utc(values[f]) if values[f] else None for f in ("starts_at", "ends_at"))
    if ends_at and not starts_at:
        raise ValidationFailed("starts_at", "Bitte geben Sie zum Ende auch den Beginn an.")
    if starts_at and ends_at and ends_at <= starts_at:
        raise ValidationFailed("ends_at", "Das Ende muss nach dem Beginn liegen.")
    if field := outside(starts_at, ends_at, event.starts_at, event.ends_at):
        first, last = (f"{short_date(t)}, {clock(t)} Uhr" for t in (event.starts_at, event.ends_at))
        window = f"{first} bis {last}"
        raise ValidationFailed(field, f"Der Programmpunkt muss innerhalb der Veranstaltung liegen ({window}).")
    values["starts_at"], values["ends_at"] = starts_at, ends_at
    _check_track(event, values, session)
    return values


def _check_track(event: Event, values: dict[str, Any], session: EventSession | None) -> None:
    """Sessions in the same time slot run in parallel and need different tracks."""
    if values["starts_at"] is None:
        return
    track = fold(values["track"])
    for other in event.sessions:
        if other is session or (other.starts_at, other.ends_at) != (values["starts_at"], values["ends_at"]):
            continue
        if fold(other.track) == track:
            raise ValidationFailed(
                "track",
                f"Zur selben Zeit läuft schon „{other.title}“{f' in der Spur „{other.track}“' if other.track else ''}. "
                "Parallele Programmpunkte brauchen verschiedene Spuren, z. B. „Workshop A“ und „Workshop B“.",
            )


def _place_by_time(event: Event, session: EventSession) -> None:
    """Put a timed session before the first session that starts later; untimed ones go last."""
    sessions = [s for s in event.sessions if s is not session]
    index = len(sessions)
    if session.starts_at is not None:
        index = next((i for i, s in enumerate(sessions) if s.starts_at and s.starts_at > session.starts_at), index)
    sessions.insert(index, session)
    renumber(sessions)
    event.sessions[:] = sessions


def add_session(event: Event, data: dict[str, Any], *, actor) -> EventSession:
    """A new agenda item, placed in time order."""
    values = _session_values(event, data)
    session = EventSession(event=event, **values)
    db.session.add(session)
    _place_by_time(event, session)
    db.session.flush()
    audit_created(session, EventSession.AUDITED_FIELDS, event, actor=actor)
    bump_sequence(event)
    return session


def update_session(session: EventSession, data: dict[str, Any], *, actor) -> dict:
    """Change a session; a new start time moves it to its place in time order."""
    event = session.event
    current = {field: getattr(session, field) for field in SESSION_FIELDS}
    values = _session_values(event, current | {k: v for k, v in data.items() if k in SESSION_FIELDS}, session)
    changes = apply_changes(session, values)
    if "starts_at" in changes:
        _place_by_time(event, session)
    if changes:
        record("update", session, actor=actor, changes=changes)
    if SESSION_CALENDAR_FIELDS & changes.keys():
        bump_sequence(event)
    return changes


def delete_session(session: EventSession, *, actor) -> None:
    """Remove an agenda item with its speakers and statements."""
    event = session.event
    for speaker in session.speakers:
        audit_deleted(speaker, SessionSpeaker.AUDITED_FIELDS, event, actor=actor)
    for statement in session.statements:
        audit_deleted(statement, Statement.AUDITED_FIELDS, event, actor=actor)
    audit_deleted(session, EventSession.AUDITED_FIELDS, event, actor=actor)
    event.sessions.remove(session)  # delete-orphan
    renumber(event.sessions)
    bump_sequence(event)
    db.session.flush()


def move_session(session: EventSession, direction: str, *, actor) -> bool:
    """One place up or down in the agenda."""
    if move_item(session.event.sessions, session, direction, actor=actor):
        bump_sequence(session.event)
        return True
    return False


# --- speakers ------------------------------------------------------------------------------------


def printed_role(person: Person) -> tuple[str | None, str | None]:
    """Role and affiliation from the person's current primary role, as a programme prints them."""
    affiliation = person.primary_affiliation
    if affiliation is None:
        return None, None
    return affiliation.position or affiliation.department, affiliation.organization.name


def add_speaker(
    session: EventSession, person: Person, *, actor, role_text: str | None = None, affiliation_text: str | None = None
) -> SessionSpeaker:
    """Add a person to a session, last in order. Without role and affiliation both are taken from
    the person's current primary role (and can be edited later)."""
    if session.kind == SessionKind.break_:
        raise ValidationFailed("person", "Eine Pause hat keine Mitwirkenden.")
    if person.erased_at is not None:
        raise ValidationFailed("person", "Die Daten dieser Person wurden gelöscht.")
    if any(s.person_id == person.id for s in session.speakers):
        raise ValidationFailed("person", f"{person.full_name} wirkt bei diesem Programmpunkt bereits mit.")
    values = clean({"role_text": role_text, "affiliation_text": affiliation_text})
    if not any(values.values()):
        values["role_text"], values["affiliation_text"] = printed_role(person)
    speaker = SessionSpeaker(session=session, person=person, position=len(session.speakers), **values)
    db.session.add(speaker)
    db.session.flush()
    audit_created(speaker, SessionSpeaker.AUDITED_FIELDS, session.event, actor=actor)
    bump_sequence(session.event)
    return speaker


def update_speaker(speaker: SessionSpeaker, data: dict[str, Any], *, actor) -> dict:
    """Change the role and affiliation as printed (the CRM's roles stay as they are)."""
    changes = apply_changes(speaker, clean({field: data.get(field) for field in SPEAKER_FIELDS}))
    if changes:
        record("update", speaker, actor=actor, changes=changes)
    return changes


def remove_speaker(speaker: SessionSpeaker, *, actor) -> None:
    session = speaker.session
    audit_deleted(speaker, SessionSpeaker.AUDITED_FIELDS, session.event, actor=actor)
    session.speakers.remove(speaker)  # delete-orphan
    renumber(session.speakers)
    bump_sequence(session.event)
    db.session.flush()


def move_speaker(speaker: SessionSpeaker, direction: str, *, actor) -> bool:
    """One place up or down among the session's speakers."""
    if move_item(speaker.session.speakers, speaker, direction, actor=actor):
        bump_sequence(speaker.session.event)
        return True
    return False


# --- choosing a person ---------------------------------------------------------------------------

_PERSON_ID = re.compile(r"\(Nr\. (\d+)\)$")


def _people() -> sa.Select:
    return (
        sa.select(Person)
        .where(Person.erased_at.is_(None))
        .options(selectinload(Person.affiliations).joinedload(Affiliation.organization))
    )


def person_label(person: Person) -> str:
    """How a person is named in the speaker field: "Marc Groß, KGSt (Nr. 12)"; resolve_person reads it back."""
    affiliation = person.primary_affiliation
    return f"{person.full_name}{f', {affiliation.organization.name}' if affiliation else ''} (Nr. {person.id})"


def find_people(text: str, limit: int = 10) -> list[Person]:
    """People whose name, email, organization or function contain every word of `text`."""
    terms = fold(text).split()
    if not terms:
        return []
    conditions = [
        sa.or_(*(key.like(f"%{like_escape(t)}%", escape="\\") for key in (Person.search_key, Person.context_key))) for t in terms
    ]
    order = (Person.last_name, Person.first_name, Person.id)
    return db.session.scalars(_people().where(*conditions).order_by(*order).limit(limit)).all()


def resolve_person(text: str | None, *, field: str = "person") -> Person:
    """The person the office chose: a suggestion ("… (Nr. 12)") or a name that fits exactly one person."""
    text = (text or "").strip()
    if match := _PERSON_ID.search(text):
        person = db.session.scalar(_people().where(Person.id == int(match.group(1))))
        if person is not None:
            return person
    matches = find_people(_PERSON_ID.sub("", text), limit=2)
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise ValidationFailed(field, f"Keine Person „{text}“ gefunden. Bitte legen Sie sie zuerst unter „Personen“ an.")
    raise ValidationFailed(field, f"„{text}“ passt auf mehrere Personen. Bitte wählen Sie aus der Vorschlagsliste.")
