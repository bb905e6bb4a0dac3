"""The public sign-up form; the preference centre uses the member portal's PreferencesForm."""
from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, StringField
from wtforms.validators import DataRequired, Email, Length, Optional

from crm.contacts.forms import EMAIL, TOO_LONG, MultiCheckboxField
from crm.contacts.services.preferences import topic_choices
from crm.forms import strip
from crm.portal.forms import PreferencesForm

__all__ = ["PreferencesForm", "SignupForm"]


class SignupForm(FlaskForm):
    email = EmailField(
        "E-Mail-Adresse", filters=[strip],
        validators=[DataRequired("Bitte geben Sie Ihre E-Mail-Adresse an."), Email(EMAIL), Length(max=254, message=TOO_LONG)],
    )  # fmt: skip
    first_name = StringField("Vorname (freiwillig)", filters=[strip], validators=[Optional(), Length(max=100, message=TOO_LONG)])
    last_name = StringField("Nachname (freiwillig)", filters=[strip], validators=[Optional(), Length(max=100, message=TOO_LONG)])
    tags = MultiCheckboxField("Themen, die Sie besonders interessieren (freiwillig)", coerce=int, validate_choice=False)
    consent = BooleanField(validators=[DataRequired("Bitte bestätigen Sie, dass Sie den Newsletter erhalten möchten.")])
    #: A trap for bots: hidden from people (and screen readers), so whatever is typed here was not typed by a person.
    website = StringField("Website (bitte leer lassen)", filters=[strip])

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.tags.choices = topic_choices()

    @property
    def is_bot(self) -> bool:
        return bool(self.website.data)
