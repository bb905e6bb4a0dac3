"""Form pieces shared by all areas: German messages where WTForms would answer in English."""
from wtforms import SelectField as _SelectField
from wtforms.validators import ValidationError


def strip(value):
    """Field filter: no leading or trailing blanks."""
    return value.strip() if isinstance(value, str) else value


class SelectField(_SelectField):
    """A select whose refusal of an unknown value is German."""

    def pre_validate(self, form):
        if not self.validate_choice:
            return
        if not any(match for _, _, match, *_ in self.iter_choices()):
            raise ValidationError("Bitte wählen Sie einen Eintrag aus der Liste.")
