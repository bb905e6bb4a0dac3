"""Writing a planned import batch.

Changes to existing records and new organizations go through the services, one SAVEPOINT per
row. New people (most rows of a large import) are written with set-based INSERTs: people,
roles, topics, consents and their audit rows, a handful of statements per batch instead of a
dozen per row. Should the set-based write fail, those rows are written one by one instead, so
that only the faulty row is reported and nothing is half-written.
"""
import sqlalchemy as sa

from crm.audit.models import AuditLog, jsonable
from crm.audit.services import actor_label
from crm.contacts.models import (
    Affiliation, Consent, ConsentChannel, ConsentMethod, Organization, OrganizationKind, Person, person_tags,
)  # fmt: skip
from crm.contacts.imports.checks import ORGANIZATION_FIELDS, PERSON_FIELDS, ROW_ERRORS
from crm.contacts.search import cologne_phonetic, fold, name_key, search_key
from crm.contacts.services import (
    add_affiliation, create_organization, create_person, get_or_create_tag, record_consent, set_tags,
    update_affiliation, update_organization, update_person,
)  # fmt: skip
from crm.extensions import db, utcnow



def write_batch(importer, plans) -> None:
    fresh = []
    for plan in plans:
        if plan.action in ("unchanged", "error"):
            continue
        if plan.creates_person and (plan.organization is not None or not plan.org_key):
            fresh.append(plan)  # nothing to write one by one
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


def _organization(importer, plan) -> Organization | None:
    if plan.organization is not None:
        return plan.organization
    values = plan.values
    org_id = importer.org_by_ags.get(values.get("ags")) or importer.org_by_name.get(fold(values.get("organization")))
    return db.session.get(Organization, org_id) if org_id else None


def _write_organization(importer, plan) -> None:
    values = plan.values
    if plan.organization is not None:
        if plan.org_changes:
            update_organization(plan.organization, plan.org_changes, actor=importer.actor)
        return
    if not plan.org_key or _organization(importer, plan) is not None:
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
    importer.org_by_name[fold(organization.name)] = organization.id
    if organization.ags:
        importer.org_by_ags[organization.ags] = organization.id


def _update_person(importer, plan) -> None:
    person, actor = plan.person, importer.actor
    if plan.person_changes:
        update_person(person, plan.person_changes, actor=actor)
    if plan.new_tags:
        set_tags(person, [t.name for t in person.tags] + plan.new_tags, actor=actor)
    organization = _organization(importer, plan)
    if organization is not None and plan.affiliation is None:
        add_affiliation(person, organization, actor=actor, position=plan.values.get("position"), department=plan.values.get("department"))
    elif plan.affiliation_changes:
        update_affiliation(plan.affiliation, plan.affiliation_changes, actor=actor)
    if plan.consent is not None:
        record_consent(person, actor=actor, channel=ConsentChannel.newsletter, granted=plan.consent,
                       method=ConsentMethod.import_, source=importer.source)  # fmt: skip


def _create_person(importer, plan) -> None:
    """The one-row path for new people (used when the set-based write of the batch failed)."""
    person = create_person({k: plan.values.get(k) for k in PERSON_FIELDS}, actor=importer.actor)
    plan.person = person
    if plan.new_tags:
        set_tags(person, plan.new_tags, actor=importer.actor)
    organization = _organization(importer, plan)
    if organization is not None:
        add_affiliation(person, organization, actor=importer.actor, position=plan.values.get("position"),
                        department=plan.values.get("department"), is_primary=True)  # fmt: skip
    if plan.consent is not None:
        record_consent(person, actor=importer.actor, channel=ConsentChannel.newsletter, granted=plan.consent,
                       method=ConsentMethod.import_, source=importer.source)  # fmt: skip


def _insert_people(importer, plans) -> None:
    """New people of a batch with their roles, topics, consents and audit rows, set-based."""
    now = utcnow()
    actor = importer.actor
    # Every audit row has the same keys: executemany takes its columns from the first one.
    audit_base = {"actor_id": getattr(actor, "id", None), "actor_label": actor_label(actor), "created_at": now,
                  "organization_id": None}  # fmt: skip
    people = []
    for plan in plans:
        v = plan.values
        consent = plan.consent
        people.append({
            **{k: v.get(k) for k in PERSON_FIELDS}, "language": "de",
            "search_key": search_key(v.get("first_name"), v["last_name"], v.get("email")),
            "name_phonetic": cologne_phonetic(v["last_name"]),
            "name_key": name_key(v.get("first_name"), v["last_name"]),
            "context_key": _context_key(importer, plan),
            "newsletter_consent": consent, "created_at": now, "updated_at": now,
        })  # fmt: skip
    # Core INSERTs (tables, not ORM classes) with ids chosen up front: no per-object bookkeeping and
    # no RETURNING, which would make the driver insert one row at a time.
    ids = allocate_ids(Person.__table__, len(people))
    for row, person_id in zip(people, ids):
        row["id"] = person_id
    db.session.execute(sa.insert(Person.__table__), people)
    affiliations, tag_rows, consents, audit = [], [], [], []
    tag_ids = {}
    for plan, person_id, row in zip(plans, ids, people):
        audit.append({**audit_base, "action": "create", "entity_type": "people", "entity_id": person_id,
                      "entity_label": " ".join(p for p in (row["title"], row["first_name"], row["last_name"]) if p)[:300],
                      "person_id": person_id, "changes": {k: jsonable(row[k]) for k in PERSON_FIELDS if row[k] not in (None, "")}})  # fmt: skip
        organization = _organization(importer, plan)
        if organization is not None:
            affiliations.append({"person_id": person_id, "organization_id": organization.id, "is_primary": True,
                                 "position": plan.values.get("position"), "department": plan.values.get("department"),
                                 "search_key": search_key(plan.values.get("position"), plan.values.get("department")),
                                 "created_at": now, "_org": organization.name, "_person": audit[-1]["entity_label"]})  # fmt: skip
        for name in plan.new_tags:
            if fold(name) not in tag_ids:
                tag_ids[fold(name)] = get_or_create_tag(name).id
            tag_rows.append({"person_id": person_id, "tag_id": tag_ids[fold(name)]})
        if plan.new_tags:
            audit.append({**audit_base, "action": "update", "entity_type": "people", "entity_id": person_id, "person_id": person_id,
                          "entity_label": audit[-1]["entity_label"], "changes": {"tags": [[], sorted(plan.new_tags)]}})  # fmt: skip
        if plan.consent is not None:
            consents.append({"person_id": person_id, "channel": ConsentChannel.newsletter, "granted": plan.consent,
                             "method": ConsentMethod.import_, "source": importer.source, "email": row["email"],
                             "effective_at": now, "created_at": now, "recorded_by_id": audit_base["actor_id"]})  # fmt: skip
            audit.append({**audit_base, "action": "consent", "entity_type": "people", "entity_id": person_id, "person_id": person_id,
                          "entity_label": audit[-1]["entity_label"],
                          "changes": {"consent.newsletter": [None, "erteilt" if plan.consent else "widerrufen"]}})  # fmt: skip
    if affiliations:
        labels = [(a.pop("_person"), a.pop("_org")) for a in affiliations]
        affiliation_ids = allocate_ids(Affiliation.__table__, len(affiliations))
        for row, affiliation_id in zip(affiliations, affiliation_ids):
            row["id"] = affiliation_id
        db.session.execute(sa.insert(Affiliation.__table__), affiliations)
        for aid, row, (person_label, org_label) in zip(affiliation_ids, affiliations, labels):
            audit.append({**audit_base, "action": "create", "entity_type": "affiliations", "entity_id": aid,
                          "person_id": row["person_id"], "organization_id": row["organization_id"],
                          "entity_label": f"{person_label} – {row['position'] or 'ohne Funktion'} ({org_label})"[:300],
                          "changes": snapshot_row(row)})  # fmt: skip
    if tag_rows:
        db.session.execute(sa.insert(person_tags), tag_rows)
    if consents:
        db.session.execute(sa.insert(Consent.__table__), consents)
    db.session.execute(sa.insert(AuditLog.__table__), audit)


def allocate_ids(table: sa.Table, count: int) -> list[int]:
    """Primary keys for `count` new rows: from the sequence on PostgreSQL; on SQLite (one writer at
    a time) the next free ones. A clash with a concurrent insert fails the batch's savepoint, and
    write_batch then writes those rows one by one."""
    if db.session.get_bind().dialect.name == "postgresql":
        return list(db.session.scalars(
            sa.text(f"SELECT nextval(pg_get_serial_sequence('{table.name}', 'id')) FROM generate_series(1, :n)"),
            {"n": count},
        ))  # fmt: skip
    start = db.session.scalar(sa.select(sa.func.coalesce(sa.func.max(table.c.id), 0))) + 1
    return list(range(start, start + count))


def _context_key(importer, plan) -> str:
    from crm.contacts.services.people import context_key_for

    organization = _organization(importer, plan)
    if organization is None:
        return ""
    return context_key_for([(organization.name, organization.short_name, organization.city,
                             plan.values.get("position"), plan.values.get("department"))])  # fmt: skip


def snapshot_row(row: dict) -> dict:
    return {k: jsonable(row[k]) for k in Affiliation.AUDITED_FIELDS if row.get(k) not in (None, "")}


