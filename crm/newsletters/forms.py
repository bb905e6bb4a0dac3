"""Newsletter forms: settings, one form per kind of block, test mail and planning. German labels and
messages next to the field; the services (crm.newsletters.blocks, .sending) check the same again."""
import re

import sqlalchemy as sa
from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, HiddenField, StringField, TextAreaField
from wtforms.validators import DataRequired, Email, InputRequired, Length, Optional, ValidationError

from crm.contacts.forms import EMAIL, REQUIRED, TOO_LONG, MultiCheckboxField
from crm.contacts.models import Segment
from crm.contacts.validation import email_error
from crm.events.invitation_forms import GermanDateTimeField
from crm.events.models import Event
from crm.events.times import to_utc
from crm.extensions import db
from crm.forms import SelectField, strip
from crm.newsletters import blocks as services
from crm.newsletters.models import BlockKind, Newsletter, NewsletterBlock
from crm.newsletters.render import LAYOUTS
from crm.templating import datetime_de

MAX_TEST_ADDRESSES = 10


def _text(label: str, max_length: int, *validators, **kwargs) -> StringField:
    """A trimmed line of text; optional unless `validators` say otherwise."""
    checks = [*(validators or [Optional()]), Length(max=max_length, message=TOO_LONG)]
    return StringField(label, filters=[strip], validators=checks, **kwargs)


def _markdown(label: str, *validators) -> TextAreaField:
    checks = [*(validators or [Optional()]), Length(max=50000, message=TOO_LONG)]
    return TextAreaField(label, filters=[strip], validators=checks)


def _url(https_only: bool = False):
    def validator(form, field):
        if message := services.url_problem(field.data, https_only=https_only):
            raise ValidationError(message)

    return validator


class NewsletterForm(FlaskForm):
    subject = _text("Betreff", 200, DataRequired(REQUIRED))
    preheader = _text("Vorschauzeile", 200)
    sender_name = _text("Absendername", 120)
    reply_to = EmailField("Antwortadresse", filters=[strip], validators=[Optional(), Email(EMAIL), Length(max=254, message=TOO_LONG)])
    layout = SelectField("Layout", choices=list(LAYOUTS.items()))
    segment_id = SelectField("Empfängerkreis (Segment)")
    in_archive = BooleanField("Nach dem Versand im öffentlichen Archiv zeigen", default=True)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        segments = db.session.execute(sa.select(Segment.id, Segment.name).order_by(Segment.name)).all()
        self.segment_id.choices = [("", "– noch keins –")] + [(str(i), name) for i, name in segments]

    @classmethod
    def for_newsletter(cls, newsletter: Newsletter) -> "NewsletterForm":
        data = {field: getattr(newsletter, field) for field in services.SETTINGS_FIELDS}
        return cls(data=data | {"segment_id": str(newsletter.segment_id or "")})

    def newsletter_data(self) -> dict:
        data = {field: getattr(self, field).data for field in services.SETTINGS_FIELDS}
        return data | {"segment_id": int(data["segment_id"]) if data["segment_id"] else None}


# --- blocks -----------------------------------------------------------------------------------------------------


class BlockForm(FlaskForm):
    """The fields every kind's form hands to crm.newsletters.blocks.block_values()."""

    FIELDS: tuple[str, ...] = ()

    def block_data(self) -> dict:
        return {name: getattr(self, name).data for name in self.FIELDS}

    @classmethod
    def values_of(cls, block: NewsletterBlock) -> dict:
        return {"title": block.title, "body": block.body, "event_id": block.event_id, **(block.data or {})}


class TextForm(BlockForm):
    FIELDS = ("title", "body")
    title = _text("Überschrift", 300)
    body = _markdown("Text", DataRequired("Bitte schreiben Sie einen Text."))


def _event_label(event: Event) -> str:
    return f"{datetime_de(event.starts_at, 'dd.MM.y')} – {event.title} ({event.status.label})"


class NewReviewForm(BlockForm):
    """Adding a review: the event is enough, title and text are written from its summaries."""

    FIELDS = ("event_id",)
    event_id = SelectField("Veranstaltung", validators=[DataRequired("Bitte wählen Sie eine Veranstaltung aus.")])

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        done, others = services.review_events()
        chosen = str(self.event_id.data or "")
        past, later = ([(str(e.id), _event_label(e)) for e in events] for events in (done, others))
        if chosen.isdigit() and chosen not in {value for value, _ in past + later}:
            event = db.session.get(Event, int(chosen))  # e.g. an event cancelled since the block was written
            past += [(chosen, _event_label(event))] if event else []
        groups = {"Vergangene Veranstaltungen": past, "Weitere Veranstaltungen": later}
        self.event_id.choices = {label: items for label, items in groups.items() if items} or [("", "– keine Veranstaltungen –")]

    def block_data(self) -> dict:
        return {"event_id": self.event_id.data}


class ReviewForm(NewReviewForm):
    FIELDS = ("title", "event_id", "body")
    title = _text("Überschrift", 300)
    body = _markdown("Text")

    def block_data(self) -> dict:
        return {name: getattr(self, name).data for name in self.FIELDS}


class UpcomingForm(BlockForm):
    FIELDS = ("title", "body", "event_ids")
    title = _text("Überschrift", 300)
    body = _markdown("Einleitung")
    event_ids = MultiCheckboxField("Veranstaltungen", coerce=int)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        events = services.upcoming_events()
        chosen = [i for i in (self.event_ids.data or []) if i not in {e.id for e in events}]
        if chosen:  # chosen before they began: still shown, so that the office can take them out
            events += db.session.scalars(sa.select(Event).where(Event.id.in_(chosen))).all()
        self.event_ids.choices = [(e.id, _event_label(e)) for e in events]

    def validate_event_ids(self, field):
        if not field.data:
            raise ValidationError("Bitte wählen Sie mindestens eine Veranstaltung aus.")


class CallToActionForm(BlockForm):
    FIELDS = ("title", "body", "label", "url")
    title = _text("Überschrift", 300)
    body = _markdown("Text")
    label = _text("Beschriftung des Buttons", 80, DataRequired("Bitte geben Sie die Beschriftung des Buttons an."))
    url = _text("Adresse (Link des Buttons)", 1000, DataRequired("Bitte geben Sie die Adresse an, zu der der Button führt."), _url())


class ImageForm(BlockForm):
    FIELDS = ("src", "alt", "caption", "link")
    src = _text("Adresse des Bildes (https://…)", 1000, DataRequired("Bitte geben Sie die Adresse des Bildes an."), _url(https_only=True))
    alt = _text("Bildbeschreibung (Alternativtext)", 300,
                DataRequired("Bitte beschreiben Sie das Bild (für Menschen, die es nicht sehen)."))  # fmt: skip
    caption = _text("Bildunterschrift", 300)
    link = _text("Link beim Klick auf das Bild", 1000, Optional(), _url())


#: Per kind: the form for adding a block and the one for editing it.
FORMS: dict[BlockKind, tuple[type[BlockForm], type[BlockForm]]] = {
    BlockKind.text: (TextForm, TextForm),
    BlockKind.event_review: (NewReviewForm, ReviewForm),
    BlockKind.upcoming_events: (UpcomingForm, UpcomingForm),
    BlockKind.call_to_action: (CallToActionForm, CallToActionForm),
    BlockKind.image: (ImageForm, ImageForm),
}


def new_block_form(kind: BlockKind, *, submitted: bool = False) -> BlockForm:
    """The empty form for adding a block of `kind` (bound to the request when it was submitted)."""
    form_class = FORMS[kind][0]
    data = {"title": "Kommende Veranstaltungen"} if kind == BlockKind.upcoming_events else {}
    kwargs = {} if submitted else {"formdata": None}
    return form_class(prefix=f"neu-{kind.value}", data=data, **kwargs)


def block_form(block: NewsletterBlock, *, submitted: bool = False) -> BlockForm:
    """The edit form of a block, filled with its values (or with what was submitted)."""
    kwargs = {} if submitted else {"formdata": None}
    return FORMS[block.kind][1](prefix=f"block-{block.id}", data=BlockForm.values_of(block), **kwargs)


# --- test mail and planning -------------------------------------------------------------------------------------

_SEPARATORS = re.compile(r"[,;\s]+")


def split_addresses(text: str | None) -> list[str]:
    """The addresses in what was typed (commas, semicolons, blanks or new lines between them), each once."""
    seen: list[str] = []
    for address in _SEPARATORS.split(text or ""):
        if address and address.lower() not in (a.lower() for a in seen):
            seen.append(address)
    return seen


class TestMailForm(FlaskForm):
    addresses = TextAreaField("An (E-Mail-Adressen)", validators=[DataRequired("Bitte geben Sie mindestens eine E-Mail-Adresse an.")])
    person = HiddenField()

    def validate_addresses(self, field):
        addresses = split_addresses(field.data)
        if not addresses:
            raise ValidationError("Bitte geben Sie mindestens eine E-Mail-Adresse an.")
        if len(addresses) > MAX_TEST_ADDRESSES:
            raise ValidationError(f"Höchstens {MAX_TEST_ADDRESSES} Adressen auf einmal.")
        wrong = [a for a in addresses if email_error(a)]
        if wrong:
            raise ValidationError(f"Keine gültige E-Mail-Adresse: {', '.join(wrong)}.")

    def address_list(self) -> list[str]:
        return split_addresses(self.addresses.data)


class ScheduleForm(FlaskForm):
    scheduled_at = GermanDateTimeField("Versand am (Berliner Zeit)", validators=[InputRequired("Bitte geben Sie Datum und Uhrzeit an.")])

    def when(self):
        return to_utc(self.scheduled_at.data)  # entered as Berlin wall-clock time
