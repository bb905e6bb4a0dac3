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
    link = "link"  # the preference centre, opened from a personal link in a mail

    @property
    def label(self) -> str:
        return {
            "form": "Anmeldeformular (Double-Opt-in)",
            "import": "Import",
            "office": "Eintrag der Geschäftsstelle",
            "portal": "Mitgliederportal",
            "unsubscribe": "Abmeldelink",
            "link": "Einstellungsseite (persönlicher Link)",
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


#: The only changes a ledger row allows: removing personal data (person deleted or erased), and
#: moving the row to another person when two records of the same person are merged. That consent
#: existed, for which channel, when, how and with which wording stays provable.
REDACTABLE_COLUMNS = ("email", "request_ip", "user_agent", "confirmed_ip", "recorded_by_id")
RELINKABLE_COLUMNS = ("person_id",)


@sa.event.listens_for(Consent, "before_update")
def _refuse_update(mapper, connection, target):
    state = sa.inspect(target)
    for attr in state.attrs:
        history = attr.load_history()
        if not history.has_changes():
            continue
        if attr.key in ("person", "recorded_by", *RELINKABLE_COLUMNS):
            continue  # relationships and relinking; redaction of recorded_by_id is checked as column
        if attr.key not in REDACTABLE_COLUMNS or history.added != [None]:
            raise AppendOnlyError(
                "Der Einwilligungsnachweis ist unveränderlich; bitte einen neuen Eintrag anlegen."
            )


@sa.event.listens_for(Consent, "before_delete")
def _refuse_delete(mapper, connection, target):
    raise AppendOnlyError("Einträge im Einwilligungsnachweis können nicht gelöscht werden.")


def _unchanged(column: str) -> str:
    return f"NEW.{column} IS NOT DISTINCT FROM OLD.{column}"


def _redacted_or_unchanged(column: str) -> str:
    return f"(NEW.{column} IS NULL OR NEW.{column} IS NOT DISTINCT FROM OLD.{column})"


#: The same rule in the database, so that bulk SQL cannot rewrite the ledger either. The migration
#: holds a copy of these statements.
_FIXED = [c.name for c in Consent.__table__.columns if c.name not in REDACTABLE_COLUMNS + RELINKABLE_COLUMNS]
_ALLOWED_UPDATE = " AND ".join([_unchanged(c) for c in _FIXED] + [_redacted_or_unchanged(c) for c in REDACTABLE_COLUMNS])
APPEND_ONLY_DDL = {
    "sqlite": [
        "CREATE TRIGGER consents_no_delete BEFORE DELETE ON consents "
        "BEGIN SELECT RAISE(ABORT, 'consents are append-only'); END",
        f"CREATE TRIGGER consents_no_update BEFORE UPDATE ON consents WHEN NOT ({_ALLOWED_UPDATE}) "
        "BEGIN SELECT RAISE(ABORT, 'consents are append-only'); END",
    ],
    "postgresql": [
        "CREATE OR REPLACE FUNCTION consents_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "IF TG_OP = 'DELETE' THEN RAISE EXCEPTION 'consents are append-only'; END IF; "
        f"IF NOT ({_ALLOWED_UPDATE}) THEN RAISE EXCEPTION 'consents are append-only'; END IF; "
        "RETURN NEW; END $$",
        "CREATE TRIGGER consents_append_only BEFORE UPDATE OR DELETE ON consents "
        "FOR EACH ROW EXECUTE FUNCTION consents_append_only()",
    ],
}

for _dialect, _statements in APPEND_ONLY_DDL.items():
    for _statement in _statements:
        sa.event.listen(Consent.__table__, "after_create", sa.DDL(_statement).execute_if(dialect=_dialect))
