"""Requests members make that the office decides: a new organization or role, erasure of their data."""
from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.extensions import db, str_enum, utcnow


class RequestKind(StrEnum):
    affiliation = "affiliation"  # a new organization/role the member reported
    erasure = "erasure"  # Art. 17 DSGVO

    @property
    def label(self) -> str:
        return {"affiliation": "Neue Organisation/Funktion", "erasure": "Löschung der Daten"}[self.value]


class RequestStatus(StrEnum):
    open = "open"
    approved = "approved"
    rejected = "rejected"
    withdrawn = "withdrawn"

    @property
    def label(self) -> str:
        return {"open": "offen", "approved": "erledigt", "rejected": "abgelehnt", "withdrawn": "zurückgezogen"}[
            self.value
        ]


class ChangeRequest(db.Model):
    __tablename__ = "change_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(sa.ForeignKey("people.id", ondelete="CASCADE"), index=True)
    kind: Mapped[RequestKind] = mapped_column(str_enum(RequestKind, "kind"))
    status: Mapped[RequestStatus] = mapped_column(str_enum(RequestStatus, "status"), default=RequestStatus.open)
    #: What the member asked for, e.g. {"organization": "Stadt Ulm", "position": "Amtsleitung"}.
    data: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    #: The member's own words to the office.
    message: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column()
    decided_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    #: The office's answer, shown to the member.
    decision_note: Mapped[str | None] = mapped_column(sa.Text)

    person = relationship("Person")
    decided_by = relationship("User")

    __table_args__ = (sa.Index("ix_change_requests_status_created", "status", "created_at"),)

    AUDITED_FIELDS = ("kind", "status", "data", "message", "decision_note")

    @property
    def audit_subjects(self) -> tuple[int | None, int | None]:
        return self.person_id, None

    @property
    def audit_label(self) -> str:
        return f"Antrag {self.id}: {self.kind.label}"
