"""The office's review pages: summaries with a preview, statements added, edited, reordered and
deleted, the three read views, German errors next to the field, and sanitized Markdown."""
import re

import pytest
import sqlalchemy as sa

from crm.events.models import Statement
from crm.events.statements import add_statement, update_summary
from tests.conftest import count
from tests.contacts.pages import field_error, flashes, form_by_action, input_value, main_form
from tests.events.office import assembly, workshop
from tests.html import page_text


@pytest.fixture()
def office(login):
    return login("office")


@pytest.fixture()
def event(make, db):
    return assembly(make, db)


def review_url(event, rest: str = "") -> str:
    return f"/veranstaltungen/{event.id}/rueckblick{rest}"


def page(client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, url
    return response.get_data(as_text=True)


def person_of(session):
    return session.speakers[0].person


def test_the_event_page_leads_to_the_review(client, office, event, db):
    markup = page(client, f"/veranstaltungen/{event.id}")
    assert f'href="{review_url(event)}"' in markup
    assert "Nach der Veranstaltung: je Programmpunkt eine Zusammenfassung" in page_text(markup)
    session = event.sessions[0]
    update_summary(session, "Kurz.", actor=None)
    add_statement(session, person_of(session), {"body": "Eine Vision."}, actor=None)
    db.session.commit()
    assert "Zusammenfassungen zu 1 von 2 Programmpunkten · 1 Aussage der Mitwirkenden" in page_text(page(client, f"/veranstaltungen/{event.id}"))


def test_write_a_summary_see_the_preview_then_save_it(client, office, event, db):
    session = event.sessions[0]
    url = review_url(event, f"/{session.id}")
    data = main_form(page(client, url)) | {"summary": "Die Region setzt auf eine **gemeinsame Vision**."}

    preview = client.post(url, data=data | {"preview": "1"})
    assert preview.status_code == 200
    assert re.search(r"<div class=\"markdown\" data-preview><p>Die Region setzt auf eine <strong>gemeinsame Vision</strong>.</p>", preview.get_data(as_text=True))
    assert input_value(preview.get_data(as_text=True), "summary") == data["summary"]  # still in the field
    db.session.expire_all()
    assert session.summary is None  # a preview saves nothing

    response = client.post(url, data=data, follow_redirects=True)
    assert flashes(response.get_data(as_text=True)) == ["Die Zusammenfassung wurde gespeichert."]
    assert "<strong>gemeinsame Vision</strong>" in response.get_data(as_text=True)
    assert session.summary == "Die Region setzt auf eine **gemeinsame Vision**."
    overview = page(client, review_url(event))
    assert "<p>Die Region setzt auf eine <strong>gemeinsame Vision</strong>.</p>" in overview


def test_a_too_long_summary_is_refused_next_to_the_field(client, office, event, db):
    session = event.sessions[0]
    url = review_url(event, f"/{session.id}")
    response = client.post(url, data={"summary": "x" * 20001})
    assert field_error(response.get_data(as_text=True), "summary") == "Höchstens 20000 Zeichen."
    db.session.expire_all()
    assert session.summary is None


def test_add_statements_and_read_them_by_session_speaker_and_question(client, office, event, db):
    brunzel_session, hardtner_session = event.sessions
    brunzel, hardtner = person_of(brunzel_session), person_of(hardtner_session)
    for session, person, question, lead, body in (
        (brunzel_session, brunzel, "0", "Wir brauchen eine mitreißende Vision.", "Der Nutzen für das Gemeinwesen muss sichtbar werden."),
        (brunzel_session, brunzel, "1", "", "Etwa bei Innenstädten und *Smart Parking*."),
        (hardtner_session, hardtner, "0", "", "Der Wandel beginnt beim Oberbürgermeister."),
    ):  # fmt: skip
        url = review_url(event, f"/{session.id}/aussagen")
        form = form_by_action(page(client, review_url(event, f"/{session.id}")), url)
        assert form["person"] == "" and form["question"] == ""  # nothing chosen yet
        response = client.post(url, data=form | {"person": str(person.id), "question": question, "lead": lead, "body": body})
        assert response.status_code == 302 and "#aussage-" in response.headers["Location"]
    assert count(Statement) == 3

    by_session = page_text(page(client, review_url(event)))
    assert ("Metropolregion Rhein Neckar Zusammenfassung und Aussagen bearbeiten Noch keine Zusammenfassung. Aussagen (2) "
            "Marco Brunzel (Leitung Digitalisierung und E-Government, Metropolregion Rhein Neckar) "
            "Leitfrage 1: Wie kann die lokale Politik begeistert werden? Wir brauchen eine mitreißende Vision.") in by_session  # fmt: skip
    assert "<em>Smart Parking</em>" in page(client, review_url(event))

    by_speaker = page_text(page(client, review_url(event, f"/personen/{brunzel.id}")))
    assert "Marco Brunzel" in by_speaker and "Der Wandel beginnt" not in by_speaker
    assert "Metropolregion Rhein Neckar · Leitfrage 2: Welche Rolle spielt die regionale Wirtschaft? Etwa bei Innenstädten" in by_speaker
    everybody = page_text(page(client, review_url(event, "/personen")))
    assert everybody.index("Marco Brunzel") < everybody.index("Sabrina Hardtner")

    by_question = page_text(page(client, review_url(event, "/leitfragen")))
    first = by_question[by_question.index("Leitfrage 1:") : by_question.index("Leitfrage 2:")]
    assert "Marco Brunzel" in first and "Sabrina Hardtner" in first and "Der Wandel beginnt beim Oberbürgermeister." in first
    assert "Etwa bei Innenstädten" in by_question[by_question.index("Leitfrage 2:") :]

    newsletter = page(client, review_url(event, "/newsletter"))
    assert "#### Leitfrage: Wie kann die lokale Politik begeistert werden?" in newsletter
    assert "<strong>Wir brauchen eine mitreißende Vision.</strong>" in newsletter


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"question": "7"}, "question", "Diese Leitfrage gibt es nicht. Bitte wählen Sie eine der 2 Leitfragen aus der Liste."),
        ({"person": "other"}, "person", "Sabrina Hardtner wirkt bei „Metropolregion Rhein Neckar“ nicht mit. Bitte wählen Sie eine "
                                        "der Mitwirkenden (Marco Brunzel) oder fügen Sie die Person zuerst im Ablauf hinzu."),
        ({"person": "abc"}, "person", "Bitte wählen Sie eine der Mitwirkenden aus der Liste."),
        ({"person": ""}, "person", "Bitte wählen Sie aus, wer die Aussage gemacht hat."),
        ({"lead": " ", "body": ""}, "body", "Bitte geben Sie die Aussage ein: einen Leitsatz, einen Text oder beides."),
        ({"lead": "x" * 501}, "lead", "Höchstens 500 Zeichen."),
    ],
)  # fmt: skip
def test_bad_statements_are_refused_next_to_the_field_and_nothing_is_saved(client, office, event, changes, field, message):
    session, other = event.sessions
    url = review_url(event, f"/{session.id}/aussagen")
    data = form_by_action(page(client, review_url(event, f"/{session.id}")), url)
    data |= {"person": str(person_of(session).id), "body": "Eine Vision."} | changes
    if data["person"] == "other":
        data["person"] = str(person_of(other).id)
    response = client.post(url, data=data)
    assert response.status_code == 200
    markup = response.get_data(as_text=True)
    assert field_error(markup, field) == message
    assert count(Statement) == 0
    assert input_value(markup, "body") == data["body"]  # what was typed stays


def test_a_session_without_speakers_quotes_anyone_through_the_person_picker(client, office, make, db):
    event = workshop(make, db)
    round_one = event.sessions[1]
    huber = make.person(first_name="Nicole", last_name="Huber")
    db.session.commit()
    url = review_url(event, f"/{round_one.id}/aussagen")
    markup = page(client, review_url(event, f"/{round_one.id}"))
    assert 'data-suggest="/veranstaltungen/personen-vorschlaege"' in markup
    assert 'name="question"' not in markup  # the workshop has no guiding questions
    form = form_by_action(markup, url)

    refused = client.post(url, data=form | {"person": "Niemand Unbekannt", "body": "Gemeinwohl"})
    assert field_error(refused.get_data(as_text=True), "person").startswith("Keine Person „Niemand Unbekannt“ gefunden.")
    client.post(url, data=form | {"person": f"Nicole Huber (Nr. {huber.id})", "body": "Gemeinwohl zuerst."})
    [statement] = db.session.scalars(sa.select(Statement)).all()
    assert (statement.person_id, statement.question) == (huber.id, None)
    edit = page(client, review_url(event, f"/aussagen/{statement.id}"))
    assert input_value(edit, "person") == f"Nicole Huber (Nr. {huber.id})"


def test_edit_reorder_and_delete_statements(client, office, event, db):
    session = event.sessions[0]
    brunzel = person_of(session)
    first = add_statement(session, brunzel, {"lead": "Erste These."}, actor=None)
    second = add_statement(session, brunzel, {"lead": "Zweite These."}, actor=None)
    db.session.commit()

    edit_url = review_url(event, f"/aussagen/{first.id}")
    form = main_form(page(client, edit_url))
    assert (form["person"], form["question"], form["lead"]) == (str(brunzel.id), "", "Erste These.")
    bad = client.post(edit_url, data=form | {"question": "5"})
    assert field_error(bad.get_data(as_text=True), "question").startswith("Diese Leitfrage gibt es nicht.")
    client.post(edit_url, data=form | {"question": "1", "body": "Mit Text."})
    db.session.expire_all()
    assert (first.question, first.body) == (1, "Mit Text.")
    history = page_text(page(client, f"/veranstaltungen/{event.id}"))
    assert "Aussage – Metropolregion Rhein Neckar" in history and "Leitfrage: – → Nr. 2" in history

    client.post(review_url(event, f"/aussagen/{second.id}/verschieben"), data={"direction": "up"})
    listed = page_text(page(client, review_url(event, f"/{session.id}")))
    assert listed.index("Zweite These.") < listed.index("Erste These.")

    response = client.post(review_url(event, f"/aussagen/{second.id}/loeschen"), follow_redirects=True)
    assert flashes(response.get_data(as_text=True)) == ["Die Aussage wurde gelöscht."]
    assert [s.lead for s in db.session.scalars(sa.select(Statement))] == ["Erste These."]


def test_wrong_event_breaks_and_unknown_people_are_not_found(client, office, event, make, db):
    other = workshop(make, db)
    statement = add_statement(event.sessions[0], person_of(event.sessions[0]), {"body": "Vision."}, actor=None)
    db.session.commit()
    for url in (
        review_url(other, f"/{event.sessions[0].id}"), review_url(other, f"/aussagen/{statement.id}"),
        review_url(event, f"/personen/{person_of(event.sessions[1]).id}"), review_url(event, "/999999"),
    ):  # fmt: skip
        assert client.get(url).status_code == 404, url
    assert client.post(review_url(other, f"/aussagen/{statement.id}/loeschen")).status_code == 404
    assert count(Statement) == 1


def test_members_cannot_write_a_review(client, login, event, db):
    login("member")
    session = event.sessions[0]
    response = client.post(review_url(event, f"/{session.id}/aussagen"), data={"person": str(person_of(session).id), "body": "x"})
    assert response.status_code == 403 and count(Statement) == 0


HOSTILE = "<script>alert(1)</script> <img src=x onerror=alert(2)> [klick](javascript:alert(3)) <a href=\"javascript:alert(4)\">a</a>"


def test_markdown_is_sanitized_on_every_page(client, office, event, db):
    session = event.sessions[0]
    update_summary(session, f"Zusammenfassung {HOSTILE}", actor=None)
    add_statement(session, person_of(session), {"lead": "Leitsatz <script>alert(5)</script>", "body": f"Text {HOSTILE}"}, actor=None)
    db.session.commit()
    statement_id = db.session.scalar(sa.select(Statement.id))
    for rest in ("", f"/{session.id}", "/personen", f"/personen/{person_of(session).id}", "/leitfragen", "/newsletter",
                 f"/aussagen/{statement_id}"):  # fmt: skip
        markup = page(client, review_url(event, rest))
        assert "<script>" not in markup and "<img" not in markup, rest
        assert not re.search(r"<[a-z][^>]*\son\w+=", markup), rest  # no event handler attribute on any tag
        assert not re.search(r"<a\b[^>]*href=\"\s*javascript:", markup, flags=re.I), rest  # (as escaped text it is harmless)
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in markup or "alert(1)" not in markup, rest  # shown as text, if at all
    preview = client.post(review_url(event, f"/{session.id}"), data={"summary": HOSTILE, "preview": "1"}).get_data(as_text=True)
    assert "<script>" not in preview and not re.search(r"<a\b[^>]*href=\"\s*javascript:", preview)


def test_the_review_pages_ask_the_database_the_same_number_of_times_for_more_statements(client, office, event, db, make, count_queries):
    brunzel_session, hardtner_session = event.sessions
    add_statement(brunzel_session, person_of(brunzel_session), {"body": "Eine Vision."}, actor=None)
    db.session.commit()
    urls = [review_url(event, rest) for rest in ("", "/personen", "/leitfragen", "/newsletter", f"/{brunzel_session.id}")]

    def queries() -> list[int]:
        numbers = []
        for url in urls:
            db.session.expire_all()
            with count_queries() as counted:
                page(client, url)
            numbers.append(counted.count)
        return numbers

    few = queries()
    for n in range(5):
        add_statement(hardtner_session, person_of(hardtner_session), {"question": str(n % 2), "body": f"Antwort {n}."}, actor=None)
        make.affiliation(person_of(hardtner_session), make.organization(name=f"Stadt {n}"), position="Leiterin")
    db.session.commit()
    assert queries() == few
