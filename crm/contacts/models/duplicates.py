"""Duplicates: pairs the office said are different people, and merges that can be undone."""
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.extensions import db, utcnow


class DuplicateDismissal(db.Model):
    """ "Kein Duplikat": the pair is no longer proposed. Stored with the smaller id first."""

    __tablename__ = "duplicate_dismissals"

    person_a_id: Mapped[int] = mapped_column(sa.ForeignKey("people.id", ondelete="CASCADE"), primary_key=True)
    person_b_id: Mapped[int] = mapped_column(sa.ForeignKey("people.id", ondelete="CASCADE"), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (sa.CheckConstraint("person_a_id < person_b_id", "ordered_pair"),)


class PersonMerge(db.Model):
    """One merge of two people, with everything needed to undo it."""

    __tablename__ = "person_merges"

    id: Mapped[int] = mapped_column(primary_key=True)
    kept_person_id: Mapped[int | None] = mapped_column(sa.ForeignKey("people.id", ondelete="SET NULL"), index=True)
    #: The id the merged-away person had (the row is gone; undo recreates it with this id).
    removed_person_id: Mapped[int] = mapped_column()
    #: The removed person's columns and the kept person's values before the merge.
    removed_snapshot: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    kept_before: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    #: Ids of the rows moved from the removed to the kept person, per kind.
    moved: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    actor_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    undone_at: Mapped[datetime | None] = mapped_column()

    actor = relationship("User")

    @property
    def audit_label(self) -> str:
        return f"Zusammenführung {self.removed_snapshot.get('full_name', '')} → Person {self.kept_person_id}"

    @property
    def audit_subjects(self) -> tuple[int | None, int | None]:
        return self.kept_person_id, None
