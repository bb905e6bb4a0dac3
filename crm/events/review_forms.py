"""Forms of an event's review: a session's summary and a speaker's statement (German labels and errors)."""
from flask_wtf import FlaskForm
from wtforms import StringField, TextAreaField
from wtforms.validators import Length, Optional

from crm.contacts.forms import TOO_LONG
from crm.contacts.models import Person
from crm.errors import ValidationFailed
from crm.events.agenda import person_label, resolve_person
from crm.events.display import speaker_line
from crm.events.models import EventSession, Statement
from crm.events.statements import BODY_MAX_LENGTH, LEAD_MAX_LENGTH, SUMMARY_MAX_LENGTH
from crm.extensions import db
from crm.forms import SelectField, strip

MARKDOWN_HINT = "Markdown: **fett**, *kursiv*, Listen mit „- “, Links als [Text](https://…). Eine Leerzeile beginnt einen neuen Absatz."


class SummaryForm(FlaskForm):
    summary = TextAreaField(
        "Zusammenfassung", filters=[strip], validators=[Optional(), Length(max=SUMMARY_MAX_LENGTH, message=TOO_LONG)]
    )


class _StatementForm(FlaskForm):
    # The service checks the question index and the speaker, with messages that say what is wrong.
    question = SelectField("Leitfrage", validate_choice=False)
    lead = StringField("Leitsatz", filters=[strip], validators=[Optional(), Length(max=LEAD_MAX_LENGTH, message=TOO_LONG)])
    body = TextAreaField("Text", filters=[strip], validators=[Optional(), Length(max=BODY_MAX_LENGTH, message=TOO_LONG)])

    def statement_data(self) -> dict:
        return {"question": self.question.data, "lead": self.lead.data, "body": self.body.data}


class SpeakerStatementForm(_StatementForm):
    """For a session with speakers: who said it is one of them."""

    person = SelectField("Wer", validate_choice=False)

    def chosen_person(self) -> Person | None:
        if not self.person.data:
            return None
        person = db.session.get(Person, int(self.person.data)) if str(self.person.data).isdigit() else None
        if person is None:
            raise ValidationFailed("person", "Bitte wählen Sie eine der Mitwirkenden aus der Liste.")
        return person


class PickedStatementForm(_StatementForm):
    """For a session without speakers (a workshop round): anyone from the CRM, chosen as in the agenda."""

    person = StringField("Wer", filters=[strip])

    def chosen_person(self) -> Person | None:
        return resolve_person(self.person.data) if self.person.data else None


def statement_form(session: EventSession, statement: Statement | None = None, **kwargs) -> _StatementForm:
    """The statement form for `session`, filled from `statement` when editing (and not submitted)."""
    if statement is not None and "formdata" not in kwargs:
        kwargs["data"] = {
            "person": (str(statement.person_id) if session.speakers else person_label(statement.person)) if statement.person else "",
            "question": "" if statement.question is None else str(statement.question),
            "lead": statement.lead, "body": statement.body,
        }  # fmt: skip
    form = (SpeakerStatementForm if session.speakers else PickedStatementForm)(**kwargs)
    questions = session.event.guiding_questions or []
    form.question.choices = [("", "– keine Leitfrage –")] + [(str(i), f"{i + 1}. {q}") for i, q in enumerate(questions)]
    if statement is not None and statement.question is not None and statement.question >= len(questions):
        form.question.choices.append((str(statement.question), f"{statement.question + 1}. (nicht mehr in der Liste)"))
    if isinstance(form, SpeakerStatementForm):
        choices = [("", "Bitte wählen …")]
        choices += [(str(s.person_id), ", ".join(p for p in (s.person.full_name, speaker_line(s)) if p)) for s in session.speakers]
        if statement is not None and statement.person and all(s.person_id != statement.person_id for s in session.speakers):
            choices.append((str(statement.person_id), f"{statement.person.full_name} (nicht mehr im Programm)"))
        form.person.choices = choices
    return form
