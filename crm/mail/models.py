"""The delivery ledger of every mailing (invitations, reminders, newsletters) and the suppression list."""
from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.contacts.models.consents import ConsentChannel
from crm.extensions import db, str_enum, utcnow


class DeliveryStatus(StrEnum):
    queued = "queued"
    sent = "sent"
    failed = "failed"
    bounced = "bounced"
    #: Not sent because the mailing was cancelled.
    skipped = "skipped"

    @property
    def label(self) -> str:
        return {
            "queued": "in Warteschlange", "sent": "versandt", "failed": "fehlgeschlagen", "bounced": "unzustellbar",
            "skipped": "nicht versandt (abgebrochen)",
        }[self.value]  # fmt: skip


class Delivery(db.Model):
    """One message of one mailing to one person. The unique key is the promise that nobody gets the
    same mailing twice, even if sending is started twice or resumes after a crash."""

    __tablename__ = "deliveries"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: What is sent: "event_invitation", "event_reminder_open", "newsletter", … and the id of its subject.
    mailing: Mapped[str] = mapped_column(sa.String(40))
    subject_id: Mapped[int] = mapped_column()
    person_id: Mapped[int | None] = mapped_column(sa.ForeignKey("people.id", ondelete="SET NULL"), index=True)
    #: The address at queueing time (the person's may change later).
    email: Mapped[str | None] = mapped_column(sa.String(254))
    status: Mapped[DeliveryStatus] = mapped_column(str_enum(DeliveryStatus, "status"), default=DeliveryStatus.queued)
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    #: The Message-ID it went out with; indexed to find the delivery a bounce without VERP address returns.
    message_id: Mapped[str | None] = mapped_column(sa.String(200), index=True)
    queued_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column()
    #: A worker that claimed the row and until when (a crashed worker's claim runs out).
    claimed_until: Mapped[datetime | None] = mapped_column()

    person = relationship("Person")

    __table_args__ = (
        sa.UniqueConstraint("mailing", "subject_id", "person_id", name="uq_deliveries_once_per_person"),
        # With the id last, a claim reads a mailing's queued rows in order and stops after its batch
        # (without it PostgreSQL walked the primary key past every delivery ever sent).
        sa.Index("ix_deliveries_queue", "status", "mailing", "subject_id", "id"),
    )


class SuppressionReason(StrEnum):
    unsubscribed = "unsubscribed"
    hard_bounce = "hard_bounce"
    complaint = "complaint"
    manual = "manual"

    @property
    def label(self) -> str:
        return {"unsubscribed": "abgemeldet", "hard_bounce": "unzustellbar", "complaint": "Beschwerde", "manual": "gesperrt"}[
            self.value
        ]


class Suppression(db.Model):
    """An address that must never be mailed again (bulk mail; account mails still reach it)."""

    __tablename__ = "suppressions"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(sa.String(254), unique=True)
    #: The only kind of bulk mail the address is blocked for (an unsubscribe from one list); NULL: all.
    channel: Mapped[ConsentChannel | None] = mapped_column(str_enum(ConsentChannel, "channel"))
    reason: Mapped[SuppressionReason] = mapped_column(str_enum(SuppressionReason, "reason"))
    note: Mapped[str | None] = mapped_column(sa.String(300))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    @property
    def audit_subjects(self) -> tuple[int | None, None]:
        """The person with this address, so that the block shows in their history."""
        from crm.contacts.models import Person

        return db.session.scalar(sa.select(Person.id).where(Person.email == self.email)), None

    @property
    def audit_label(self) -> str:
        return f"Sperre für {self.email}"


def blocking(channel: ConsentChannel | None = None):
    """Condition on Suppression: the rows that block mail of `channel` (those for all mail, and its own)."""
    scope = Suppression.channel.is_(None)
    return sa.or_(scope, Suppression.channel == channel) if channel is not None else scope


def suppressed(email_column, channel: ConsentChannel | None = None) -> sa.Exists:
    """EXISTS condition: the address in `email_column` is blocked for bulk mail of `channel`."""
    return sa.exists(sa.select(Suppression.id).where(Suppression.email == email_column, blocking(channel)))


class MailingPause(db.Model):
    """A mailing that stopped itself (too many delivery attempts failed) until the office resumes it.

    For mailings whose subject keeps no pause state of its own (event mails); a newsletter is paused
    through its status instead (crm.newsletters.sending)."""

    __tablename__ = "mailing_pauses"

    id: Mapped[int] = mapped_column(primary_key=True)
    mailing: Mapped[str] = mapped_column(sa.String(40))
    subject_id: Mapped[int] = mapped_column()
    #: Why, in German, as the office reads it ("Automatisch angehalten: 17 von 50 Zustellversuchen …").
    reason: Mapped[str] = mapped_column(sa.Text)
    paused_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (sa.UniqueConstraint("mailing", "subject_id", name="uq_mailing_pauses_mailing"),)
