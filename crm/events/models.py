"""Events, their agenda (sessions with speakers) and the invitations to them."""
from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.extensions import db, str_enum, utcnow


class EventKind(StrEnum):
    workshop = "workshop"
    general_assembly = "general_assembly"
    regional_conference = "regional_conference"
    conference = "conference"
    exchange = "exchange"
    webinar = "webinar"

    @property
    def label(self) -> str:
        return {
            "workshop": "Workshop", "general_assembly": "Mitgliederversammlung",
            "regional_conference": "Regionalkonferenz", "conference": "Konferenz", "exchange": "Austausch",
            "webinar": "Webinar",
        }[self.value]  # fmt: skip


class EventStatus(StrEnum):
    draft = "draft"
    published = "published"
    cancelled = "cancelled"
    done = "done"

    @property
    def label(self) -> str:
        return {"draft": "Entwurf", "published": "veröffentlicht", "cancelled": "abgesagt", "done": "abgeschlossen"}[
            self.value
        ]


class Event(db.Model):
    __tablename__ = "events"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(sa.String(300))
    subtitle: Mapped[str | None] = mapped_column(sa.String(300))
    kind: Mapped[EventKind] = mapped_column(str_enum(EventKind, "kind"))
    status: Mapped[EventStatus] = mapped_column(str_enum(EventStatus, "status"), default=EventStatus.draft, index=True)
    #: Stored in UTC; entered and shown in Europe/Berlin.
    starts_at: Mapped[datetime] = mapped_column(index=True)
    ends_at: Mapped[datetime] = mapped_column()
    #: Only the day(s) are known or relevant (no times shown; starts 00:00, ends 23:59 Berlin time).
    all_day: Mapped[bool] = mapped_column(default=False)
    venue: Mapped[str | None] = mapped_column(sa.String(200))
    room: Mapped[str | None] = mapped_column(sa.String(200))
    street: Mapped[str | None] = mapped_column(sa.String(200))
    postal_code: Mapped[str | None] = mapped_column(sa.String(10))
    city: Mapped[str | None] = mapped_column(sa.String(100))
    online_url: Mapped[str | None] = mapped_column(sa.String(500))
    description: Mapped[str | None] = mapped_column(sa.Text)
    #: Ordered questions the speakers answer (the Freiburg assembly had five).
    guiding_questions: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    #: Partners and co-hosts as printed ("in Kooperation mit …"), one per entry.
    partners: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    capacity: Mapped[int | None] = mapped_column()
    rsvp_deadline: Mapped[datetime | None] = mapped_column()
    #: iCalendar: the UID stays, SEQUENCE rises with every change people must see in their calendar.
    ical_uid: Mapped[str] = mapped_column(sa.String(120), unique=True)
    ical_sequence: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    sessions: Mapped[list["EventSession"]] = relationship(
        back_populates="event", cascade="all, delete-orphan", order_by="EventSession.position"
    )

    __table_args__ = (
        sa.CheckConstraint("ends_at >= starts_at", "ends_after_start"),
        sa.CheckConstraint("capacity IS NULL OR capacity > 0", "capacity_positive"),
    )

    AUDITED_FIELDS = (
        "title", "subtitle", "kind", "status", "starts_at", "ends_at", "all_day", "venue", "room", "street", "postal_code",
        "city", "online_url", "description", "guiding_questions", "partners", "capacity", "rsvp_deadline",
    )  # fmt: skip

    @property
    def audit_subjects(self) -> tuple[int | None, int | None]:
        return None, None

    @property
    def audit_label(self) -> str:
        return self.title


class SessionKind(StrEnum):
    talk = "talk"
    panel = "panel"
    workshop = "workshop"
    plenary = "plenary"
    break_ = "break"

    @property
    def label(self) -> str:
        return {"talk": "Vortrag/Impuls", "panel": "Podium", "workshop": "Workshop", "plenary": "Plenum", "break": "Pause"}[
            self.value
        ]


class EventSession(db.Model):
    """One item of the agenda; sessions with the same times and different tracks run in parallel."""

    __tablename__ = "event_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(sa.ForeignKey("events.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(default=0)
    kind: Mapped[SessionKind] = mapped_column(str_enum(SessionKind, "kind"), default=SessionKind.talk)
    starts_at: Mapped[datetime | None] = mapped_column()
    ends_at: Mapped[datetime | None] = mapped_column()
    #: For parallel sessions: "Workshop A", "Raum M8".
    track: Mapped[str | None] = mapped_column(sa.String(100))
    title: Mapped[str] = mapped_column(sa.String(300))
    description: Mapped[str | None] = mapped_column(sa.Text)
    #: Written after the event; newsletters quote it.
    summary: Mapped[str | None] = mapped_column(sa.Text)

    event: Mapped[Event] = relationship(back_populates="sessions")
    speakers: Mapped[list["SessionSpeaker"]] = relationship(
        back_populates="session", cascade="all, delete-orphan", order_by="SessionSpeaker.position"
    )
    statements: Mapped[list["Statement"]] = relationship(
        back_populates="session", cascade="all, delete-orphan", order_by="(Statement.position, Statement.id)"
    )

    __table_args__ = (sa.CheckConstraint("ends_at IS NULL OR starts_at IS NULL OR ends_at >= starts_at", "ends_after_start"),)

    AUDITED_FIELDS = ("position", "kind", "starts_at", "ends_at", "track", "title", "description", "summary")

    @property
    def audit_subjects(self) -> tuple[int | None, int | None]:
        return None, None

    @property
    def audit_label(self) -> str:
        return f"{self.title} ({self.event.title})"


class SessionSpeaker(db.Model):
    """A person on the programme, with role and affiliation as printed there (may differ from the CRM)."""

    __tablename__ = "session_speakers"

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(sa.ForeignKey("event_sessions.id", ondelete="CASCADE"), index=True)
    person_id: Mapped[int] = mapped_column(sa.ForeignKey("people.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(default=0)
    #: "Sprecher des Deutschen Städte- und Gemeindebunds"
    role_text: Mapped[str | None] = mapped_column(sa.String(300))
    affiliation_text: Mapped[str | None] = mapped_column(sa.String(300))

    session: Mapped[EventSession] = relationship(back_populates="speakers")
    person = relationship("Person")

    __table_args__ = (sa.UniqueConstraint("session_id", "person_id", name="uq_session_speakers_once_per_session"),)

    AUDITED_FIELDS = ("session_id", "person_id", "position", "role_text", "affiliation_text")

    @property
    def audit_subjects(self) -> tuple[int | None, int | None]:
        return self.person_id, None

    @property
    def audit_label(self) -> str:
        return f"{self.person.full_name} – {self.session.title}"


class Statement(db.Model):
    """What a speaker said in a session, written up after the event: a thesis (with its lead sentence,
    printed in bold) or an answer to one of the event's guiding questions."""

    __tablename__ = "statements"

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(sa.ForeignKey("event_sessions.id", ondelete="CASCADE"), index=True)
    #: The speaker; NULL after the person was erased (the statement stays, without a name).
    person_id: Mapped[int | None] = mapped_column(sa.ForeignKey("people.id", ondelete="SET NULL"), index=True)
    #: Index into the event's guiding_questions, or NULL for a thesis not tied to a question.
    question: Mapped[int | None] = mapped_column()
    position: Mapped[int] = mapped_column(default=0)
    lead: Mapped[str | None] = mapped_column(sa.String(500))
    #: Markdown.
    body: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    session: Mapped[EventSession] = relationship(back_populates="statements")
    person = relationship("Person")

    __table_args__ = (sa.CheckConstraint("question IS NULL OR question >= 0", "question_index"),)

    AUDITED_FIELDS = ("session_id", "person_id", "question", "position", "lead", "body")

    @property
    def audit_subjects(self) -> tuple[int | None, int | None]:
        return self.person_id, None

    @property
    def audit_label(self) -> str:
        return f"Aussage – {self.session.title}"


class InvitationStatus(StrEnum):
    planned = "planned"
    sent = "sent"
    accepted = "accepted"
    declined = "declined"
    tentative = "tentative"
    waitlisted = "waitlisted"
    cancelled = "cancelled"

    @property
    def label(self) -> str:
        return {
            "planned": "geplant", "sent": "eingeladen, offen", "accepted": "zugesagt", "declined": "abgesagt",
            "tentative": "vielleicht", "waitlisted": "Warteliste", "cancelled": "storniert",
        }[self.value]  # fmt: skip


class Invitation(db.Model):
    __tablename__ = "invitations"

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(sa.ForeignKey("events.id", ondelete="CASCADE"))
    person_id: Mapped[int] = mapped_column(sa.ForeignKey("people.id", ondelete="CASCADE"), index=True)
    status: Mapped[InvitationStatus] = mapped_column(str_enum(InvitationStatus, "status"), default=InvitationStatus.planned)
    #: SHA-256 of the secret in the personal RSVP link (the link itself is never stored).
    token_digest: Mapped[str] = mapped_column(sa.String(64), unique=True)
    companions: Mapped[int] = mapped_column(default=0)
    companion_names: Mapped[str | None] = mapped_column(sa.Text)
    note: Mapped[str | None] = mapped_column(sa.Text)
    #: Someone who comes in the invitee's place (common for mayors); gets the confirmation.
    deputy_name: Mapped[str | None] = mapped_column(sa.String(200))
    deputy_email: Mapped[str | None] = mapped_column(sa.String(254))
    #: Dietary or access needs: health data (Art. 9 DSGVO), office only, deleted after the event.
    needs: Mapped[str | None] = mapped_column(sa.Text)
    sent_at: Mapped[datetime | None] = mapped_column()
    responded_at: Mapped[datetime | None] = mapped_column()
    #: When the person joined the waitlist: the first in line moves up.
    waitlisted_at: Mapped[datetime | None] = mapped_column()
    checked_in_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    event: Mapped[Event] = relationship()
    person = relationship("Person")

    __table_args__ = (
        sa.UniqueConstraint("event_id", "person_id", name="uq_invitations_once_per_event"),
        sa.Index("ix_invitations_event_status", "event_id", "status"),
        sa.CheckConstraint("companions >= 0", "companions_not_negative"),
    )

    AUDITED_FIELDS = (
        "status", "companions", "companion_names", "note", "deputy_name", "deputy_email", "needs", "checked_in_at",
    )  # fmt: skip

    @property
    def audit_subjects(self) -> tuple[int | None, int | None]:
        return self.person_id, None

    @property
    def audit_label(self) -> str:
        return f"Einladung {self.person.full_name} – {self.event.title}"
