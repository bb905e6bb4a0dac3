"""Forms for answering an invitation (the invited person, or the office on their behalf), inviting,
reminding and moving an event. German labels and messages, errors next to the field."""
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from flask_wtf import FlaskForm
from wtforms import BooleanField, DateTimeLocalField, EmailField, RadioField, StringField, TextAreaField
from wtforms.validators import DataRequired, Email, Length, Optional

from crm.contacts.forms import EMAIL, REQUIRED, TOO_LONG, MultiCheckboxField
from crm.events.invitations import ANSWERS, MAX_COMPANIONS, OFFICE_ANSWERS, Answer
from crm.events.models import Invitation, InvitationStatus
from crm.events.needs import NEEDS, format_needs, parse_needs
from crm.forms import SelectField, strip

BERLIN = ZoneInfo("Europe/Berlin")

ANSWER_LABELS = {
    InvitationStatus.accepted: "Ja, ich komme", InvitationStatus.tentative: "Vielleicht",
    InvitationStatus.declined: "Nein, ich kann leider nicht",
}  # fmt: skip
COMPANION_CHOICES = [(n, "keine" if n == 0 else str(n)) for n in range(MAX_COMPANIONS + 1)]


class RsvpForm(FlaskForm):
    """What an invited person answers on their personal page."""

    status = RadioField("Kommen Sie?", choices=[(s.value, ANSWER_LABELS[s]) for s in ANSWERS],
                        validators=[DataRequired("Bitte wählen Sie eine Antwort aus.")])  # fmt: skip
    companions = SelectField("Begleitpersonen", choices=COMPANION_CHOICES, coerce=int, default=0)
    companion_names = StringField("Namen der Begleitung", filters=[strip], validators=[Optional(), Length(max=500, message=TOO_LONG)])
    deputy_name = StringField("Name der Vertretung", filters=[strip], validators=[Optional(), Length(max=200, message=TOO_LONG)])
    deputy_email = EmailField("E-Mail-Adresse der Vertretung", filters=[strip],
                              validators=[Optional(), Email(EMAIL), Length(max=254, message=TOO_LONG)])  # fmt: skip
    needs = MultiCheckboxField("Bitte berücksichtigen", choices=list(NEEDS.items()), coerce=str)
    needs_other = StringField("Weitere Bedürfnisse", filters=[strip], validators=[Optional(), Length(max=500, message=TOO_LONG)])
    note = TextAreaField("Nachricht an die Geschäftsstelle", filters=[strip], validators=[Optional(), Length(max=2000, message=TOO_LONG)])

    @classmethod
    def for_invitation(cls, invitation: Invitation, **kwargs) -> "RsvpForm":
        """The form filled with the current answer (an open invitation preselects nothing)."""
        choices, other = parse_needs(invitation.needs)
        status = invitation.status.value if invitation.status in cls.statuses() else None
        if invitation.status == InvitationStatus.waitlisted:
            status = InvitationStatus.accepted.value  # they wanted to come; the page says they wait
        data = {name: getattr(invitation, name) for name in ("companions", "companion_names", "deputy_name", "deputy_email", "note")}
        return cls(data={**data, "status": status, "needs": choices, "needs_other": other}, **kwargs)

    @staticmethod
    def statuses() -> tuple:
        return ANSWERS

    def answer(self) -> Answer:
        return Answer(
            status=InvitationStatus(self.status.data), companions=self.companions.data or 0,
            companion_names=self.companion_names.data, note=self.note.data, deputy_name=self.deputy_name.data,
            deputy_email=self.deputy_email.data, needs=format_needs(self.needs.data or [], self.needs_other.data),
        )  # fmt: skip


OFFICE_LABELS = {InvitationStatus.sent: "offen (keine Antwort)", InvitationStatus.cancelled: "Einladung zurückziehen"}


class OfficeAnswerForm(RsvpForm):
    """The same answer, entered by the office on someone's behalf (also after the deadline)."""

    status = RadioField("Antwort", choices=[(s.value, OFFICE_LABELS.get(s, s.label)) for s in OFFICE_ANSWERS],
                        validators=[DataRequired("Bitte wählen Sie eine Antwort aus.")])  # fmt: skip
    confirm = BooleanField("Bestätigung per E-Mail an die Person (und die Vertretung) senden")

    @staticmethod
    def statuses() -> tuple:
        return OFFICE_ANSWERS


REMINDERS = {"open": "event_reminder_open", "upcoming": "event_reminder_upcoming"}


class ReminderForm(FlaskForm):
    kind = SelectField("Erinnerung", choices=[("open", "an alle ohne Antwort"), ("upcoming", "an alle mit Zusage")])


def _berlin_to_utc(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=BERLIN).astimezone(timezone.utc) if value else None


class GermanDateTimeField(DateTimeLocalField):
    def __init__(self, label=None, validators=None, **kwargs):
        super().__init__(label, validators, format=["%Y-%m-%dT%H:%M", "%d.%m.%Y %H:%M"], **kwargs)

    def process_formdata(self, valuelist):
        try:
            super().process_formdata(valuelist)
        except ValueError as error:
            raise ValueError("Bitte Datum und Uhrzeit angeben, z. B. 20.11.2018 11:30.") from error


class MoveForm(FlaskForm):
    """New start and end (Berlin time) of an event that is moved."""

    starts_at = GermanDateTimeField("Neuer Beginn", validators=[DataRequired(REQUIRED)])
    ends_at = GermanDateTimeField("Neues Ende", validators=[DataRequired(REQUIRED)])

    @classmethod
    def for_event(cls, event, **kwargs) -> "MoveForm":
        local = {name: getattr(event, name).astimezone(BERLIN).replace(tzinfo=None) for name in ("starts_at", "ends_at")}
        return cls(data=local, **kwargs)

    def times(self) -> dict:
        return {"starts_at": _berlin_to_utc(self.starts_at.data), "ends_at": _berlin_to_utc(self.ends_at.data)}
