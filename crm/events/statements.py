"""After the event: a summary per session and the speakers' statements (theses, or answers to one of
the event's guiding questions).

Like crm.events.agenda: validate (German ValidationFailed on the field), audit, flush at most; the
caller commits. Create and delete entries name their event, so the event's history finds them.
None of this is in the calendar entry, so the .ics SEQUENCE stays as it is.
"""
from typing import Any

from crm.audit.services import apply_changes, record
from crm.contacts.models import Person
from crm.contacts.validation import clean
from crm.errors import ValidationFailed
from crm.events.agenda import audit_created, audit_deleted, move_item, renumber
from crm.events.models import EventSession, SessionKind, Statement
from crm.extensions import db

SUMMARY_MAX_LENGTH = 20000
LEAD_MAX_LENGTH = 500
BODY_MAX_LENGTH = 20000


def _not_a_break(session: EventSession, field: str | None) -> None:
    if session.kind == SessionKind.break_:
        raise ValidationFailed(field, "Zu einer Pause gibt es keinen Rückblick.")


def _too_long(field: str, value: str | None, limit: int) -> None:
    if value and len(value) > limit:
        raise ValidationFailed(field, f"Bitte höchstens {limit:,} Zeichen (jetzt {len(value):,}).".replace(",", "."))


def update_summary(session: EventSession, text: str | None, *, actor) -> dict:
    """The session's summary (Markdown); empty removes it."""
    _not_a_break(session, "summary")
    summary = clean({"summary": text})["summary"]
    _too_long("summary", summary, SUMMARY_MAX_LENGTH)
    changes = apply_changes(session, {"summary": summary})
    if changes:
        record("update", session, actor=actor, changes=changes)
    return changes


# --- statements ----------------------------------------------------------------------------------


def question_index(guiding_questions: list[str] | None, value: Any) -> int | None:
    """The 0-based index of a guiding question from a form value ("" or None: no question)."""
    if value is None or value == "":
        return None
    questions = guiding_questions or []
    try:
        index = int(value)
    except (TypeError, ValueError):
        index = -1
    if 0 <= index < len(questions):
        return index
    if not questions:
        raise ValidationFailed(
            "question", "Diese Veranstaltung hat keine Leitfragen. Bitte lassen Sie das Feld leer "
            "oder tragen Sie die Leitfragen zuerst bei der Veranstaltung ein."
        )  # fmt: skip
    raise ValidationFailed("question", f"Diese Leitfrage gibt es nicht. Bitte wählen Sie eine der {len(questions)} Leitfragen aus der Liste.")


def _check_speaker(session: EventSession, person: Person | None, current: Statement | None) -> Person | None:
    """Who said it: one of the session's speakers (anyone when the programme names nobody). A
    statement keeps its person even after they left the programme, as long as nobody changes it."""
    if person is None:
        if current is not None and current.person_id is None:
            return None  # the speaker's record was deleted; the statement stays without a name
        raise ValidationFailed("person", "Bitte wählen Sie aus, wer die Aussage gemacht hat.")
    if current is not None and current.person_id == person.id:
        return person
    if person.erased_at is not None:
        raise ValidationFailed("person", "Die Daten dieser Person wurden gelöscht.")
    if session.speakers and all(s.person_id != person.id for s in session.speakers):
        names = ", ".join(s.person.full_name for s in session.speakers)
        raise ValidationFailed(
            "person", f"{person.full_name} wirkt bei „{session.title}“ nicht mit. Bitte wählen Sie eine der Mitwirkenden "
            f"({names}) oder fügen Sie die Person zuerst im Ablauf hinzu."
        )  # fmt: skip
    return person


def _statement_values(session: EventSession, person: Person | None, data: dict[str, Any], current: Statement | None) -> dict:
    _not_a_break(session, None)
    values = clean({"lead": data.get("lead"), "body": data.get("body")})
    if not values["lead"] and not values["body"]:
        raise ValidationFailed("body", "Bitte geben Sie die Aussage ein: einen Leitsatz, einen Text oder beides.")
    _too_long("lead", values["lead"], LEAD_MAX_LENGTH)
    _too_long("body", values["body"], BODY_MAX_LENGTH)
    values["question"] = question_index(session.event.guiding_questions, data.get("question"))
    speaker = _check_speaker(session, person, current)
    values["person_id"] = speaker.id if speaker else None
    return values


def add_statement(session: EventSession, person: Person | None, data: dict[str, Any], *, actor) -> Statement:
    """A statement of `person` in `session`, last in order. `data`: lead, body, question (index or "")."""
    values = _statement_values(session, person, data, None)
    # The position is taken before the new row exists: loading the collection afterwards would
    # autoflush it with position 0 and sort it in among the first.
    position = max((s.position for s in session.statements), default=-1) + 1
    statement = Statement(session=session, position=position, **values)
    db.session.add(statement)
    db.session.flush()
    audit_created(statement, Statement.AUDITED_FIELDS, session.event, actor=actor)
    return statement


def update_statement(statement: Statement, person: Person | None, data: dict[str, Any], *, actor) -> dict:
    values = _statement_values(statement.session, person, data, statement)
    changes = apply_changes(statement, values)
    if changes:
        record("update", statement, actor=actor, changes=changes)
    return changes


def delete_statement(statement: Statement, *, actor) -> None:
    session = statement.session
    audit_deleted(statement, Statement.AUDITED_FIELDS, session.event, actor=actor)
    session.statements.remove(statement)  # delete-orphan
    renumber(session.statements)
    db.session.flush()


def move_statement(statement: Statement, direction: str, *, actor) -> bool:
    """One place up or down among the session's statements."""
    return move_item(statement.session.statements, statement, direction, actor=actor)
