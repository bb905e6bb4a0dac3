"""Writing audit rows. Every service that writes personal data calls record()."""
from typing import Any, Iterable

from crm.audit.models import AuditLog, jsonable
from crm.extensions import db

SYSTEM_LABEL = "System"


def actor_label(actor) -> str:
    """How an actor appears in the log: the login email, or 'System' for the shell and jobs."""
    return actor.email if actor is not None else SYSTEM_LABEL


def record(action: str, entity, *, actor, changes: dict[str, Any] | None = None) -> AuditLog:
    """Add one audit row for `entity` (flushed by the caller's transaction, never committed here)."""
    db.session.flush()  # make sure a new entity has its id
    person_id, organization_id = entity.audit_subjects
    entry = AuditLog(
        person_id=person_id,
        organization_id=organization_id,
        actor_id=getattr(actor, "id", None),
        actor_label=actor_label(actor),
        action=action,
        entity_type=entity.__tablename__,
        entity_id=entity.id,
        entity_label=str(entity.audit_label if hasattr(entity, "audit_label") else entity)[:300],
        changes=changes or {},
    )
    db.session.add(entry)
    return entry


def snapshot(entity, fields: Iterable[str]) -> dict[str, Any]:
    """The current values of `fields`, for a create or delete entry."""
    return {f: jsonable(getattr(entity, f)) for f in fields if getattr(entity, f) not in (None, "")}


def apply_changes(entity, data: dict[str, Any]) -> dict[str, list[Any]]:
    """Set attributes from `data` and return {field: [old, new]} for those that really changed."""
    changes = {}
    for field, new in data.items():
        old = getattr(entity, field)
        if old != new:
            changes[field] = [jsonable(old), jsonable(new)]
            setattr(entity, field, new)
    return changes
