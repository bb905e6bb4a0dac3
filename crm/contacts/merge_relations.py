"""Everything else that points at a person: how a merge moves it to the kept person, and how the undo
gives it back.

The database would otherwise decide for the merge: deleting the merged-away person deletes its
invitations, programme roles, requests and links (ON DELETE CASCADE) and cuts its statements, mails
and sign-ups loose (SET NULL). RELATIONS names every such table (a test fails for a new one that is
neither here nor in HANDLED_IN_MERGE).

Most rows just change owner. Where a person may hold something only once (one invitation per event,
one place per programme item, one mail per mailing) and both records hold it, one stays:
- invitations and programme roles: the one with more information (rules below); the other is
  deleted, and the merge record keeps a full copy, so that the undo recreates it with the same id,
  status and link. A link to the one that gave way opens the one that stayed (crm.events.links).
- mails: both deliveries stay in the mailing's ledger (counts, bounces and unsubscribes still find
  them); the kept person's history shows its own, the other's is set aside without a person (if it
  still waits in the queue, it is then skipped: the person gets the mailing once).
PersonMerge.moved records per relation the ids that moved ("<key>"), the copies of rows that gave
way ("given_way") and the rows set aside ("set_aside").
"""
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Any, Callable

import sqlalchemy as sa
from sqlalchemy.orm import aliased

from crm.audit.models import AuditLog, jsonable
from crm.auth.models import AccessToken
from crm.contacts.models import Consent, DuplicateDismissal, Person, PersonMerge
from crm.events.models import Invitation, InvitationStatus, SessionSpeaker, Statement
from crm.extensions import db
from crm.mail.models import Delivery
from crm.members.models import Membership
from crm.newsletters.models import Signup
from crm.portal.models import ChangeRequest

#: Tables crm.contacts.merge deals with itself (the person, topics, roles, login, merges, "kein Duplikat").
HANDLED_IN_MERGE = {"people", "person_tags", "affiliations", "users", "person_merges", "duplicate_dismissals"}

ANSWERED = (InvitationStatus.accepted, InvitationStatus.tentative, InvitationStatus.declined, InvitationStatus.waitlisted)
NEVER = datetime.min.replace(tzinfo=timezone.utc)

#: Which of two invitations to the same event stays: the first rule that tells them apart decides,
#: with (invitation, the other one); if none does, the kept person's stays. An answer is what the
#: person last said, except that a place at the event is not given up for a place on the waitlist.
INVITATION_RULES = (
    ("die Einladung mit Anwesenheit bleibt", lambda i, other: i.checked_in_at is not None),
    ("die nicht stornierte Einladung bleibt", lambda i, other: i.status != InvitationStatus.cancelled),
    ("die Einladung mit Antwort bleibt", lambda i, other: i.status in ANSWERED),
    ("die Einladung mit Platz bleibt, nicht die auf der Warteliste",
     lambda i, other: i.status == InvitationStatus.accepted and other.status == InvitationStatus.waitlisted),
    ("die Einladung mit der neueren Antwort bleibt", lambda i, other: i.responded_at or NEVER),
    ("die bereits versandte Einladung bleibt", lambda i, other: i.status != InvitationStatus.planned),
    ("die Einladung des behaltenen Datensatzes bleibt", lambda i, other: 0),
)  # fmt: skip
SPEAKER_RULES = (
    ("die Mitwirkung mit mehr Angaben im Programm bleibt", lambda s, other: bool(s.role_text) + bool(s.affiliation_text)),
    ("die Mitwirkung des behaltenen Datensatzes bleibt", lambda s, other: 0),
)


def _prefer(rules) -> Callable[[Any, Any], tuple[Any, str]]:
    def prefer(mine, theirs):
        """(the row that stays, why in German) of the kept person's row and the removed person's; the
        last rule tells nothing apart: it is why the kept person's stays when no other rule decides."""
        for why, weight in rules:
            if (a := weight(mine, theirs)) != (b := weight(theirs, mine)):
                return (mine if a > b else theirs), why
        return mine, why

    return prefer


@dataclass(frozen=True)
class Relation:
    #: Its entry in PersonMerge.moved (memberships, consents and audit kept their names from before).
    key: str
    model: type
    #: German, on the merge page and in the merge's audit entry.
    label: str
    #: With person_id a unique key: a person holds one row per value of these columns.
    once_per: tuple[str, ...] = ()
    #: For a row both hold: which stays (see _prefer); None: the removed person's is set aside.
    prefer: Callable[[Any, Any], tuple[Any, str]] | None = None
    #: The office's note on a row both hold, given the row that stays and why.
    note: Callable[[Any, str], str] | None = None
    #: Left out of the copy of a row that gives way: health data must not outlive its deletion after the event.
    not_copied: tuple[str, ...] = ()


RELATIONS = (
    Relation("memberships", Membership, "Mitgliedschaften"),
    Relation("consents", Consent, "Einwilligungen (Nachweis)"),
    Relation("requests", ChangeRequest, "Anträge an die Geschäftsstelle"),
    Relation(
        "invitations", Invitation, "Einladungen", once_per=("event_id",), prefer=_prefer(INVITATION_RULES),
        note=lambda i, why: f"Beide sind zu „{i.event.title}“ eingeladen: {why} ({i.status.label}).", not_copied=("needs",),
    ),
    Relation(
        "speakers", SessionSpeaker, "Mitwirkungen im Programm", once_per=("session_id",), prefer=_prefer(SPEAKER_RULES),
        note=lambda s, why: f"Beide wirken bei „{s.session.title}“ ({s.session.event.title}) mit: {why}.",
    ),
    Relation("statements", Statement, "Aussagen in Veranstaltungsberichten"),
    Relation("deliveries", Delivery, "E-Mails im Versandprotokoll", once_per=("mailing", "subject_id")),
    Relation("signups", Signup, "Newsletter-Anmeldungen"),
    # The personal links go with the login, which moves too: an open address confirmation was asked
    # for by the same member and still applies (it changes the address of the login's person).
    Relation("links", AccessToken, "Persönliche Links"),
    Relation("audit", AuditLog, "Einträge der Änderungshistorie"),
)  # fmt: skip


def _both_hold(relation: Relation, mine_id: int, theirs_id: int) -> list[tuple[Any, Any]]:
    """Rows both people hold (the same values of once_per), as (the first person's, the second's)."""
    if not relation.once_per:
        return []
    mine, theirs = aliased(relation.model), aliased(relation.model)
    same = [getattr(mine, column) == getattr(theirs, column) for column in relation.once_per]
    stmt = sa.select(mine, theirs).join(theirs, sa.and_(*same)).where(mine.person_id == mine_id, theirs.person_id == theirs_id)
    return [tuple(row) for row in db.session.execute(stmt.order_by(mine.id))]


def _set_aside_note(count: int) -> str:
    return (f"{count} {'Mailing ging' if count == 1 else 'Mailings gingen'} an beide: bei der behaltenen Person steht je eine Zustellung, "
            "die andere bleibt ohne Person im Versandprotokoll.")  # fmt: skip


def _notes(relation: Relation, pairs) -> list[str]:
    if relation.prefer is None:
        return [_set_aside_note(len(pairs))] if pairs else []
    return [relation.note(*relation.prefer(mine, theirs)) for mine, theirs in pairs]


def preview(keep_id: int, remove_id: int) -> tuple[list[tuple[str, int, int]], list[str]]:
    """For the merge page: (label, count of the first, of the second) per relation that either holds,
    and what happens to what both hold if the first is kept."""
    counts, notes = [], []
    for relation in RELATIONS:
        model = relation.model
        found = dict(db.session.execute(
            sa.select(model.person_id, sa.func.count()).where(model.person_id.in_((keep_id, remove_id))).group_by(model.person_id)
        ).all())  # fmt: skip
        if found:
            counts.append((relation.label, found.get(keep_id, 0), found.get(remove_id, 0)))
        notes += _notes(relation, _both_hold(relation, keep_id, remove_id))
    return counts, notes


def _copy(relation: Relation, row) -> dict:
    return {c.key: None if c.key in relation.not_copied else jsonable(getattr(row, c.key)) for c in row.__table__.columns}


def move(keep_id: int, remove_id: int) -> tuple[dict[str, Any], list[str]]:
    """Give the kept person everything of the removed one; returns what the merge record keeps for the
    undo, and the notes on what both held (for the audit entry)."""
    moved: dict[str, Any] = {"given_way": {}, "set_aside": {}}
    notes = []
    for relation in RELATIONS:
        model, pairs = relation.model, _both_hold(relation, keep_id, remove_id)
        notes += _notes(relation, pairs)
        if relation.prefer is None and pairs:
            moved["set_aside"][relation.key] = [theirs.id for _, theirs in pairs]
            db.session.execute(sa.update(model).where(model.id.in_(moved["set_aside"][relation.key])).values(person_id=None))
        elif pairs:
            copies = moved["given_way"][relation.key] = []
            for mine, theirs in pairs:
                stays, _ = relation.prefer(mine, theirs)
                gone = theirs if stays is mine else mine
                copies.append({"owner": "removed" if gone is theirs else "kept", "row": _copy(relation, gone)})
                db.session.delete(gone)
            db.session.flush()  # the kept person's row gives way before the removed person's takes its place
        moved[relation.key] = db.session.scalars(sa.select(model.id).where(model.person_id == remove_id)).all()
        if moved[relation.key]:
            db.session.execute(sa.update(model).where(model.id.in_(moved[relation.key])).values(person_id=keep_id))
    return moved, notes


def _value(column: sa.Column, value: Any) -> Any:
    """A copied value back in the column's Python type."""
    column_type = column.type.impl if isinstance(column.type, sa.types.TypeDecorator) else column.type
    if value is None or isinstance(column_type, sa.JSON):
        return value
    if isinstance(column_type, (sa.DateTime, sa.Date)):
        return (datetime if isinstance(column_type, sa.DateTime) else date).fromisoformat(value)
    if isinstance(column_type, sa.Enum) and column_type.enum_class is not None:
        return column_type.enum_class(value)
    return value


def _recreate(relation: Relation, row: dict, person_id: int) -> str | None:
    """The row as it was; or, when it cannot be, why not (German): its place (e.g. the invitation to
    that event) was taken since, or what it belongs to is gone (e.g. the programme item was deleted).
    It keeps its id unless another row has it since (SQLite hands out the ids of deleted rows again)."""
    model = relation.model
    same_place = sa.and_(model.person_id == person_id, *(getattr(model, c) == row[c] for c in relation.once_per))
    if relation.once_per and db.session.scalar(sa.select(model.id).where(same_place).limit(1)) is not None:
        return "die Person hat dort inzwischen einen neueren Eintrag"
    if any(_gone(key, row.get(key.parent.key)) for key in model.__table__.foreign_keys if key.parent.key != "person_id"):
        return "worauf er sich bezog, wurde inzwischen gelöscht"
    values = {c.key: _value(c, row.get(c.key)) for c in model.__table__.columns}
    if db.session.get(model, row["id"]) is not None:
        del values["id"]
    db.session.add(model(**{**values, "person_id": person_id}))
    return None


def _gone(key: sa.ForeignKey, value: Any) -> bool:
    return value is not None and db.session.scalar(sa.select(key.column).where(key.column == value)) is None


def give_back(moved: dict[str, Any], keep_id: int, restored_id: int) -> list[str]:
    """The undo of move(): what moved goes back (if still the kept person's), set-aside rows return,
    and rows that gave way are recreated for their owner. Returns what could not be recreated, in German
    for the office (nothing is left out silently)."""
    not_restored = []
    for relation in RELATIONS:
        model = relation.model
        if ids := moved.get(relation.key):
            db.session.execute(
                sa.update(model).where(model.id.in_(ids), model.person_id == keep_id).values(person_id=restored_id)
            )
        if ids := moved.get("set_aside", {}).get(relation.key):
            db.session.execute(sa.update(model).where(model.id.in_(ids), model.person_id.is_(None)).values(person_id=restored_id))
        db.session.flush()  # the moved row is back with its owner before the one that gave way returns
        for item in moved.get("given_way", {}).get(relation.key, []):
            if why := _recreate(relation, item["row"], keep_id if item["owner"] == "kept" else restored_id):
                not_restored.append(f"{relation.label}: Nr. {item['row']['id']} nicht wiederhergestellt, {why}.")
        db.session.flush()
    return not_restored


def given_way(key: str, column: str, value: str) -> tuple[PersonMerge, dict] | None:
    """A row that gave way in a merge still in force, found by a distinctive value (an old link's
    digest), with its merge; the text search only narrows down the few merges to look into."""
    candidates = db.session.scalars(
        sa.select(PersonMerge).where(PersonMerge.undone_at.is_(None), sa.cast(PersonMerge.moved, sa.Text).contains(value))
    )
    for merge in candidates:
        for item in merge.moved.get("given_way", {}).get(key, []):
            if item["row"].get(column) == value:
                return merge, item["row"]
    return None


# --- "Kein Duplikat" -------------------------------------------------------------------------------------------


def move_dismissals(keep_id: int, remove_id: int) -> dict[str, Any]:
    """What the office said of the removed person ("not the same as X") holds for the kept one."""
    rows = db.session.scalars(sa.select(DuplicateDismissal).where(
        sa.or_(DuplicateDismissal.person_a_id == remove_id, DuplicateDismissal.person_b_id == remove_id)
    )).all()  # fmt: skip
    said = [{"other": d.person_a_id + d.person_b_id - remove_id, "created_at": jsonable(d.created_at)} for d in rows]
    already = _dismissed_with(keep_id)
    added = sorted({s["other"] for s in said} - already - {keep_id})
    db.session.add_all(DuplicateDismissal(person_a_id=min(keep_id, o), person_b_id=max(keep_id, o)) for o in added)
    return {"dismissals": said, "dismissals_added": added}


def _dismissed_with(person_id: int) -> set[int]:
    pairs = db.session.execute(sa.select(DuplicateDismissal.person_a_id, DuplicateDismissal.person_b_id).where(
        sa.or_(DuplicateDismissal.person_a_id == person_id, DuplicateDismissal.person_b_id == person_id)
    ))  # fmt: skip
    return {a + b - person_id for a, b in pairs}


def give_back_dismissals(moved: dict[str, Any], keep_id: int, restored_id: int) -> None:
    for other in moved.get("dismissals_added", []):
        db.session.execute(sa.delete(DuplicateDismissal).where(
            DuplicateDismissal.person_a_id == min(keep_id, other), DuplicateDismissal.person_b_id == max(keep_id, other)
        ))  # fmt: skip
    said_before = moved.get("dismissals", [])
    existing = set(db.session.scalars(sa.select(Person.id).where(Person.id.in_([s["other"] for s in said_before]))))
    existing -= _dismissed_with(restored_id)
    for said in said_before:
        if said["other"] in existing:
            a, b = sorted((restored_id, said["other"]))
            when = datetime.fromisoformat(said["created_at"])
            db.session.add(DuplicateDismissal(person_a_id=a, person_b_id=b, created_at=when))
