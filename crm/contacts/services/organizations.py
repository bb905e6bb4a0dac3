"""Writing organizations: municipal keys checked against the Bundesland, every change audited."""
from typing import Any

import sqlalchemy as sa

from crm.audit.services import apply_changes, record, snapshot
from crm.contacts.models import Organization, OrganizationKind
from crm.contacts.municipal import ags_error, kreisschluessel_error
from crm.contacts.search import fold
from crm.contacts.services.people import refresh_context_keys
from crm.contacts.validation import clean, email_error, normalize_email, phone_error, population_error, postal_code_error, url_error
from crm.errors import ValidationFailed
from crm.extensions import db

FIELD_CHECKS = {
    "email": email_error,
    "phone": phone_error,
    "postal_code": postal_code_error,
    "website": url_error,
    "population": population_error,
}


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
    for field, check in FIELD_CHECKS.items():
        if message := check(data.get(field)):
            raise ValidationFailed(field, message)
    parent_id = data.get("parent_id")
    if organization is not None and parent_id is not None and _is_descendant(parent_id, organization.id):
        raise ValidationFailed("parent", "Eine Organisation kann nicht unter sich selbst oder ihren Teilen stehen.")


def _is_descendant(candidate_id: int, organization_id: int) -> bool:
    """True if `candidate_id` is `organization_id` or below it (a cycle if it became the parent)."""
    seen, current = set(), candidate_id
    while current is not None and current not in seen:
        if current == organization_id:
            return True
        seen.add(current)
        current = db.session.scalar(sa.select(Organization.parent_id).where(Organization.id == current))
    return False


def create_organization(data: dict[str, Any], *, actor) -> Organization:
    data = clean(data)
    data["email"] = normalize_email(data.get("email"))
    _check_organization(data)
    organization = Organization(**data)
    db.session.add(organization)
    record("create", organization, actor=actor, changes=snapshot(organization, Organization.AUDITED_FIELDS))
    return organization


def update_organization(organization: Organization, data: dict[str, Any], *, actor) -> dict:
    data = clean(data)
    if "email" in data:
        data["email"] = normalize_email(data["email"])
    current = {f: getattr(organization, f) for f in Organization.AUDITED_FIELDS}
    _check_organization({**current, **data}, organization)
    changes = apply_changes(organization, data)
    if changes:
        record("update", organization, actor=actor, changes=changes)
        if changes.keys() & {"name", "short_name", "city"}:
            refresh_context_keys(a.person_id for a in organization.affiliations)
    return changes


def deletion_impact(organization: Organization) -> dict[str, int]:
    from crm.members.models import Membership

    def count(stmt) -> int:
        return db.session.scalar(sa.select(sa.func.count()).select_from(stmt.subquery()))

    return {
        "affiliations": len(organization.affiliations),
        "children": len(organization.children),
        "memberships": count(sa.select(Membership.id).where(Membership.organization_id == organization.id)),
    }


def delete_organization(organization: Organization, *, actor) -> None:
    """Delete an organization; people stay (their role there goes), child organizations lose their parent."""
    people = [a.person_id for a in organization.affiliations]
    for affiliation in list(organization.affiliations):
        record("delete", affiliation, actor=actor, changes=snapshot(affiliation, affiliation.AUDITED_FIELDS))
    record("delete", organization, actor=actor, changes=snapshot(organization, Organization.AUDITED_FIELDS))
    db.session.delete(organization)
    db.session.flush()
    refresh_context_keys(people)


def organization_labels(organizations: list[Organization]) -> dict[int, str]:
    """How each organization is named in a field: its name, plus its place (or key) when the name
    alone is not unique ("Gemeinde Neuhaus (Neuhaus am Inn)"). resolve_organization reads it back."""
    names = {o.name for o in organizations}
    shared = set(
        db.session.scalars(
            sa.select(Organization.name).where(Organization.name.in_(names)).group_by(Organization.name).having(sa.func.count() > 1)
        )
    ) if names else set()  # fmt: skip
    return {o.id: f"{o.name} ({o.city or o.ags or o.kreisschluessel or f'Nr. {o.id}'})" if o.name in shared else o.name for o in organizations}


def _by_qualified_name(text: str) -> Organization | None:
    """ "Name (Ort)", "Name (AGS)" or "Name (Nr. 12)" as produced by organization_labels."""
    if not text.endswith(")") or " (" not in text:
        return None
    name, _, qualifier = text[:-1].rpartition(" (")
    matches = [
        o for o in db.session.scalars(sa.select(Organization).where(Organization.name == name))
        if qualifier in (o.city, o.ags, o.kreisschluessel, f"Nr. {o.id}")
    ]
    return matches[0] if len(matches) == 1 else None


def resolve_organization(text: str | None, *, field: str = "organization") -> Organization | None:
    """The organization the user typed: by AGS/Kreisschlüssel, exact name, or one unique match."""
    text = (text or "").strip()
    if not text:
        return None
    qualified = _by_qualified_name(text)
    if qualified is not None:
        return qualified
    by_key = db.session.scalar(
        sa.select(Organization).where(sa.or_(Organization.ags == text, Organization.kreisschluessel == text))
    )
    if by_key is not None:
        return by_key
    exact = db.session.scalars(sa.select(Organization).where(Organization.name == text).limit(2)).all()
    if len(exact) == 1:
        return exact[0]
    matches = db.session.scalars(
        sa.select(Organization).where(Organization.search_key.like(f"%{fold(text)}%")).limit(2)
    ).all()
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise ValidationFailed(field, f"Keine Organisation „{text}“ gefunden. Bitte legen Sie sie zuerst an.")
    raise ValidationFailed(
        field, f"„{text}“ passt auf mehrere Organisationen. Bitte wählen Sie aus der Vorschlagsliste oder geben Sie den AGS an."
    )
