"""Session summaries and statements: order, validation, audit, and the review as Markdown."""
import pytest
import sqlalchemy as sa

from crm.audit.models import AuditLog
from crm.errors import ValidationFailed
from crm.events import agenda
from crm.events.services import event_history, update_event
from crm.events.statements import add_statement, delete_statement, move_statement, update_statement, update_summary
from crm.events.summaries import review_markdown
from crm.markdown import to_html, to_text
from tests.events.office import QUESTIONS, assembly, workshop

@pytest.fixture()
def berlin(make, db):
    """The workshop: opening with Handschuh and Krellmann, two workshop sessions without speakers, a break."""
    event = workshop(make, db)
    agenda.add_session(event, {"title": "Pause", "kind": "break"}, actor=None)
    db.session.commit()
    return event


@pytest.fixture()
def freiburg(make, db):
    return assembly(make, db)


def opening_of(event):
    return event.sessions[0]


def speaker(session, last_name):
    return next(s.person for s in session.speakers if s.person.last_name == last_name)


def test_statements_keep_their_order_and_move_one_place_at_a_time(berlin, make):
    opening = opening_of(berlin)
    handschuh = speaker(opening, "Handschuh")
    first, second, third = (add_statement(opening, handschuh, {"lead": f"These {n}."}, actor=None) for n in (1, 2, 3))
    assert [s.lead for s in opening.statements] == ["These 1.", "These 2.", "These 3."]
    assert [s.position for s in opening.statements] == [0, 1, 2]

    assert move_statement(third, "up", actor=None) is True
    assert [s.lead for s in opening.statements] == ["These 1.", "These 3.", "These 2."]
    assert move_statement(first, "up", actor=None) is False  # already first
    delete_statement(first, actor=None)
    assert [(s.lead, s.position) for s in opening.statements] == [("These 3.", 0), ("These 2.", 1)]
    assert second in opening.statements


def test_a_new_statement_goes_last_also_when_the_session_was_loaded_before(freiburg, db):
    session = freiburg.sessions[0]
    brunzel = speaker(session, "Brunzel")
    for n in (1, 2, 3):
        add_statement(session, brunzel, {"lead": f"These {n}."}, actor=None)
    db.session.commit()
    db.session.expire_all()  # as in the next request: the statements are loaded again on the next add
    add_statement(session, brunzel, {"lead": "These 4."}, actor=None)
    db.session.commit()
    assert [s.lead for s in session.statements] == ["These 1.", "These 2.", "These 3.", "These 4."]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("2", "Diese Leitfrage gibt es nicht. Bitte wählen Sie eine der 2 Leitfragen aus der Liste."),
        ("-1", "Diese Leitfrage gibt es nicht. Bitte wählen Sie eine der 2 Leitfragen aus der Liste."),
        ("zwei", "Diese Leitfrage gibt es nicht. Bitte wählen Sie eine der 2 Leitfragen aus der Liste."),
    ],
)
def test_a_question_index_must_exist(freiburg, value, message):
    session = freiburg.sessions[0]
    with pytest.raises(ValidationFailed) as refused:
        add_statement(session, speaker(session, "Brunzel"), {"body": "Eine Vision.", "question": value}, actor=None)
    assert (refused.value.field, refused.value.message) == ("question", message)


def test_question_index_is_stored_0_based_and_empty_means_none(freiburg):
    session = freiburg.sessions[0]
    brunzel = speaker(session, "Brunzel")
    assert add_statement(session, brunzel, {"body": "Eine Vision.", "question": "0"}, actor=None).question == 0
    assert add_statement(session, brunzel, {"body": "Wirtschaft vor Ort.", "question": 1}, actor=None).question == 1
    assert add_statement(session, brunzel, {"body": "Ohne Frage.", "question": ""}, actor=None).question is None


def test_an_event_without_guiding_questions_takes_no_question(berlin):
    opening = opening_of(berlin)
    with pytest.raises(ValidationFailed, match="Diese Veranstaltung hat keine Leitfragen") as refused:
        add_statement(opening, speaker(opening, "Handschuh"), {"body": "Text", "question": "0"}, actor=None)
    assert refused.value.field == "question"


def test_the_speaker_must_be_on_the_programme_of_the_session(berlin, make):
    opening = opening_of(berlin)
    stranger = make.person(first_name="Erika", last_name="Fremd")
    with pytest.raises(ValidationFailed) as refused:
        add_statement(opening, stranger, {"body": "Text"}, actor=None)
    assert refused.value.field == "person"
    assert refused.value.message == (
        "Erika Fremd wirkt bei „Eröffnung“ nicht mit. Bitte wählen Sie eine der Mitwirkenden "
        "(Alexander Handschuh, Anika Krellmann) oder fügen Sie die Person zuerst im Ablauf hinzu."
    )
    # A workshop round names nobody on the programme: anyone from the CRM may be quoted.
    round_one = berlin.sessions[1]
    assert add_statement(round_one, stranger, {"body": "Aus der Runde."}, actor=None).person_id == stranger.id


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"lead": "  ", "body": ""}, "body", "Bitte geben Sie die Aussage ein: einen Leitsatz, einen Text oder beides."),
        ({"lead": "x" * 501}, "lead", "Bitte höchstens 500 Zeichen (jetzt 501)."),
    ],
)
def test_an_empty_or_too_long_statement_is_refused(berlin, data, field, message):
    opening = opening_of(berlin)
    with pytest.raises(ValidationFailed) as refused:
        add_statement(opening, speaker(opening, "Handschuh"), data, actor=None)
    assert (refused.value.field, refused.value.message) == (field, message)


def test_nobody_and_erased_people_are_refused_and_a_break_has_no_review(berlin, make):
    opening = opening_of(berlin)
    with pytest.raises(ValidationFailed, match="Bitte wählen Sie aus, wer die Aussage gemacht hat."):
        add_statement(opening, None, {"body": "Text"}, actor=None)
    erased = make.person(last_name="Gelöscht")
    erased.erased_at = erased.created_at
    with pytest.raises(ValidationFailed, match="Die Daten dieser Person wurden gelöscht."):
        add_statement(berlin.sessions[1], erased, {"body": "Text"}, actor=None)
    pause = next(s for s in berlin.sessions if s.kind.value == "break")
    with pytest.raises(ValidationFailed, match="Zu einer Pause gibt es keinen Rückblick."):
        update_summary(pause, "Kaffee", actor=None)
    with pytest.raises(ValidationFailed, match="Zu einer Pause gibt es keinen Rückblick."):
        add_statement(pause, make.person(), {"body": "Kaffee"}, actor=None)


def test_a_statement_keeps_a_speaker_who_left_the_programme_until_someone_else_is_chosen(berlin):
    opening = opening_of(berlin)
    krellmann = speaker(opening, "Krellmann")
    statement = add_statement(opening, krellmann, {"body": "Fragen stellen."}, actor=None)
    agenda.remove_speaker(next(s for s in opening.speakers if s.person_id == krellmann.id), actor=None)
    assert update_statement(statement, krellmann, {"body": "Fragen stellen statt Antworten geben."}, actor=None) == {
        "body": ["Fragen stellen.", "Fragen stellen statt Antworten geben."]
    }


def test_every_change_is_audited_on_the_event_and_on_the_speaker(berlin, make, db):
    office = make.user(role="office")
    sequence = berlin.ical_sequence
    opening = opening_of(berlin)
    handschuh = speaker(opening, "Handschuh")
    update_summary(opening, "Die **Eröffnung** in Kürze.", actor=office)
    statement = add_statement(opening, handschuh, {"lead": "Digitalisierung ist ein Prozess.", "body": "Kein Projekt."}, actor=office)
    update_statement(statement, handschuh, {"lead": "Digitalisierung ist ein Prozess.", "body": "Strategie statt Masterplan."}, actor=office)
    move_statement(add_statement(opening, handschuh, {"lead": "Breitband zuerst."}, actor=office), "up", actor=office)
    delete_statement(statement, actor=office)
    db.session.commit()

    entries = db.session.scalars(sa.select(AuditLog).where(AuditLog.entity_type == "statements").order_by(AuditLog.id)).all()
    assert [(e.action, e.actor_label) for e in entries] == [("create", office.email), ("update", office.email),
                                                            ("create", office.email), ("update", office.email),
                                                            ("update", office.email), ("delete", office.email)]  # fmt: skip
    created, edited = entries[0], entries[1]
    assert created.changes | {} == {"session_id": opening.id, "person_id": handschuh.id, "position": 0,
                                    "lead": "Digitalisierung ist ein Prozess.", "body": "Kein Projekt.",
                                    "event_id": str(berlin.id)}  # fmt: skip
    assert edited.changes == {"body": ["Kein Projekt.", "Strategie statt Masterplan."]}
    assert entries[-1].changes["lead"] == "Digitalisierung ist ein Prozess."
    assert all(e.person_id == handschuh.id for e in entries)  # the speaker's own history shows them
    summary = db.session.scalar(sa.select(AuditLog).where(AuditLog.entity_type == "event_sessions", AuditLog.action == "update"))
    assert summary.changes == {"summary": [None, "Die **Eröffnung** in Kürze."]}
    history = event_history(berlin)
    assert {e.id for e in entries} <= {e.id for e in history} and summary in history
    assert berlin.ical_sequence == sequence  # the review is not in the calendar entry


def test_deleting_a_session_audits_its_statements(berlin, make, db):
    round_one = berlin.sessions[1]
    statement = add_statement(round_one, make.person(last_name="Runde"), {"body": "Ergebnis."}, actor=None)
    statement_id = statement.id
    agenda.delete_session(round_one, actor=None)
    deleted = db.session.scalar(sa.select(AuditLog).where(AuditLog.entity_type == "statements", AuditLog.action == "delete"))
    assert deleted.entity_id == statement_id and deleted.changes["body"] == "Ergebnis."


def test_answered_guiding_questions_cannot_be_struck_from_the_event(freiburg, db):
    session = freiburg.sessions[0]
    add_statement(session, speaker(session, "Brunzel"), {"body": "Vor Ort.", "question": "1"}, actor=None)
    with pytest.raises(ValidationFailed) as refused:
        update_event(freiburg, {"guiding_questions": QUESTIONS[:1]}, actor=None)
    assert refused.value.field == "guiding_questions" and "Antworten auf Leitfrage 2" in refused.value.message
    # Adding a question or rewording keeps the numbers, and is fine.
    assert "guiding_questions" in update_event(freiburg, {"guiding_questions": QUESTIONS + ["Und die Zivilgesellschaft?"]}, actor=None)


# --- review_markdown ---------------------------------------------------------------------------


def test_review_markdown_groups_answers_by_guiding_question(freiburg, db):
    brunzel_session, hardtner_session = freiburg.sessions
    brunzel, hardtner = speaker(brunzel_session, "Brunzel"), speaker(hardtner_session, "Hardtner")
    update_summary(brunzel_session, "Die Metropolregion setzt auf eine gemeinsame Vision.", actor=None)
    add_statement(brunzel_session, brunzel, {"question": "1", "body": "Etwa für lebendige Innenstädte."}, actor=None)
    add_statement(brunzel_session, brunzel, {"question": "0", "lead": "Wir brauchen eine Vision.", "body": "Nutzen zeigen."}, actor=None)
    add_statement(hardtner_session, hardtner, {"question": "0", "body": "Der Wandel beginnt beim Oberbürgermeister."}, actor=None)
    db.session.commit()

    assert review_markdown(freiburg) == (
        "### Metropolregion Rhein Neckar\n\n"
        "Die Metropolregion setzt auf eine gemeinsame Vision.\n\n"
        "#### Leitfrage: Wie kann die lokale Politik begeistert werden?\n\n"
        "**Marco Brunzel** (Leitung Digitalisierung und E-Government, Metropolregion Rhein Neckar): "
        "**Wir brauchen eine Vision.** Nutzen zeigen.\n\n"
        "#### Leitfrage: Welche Rolle spielt die regionale Wirtschaft?\n\n"
        "**Marco Brunzel** (Leitung Digitalisierung und E-Government, Metropolregion Rhein Neckar): Etwa für lebendige Innenstädte.\n\n"
        "### Pforzheim digital\n\n"
        "#### Leitfrage: Wie kann die lokale Politik begeistert werden?\n\n"
        "**Sabrina Hardtner** (Leiterin des OB-Büros, Stadt Pforzheim): Der Wandel beginnt beim Oberbürgermeister.\n"
    )


def test_review_markdown_lists_theses_per_speaker_with_bold_leads(berlin, make, db):
    opening = opening_of(berlin)
    handschuh, krellmann = speaker(opening, "Handschuh"), speaker(opening, "Krellmann")
    add_statement(opening, handschuh, {"lead": "Digitalisierung ist kein Projekt, sondern ein Prozess.",
                                       "body": "Kommunen brauchen eine Strategie.\n\nAber keinen Masterplan."}, actor=None)  # fmt: skip
    add_statement(opening, krellmann, {"lead": "Fragen stellen statt Antworten geben"}, actor=None)
    add_statement(opening, handschuh, {"lead": "Breitband ist das Fundament", "body": "Gerade auf dem Land."}, actor=None)
    round_one = berlin.sessions[1]
    add_statement(round_one, make.person(first_name="Nicole", last_name="Huber"), {"body": "- Gemeinwohl\n- Lebensqualität"}, actor=None)
    update_summary(berlin.sessions[2], "Ohne Aussagen, nur eine Zusammenfassung.", actor=None)
    db.session.commit()

    markdown = review_markdown(berlin)
    assert markdown == (
        "### Eröffnung\n\n"
        "**Alexander Handschuh** (Sprecher des Deutschen Städte- und Gemeindebunds)\n\n"
        "1. **Digitalisierung ist kein Projekt, sondern ein Prozess.** Kommunen brauchen eine Strategie.\n\n"
        "   Aber keinen Masterplan.\n"
        "2. **Breitband ist das Fundament** – Gerade auf dem Land.\n\n"
        "**Anika Krellmann** (Moderation)\n\n"
        "1. **Fragen stellen statt Antworten geben**\n\n"
        "### Aufgabe der Kommunen\n\n"
        "**Nicole Huber**\n\n"
        "1. - Gemeinwohl\n"
        "   - Lebensqualität\n\n"
        "### Rollen der Verwaltungsspitze\n\n"
        "Ohne Aussagen, nur eine Zusammenfassung.\n"
    )
    html = to_html(markdown)
    assert "<strong>Digitalisierung ist kein Projekt, sondern ein Prozess.</strong> Kommunen brauchen" in html
    assert "<p>Aber keinen Masterplan.</p>" in html and html.count("<ol>") == 3  # the second paragraph stays in its thesis
    text = to_text(markdown)
    assert "1. Digitalisierung ist kein Projekt, sondern ein Prozess. Kommunen" in text
    assert "Alexander Handschuh (Sprecher des Deutschen Städte- und Gemeindebunds)" in text and "**" not in text


def test_review_markdown_of_mixed_statements_names_and_headings(freiburg, make, db):
    session = freiburg.sessions[1]
    hardtner = speaker(session, "Hardtner")
    hardtner.first_name = "Sabrina *Sabi*"
    add_statement(session, hardtner, {"question": "1", "body": "Seit 2013 freies WLAN."}, actor=None)
    add_statement(session, hardtner, {"lead": "Kultur und Bildung [Pilot]", "body": "Augmented Reality."}, actor=None)
    update_summary(session, "# Ergebnisse\n\nViel erreicht.\n\nAusblick\n--------\n\nMehr Beteiligung.", actor=None)
    db.session.commit()

    markdown = review_markdown(freiburg)
    assert markdown.startswith("### Pforzheim digital\n\n#### Ergebnisse\n\nViel erreicht.\n\n##### Ausblick\n\n\nMehr Beteiligung.\n\n")
    assert "#### Leitfrage: Welche Rolle spielt die regionale Wirtschaft?\n\n**Sabrina \\*Sabi\\* Hardtner**" in markdown
    assert markdown.endswith("#### Weitere Aussagen\n\n**Sabrina \\*Sabi\\* Hardtner** (Leiterin des OB-Büros, Stadt Pforzheim): "
                             "**Kultur und Bildung \\[Pilot\\]** – Augmented Reality.\n")  # fmt: skip
    html = to_html(markdown)
    assert "Sabrina *Sabi* Hardtner" in html and "[Pilot]" in html and "<em>" not in html


def test_review_markdown_is_empty_without_summaries_or_statements(berlin):
    assert review_markdown(berlin) == ""
