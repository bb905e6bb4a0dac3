"""Login, password and user-administration forms (German labels and messages)."""
from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, StringField
from wtforms.validators import DataRequired, Email, EqualTo, Length, Optional

from crm.auth.models import Role
from crm.contacts.models import Salutation
from crm.forms import SelectField, strip

REQUIRED = "Bitte füllen Sie dieses Feld aus."

EMAIL = "Bitte geben Sie eine gültige E-Mail-Adresse an (z. B. name@example.org)."


class LoginForm(FlaskForm):
    email = EmailField("E-Mail-Adresse", filters=[strip], validators=[DataRequired(REQUIRED), Email(EMAIL)])
    password = PasswordField("Passwort", validators=[DataRequired(REQUIRED)])


class ForgotPasswordForm(FlaskForm):
    email = EmailField("E-Mail-Adresse", filters=[strip], validators=[DataRequired(REQUIRED), Email(EMAIL)])


class ResetPasswordForm(FlaskForm):
    password = PasswordField("Neues Passwort", validators=[DataRequired(REQUIRED)])
    confirm = PasswordField(
        "Passwort wiederholen",
        validators=[DataRequired(REQUIRED), EqualTo("password", "Die beiden Passwörter stimmen nicht überein.")],
    )


ROLE_CHOICES = [(r.value, r.label) for r in Role]


class UserCreateForm(FlaskForm):
    email = EmailField("E-Mail-Adresse", filters=[strip], validators=[DataRequired(REQUIRED), Email(EMAIL), Length(max=254)])
    role = SelectField("Rolle", choices=ROLE_CHOICES, default=Role.office.value)
    salutation = SelectField(
        "Anrede", choices=[("", "– unbekannt –")] + [(s.value, s.label) for s in Salutation], validators=[Optional()]
    )
    first_name = StringField("Vorname", filters=[strip], validators=[Optional(), Length(max=100)])
    last_name = StringField("Nachname", filters=[strip], validators=[DataRequired(REQUIRED), Length(max=100)])


class UserRoleForm(FlaskForm):
    role = SelectField("Rolle", choices=ROLE_CHOICES)


class EmptyForm(FlaskForm):
    """For POST buttons: carries only the CSRF token."""
