"""The consent ledger: append-only proof of who agreed to what, when and how (Art. 7 DSGVO)."""
from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.extensions import db, str_enum, utcnow


class ConsentChannel(StrEnum):
    newsletter = "newsletter"
    event_invitation = "event_invitation"

    @property
    def label(self) -> str:
        return {"newsletter": "Newsletter", "event_invitation": "Veranstaltungseinladungen"}[self.value]


class ConsentMethod(StrEnum):
    form = "form"  # double opt-in form
    import_ = "import"
    office = "office"  # entered by office staff
    portal = "portal"  # the member's own preferences
    unsubscribe = "unsubscribe"

    @property
    def label(self) -> str:
        return {
            "form": "Anmeldeformular (Double-Opt-in)",
            "import": "Import",
            "office": "Eintrag der Geschäftsstelle",
            "portal": "Mitgliederportal",
            "unsubscribe": "Abmeldelink",
        }[self.value]


class AppendOnlyError(RuntimeError):
    """Raised when code tries to change or delete a ledger row."""


class Consent(db.Model):
    __tablename__ = "consents"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: Kept (set null) when the person is deleted, so the ledger stays complete.
    person_id: Mapped[int | None] = mapped_column(sa.ForeignKey("people.id", ondelete="SET NULL"), index=True)
    channel: Mapped[ConsentChannel] = mapped_column(str_enum(ConsentChannel, "channel"))
    granted: Mapped[bool] = mapped_column()
    method: Mapped[ConsentMethod] = mapped_column(str_enum(ConsentMethod, "method"))
    #: Where it came from: the import file, the form, the office note.
    source: Mapped[str | None] = mapped_column(sa.String(300))
    #: The address the consent was given for.
    email: Mapped[str | None] = mapped_column(sa.String(254))
    #: The wording the person agreed to, and its version.
    wording: Mapped[str | None] = mapped_column(sa.Text)
    wording_version: Mapped[str | None] = mapped_column(sa.String(40))
    requested_at: Mapped[datetime | None] = mapped_column()
    request_ip: Mapped[str | None] = mapped_column(sa.String(45))
    user_agent: Mapped[str | None] = mapped_column(sa.String(500))
    confirmed_at: Mapped[datetime | None] = mapped_column()
    confirmed_ip: Mapped[str | None] = mapped_column(sa.String(45))
    #: When the consent took effect (the confirmation time for double opt-in).
    effective_at: Mapped[datetime] = mapped_column(default=utcnow)
    recorded_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    person = relationship("Person")
    recorded_by = relationship("User")

    __table_args__ = (sa.Index("ix_consents_person_channel", "person_id", "channel", "effective_at"),)


@sa.event.listens_for(Consent, "before_update")
def _refuse_update(mapper, connection, target):
    # person_id may only be cleared (the database does this when a person is deleted).
    raise AppendOnlyError("Der Einwilligungsnachweis ist unveränderlich; bitte einen neuen Eintrag anlegen.")


@sa.event.listens_for(Consent, "before_delete")
def _refuse_delete(mapper, connection, target):
    raise AppendOnlyError("Einträge im Einwilligungsnachweis können nicht gelöscht werden.")
