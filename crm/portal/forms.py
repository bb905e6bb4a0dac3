"""Forms of the member portal (German labels and messages)."""
from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, PasswordField, StringField, TextAreaField
from wtforms.validators import DataRequired, Email, Length, Optional

from crm.contacts.forms import EMAIL, REQUIRED, TOO_LONG, MultiCheckboxField, PersonForm
from crm.contacts.models import ORGANIZATION_KIND_LABELS, Salutation
from crm.contacts.services.preferences import topic_choices
from crm.forms import SelectField, strip


class ProfileForm(FlaskForm):
    """What members change themselves; the email address has its own confirmed flow."""

    salutation = PersonForm.salutation
    title = PersonForm.title
    first_name = PersonForm.first_name
    last_name = PersonForm.last_name
    phone = PersonForm.phone
    mobile = PersonForm.mobile

    FIELDS = ("salutation", "title", "first_name", "last_name", "phone", "mobile")

    def person_data(self) -> dict:
        data = {name: getattr(self, name).data for name in self.FIELDS}
        data["salutation"] = Salutation(data["salutation"]) if data["salutation"] else None
        return data


class EmailChangeForm(FlaskForm):
    email = EmailField(
        "Neue E-Mail-Adresse", filters=[strip], validators=[DataRequired(REQUIRED), Email(EMAIL), Length(max=254, message=TOO_LONG)]
    )


class PreferencesForm(FlaskForm):
    newsletter = BooleanField("Ich möchte den Newsletter per E-Mail erhalten.")
    invitations = BooleanField("Ich möchte Einladungen zu Veranstaltungen per E-Mail erhalten.")
    tags = MultiCheckboxField("Meine Themen", coerce=int, validate_choice=False)

    @classmethod
    def for_person(cls, person) -> "PreferencesForm":
        """The form with the person's current choices (a submitted form keeps what was sent)."""
        form = cls(data={
            "newsletter": bool(person.newsletter_consent), "invitations": bool(person.invitation_consent),
            "tags": [t.id for t in person.tags],
        })  # fmt: skip
        form.tags.choices = topic_choices()
        return form


class AffiliationForm(FlaskForm):
    position = StringField("Funktion", filters=[strip], validators=[Optional(), Length(max=200, message=TOO_LONG)])
    department = StringField("Abteilung", filters=[strip], validators=[Optional(), Length(max=200, message=TOO_LONG)])


class NewAffiliationForm(FlaskForm):
    organization = StringField(
        "Organisation", filters=[strip], validators=[DataRequired(REQUIRED), Length(max=300, message=TOO_LONG)]
    )
    position = StringField("Funktion", filters=[strip], validators=[Optional(), Length(max=200, message=TOO_LONG)])
    message = TextAreaField("Nachricht an die Geschäftsstelle", filters=[strip], validators=[Optional(), Length(max=2000, message=TOO_LONG)])


class ErasureForm(FlaskForm):
    confirm = BooleanField(
        "Ich möchte, dass meine personenbezogenen Daten gelöscht werden.",
        validators=[DataRequired("Bitte bestätigen Sie, dass Sie die Löschung beantragen möchten.")],
    )
    password = PasswordField("Ihr Passwort (zur Bestätigung)")
    message = TextAreaField("Nachricht an die Geschäftsstelle (freiwillig)", filters=[strip], validators=[Optional(), Length(max=2000, message=TOO_LONG)])



class DecisionForm(FlaskForm):
    note = TextAreaField("Antwort an das Mitglied", filters=[strip], validators=[Optional(), Length(max=2000, message=TOO_LONG)])


class AffiliationDecisionForm(DecisionForm):
    organization = StringField("Organisation", filters=[strip], validators=[DataRequired(REQUIRED), Length(max=300, message=TOO_LONG)])
    position = StringField("Funktion", filters=[strip], validators=[Optional(), Length(max=200, message=TOO_LONG)])
    new_kind = SelectField("Neue Organisation anlegen?", choices=[("", "Nein – vorhandene Organisation")] + [
        (kind.value, f"Ja, als {label}") for kind, label in ORGANIZATION_KIND_LABELS.items()
    ], validators=[Optional()])  # fmt: skip


class ErasureConfirmForm(FlaskForm):
    confirm_name = StringField("Zur Bestätigung den Nachnamen eingeben", filters=[strip], validators=[DataRequired(REQUIRED)])
