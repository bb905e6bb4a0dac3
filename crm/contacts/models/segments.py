"""Segments: saved filters that always evaluate to the current people."""
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.extensions import db, utcnow


class Segment(db.Model):
    __tablename__ = "segments"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(120), unique=True)
    description: Mapped[str | None] = mapped_column(sa.Text)
    #: The people-list filter as URL arguments ({"q": "...", "state": "08", "tag": "3"}).
    filters: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    created_by = relationship("User")

    AUDITED_FIELDS = ("name", "description", "filters")

    @property
    def audit_label(self) -> str:
        return self.name

    @property
    def audit_subjects(self) -> tuple[int | None, int | None]:
        return None, None
