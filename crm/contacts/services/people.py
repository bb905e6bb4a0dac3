"""Writing people, their roles, topics and consents: validated, audited, never committed here."""
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key

from crm.audit.services import apply_changes, record, snapshot
from crm.contacts.models import Affiliation, Consent, ConsentChannel, Organization, Person, Tag, person_tags
from crm.contacts.validation import clean, email_error, normalize_email, phone_error
from crm.errors import ValidationFailed
from crm.extensions import db

PHONE_FIELDS = ("phone", "mobile", "fax")


def find_person_by_email(email: str | None) -> Person | None:
    email = normalize_email(email)
    return db.session.scalar(sa.select(Person).where(Person.email == email)) if email else None


def _check_person(data: dict[str, Any], person: Person | None = None) -> None:
    if not data.get("last_name"):
        raise ValidationFailed("last_name", "Bitte geben Sie einen Nachnamen an.")
    if message := email_error(data.get("email")):
        raise ValidationFailed("email", message)
    for field in PHONE_FIELDS:
        if message := phone_error(data.get(field)):
            raise ValidationFailed(field, message)
    other = find_person_by_email(data.get("email"))
    if other is not None and other is not person:
        raise ValidationFailed("email", f"Diese E-Mail-Adresse gehört bereits zu {other.full_name}.")


def create_person(data: dict[str, Any], *, actor) -> Person:
    """Create a person from form data (keys as Person columns)."""
    data = clean(data)
    data["email"] = normalize_email(data.get("email"))
    _check_person(data)
    person = Person(**data)
    db.session.add(person)
    record("create", person, actor=actor, changes=snapshot(person, Person.AUDITED_FIELDS))
    return person


def update_person(person: Person, data: dict[str, Any], *, actor) -> dict:
    """Apply changed fields and audit the difference; returns {field: [old, new]}."""
    data = clean(data)
    if "email" in data:
        data["email"] = normalize_email(data["email"])
    current = {f: getattr(person, f) for f in ("last_name", "email", *PHONE_FIELDS)}
    _check_person({**current, **data}, person)
    changes = apply_changes(person, data)
    if changes:
        record("update", person, actor=actor, changes=changes)
    return changes


def deletion_impact(person: Person) -> dict[str, int]:
    """What goes with a person: shown before deleting."""
    from crm.members.models import Membership

    def count(stmt) -> int:
        return db.session.scalar(sa.select(sa.func.count()).select_from(stmt.subquery()))

    return {
        "affiliations": len(person.affiliations),
        "memberships": count(sa.select(Membership.id).where(Membership.person_id == person.id)),
        "consents": count(sa.select(Consent.id).where(Consent.person_id == person.id)),
    }


def delete_person(person: Person, *, actor) -> None:
    """Delete a person with roles and memberships; the consent ledger and the history stay."""
    from crm.auth.models import User

    if db.session.scalar(sa.select(User.id).where(User.person_id == person.id)) is not None:
        raise ValidationFailed(
            None, f"{person.full_name} hat einen Benutzerzugang. Bitte deaktivieren Sie den Zugang, statt die Person zu löschen."
        )
    record("delete", person, actor=actor, changes=snapshot(person, Person.AUDITED_FIELDS))
    db.session.delete(person)


# --- affiliations ------------------------------------------------------------------------------


def context_key_for(rows) -> str:
    """The search text of a person's current roles: organization name, short name, city, function."""
    from crm.contacts.search import search_key

    return search_key(*(part for row in rows for part in row))[:1000]


def refresh_context_keys(person_ids) -> None:
    """Recompute Person.context_key for these people from their current roles (set-based)."""
    ids = sorted(set(person_ids))
    if not ids:
        return
    db.session.flush()
    rows = db.session.execute(
        sa.select(Affiliation.person_id, Organization.name, Organization.short_name, Organization.city,
                  Affiliation.position, Affiliation.department)  # fmt: skip
        .join(Organization, Organization.id == Affiliation.organization_id)
        .where(Affiliation.person_id.in_(ids), Affiliation.is_current)
        .order_by(Affiliation.person_id, Affiliation.id)
    )
    parts: dict[int, list] = {i: [] for i in ids}
    for person_id, *row in rows:
        parts[person_id].append(row)
    db.session.execute(
        sa.update(Person.__table__).where(Person.__table__.c.id == sa.bindparam("pid")).values(context_key=sa.bindparam("key")),
        [{"pid": i, "key": context_key_for(parts[i])} for i in ids],
    )
    for person_id in ids:  # objects in the session see the new value too
        person = db.session.identity_map.get(identity_key(Person, person_id))
        if person is not None:
            set_committed_value(person, "context_key", context_key_for(parts[person_id]))


def _check_affiliation(data: dict[str, Any]) -> None:
    start, end = data.get("start_date"), data.get("end_date")
    if start and end and end < start:
        raise ValidationFailed("end_date", "Das Ende darf nicht vor dem Beginn liegen.")


def _demote_other_primaries(person: Person, keep: Affiliation | None = None) -> None:
    for other in person.affiliations:
        if other.is_primary and other is not keep:
            other.is_primary = False
    db.session.flush()  # release the one-primary-per-person index before the new primary


def add_affiliation(person: Person, organization: Organization, *, actor, **data) -> Affiliation:
    """Give `person` a role in `organization`; a new primary one demotes the old primary."""
    data = clean(data)
    _check_affiliation(data)
    if data.get("end_date") and data["end_date"] <= date.today():
        data["is_primary"] = False  # an ended role cannot be the primary one
    elif not data.get("is_primary") and not any(a.is_primary and a.is_current for a in person.affiliations):
        data["is_primary"] = True  # the only current role is the primary one
    if data.get("is_primary"):
        _demote_other_primaries(person)
    affiliation = Affiliation(person=person, organization=organization, **data)
    db.session.add(affiliation)
    record("create", affiliation, actor=actor, changes=snapshot(affiliation, Affiliation.AUDITED_FIELDS))
    refresh_context_keys([person.id])
    return affiliation


def update_affiliation(affiliation: Affiliation, data: dict[str, Any], *, actor) -> dict:
    data = clean(data)
    _check_affiliation({"start_date": affiliation.start_date, "end_date": affiliation.end_date, **data})
    if data.get("end_date") and data["end_date"] <= date.today():
        data["is_primary"] = False
    if data.get("is_primary") and not affiliation.is_primary:
        _demote_other_primaries(affiliation.person, keep=affiliation)
    changes = apply_changes(affiliation, data)
    if changes:
        record("update", affiliation, actor=actor, changes=changes)
        refresh_context_keys([affiliation.person_id])
    return changes


def end_affiliation(affiliation: Affiliation, *, actor, end_date: date | None = None) -> dict:
    """Close a role as of `end_date` (today by default); it stays in the person's history."""
    if affiliation.start_date and affiliation.start_date > (end_date or date.today()):
        raise ValidationFailed(
            "end_date",
            f"Die Funktion beginnt erst am {affiliation.start_date:%d.%m.%Y}; bitte löschen Sie sie, statt sie zu beenden.",
        )
    return update_affiliation(affiliation, {"end_date": end_date or date.today(), "is_primary": False}, actor=actor)


def delete_affiliation(affiliation: Affiliation, *, actor) -> None:
    record("delete", affiliation, actor=actor, changes=snapshot(affiliation, Affiliation.AUDITED_FIELDS))
    person = affiliation.person
    person.affiliations.remove(affiliation)
    refresh_context_keys([person.id])


# --- topics ------------------------------------------------------------------------------------


def get_or_create_tag(name: str) -> Tag:
    name = " ".join(name.split())
    tag = db.session.scalar(sa.select(Tag).where(sa.func.lower(Tag.name) == name.lower()))
    if tag is None:
        tag = Tag(name=name)
        db.session.add(tag)
        db.session.flush()
    return tag


def set_tags(person: Person, names: list[str], *, actor) -> None:
    old = sorted(t.name for t in person.tags)
    # Spellings that differ only in case are one topic.
    person.tags = list(dict.fromkeys(get_or_create_tag(n) for n in sorted({n for n in names if n.strip()})))
    new = sorted(t.name for t in person.tags)
    if old != new:
        record("update", person, actor=actor, changes={"tags": [old, new]})


def bulk_tag(person_ids: list[int], tag: Tag, *, add: bool, actor) -> int:
    """Add or remove `tag` for many people in set-based statements; returns how many changed."""
    has_tag = sa.select(person_tags.c.person_id).where(person_tags.c.tag_id == tag.id)
    if add:
        targets = db.session.scalars(sa.select(Person.id).where(Person.id.in_(person_ids), Person.id.not_in(has_tag))).all()
        if targets:
            db.session.execute(sa.insert(person_tags), [{"person_id": pid, "tag_id": tag.id} for pid in targets])
    else:
        targets = db.session.scalars(sa.select(Person.id).where(Person.id.in_(person_ids), Person.id.in_(has_tag))).all()
        if targets:
            db.session.execute(
                sa.delete(person_tags).where(person_tags.c.tag_id == tag.id, person_tags.c.person_id.in_(targets))
            )
    for person in db.session.scalars(sa.select(Person).where(Person.id.in_(targets))):
        record("update", person, actor=actor, changes={"tags": [None, f"{'+' if add else '−'} {tag.name}"]})
    db.session.expire_all()
    return len(targets)


# --- consents ----------------------------------------------------------------------------------

#: Person column that caches the latest ledger state of a channel.
CONSENT_CACHE = {ConsentChannel.newsletter: "newsletter_consent", ConsentChannel.event_invitation: "invitation_consent"}


def record_consent(person: Person, *, actor, **data) -> Consent:
    """Append a consent or withdrawal to the ledger (never changes earlier rows)."""
    consent = Consent(person=person, email=person.email, recorded_by=actor, **data)
    db.session.add(consent)
    db.session.flush()
    latest = db.session.scalar(
        sa.select(Consent.granted)
        .where(Consent.person_id == person.id, Consent.channel == consent.channel)
        .order_by(Consent.effective_at.desc(), Consent.id.desc())
        .limit(1)
    )
    setattr(person, CONSENT_CACHE[consent.channel], latest)
    record(
        "consent",
        person,
        actor=actor,
        changes={f"consent.{consent.channel.value}": [None, "erteilt" if consent.granted else "widerrufen"]},
    )
    return consent
