"""Writing a planned import batch.

Changes to existing records and new organizations go through the services, one SAVEPOINT per
row. New people (most rows of a large import) are written set-based: people, roles, topics,
consents and their audit rows, one COPY (PostgreSQL) or executemany (SQLite) per table and batch
(crm.contacts.imports.sql). Should that fail, those rows are written one by one instead, so
that only the faulty row is reported and nothing is half-written.
"""
import functools
import itertools
import json
from json.encoder import encode_basestring_ascii as _quote  # how json.dumps writes a string

from crm.audit.models import AuditLog, jsonable
from crm.audit.services import actor_label
from crm.contacts.imports.checks import ORGANIZATION_FIELDS, PERSON_FIELDS, ROW_ERRORS
from crm.contacts.imports.lookup import sound
from crm.contacts.imports.sql import allocate_ids, insert_rows, stored
from crm.contacts.models import (
    Affiliation, Consent, ConsentChannel, ConsentMethod, Organization, OrganizationKind, Person, person_tags,
)  # fmt: skip
from crm.contacts.search import fold, name_key, person_search_key, search_key
from crm.contacts.services import (
    add_affiliation, create_organization, create_person, get_or_create_tag, record_consent, set_tags,
    update_affiliation, update_organization, update_person,
)  # fmt: skip
from crm.contacts.services.people import context_key_for
from crm.extensions import db, utcnow

TEXT_FIELDS = tuple(name for name in PERSON_FIELDS if name != "salutation")  # stored as written
PEOPLE_COLUMNS = (
    "id", "salutation", *TEXT_FIELDS, "language", "search_key", "name_phonetic", "name_key", "context_key", "newsletter_consent",
    "created_at", "updated_at",
)  # fmt: skip
AFFILIATION_COLUMNS = ("id", "person_id", "organization_id", "position", "department", "search_key", "is_primary", "created_at")
AUDIT_COLUMNS = (
    "created_at", "actor_id", "actor_label", "action", "entity_type", "entity_id", "entity_label", "person_id",
    "organization_id", "changes",
)  # fmt: skip
_PERSON_KEYS = {name: _quote(name) for name in PERSON_FIELDS}  # as JSON object keys
CONSENT_COLUMNS = ("person_id", "channel", "granted", "method", "source", "email", "effective_at", "created_at", "recorded_by_id")


def write_batch(importer, plans) -> None:
    fresh = []
    for plan in plans:
        if plan.action in ("unchanged", "error"):
            continue
        if plan.creates_person and not plan.org_changes and (
            plan.organization is not None or not plan.org_key or _org_id(importer, plan)
        ):
            fresh.append(plan)  # nothing to write one by one (its organization exists as it is, or an earlier row created it)
            continue
        try:
            with db.session.begin_nested():
                _write_organization(importer, plan)
                if plan.creates_person:
                    fresh.append(plan)
                elif plan.person is not None:
                    _update_person(importer, plan)
        except ROW_ERRORS as error:
            plan.fail(getattr(error, "field", None), getattr(error, "message", None) or "Die Zeile konnte nicht gespeichert werden.")
    if not fresh:
        return
    try:
        with db.session.begin_nested():
            _insert_people(importer, fresh)
    except ROW_ERRORS:
        for plan in fresh:  # find the faulty row(s) the slow way
            try:
                with db.session.begin_nested():
                    _create_person(importer, plan)
            except ROW_ERRORS as error:
                plan.fail(getattr(error, "field", None), getattr(error, "message", None) or "Die Zeile widerspricht einem vorhandenen Datensatz.")


def _org_id(importer, plan) -> int | None:
    """The organization of the row: found when planning, or created by an earlier row."""
    return plan.organization.id if plan.organization is not None else importer.org_id(plan.values)


def _organization(importer, plan) -> Organization | None:
    org_id = _org_id(importer, plan)
    return db.session.get(Organization, org_id) if org_id else None


def _write_organization(importer, plan) -> None:
    values = plan.values
    if plan.organization is not None:
        organization = _organization(importer, plan) if plan.org_changes else None
        # Only what is still empty: an earlier row of the file may have filled it since it was planned.
        changes = {name: value for name, value in plan.org_changes.items() if not getattr(organization, name)}
        if changes:
            update_organization(organization, changes, actor=importer.actor)
            if "city" in changes:
                _know_city(importer, organization)
        return
    if not plan.org_key or _org_id(importer, plan) is not None:
        return
    organization = create_organization(
        {
            "name": values.get("organization"),
            "kind": OrganizationKind.municipality if values.get("ags") else OrganizationKind.other,
            **{k: values.get(k) for k in ("ags", *ORGANIZATION_FIELDS)},
        },
        actor=importer.actor,
    )
    db.session.flush()
    importer.created_organizations[organization.id] = plan.org_key
    importer.org_by_name[fold(organization.name)] = organization.id
    if organization.ags:
        importer.org_by_ags[organization.ags] = organization.id
    _know_city(importer, organization)


def _know_city(importer, organization: Organization) -> None:
    """Keep the importer's organizations by city (duplicate candidates by place) as the database has them."""
    if organization.city:
        importer.org_by_city.setdefault(organization.city.lower(), []).append(organization.id)


def _update_person(importer, plan) -> None:
    person, actor = db.session.get(Person, plan.person.id), importer.actor
    if plan.person_changes:
        update_person(person, plan.person_changes, actor=actor)
    if plan.new_tags:
        set_tags(person, [t.name for t in person.tags] + plan.new_tags, actor=actor)
    organization = _organization(importer, plan)
    if organization is not None and plan.affiliation is None:
        add_affiliation(person, organization, actor=actor, position=plan.values.get("position"), department=plan.values.get("department"))
    elif plan.affiliation_changes:
        update_affiliation(db.session.get(Affiliation, plan.affiliation.id), plan.affiliation_changes, actor=actor)
    if plan.consent is not None:
        _record_consent(importer, person, plan.consent)


def _record_consent(importer, person: Person, granted: bool) -> None:
    record_consent(person, actor=importer.actor, channel=ConsentChannel.newsletter, granted=granted,
                   method=ConsentMethod.import_, source=importer.source)  # fmt: skip


def _create_person(importer, plan) -> None:
    """The one-row path for new people (used when the set-based write of the batch failed)."""
    person = create_person({k: plan.values.get(k) for k in PERSON_FIELDS}, actor=importer.actor)
    if plan.new_tags:
        set_tags(person, plan.new_tags, actor=importer.actor)
    organization = _organization(importer, plan)
    if organization is not None:
        add_affiliation(person, organization, actor=importer.actor, position=plan.values.get("position"),
                        department=plan.values.get("department"), is_primary=True)  # fmt: skip
    if plan.consent is not None:
        _record_consent(importer, person, plan.consent)


def _insert_people(importer, plans) -> None:
    """New people of a batch with their roles, topics, consents and audit rows, set-based. The rows
    are made while they are sent (see insert_rows): PostgreSQL writes while Python makes the next."""
    now = stored(Person.__table__.c.created_at, utcnow())
    actor_id = getattr(importer.actor, "id", None)
    audit_head = (now, actor_id, actor_label(importer.actor))  # the first columns of every audit row
    org_ids = [_org_id(importer, plan) for plan in plans]
    importer.fetch_organizations(org_ids)  # those created by this batch's rows, at once
    people = []  # (plan, person id, label, organization)
    for plan, person_id, org_id in zip(plans, allocate_ids(Person.__table__, len(plans)), org_ids):
        v = plan.values
        label = " ".join(p for p in (v.get("title"), v.get("first_name"), v["last_name"]) if p)[:300]
        people.append((plan, person_id, label, importer.organization(org_id) if org_id else None))
    insert_rows(Person.__table__, PEOPLE_COLUMNS, (_person_row(p, person_id, org, now) for p, person_id, _, org in people),
                one_statement=True)  # fmt: skip
    roles = [(person_id, label, org, p.values) for p, person_id, label, org in people if org is not None]
    role_ids = allocate_ids(Affiliation.__table__, len(roles))
    insert_rows(Affiliation.__table__, AFFILIATION_COLUMNS, (
        (role_id, person_id, org.id, v.get("position"), v.get("department"), _role_key(v.get("position"), v.get("department")), True, now)
        for role_id, (person_id, _, org, v) in zip(role_ids, roles)
    ))  # fmt: skip
    tag_ids: dict[str, int] = {}
    for name in (name for p, *_ in people for name in p.new_tags):
        if fold(name) not in tag_ids:  # the first spelling in the batch creates a new topic
            tag_ids[fold(name)] = get_or_create_tag(name).id
    insert_rows(person_tags, ("person_id", "tag_id"), ((person_id, tag_ids[fold(name)]) for p, person_id, *_ in people for name in p.new_tags))
    insert_rows(Consent.__table__, CONSENT_COLUMNS, (
        (person_id, ConsentChannel.newsletter.value, p.consent, ConsentMethod.import_.value, importer.source, p.values.get("email"),
         now, now, actor_id)
        for p, person_id, *_ in people if p.consent is not None
    ))  # fmt: skip
    insert_rows(AuditLog.__table__, AUDIT_COLUMNS, itertools.chain(
        (row for p, person_id, label, _ in people for row in _person_audit(audit_head, p, person_id, label)),
        ((*audit_head, "create", "affiliations", role_id, f"{label} – {v.get('position') or 'ohne Funktion'} ({org.name})"[:300],
          person_id, org.id, _role_json(person_id, org.id, v.get("position"), v.get("department")))
         for role_id, (person_id, label, org, v) in zip(role_ids, roles)),
    ))  # fmt: skip


@functools.lru_cache(maxsize=65536)  # many rows share a function, and an organization with it
def _role_key(position: str | None, department: str | None) -> str:
    return search_key(position, department)


@functools.lru_cache(maxsize=65536)
def _context_key(organization, position: str | None, department: str | None) -> str:
    """Person.context_key of someone whose only role is this one."""
    if organization is None:
        return ""
    return context_key_for([(organization.name, organization.short_name, organization.city, position, department)])


def _person_row(plan, person_id: int, organization, now) -> tuple:
    v = plan.values
    first, last, email, salutation = v.get("first_name"), v["last_name"], v.get("email"), v.get("salutation")
    context = _context_key(organization, v.get("position"), v.get("department"))
    return (
        person_id, salutation and salutation.value, *(v.get(k) for k in TEXT_FIELDS), "de",
        person_search_key(first, last, email), sound(last), name_key(first, last), context, plan.consent, now, now,
    )  # fmt: skip


def _person_audit(head: tuple, plan, person_id: int, label: str) -> list[tuple]:
    """The audit rows of a new person: created, topics added, consent recorded."""
    values = plan.values
    created = ", ".join([  # as create_person's audit entry (json.dumps of the fields given)
        f"{_PERSON_KEYS[k]}: {_quote(v if type(v) is str else jsonable(v))}" for k in PERSON_FIELDS if (v := values.get(k)) not in (None, "")
    ])  # fmt: skip
    rows = [(*head, "create", "people", person_id, label, person_id, None, f"{{{created}}}")]
    if plan.new_tags:
        rows.append((*head, "update", "people", person_id, label, person_id, None, _json({"tags": [[], sorted(plan.new_tags)]})))
    if plan.consent is not None:
        change = {"consent.newsletter": [None, "erteilt" if plan.consent else "widerrufen"]}
        rows.append((*head, "consent", "people", person_id, label, person_id, None, _json(change)))
    return rows


def _role_json(person_id: int, org_id: int, position: str | None, department: str | None) -> str:
    """_json(_role_snapshot(...)): all but the person is the same for everyone in this function at this organization."""
    rest = _role_json_rest(org_id, position, department)
    return f'{{"person_id": {person_id}{", " if rest != "}" else ""}{rest}'


@functools.lru_cache(maxsize=65536)
def _role_json_rest(org_id: int, position: str | None, department: str | None) -> str:
    snapshot = _role_snapshot(0, org_id, {"position": position, "department": department})
    del snapshot["person_id"]
    return _json(snapshot)[1:]


def _role_snapshot(person_id: int, org_id: int, values: dict) -> dict:
    """The audit entry of a new role, as crm.audit.services.snapshot writes it."""
    role = {"person_id": person_id, "organization_id": org_id, "position": values.get("position"),
            "department": values.get("department"), "is_primary": True}  # fmt: skip
    return {k: role[k] for k in Affiliation.AUDITED_FIELDS if role.get(k) not in (None, "")}


def _json(changes: dict) -> str:
    """json.dumps(changes), for the flat dicts of strings, integers and booleans written here in half the time
    (json.dumps sets up an encoder for each call)."""
    return "{" + ", ".join([f"{_quote(k)}: {_json_value(v)}" for k, v in changes.items()]) + "}"


def _json_value(value) -> str:
    if type(value) is str:
        return _quote(value)
    if type(value) is int or type(value) is bool:
        return "true" if value is True else "false" if value is False else str(value)
    return json.dumps(value)
