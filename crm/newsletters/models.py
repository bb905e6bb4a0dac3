"""Newsletters with their ordered blocks, and sign-ups waiting for their double opt-in confirmation."""
from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.extensions import db, str_enum, utcnow


class NewsletterStatus(StrEnum):
    draft = "draft"
    scheduled = "scheduled"
    sending = "sending"
    paused = "paused"
    sent = "sent"
    cancelled = "cancelled"

    @property
    def label(self) -> str:
        return {
            "draft": "Entwurf", "scheduled": "geplant", "sending": "wird versandt", "paused": "angehalten",
            "sent": "versandt", "cancelled": "abgebrochen",
        }[self.value]  # fmt: skip


#: A newsletter whose content is fixed: it went (or is going) out as it was when sending started.
FROZEN = (NewsletterStatus.sending, NewsletterStatus.paused, NewsletterStatus.sent, NewsletterStatus.cancelled)


class Newsletter(db.Model):
    __tablename__ = "newsletters"

    id: Mapped[int] = mapped_column(primary_key=True)
    subject: Mapped[str] = mapped_column(sa.String(200))
    #: The line mail clients show after the subject.
    preheader: Mapped[str | None] = mapped_column(sa.String(200))
    #: Display name in From (the address comes from the configuration, for SPF/DKIM alignment).
    sender_name: Mapped[str | None] = mapped_column(sa.String(120))
    reply_to: Mapped[str | None] = mapped_column(sa.String(254))
    #: templates/email/newsletter_<layout>.mjml
    layout: Mapped[str] = mapped_column(sa.String(40), default="standard")
    segment_id: Mapped[int | None] = mapped_column(sa.ForeignKey("segments.id", ondelete="SET NULL"), index=True)
    status: Mapped[NewsletterStatus] = mapped_column(
        str_enum(NewsletterStatus, "status"), default=NewsletterStatus.draft, index=True
    )
    scheduled_at: Mapped[datetime | None] = mapped_column()
    started_at: Mapped[datetime | None] = mapped_column()
    finished_at: Mapped[datetime | None] = mapped_column()
    #: Why sending stopped: paused by the office, or by itself when too many messages failed.
    paused_reason: Mapped[str | None] = mapped_column(sa.Text)
    #: Listed in the public archive once sent (the web version is reachable by its link either way).
    in_archive: Mapped[bool] = mapped_column(default=True)
    #: The random part of the web version's address.
    web_key: Mapped[str] = mapped_column(sa.String(32), unique=True)
    #: The compiled HTML and text as sent, with markers for the per-recipient parts (frozen at send start).
    sent_html: Mapped[str | None] = mapped_column(sa.Text)
    sent_text: Mapped[str | None] = mapped_column(sa.Text)
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    segment = relationship("Segment")
    created_by = relationship("User")
    blocks: Mapped[list["NewsletterBlock"]] = relationship(
        back_populates="newsletter", cascade="all, delete-orphan", order_by="(NewsletterBlock.position, NewsletterBlock.id)"
    )

    AUDITED_FIELDS = (
        "subject", "preheader", "sender_name", "reply_to", "layout", "segment_id", "status", "scheduled_at", "in_archive",
    )  # fmt: skip

    @property
    def audit_label(self) -> str:
        return self.subject

    @property
    def audit_subjects(self) -> tuple[int | None, int | None]:
        return None, None

    @property
    def is_frozen(self) -> bool:
        return self.status in FROZEN


class BlockKind(StrEnum):
    text = "text"
    event_review = "event_review"
    upcoming_events = "upcoming_events"
    call_to_action = "call_to_action"
    image = "image"

    @property
    def label(self) -> str:
        return {
            "text": "Text", "event_review": "Veranstaltungsrückblick", "upcoming_events": "Kommende Veranstaltungen",
            "call_to_action": "Handlungsaufforderung (Button)", "image": "Bild",
        }[self.value]  # fmt: skip


class NewsletterBlock(db.Model):
    """One part of a newsletter. What a kind uses: text: title, body; event_review: title, event, body
    (prefilled from the event's summaries and statements, then edited); upcoming_events: title, body,
    data["event_ids"]; call_to_action: title, body, data["label"], data["url"]; image: data["src"],
    data["alt"], data["caption"], data["link"]."""

    __tablename__ = "newsletter_blocks"

    id: Mapped[int] = mapped_column(primary_key=True)
    newsletter_id: Mapped[int] = mapped_column(sa.ForeignKey("newsletters.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(default=0)
    kind: Mapped[BlockKind] = mapped_column(str_enum(BlockKind, "kind"))
    title: Mapped[str | None] = mapped_column(sa.String(300))
    #: Markdown.
    body: Mapped[str | None] = mapped_column(sa.Text)
    event_id: Mapped[int | None] = mapped_column(sa.ForeignKey("events.id", ondelete="SET NULL"), index=True)
    data: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)

    newsletter: Mapped[Newsletter] = relationship(back_populates="blocks")
    event = relationship("Event")

    AUDITED_FIELDS = ("position", "kind", "title", "body", "event_id", "data")

    @property
    def audit_label(self) -> str:
        return f"{self.kind.label} – {self.newsletter.subject}"

    @property
    def audit_subjects(self) -> tuple[int | None, int | None]:
        return None, None


class Signup(db.Model):
    """A newsletter sign-up from the public form. It waits for the confirmation link and expires;
    once confirmed it stays as part of the proof (sign-up request, confirmation mail, confirmation),
    next to the consent it created."""

    __tablename__ = "newsletter_signups"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(sa.String(254), index=True)
    first_name: Mapped[str | None] = mapped_column(sa.String(100))
    last_name: Mapped[str | None] = mapped_column(sa.String(100))
    #: Topic (tag) ids chosen on the form.
    topics: Mapped[list[int]] = mapped_column(sa.JSON, default=list)
    #: SHA-256 of the secret in the confirmation link.
    token_digest: Mapped[str] = mapped_column(sa.String(64), unique=True)
    wording: Mapped[str] = mapped_column(sa.Text)
    wording_version: Mapped[str] = mapped_column(sa.String(40))
    requested_at: Mapped[datetime] = mapped_column(default=utcnow)
    request_ip: Mapped[str | None] = mapped_column(sa.String(45))
    user_agent: Mapped[str | None] = mapped_column(sa.String(500))
    #: When the confirmation mail went out, and its Message-ID.
    mail_sent_at: Mapped[datetime | None] = mapped_column()
    message_id: Mapped[str | None] = mapped_column(sa.String(200))
    expires_at: Mapped[datetime] = mapped_column(index=True)
    confirmed_at: Mapped[datetime | None] = mapped_column()
    confirmed_ip: Mapped[str | None] = mapped_column(sa.String(45))
    person_id: Mapped[int | None] = mapped_column(sa.ForeignKey("people.id", ondelete="SET NULL"), index=True)

    person = relationship("Person")
