"""Event forms: German labels, errors next to the field. Times are Berlin time (crm.events.times)."""
from datetime import date, datetime, time

from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, StringField, TextAreaField
from wtforms import TimeField as _TimeField
from wtforms.validators import DataRequired, InputRequired, Length, Optional, ValidationError

from crm.contacts.forms import REQUIRED, TOO_LONG, GermanDateField, _check
from crm.contacts.validation import postal_code_error, url_error
from crm.events.models import Event, EventKind, EventSession, SessionKind
from crm.events.times import DAY_END, berlin, days_between, local
from crm.forms import IntegerField, SelectField, strip

KIND_CHOICES = [(k.value, k.label) for k in EventKind]
SESSION_KIND_CHOICES = [(k.value, k.label) for k in SessionKind]


class TimeField(_TimeField):
    """A time of day such as 11:30; German message for anything else."""

    def process_formdata(self, valuelist):
        try:
            super().process_formdata(valuelist)
        except ValueError as error:
            raise ValueError("Bitte eine Uhrzeit im Format HH:MM angeben, z. B. 11:30.") from error


def _text(label: str, max_length: int, *validators, **kwargs) -> StringField:
    validators = [Optional(), Length(max=max_length, message=TOO_LONG), *validators]
    return StringField(label, filters=[strip], validators=validators, **kwargs)


def _at_least_one_place(form, field) -> None:
    if field.data is not None and field.data < 1:  # None: not a number, already said so
        raise ValidationError("Bitte mindestens 1 Platz angeben – oder das Feld leer lassen.")


class EventForm(FlaskForm):
    """The event; start and end are a date plus a time (the field names match the service's errors)."""

    title = StringField("Titel", filters=[strip], validators=[DataRequired(REQUIRED), Length(max=300, message=TOO_LONG)])
    subtitle = _text("Untertitel", 300)
    kind = SelectField("Art", choices=KIND_CHOICES)
    start_date = GermanDateField("Datum", validators=[InputRequired("Bitte geben Sie das Datum an (TT.MM.JJJJ).")])
    starts_at = TimeField("Beginn", validators=[Optional()])
    ends_at = TimeField("Ende", validators=[Optional()])
    end_date = GermanDateField("Letzter Tag", validators=[Optional()])
    all_day = BooleanField("Ganztägig – nur das Datum, ohne Uhrzeiten")
    venue = _text("Veranstaltungsort", 200)
    room = _text("Raum", 200)
    street = _text("Straße und Hausnummer", 200)
    postal_code = _text("PLZ", 10, _check(postal_code_error))
    city = _text("Ort", 100)
    online_url = _text("Online-Link", 500, _check(url_error))
    description = TextAreaField("Beschreibung", filters=[strip], validators=[Optional(), Length(max=20000, message=TOO_LONG)])
    guiding_questions = TextAreaField("Leitfragen", filters=[strip], validators=[Optional()])
    partners = TextAreaField("Partner und Mitveranstalter", filters=[strip], validators=[Optional()])
    capacity = IntegerField("Plätze", validators=[Optional(), _at_least_one_place], render_kw={"inputmode": "numeric"})
    rsvp_deadline = GermanDateField("Anmeldeschluss", validators=[Optional()])
    rsvp_time = TimeField("Uhrzeit des Anmeldeschlusses", validators=[Optional()])

    PLAIN_FIELDS = (
        "title", "subtitle", "kind", "venue", "room", "street", "postal_code", "city", "online_url", "description", "capacity",
    )  # fmt: skip

    @classmethod
    def for_event(cls, event: Event) -> "EventForm":
        start, end = local(event.starts_at), local(event.ends_at)
        deadline = local(event.rsvp_deadline) if event.rsvp_deadline else None
        data = {name: getattr(event, name) for name in cls.PLAIN_FIELDS} | {
            "kind": event.kind.value,
            "start_date": start.date(),
            "starts_at": None if event.all_day else start.time(),
            "ends_at": None if event.all_day else end.time(),
            "end_date": end.date() if end.date() != start.date() else None,
            "all_day": event.all_day,
            "guiding_questions": "\n".join(event.guiding_questions or []),
            "partners": "\n".join(event.partners or []),
            "rsvp_deadline": deadline.date() if deadline else None,
            "rsvp_time": deadline.time() if deadline and deadline.time() != DAY_END else None,
        }
        return cls(data=data)

    def validate(self, extra_validators=None) -> bool:
        """Besides each field: times are needed unless the event is all-day."""
        valid = super().validate(extra_validators)
        if not self.all_day.data:
            for field, which in ((self.starts_at, "des Beginns"), (self.ends_at, "des Endes")):
                if field.data is None and not field.errors:
                    field.errors = [f"Bitte geben Sie die Uhrzeit {which} an – oder wählen Sie „ganztägig“."]
                    valid = False
        return valid

    def event_data(self) -> dict:
        """The service's values: Berlin date and time combined into aware datetimes."""
        data = {name: getattr(self, name).data for name in self.PLAIN_FIELDS}
        start_day = self.start_date.data
        end_day = self.end_date.data or start_day
        data["all_day"] = self.all_day.data
        data["starts_at"] = berlin(start_day, None if self.all_day.data else self.starts_at.data)
        data["ends_at"] = berlin(end_day, DAY_END if self.all_day.data else self.ends_at.data)
        deadline = self.rsvp_deadline.data
        data["rsvp_deadline"] = berlin(deadline, self.rsvp_time.data or DAY_END) if deadline else None
        data["guiding_questions"] = (self.guiding_questions.data or "").splitlines()
        data["partners"] = (self.partners.data or "").splitlines()
        return data


class SessionForm(FlaskForm):
    """An agenda item; the day only matters (and is only shown) for events over several days."""

    day = SelectField("Tag")
    starts_at = TimeField("Beginn", validators=[Optional()])
    ends_at = TimeField("Ende", validators=[Optional()])
    kind = SelectField("Art", choices=SESSION_KIND_CHOICES)
    track = _text("Parallele Spur", 100)
    title = _text("Titel", 300)
    description = TextAreaField("Beschreibung", filters=[strip], validators=[Optional(), Length(max=20000, message=TOO_LONG)])

    def __init__(self, *args, event: Event, **kwargs):
        super().__init__(*args, **kwargs)
        self.event = event
        self.days = days_between(event.starts_at, event.ends_at)
        self.day.choices = [(d.isoformat(), f"{d:%d.%m.%Y}") for d in self.days]
        if not self.day.data:
            self.day.data = self.days[0].isoformat()

    @classmethod
    def for_session(cls, session: EventSession) -> "SessionForm":
        data = {name: getattr(session, name) for name in ("track", "title", "description")} | {
            "kind": session.kind.value,
            "starts_at": local(session.starts_at).time() if session.starts_at else None,
            "ends_at": local(session.ends_at).time() if session.ends_at else None,
        }
        if session.starts_at:
            data["day"] = local(session.starts_at).date().isoformat()
        return cls(data=data, event=session.event)

    def _at(self, value: time | None) -> datetime | None:
        return berlin(date.fromisoformat(self.day.data), value) if value else None

    def session_data(self) -> dict:
        data = {name: getattr(self, name).data for name in ("kind", "track", "title", "description")}
        return data | {"starts_at": self._at(self.starts_at.data), "ends_at": self._at(self.ends_at.data)}


class SpeakerTextForm(FlaskForm):
    """Role and affiliation as the programme prints them."""

    role_text = _text("Funktion im Programm", 300)
    affiliation_text = _text("Organisation im Programm", 300)

    def speaker_data(self) -> dict:
        return {"role_text": self.role_text.data, "affiliation_text": self.affiliation_text.data}


class SpeakerForm(SpeakerTextForm):
    person = StringField("Person", filters=[strip], validators=[DataRequired("Bitte wählen Sie eine Person aus.")])


class StatusForm(FlaskForm):
    status = HiddenField()


class MoveForm(FlaskForm):
    direction = SelectField("Richtung", choices=[("up", "nach oben"), ("down", "nach unten")])
