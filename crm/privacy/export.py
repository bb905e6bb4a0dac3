"""Everything stored about one person (Art. 15 DSGVO), as data for a JSON download and a page.

SECTIONS lists one reader per table that holds personal data of a person; a test fails when a
model with a person reference is added without a reader here (and without an eraser in erasure.py).
"""
import json
import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Callable

import sqlalchemy as sa
from flask import Response

from crm.audit.labels import ACTION_LABELS, ENTITY_LABELS
from crm.audit.models import AuditLog, jsonable
from crm.auth.models import AccessToken, LoginAttempt, Role, User
from crm.contacts.merge_relations import RELATIONS
from crm.contacts.models import (
    Affiliation, Consent, ConsentChannel, ConsentMethod, DuplicateDismissal, Person, PersonMerge, Salutation, Tag, person_tags,
)  # fmt: skip
from crm.events.models import Event, Invitation, SessionSpeaker, Statement
from crm.extensions import db
from crm.mail.models import Delivery
from crm.members.models import Membership, MembershipStatus, MembershipType
from crm.newsletters.models import Signup
from crm.portal.models import ChangeRequest, RequestKind, RequestStatus
from crm.templating import date_de, datetime_short_de

#: Derived search columns are not listed: they repeat name, email and roles in folded form.
PERSON_COLUMNS = (
    "salutation", "title", "first_name", "last_name", "email", "phone", "mobile", "fax", "language", "notes",
    "newsletter_consent", "invitation_consent", "created_at", "updated_at",
)  # fmt: skip


@dataclass
class Section:
    key: str
    title: str
    tables: tuple[str, ...]
    read: Callable[[Person], Any]


def _row(obj, columns) -> dict:
    return {c: jsonable(getattr(obj, c)) for c in columns}


def _all(stmt) -> list:
    return db.session.scalars(stmt).all()


def _person(person: Person) -> dict:
    return _row(person, PERSON_COLUMNS)


def _topics(person: Person) -> list[str]:
    return _all(sa.select(Tag.name).join(person_tags).where(person_tags.c.person_id == person.id).order_by(Tag.name))


def _affiliations(person: Person) -> list[dict]:
    rows = _all(sa.select(Affiliation).where(Affiliation.person_id == person.id).order_by(Affiliation.start_date))
    return [
        {"organization": a.organization.name, **_row(a, ("position", "department", "is_primary", "start_date", "end_date"))}
        for a in rows
    ]


def _memberships(person: Person) -> list[dict]:
    rows = _all(sa.select(Membership).where(Membership.person_id == person.id).order_by(Membership.number))
    return [_row(m, ("number", "type", "status", "start_date", "end_date", "notes")) for m in rows]


CONSENT_COLUMNS = (
    "channel", "granted", "method", "source", "email", "wording", "wording_version", "requested_at", "request_ip",
    "user_agent", "confirmed_at", "confirmed_ip", "effective_at",
)  # fmt: skip


def _consents(person: Person) -> list[dict]:
    rows = _all(sa.select(Consent).where(Consent.person_id == person.id).order_by(Consent.effective_at, Consent.id))
    return [_row(c, CONSENT_COLUMNS) for c in rows]


def _user(person: Person) -> User | None:
    return db.session.scalar(sa.select(User).where(User.person_id == person.id))


def _account(person: Person) -> dict | None:
    user = _user(person)
    columns = ("email", "role", "active", "created_at", "invited_at", "last_login_at", "password_changed_at")
    return _row(user, columns) if user else None


def _login_attempts(person: Person) -> list[dict]:
    user = _user(person)
    emails = {e for e in (person.email, user.email if user else None) if e}
    rows = _all(sa.select(LoginAttempt).where(LoginAttempt.email.in_(emails)).order_by(LoginAttempt.created_at))
    return [_row(a, ("created_at", "ip", "succeeded")) for a in rows]


def _links(person: Person) -> list[dict]:
    user = _user(person)
    owner = AccessToken.person_id == person.id
    if user:
        owner = sa.or_(owner, AccessToken.user_id == user.id)
    rows = _all(sa.select(AccessToken).where(owner).order_by(AccessToken.created_at))
    return [_row(t, ("purpose", "created_at", "used_at", "data")) for t in rows]


def _requests(person: Person) -> list[dict]:
    rows = _all(sa.select(ChangeRequest).where(ChangeRequest.person_id == person.id).order_by(ChangeRequest.created_at))
    return [_row(r, ("kind", "status", "data", "message", "created_at", "decided_at", "decision_note")) for r in rows]


def _not_duplicates(person: Person) -> list[dict]:
    pair = sa.or_(DuplicateDismissal.person_a_id == person.id, DuplicateDismissal.person_b_id == person.id)
    # Only when, not with whom: the other person's identity is not this person's data.
    return [{"created_at": jsonable(d.created_at)} for d in _all(sa.select(DuplicateDismissal).where(pair))]


def _merges(person: Person) -> list[dict]:
    rows = _all(sa.select(PersonMerge).where(PersonMerge.kept_person_id == person.id).order_by(PersonMerge.created_at))
    return [{"created_at": jsonable(m.created_at), "merged_record": m.removed_snapshot, "given_way": _given_way(m),
             "undone_at": jsonable(m.undone_at)} for m in rows]  # fmt: skip


def _given_way(merge: PersonMerge) -> list[dict]:
    """The copies of the rows that gave way in the merge (e.g. the second invitation to an event): the
    merge record keeps them for its undo, so they are stored data of the person too."""
    labels = {relation.key: relation.label for relation in RELATIONS}
    given_way = [(key, item["row"]) for key, items in (merge.moved or {}).get("given_way", {}).items() for item in items]
    event_ids = {row["event_id"] for _, row in given_way if row.get("event_id")}
    titles = dict(db.session.execute(sa.select(Event.id, Event.title).where(Event.id.in_(event_ids))).tuples().all())
    copies = []
    for key, row in given_way:
        row = {k: v for k, v in row.items() if k not in ("id", "person_id", "token_digest") and v not in (None, "")}
        if "event_id" in row:
            row["event_id"] = titles.get(row["event_id"], row["event_id"])
        copies.append({"record": labels.get(key, key), **row})
    return copies


def _invitations(person: Person) -> list[dict]:
    rows = _all(sa.select(Invitation).where(Invitation.person_id == person.id).order_by(Invitation.created_at))
    columns = ("status", "companions", "companion_names", "note", "deputy_name", "deputy_email", "needs", "sent_at",
               "responded_at", "checked_in_at")  # fmt: skip
    return [{"event": i.event.title, **_row(i, columns)} for i in rows]


def _speaking(person: Person) -> list[dict]:
    rows = _all(sa.select(SessionSpeaker).where(SessionSpeaker.person_id == person.id))
    return [{"event": s.session.event.title, "session": s.session.title, **_row(s, ("role_text", "affiliation_text"))}
            for s in rows]  # fmt: skip


def _statements(person: Person) -> list[dict]:
    rows = _all(sa.select(Statement).where(Statement.person_id == person.id).order_by(Statement.id))
    return [{"event": s.session.event.title, "session": s.session.title, **_row(s, ("lead", "body"))} for s in rows]


def _signups(person: Person) -> list[dict]:
    mine = Signup.person_id == person.id
    rows = _all(sa.select(Signup).where(sa.or_(mine, Signup.email == person.email) if person.email else mine).order_by(Signup.id))
    columns = ("email", "first_name", "last_name", "requested_at", "request_ip", "user_agent", "wording", "wording_version",
               "mail_sent_at", "confirmed_at", "confirmed_ip")  # fmt: skip
    return [_row(s, columns) for s in rows]


def _deliveries(person: Person) -> list[dict]:
    rows = _all(sa.select(Delivery).where(Delivery.person_id == person.id).order_by(Delivery.queued_at))
    return [_row(d, ("mailing", "email", "status", "queued_at", "sent_at")) for d in rows]


def _who(entry: AuditLog, user: User | None) -> str:
    # Staff members are named by role only: their addresses are not the requester's data.
    if user is not None and entry.actor_id == user.id:
        return "Sie selbst"
    return "Geschäftsstelle" if entry.actor_id else "System"


def _history(person: Person) -> list[dict]:
    user = _user(person)
    rows = _all(sa.select(AuditLog).where(AuditLog.person_id == person.id).order_by(AuditLog.created_at, AuditLog.id))
    return [
        {
            "created_at": jsonable(e.created_at), "action": ACTION_LABELS.get(e.action, e.action), "entity": e.entity_type,
            "record": e.entity_label, "by": _who(e, user), "changes": e.changes or {},
        }
        for e in rows
    ]  # fmt: skip


SECTIONS = [
    Section("person", "Stammdaten", ("people",), _person),
    Section("topics", "Themen", ("person_tags",), _topics),
    Section("affiliations", "Organisationen und Funktionen", ("affiliations",), _affiliations),
    Section("memberships", "Mitgliedschaften", ("memberships",), _memberships),
    Section("consents", "Einwilligungen (Nachweis)", ("consents",), _consents),
    Section("account", "Zugang", ("users",), _account),
    Section("login_attempts", "Anmeldeversuche", ("login_attempts",), _login_attempts),
    Section("links", "Versandte persönliche Links", ("access_tokens",), _links),
    Section("requests", "Anträge an die Geschäftsstelle", ("change_requests",), _requests),
    Section("not_duplicates", "Als „kein Duplikat“ markiert", ("duplicate_dismissals",), _not_duplicates),
    Section("merges", "Zusammengeführte Datensätze", ("person_merges",), _merges),
    Section("invitations", "Einladungen zu Veranstaltungen", ("invitations",), _invitations),
    Section("speaking", "Auftritte im Programm", ("session_speakers",), _speaking),
    Section("statements", "Aussagen in Veranstaltungsberichten", ("statements",), _statements),
    Section("signups", "Newsletter-Anmeldungen", ("newsletter_signups",), _signups),
    Section("deliveries", "Versandte E-Mails", ("deliveries",), _deliveries),
    Section("history", "Änderungsprotokoll", ("audit_log",), _history),
]

EXPORTED_TABLES = {table for section in SECTIONS for table in section.tables}


def personal_data(person: Person) -> dict[str, Any]:
    return {section.key: section.read(person) for section in SECTIONS}


#: Stored codes shown by their German names on the readable page.
ENUM_FIELDS = {
    "salutation": Salutation, "channel": ConsentChannel, "method": ConsentMethod, "type": MembershipType,
    "kind": RequestKind, "role": Role,
}  # fmt: skip
PURPOSES = {"password": "neues Passwort", "invitation": "Einladung", "login": "Anmeldelink", "email": "neue E-Mail-Adresse"}
_ISO_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2})?")


def _label(key: str | None, value: Any, section: str) -> Any:
    if isinstance(value, str) and _ISO_DATETIME.match(value):
        return datetime_short_de(datetime.fromisoformat(value)) if "T" in value else date_de(date.fromisoformat(value))
    if key == "purpose":
        return PURPOSES.get(value, value)
    if key == "status" and isinstance(value, str):
        enum = MembershipStatus if section == "memberships" else RequestStatus
        return enum(value).label if value in enum.__members__ else value
    enum = ENUM_FIELDS.get(key)
    if enum is not None and isinstance(value, str) and value in enum._value2member_map_:
        return enum(value).label
    return value


def readable(data: Any, key: str | None = None, section: str = "") -> Any:
    """The export for people to read: German names for codes, German dates."""
    if isinstance(data, dict):
        if "entity" in data:  # a history entry: its codes are those of the record it is about
            entity = data["entity"]
            return {k: ENTITY_LABELS.get(v) or v if k == "entity" else readable(v, k, entity) for k, v in data.items()}
        return {k: readable(v, k, section or k) for k, v in data.items()}  # top-level keys name the section
    if isinstance(data, list):
        return [readable(v, key, section) for v in data]
    return _label(key, data, section)


def json_download(data: dict[str, Any], filename: str) -> Response:
    body = json.dumps(data, ensure_ascii=False, indent=2, default=str)
    return Response(body, mimetype="application/json", headers={"Content-Disposition": f'attachment; filename="{filename}"'})
