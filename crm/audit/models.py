"""The audit log: who changed which record, when, from what to what."""
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.extensions import db, utcnow


class AuditLog(db.Model):
    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    #: The acting user; null for the system, the shell or an anonymous visitor.
    actor_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"), index=True)
    #: How the actor was known at the time ("admin@example.org", "Kommandozeile").
    actor_label: Mapped[str] = mapped_column(sa.String(200))
    action: Mapped[str] = mapped_column(sa.String(40), index=True)  # create | update | delete | ...
    entity_type: Mapped[str] = mapped_column(sa.String(40))
    entity_id: Mapped[int | None] = mapped_column()
    #: Human-readable label of the record at the time of the change.
    entity_label: Mapped[str] = mapped_column(sa.String(300))
    #: The person and organization whose data the entry is about (for their history and for erasure).
    person_id: Mapped[int | None] = mapped_column(index=True)
    organization_id: Mapped[int | None] = mapped_column(index=True)
    #: {"field": [old, new]} for updates; the full values for create and delete.
    changes: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)

    actor = relationship("User", foreign_keys=[actor_id], lazy="joined")

    __table_args__ = (sa.Index("ix_audit_log_entity", "entity_type", "entity_id"),)

    def __repr__(self) -> str:
        return f"<AuditLog {self.action} {self.entity_type}#{self.entity_id}>"


def jsonable(value: Any) -> Any:
    """Turn a column value into something JSON can store and people can read."""
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if hasattr(value, "value"):  # enums
        return value.value
    return value
