"""Membership forms: German labels, errors next to the field."""
from flask_wtf import FlaskForm
from wtforms import HiddenField, TextAreaField
from wtforms.validators import Length, Optional

from crm.contacts.forms import TOO_LONG, GermanDateField
from crm.forms import SelectField, strip
from crm.members.models import MembershipStatus, MembershipType

TYPE_CHOICES = [(t.value, t.label) for t in MembershipType]
#: A new membership is applied for or starts at once; suspending and ending come later.
NEW_STATUS_CHOICES = [(s.value, s.label) for s in (MembershipStatus.applied, MembershipStatus.active)]


class MembershipForm(FlaskForm):
    type = SelectField("Art der Mitgliedschaft", choices=TYPE_CHOICES)
    start_date = GermanDateField("Beginn", validators=[Optional()])
    end_date = GermanDateField("Ende", validators=[Optional()])
    notes = TextAreaField("Notizen", filters=[strip], validators=[Optional(), Length(max=10000, message=TOO_LONG)])

    def membership_data(self) -> dict:
        return {name: getattr(self, name).data for name in ("type", "start_date", "end_date", "notes")}


class NewMembershipForm(MembershipForm):
    status = SelectField("Status", choices=NEW_STATUS_CHOICES)


class StatusForm(FlaskForm):
    """One button per allowed transition; ending also asks for the end date."""

    status = HiddenField()
    end_date = GermanDateField("Ende zum", validators=[Optional()])
