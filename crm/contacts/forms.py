"""Contact forms: German labels, German messages next to the field, input kept on errors."""
from flask_wtf import FlaskForm
from wtforms import BooleanField, DateField, EmailField, SelectMultipleField, StringField, TextAreaField
from wtforms.validators import DataRequired, Email, Length, NumberRange, Optional, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from crm.contacts.models import ORGANIZATION_KIND_LABELS, Salutation
from crm.contacts.municipal import BUNDESLAENDER
from crm.contacts.validation import phone_error, postal_code_error, url_error
from crm.forms import IntegerField, SelectField, strip

REQUIRED = "Bitte füllen Sie dieses Feld aus."
EMAIL = "Bitte geben Sie eine gültige E-Mail-Adresse an (z. B. name@example.org)."
DATE = "Bitte ein Datum im Format TT.MM.JJJJ angeben."
TOO_LONG = "Höchstens %(max)d Zeichen."

STATE_CHOICES = [("", "– kein Bundesland –")] + [(code, name) for code, name in BUNDESLAENDER.items()]
KIND_CHOICES = [(kind.value, label) for kind, label in ORGANIZATION_KIND_LABELS.items()]
SALUTATION_CHOICES = [("", "– unbekannt –")] + [(s.value, s.label) for s in Salutation]


def _check(function):
    """Turn a crm.contacts.validation function into a WTForms validator."""

    def validator(form, field):
        if message := function(field.data):
            raise ValidationError(message)

    return validator


class GermanDateField(DateField):
    """Accepts 20.11.2018 as well as the browser's 2018-11-20."""

    def __init__(self, label=None, validators=None, **kwargs):
        super().__init__(label, validators, format=["%Y-%m-%d", "%d.%m.%Y"], **kwargs)

    def process_formdata(self, valuelist):
        try:
            super().process_formdata(valuelist)
        except ValueError as error:
            raise ValueError(DATE) from error


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class PersonForm(FlaskForm):
    salutation = SelectField("Anrede", choices=SALUTATION_CHOICES, validators=[Optional()])
    title = StringField("Titel", filters=[strip], validators=[Optional(), Length(max=50, message=TOO_LONG)])
    first_name = StringField("Vorname", filters=[strip], validators=[Optional(), Length(max=100, message=TOO_LONG)])
    last_name = StringField("Nachname", filters=[strip], validators=[DataRequired(REQUIRED), Length(max=100, message=TOO_LONG)])
    email = EmailField("E-Mail-Adresse", filters=[strip], validators=[Optional(), Email(EMAIL), Length(max=254, message=TOO_LONG)])
    phone = StringField("Telefon", filters=[strip], validators=[Optional(), _check(phone_error)])
    mobile = StringField("Mobil", filters=[strip], validators=[Optional(), _check(phone_error)])
    fax = StringField("Fax", filters=[strip], validators=[Optional(), _check(phone_error)])
    notes = TextAreaField("Notizen", filters=[strip], validators=[Optional(), Length(max=10000, message=TOO_LONG)])
    tags = MultiCheckboxField("Themen", coerce=str, validate_choice=False)
    # Only when creating: the first role, so that duplicates in the same organization are found.
    organization = StringField("Organisation", filters=[strip], validators=[Optional()])
    position = StringField("Funktion", filters=[strip], validators=[Optional(), Length(max=200, message=TOO_LONG)])

    PERSON_FIELDS = ("salutation", "title", "first_name", "last_name", "email", "phone", "mobile", "fax", "notes")

    def person_data(self) -> dict:
        data = {name: getattr(self, name).data for name in self.PERSON_FIELDS}
        data["salutation"] = Salutation(data["salutation"]) if data["salutation"] else None
        return data


class OrganizationForm(FlaskForm):
    name = StringField("Name", filters=[strip], validators=[DataRequired(REQUIRED), Length(max=300, message=TOO_LONG)])
    short_name = StringField("Kurzname", filters=[strip], validators=[Optional(), Length(max=100, message=TOO_LONG)])
    kind = SelectField("Art", choices=KIND_CHOICES)
    parent = StringField("Übergeordnete Organisation", filters=[strip], validators=[Optional()])
    state = SelectField("Bundesland", choices=STATE_CHOICES, validators=[Optional()])
    ags = StringField("Amtlicher Gemeindeschlüssel (AGS)", filters=[strip], validators=[Optional()])
    kreisschluessel = StringField("Kreisschlüssel", filters=[strip], validators=[Optional()])
    population = IntegerField(
        "Einwohner",
        validators=[Optional(), NumberRange(min=0, message="Die Einwohnerzahl darf nicht negativ sein.")],
        render_kw={"inputmode": "numeric"},
    )
    street = StringField("Straße und Hausnummer", filters=[strip], validators=[Optional(), Length(max=200, message=TOO_LONG)])
    postal_code = StringField("PLZ", filters=[strip], validators=[Optional(), _check(postal_code_error)])
    city = StringField("Ort", filters=[strip], validators=[Optional(), Length(max=100, message=TOO_LONG)])
    website = StringField("Website", filters=[strip], validators=[Optional(), _check(url_error)])
    email = EmailField("E-Mail-Adresse", filters=[strip], validators=[Optional(), Email(EMAIL)])
    phone = StringField("Telefon", filters=[strip], validators=[Optional(), _check(phone_error)])
    notes = TextAreaField("Notizen", filters=[strip], validators=[Optional()])

    ORGANIZATION_FIELDS = (
        "name", "short_name", "kind", "state", "ags", "kreisschluessel", "population", "street", "postal_code",
        "city", "website", "email", "phone", "notes",
    )  # fmt: skip

    def organization_data(self) -> dict:
        return {name: getattr(self, name).data for name in self.ORGANIZATION_FIELDS}


class AffiliationForm(FlaskForm):
    organization = StringField("Organisation", filters=[strip], validators=[DataRequired(REQUIRED)])
    position = StringField("Funktion", filters=[strip], validators=[Optional(), Length(max=200, message=TOO_LONG)])
    department = StringField("Abteilung / Amt", filters=[strip], validators=[Optional(), Length(max=200, message=TOO_LONG)])
    is_primary = BooleanField("Hauptfunktion (bestimmt Anrede und Anschrift)")
    start_date = GermanDateField("Beginn", validators=[Optional()])
    end_date = GermanDateField("Ende", validators=[Optional()])

    def affiliation_data(self) -> dict:
        return {
            "position": self.position.data,
            "department": self.department.data,
            "is_primary": self.is_primary.data,
            "start_date": self.start_date.data,
            "end_date": self.end_date.data,
        }


class SegmentForm(FlaskForm):
    name = StringField("Name des Segments", filters=[strip], validators=[DataRequired(REQUIRED), Length(max=120, message=TOO_LONG)])
    description = TextAreaField("Beschreibung", filters=[strip], validators=[Optional()])


class BulkTagForm(FlaskForm):
    tag = StringField("Thema", filters=[strip], validators=[DataRequired(REQUIRED), Length(max=80, message=TOO_LONG)])
    action = SelectField("Aktion", choices=[("add", "zuordnen"), ("remove", "entfernen")])
    scope = SelectField("Für", choices=[("selected", "ausgewählte Personen"), ("all", "alle Treffer des Filters")])


class ConsentForm(FlaskForm):
    channel = SelectField("Kanal", choices=[("newsletter", "Newsletter"), ("event_invitation", "Veranstaltungseinladungen")])
    granted = SelectField("Erklärung", choices=[("yes", "eingewilligt"), ("no", "widerrufen")])
    source = StringField(
        "Nachweis / Quelle",
        filters=[strip],
        validators=[DataRequired("Bitte geben Sie an, wie die Erklärung vorliegt (z. B. „E-Mail vom 3. 5. 2024“)."), Length(max=300)],
    )
