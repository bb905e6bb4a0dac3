"""Writing contacts: every change goes through here, is validated and lands in the audit log."""
from typing import Any

import sqlalchemy as sa
from email_validator import EmailNotValidError, validate_email

from crm.audit.services import apply_changes, record, snapshot
from crm.contacts.models import Affiliation, Consent, ConsentChannel, Organization, OrganizationKind, Person, Tag
from crm.contacts.municipal import ags_error, kreisschluessel_error
from crm.errors import ValidationFailed
from crm.extensions import db


def normalize_email(value: str | None) -> str | None:
    """Trimmed and lower-cased, or None when empty."""
    value = (value or "").strip().lower()
    return value or None


def email_error(value: str | None) -> str | None:
    """A German message if `value` is not a syntactically valid address."""
    if not value:
        return None
    try:
        validate_email(value, check_deliverability=False)
    except EmailNotValidError:
        return "Bitte geben Sie eine gültige E-Mail-Adresse an (z. B. name@example.org)."
    return None


def _clean(data: dict[str, Any]) -> dict[str, Any]:
    """Empty strings become None, strings are trimmed."""
    return {k: (v.strip() or None) if isinstance(v, str) else v for k, v in data.items()}


def find_person_by_email(email: str | None) -> Person | None:
    email = normalize_email(email)
    return db.session.scalar(sa.select(Person).where(Person.email == email)) if email else None


def _check_person(data: dict[str, Any], person: Person | None = None) -> None:
    if not data.get("last_name"):
        raise ValidationFailed("last_name", "Bitte geben Sie einen Nachnamen an.")
    if message := email_error(data.get("email")):
        raise ValidationFailed("email", message)
    other = find_person_by_email(data.get("email"))
    if other is not None and other is not person:
        raise ValidationFailed("email", f"Diese E-Mail-Adresse gehört bereits zu {other.full_name}.")


def create_person(data: dict[str, Any], *, actor) -> Person:
    """Create a person from form data (keys as Person columns)."""
    data = _clean(data)
    data["email"] = normalize_email(data.get("email"))
    _check_person(data)
    person = Person(**data)
    db.session.add(person)
    record("create", person, actor=actor, changes=snapshot(person, Person.AUDITED_FIELDS))
    return person


def update_person(person: Person, data: dict[str, Any], *, actor) -> dict:
    """Apply changed fields and audit the difference; returns {field: [old, new]}."""
    data = _clean(data)
    if "email" in data:
        data["email"] = normalize_email(data["email"])
    _check_person({**snapshot(person, ("last_name", "email")), **data}, person)
    changes = apply_changes(person, data)
    if changes:
        record("update", person, actor=actor, changes=changes)
    return changes


def _check_organization(data: dict[str, Any], organization: Organization | None = None) -> None:
    if not data.get("name"):
        raise ValidationFailed("name", "Bitte geben Sie einen Namen an.")
    kind = data.get("kind")
    if data.get("ags") and kind != OrganizationKind.municipality:
        raise ValidationFailed("ags", "Einen AGS haben nur Städte und Gemeinden.")
    if data.get("kreisschluessel") and kind != OrganizationKind.county:
        raise ValidationFailed("kreisschluessel", "Einen Kreisschlüssel haben nur Kreise.")
    if message := ags_error(data.get("ags"), data.get("state")):
        raise ValidationFailed("ags", message)
    if message := kreisschluessel_error(data.get("kreisschluessel"), data.get("state")):
        raise ValidationFailed("kreisschluessel", message)
    for field in ("ags", "kreisschluessel"):
        if data.get(field):
            other = db.session.scalar(sa.select(Organization).where(getattr(Organization, field) == data[field]))
            if other is not None and other is not organization:
                raise ValidationFailed(field, f"Dieser Schlüssel ist bereits {other.name} zugeordnet.")
    if message := email_error(data.get("email")):
        raise ValidationFailed("email", message)


def create_organization(data: dict[str, Any], *, actor) -> Organization:
    data = _clean(data)
    data["email"] = normalize_email(data.get("email"))
    _check_organization(data)
    organization = Organization(**data)
    db.session.add(organization)
    record("create", organization, actor=actor, changes=snapshot(organization, Organization.AUDITED_FIELDS))
    return organization


def add_affiliation(person: Person, organization: Organization, *, actor, **data) -> Affiliation:
    """Give `person` a role in `organization`; a new primary one demotes the old primary."""
    data = _clean(data)
    if data.get("is_primary"):
        for other in person.affiliations:
            if other.is_primary:
                other.is_primary = False
        db.session.flush()  # release the one-primary-per-person index before the new row
    affiliation = Affiliation(person=person, organization=organization, **data)
    db.session.add(affiliation)
    record("create", affiliation, actor=actor, changes=snapshot(affiliation, Affiliation.AUDITED_FIELDS))
    return affiliation


def get_or_create_tag(name: str) -> Tag:
    tag = db.session.scalar(sa.select(Tag).where(Tag.name == name))
    if tag is None:
        tag = Tag(name=name)
        db.session.add(tag)
    return tag


def set_tags(person: Person, names: list[str], *, actor) -> None:
    old = sorted(t.name for t in person.tags)
    person.tags = [get_or_create_tag(n) for n in sorted(set(names))]
    new = sorted(t.name for t in person.tags)
    if old != new:
        record("update", person, actor=actor, changes={"tags": [old, new]})


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
