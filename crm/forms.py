"""Form pieces shared by all areas: German messages where WTForms would answer in English."""
from wtforms import IntegerField as _IntegerField
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


class IntegerField(_IntegerField):
    """A whole number; German message for anything else."""

    def process_formdata(self, valuelist):
        try:
            super().process_formdata(valuelist)
        except ValueError as error:
            raise ValueError("Bitte eine ganze Zahl ohne Punkte angeben, z. B. 160355.") from error
