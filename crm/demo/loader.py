"""Loads the demo data set (crm/demo/data/demo.yaml, built from the association's documents).

Each section of the file has one loader; later areas (events, newsletters) add theirs to
SECTION_LOADERS. Everything goes through the same services as the UI, so the audit log shows it.
"""
from datetime import date, datetime, time
from pathlib import Path
from typing import Any, Callable

import sqlalchemy as sa
import yaml
from flask import current_app

from crm.auth.models import Role, User
from crm.contacts.models import ConsentChannel, ConsentMethod, OrganizationKind, Person, Salutation
from crm.contacts.services import add_affiliation, create_organization, create_person, record_consent, set_tags
from crm.demo.newsletter import load_newsletter_demo
from crm.events.agenda import add_session, add_speaker
from crm.events.models import EventStatus
from crm.events.services import change_status, create_event
from crm.events.statements import add_statement, update_summary
from crm.events.times import DAY_END, berlin, local
from crm.extensions import db
from crm.members.services import create_membership

DATA_FILE = Path(__file__).parent / "data" / "demo.yaml"

#: Password of the demo logins; printed by `flask demo load`, never used outside development.
DEMO_PASSWORD = "kommune-demo-2018"

Refs = dict[str, dict[str, Any]]


def _date(value) -> date | None:
    return date.fromisoformat(str(value)) if value else None


def load_organizations(items: list[dict], refs: Refs) -> None:
    for item in items:
        item = dict(item)
        key = item.pop("key")
        parent = item.pop("parent", None)
        item["kind"] = OrganizationKind(item["kind"])
        item["parent_id"] = refs["organizations"][parent].id if parent else None
        organization = create_organization(item, actor=None)
        db.session.flush()
        refs["organizations"][key] = organization


def load_people(items: list[dict], refs: Refs) -> None:
    for item in items:
        item = dict(item)
        key = item.pop("key")
        topics = item.pop("topics", []) or []
        affiliations = item.pop("affiliations", []) or []
        consents = item.pop("consents", []) or []
        item["salutation"] = Salutation(item["salutation"]) if item.get("salutation") else None
        person = create_person(item, actor=None)
        set_tags(person, topics, actor=None)
        for affiliation in affiliations:
            add_affiliation(
                person,
                refs["organizations"][affiliation["organization"]],
                actor=None,
                position=affiliation.get("position"),
                department=affiliation.get("department"),
                is_primary=bool(affiliation.get("primary")),
                start_date=_date(affiliation.get("start")),
                end_date=_date(affiliation.get("end")),
            )
        for consent in consents:
            record_consent(
                person,
                actor=None,
                channel=ConsentChannel(consent["channel"]),
                granted=consent["granted"],
                method=ConsentMethod(consent["method"]),
                source=consent.get("source"),
                effective_at=datetime.fromisoformat(consent["at"]),
            )
        refs["people"][key] = person


def load_memberships(items: list[dict], refs: Refs) -> None:
    for item in items:
        create_membership(
            actor=None,
            type=item["type"],
            status=item["status"],
            person=refs["people"][item["person"]] if item.get("person") else None,
            organization=refs["organizations"][item["organization"]] if item.get("organization") else None,
            start_date=_date(item.get("start")),
            end_date=_date(item.get("end")),
        )


def load_users(items: list[dict], refs: Refs) -> None:
    method = current_app.config["PASSWORD_HASH_METHOD"]
    for item in items:
        user = User(email=item["email"], role=Role(item["role"]), person=refs["people"][item["person"]])
        user.set_password(DEMO_PASSWORD, method)
        db.session.add(user)
        refs["users"][item["email"]] = user


#: The status changes that bring a new (draft) event to the status given in the file.
STATUS_PATH = {
    "draft": (),
    "published": (EventStatus.published,),
    "done": (EventStatus.published, EventStatus.done),
    "cancelled": (EventStatus.published, EventStatus.cancelled),
}


def _event_times(item: dict) -> dict:
    """Berlin times from the file: `start`/`end` ("2018-11-20T11:30"), or a `date` for an all-day event."""
    if item.get("date"):
        day = date.fromisoformat(str(item["date"]))
        return {"all_day": True, "starts_at": berlin(day), "ends_at": berlin(day, DAY_END)}
    start, end = (datetime.fromisoformat(item[key]) for key in ("start", "end"))
    return {"all_day": False, "starts_at": berlin(start.date(), start.time()), "ends_at": berlin(end.date(), end.time())}


STATEMENT_KEYS = {"person", "question", "lead", "body"}


def _load_review(session, entry: dict, refs: Refs) -> None:
    """The session's summary and statements; in the file, `question` numbers the guiding questions from 1."""
    if entry.get("summary"):
        update_summary(session, entry["summary"], actor=None)
    for item in entry.get("statements", []) or []:
        if unknown := set(item) - STATEMENT_KEYS:  # e.g. a comma in an unquoted YAML value splits it
            raise ValueError(f"Unbekannte Angaben {sorted(unknown)} in einer Aussage zu „{session.title}“")
        question = item.get("question")
        data = {"lead": item.get("lead"), "body": item.get("body"), "question": None if question is None else question - 1}
        add_statement(session, refs["people"][item["person"]], data, actor=None)


def load_events(items: list[dict], refs: Refs) -> None:
    """Events with their agenda, speakers and review; each reaches its status through the allowed changes."""
    for item in items:
        item = dict(item)
        key, status, sessions = item.pop("key"), item.pop("status", "draft"), item.pop("sessions", []) or []
        event = create_event(item | _event_times(item), actor=None)
        day = local(event.starts_at).date()
        for entry in sessions:
            times = {f: entry.get(name) for f, name in (("starts_at", "start"), ("ends_at", "end"))}
            times = {f: berlin(day, time.fromisoformat(t)) if t else None for f, t in times.items()}
            session = add_session(event, entry | times, actor=None)
            for speaker in entry.get("speakers", []):
                add_speaker(
                    session, refs["people"][speaker["person"]], actor=None,
                    role_text=speaker.get("role"), affiliation_text=speaker.get("affiliation"),
                )  # fmt: skip
            _load_review(session, entry, refs)
        for target in STATUS_PATH[status]:
            change_status(event, target, actor=None)
        refs["events"][key] = event


#: (section of the YAML file, loader) in dependency order.
SECTION_LOADERS: list[tuple[str, Callable[[list[dict], Refs], None]]] = [
    ("organizations", load_organizations),
    ("people", load_people),
    ("memberships", load_memberships),
    ("users", load_users),
    ("events", load_events),
]


def _read(path: Path = DATA_FILE) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def demo_user_emails() -> list[str]:
    return [user["email"] for user in _read().get("users", [])]


def demo_present() -> bool:
    return db.session.scalar(sa.select(sa.func.count(Person.id))) > 0


def load_demo(path: Path = DATA_FILE) -> Refs | None:
    """Load the demo data into an empty database; returns None (and changes nothing) otherwise."""
    if demo_present():
        return None
    data = _read(path)
    refs: Refs = {"organizations": {}, "people": {}, "users": {}, "events": {}}
    for section, loader in SECTION_LOADERS:
        loader(data.get(section) or [], refs)
    db.session.flush()
    load_newsletter_demo(refs)
    db.session.flush()
    return refs
