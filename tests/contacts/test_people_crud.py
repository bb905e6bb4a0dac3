"""Creating, editing and deleting people, and recording consents: German messages, audit, DB state."""
import re

import pytest
import sqlalchemy as sa

from crm.audit.models import AuditLog
from crm.contacts.models import (
    Affiliation, Consent, ConsentChannel, ConsentMethod, Organization, Person, Salutation, Tag,
)  # fmt: skip
from crm.contacts.services import record_consent
from crm.members.models import Membership, MembershipStatus
from crm.members.services import create_membership
from tests.conftest import count
from tests.contacts.pages import field_error, field_errors, flashes, input_value, main_form, selected_option
from tests.html import page_text


@pytest.fixture()
def office(login):
    return login("office")


def audit_rows(db, **where) -> list[AuditLog]:
    return db.session.scalars(sa.select(AuditLog).filter_by(**where).order_by(AuditLog.id)).all()


NEW_PERSON = {
    "salutation": "frau",
    "title": "Dr.",
    "first_name": "Nicole",
    "last_name": "Huber",
    "email": " N.Huber@Example.org ",
    "phone": "030 7730 7253",
    "mobile": "+49 171 1203537",
    "fax": "",
    "notes": "Kennt den Vorstand.",
}


def test_create_person(client, db, office):
    response = client.post("/personen/neu", data=NEW_PERSON)

    assert response.status_code == 302
    person = db.session.scalar(sa.select(Person).where(Person.last_name == "Huber"))
    assert response.headers["Location"] == f"/personen/{person.id}"
    assert person.salutation == Salutation.frau
    assert person.email == "n.huber@example.org"  # trimmed and lower case
    assert (person.phone, person.mobile, person.fax) == ("030 7730 7253", "+49 171 1203537", None)
    [entry] = audit_rows(db, entity_type="people", entity_id=person.id)
    assert (entry.action, entry.actor_id, entry.person_id) == ("create", office.id, person.id)
    assert entry.changes["last_name"] == "Huber" and entry.changes["email"] == "n.huber@example.org"

    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Dr. Nicole Huber wurde angelegt." in flashes(page)
    assert "Sehr geehrte Frau Dr. Huber," in page_text(page)
    assert "Person Dr. Nicole Huber angelegt" in page_text(page)  # the history on the detail page


@pytest.mark.parametrize(
    ("field", "typed", "message"),
    [
        ("last_name", "", "Bitte füllen Sie dieses Feld aus."),
        ("last_name", "   ", "Bitte füllen Sie dieses Feld aus."),
        ("email", "kein@", "Bitte geben Sie eine gültige E-Mail-Adresse an (z. B. name@example.org)."),
        ("phone", "abc", "Bitte nur Ziffern, Leerzeichen und + ( ) / - verwenden"),
        ("phone", "12345", "Bitte mit Vorwahl angeben"),
        ("mobile", "0171", "Diese Telefonnummer ist zu kurz oder zu lang."),
        ("fax", "0621 12 34 56 ext 7", "Bitte nur Ziffern"),
    ],
)
def test_invalid_input_is_explained_next_to_the_field_and_kept(client, db, office, field, typed, message):
    people, audit = count(Person), count(AuditLog)

    response = client.post("/personen/neu", data={**NEW_PERSON, field: typed})

    assert response.status_code == 200
    markup = response.get_data(as_text=True)
    assert message in field_error(markup, field)
    assert list(field_errors(markup)) == [field]  # only that field is marked
    assert "Bitte prüfen Sie die markierten Felder." in page_text(markup)
    if typed.strip():
        assert input_value(markup, field) == typed  # what the user typed is still there
    assert input_value(markup, "first_name") == "Nicole"
    assert input_value(markup, "notes") == "Kennt den Vorstand."
    assert selected_option(markup, "salutation") == "frau"
    assert (count(Person), count(AuditLog)) == (people, audit)  # nothing written


def test_duplicate_email_names_the_other_person(client, db, make, office):
    make.person(first_name="Jürgen", last_name="Müller", email="j.mueller@example.org")
    db.session.commit()
    people, audit = count(Person), count(AuditLog)

    response = client.post("/personen/neu", data={**NEW_PERSON, "email": "J.Mueller@Example.org"})

    assert response.status_code == 200
    markup = response.get_data(as_text=True)
    assert field_error(markup, "email") == "Diese E-Mail-Adresse gehört bereits zu Jürgen Müller."
    assert input_value(markup, "email") == "J.Mueller@Example.org"
    assert input_value(markup, "last_name") == "Huber"
    assert (count(Person), count(AuditLog)) == (people, audit)


@pytest.fixture()
def nicole(db, make):
    tags = [Tag(name="Bildung"), Tag(name="Mobilität"), Tag(name="E-Government")]
    db.session.add_all(tags)
    person = make.person(
        salutation=Salutation.frau, title="Dr.", first_name="Nicole", last_name="Huber",
        email="n.huber@example.org", phone="030 7730 7253", notes="Kennt den Vorstand.",
    )  # fmt: skip
    db.session.commit()
    return person


def test_edit_form_shows_the_current_values(client, office, nicole):
    markup = client.get(f"/personen/{nicole.id}/bearbeiten").get_data(as_text=True)

    assert selected_option(markup, "salutation") == "frau"
    assert input_value(markup, "title") == "Dr."
    assert input_value(markup, "last_name") == "Huber"
    assert input_value(markup, "email") == "n.huber@example.org"
    assert input_value(markup, "phone") == "030 7730 7253"
    assert input_value(markup, "notes") == "Kennt den Vorstand."


def test_edit_form_ticks_the_topics_and_saving_keeps_them(client, db, office, nicole):
    nicole.tags = [db.session.scalar(sa.select(Tag).where(Tag.name == "Bildung"))]
    db.session.commit()

    data = main_form(client.get(f"/personen/{nicole.id}/bearbeiten").get_data(as_text=True))
    assert data.get("tags") == "Bildung"  # the person's topic is ticked
    data["phone"] = "0621 12 34 56"
    assert client.post(f"/personen/{nicole.id}/bearbeiten", data=data).status_code == 302

    db.session.expire_all()
    assert [t.name for t in nicole.tags] == ["Bildung"]  # changing the phone did not drop the topic


def test_edit_audits_old_and_new_values(client, db, office, nicole):
    data = main_form(client.get(f"/personen/{nicole.id}/bearbeiten").get_data(as_text=True))
    data.update(first_name="Nicola", phone="0621 12 34 56")

    response = client.post(f"/personen/{nicole.id}/bearbeiten", data=data)

    assert response.status_code == 302
    db.session.refresh(nicole)
    assert (nicole.first_name, nicole.phone, nicole.email) == ("Nicola", "0621 12 34 56", "n.huber@example.org")
    [entry] = audit_rows(db, entity_type="people", entity_id=nicole.id, action="update")
    assert entry.changes == {"first_name": ["Nicole", "Nicola"], "phone": ["030 7730 7253", "0621 12 34 56"]}
    assert entry.actor_id == office.id
    page = page_text(client.get(f"/personen/{nicole.id}").get_data(as_text=True))
    assert "Die Änderungen wurden gespeichert." in page
    assert "Telefon: 030 7730 7253 → 0621 12 34 56" in page
    assert "Vorname: Nicole → Nicola" in page


def test_saving_unchanged_form_writes_no_audit_row(client, db, office, nicole):
    data = main_form(client.get(f"/personen/{nicole.id}/bearbeiten").get_data(as_text=True))
    before = count(AuditLog)
    assert client.post(f"/personen/{nicole.id}/bearbeiten", data=data).status_code == 302
    assert count(AuditLog) == before


def test_edit_refuses_another_persons_email_and_keeps_the_old_data(client, db, make, office, nicole):
    make.person(first_name="Jürgen", last_name="Müller", email="j.mueller@example.org")
    db.session.commit()
    data = main_form(client.get(f"/personen/{nicole.id}/bearbeiten").get_data(as_text=True))
    data.update(email="j.mueller@example.org", phone="0621 99 99")

    response = client.post(f"/personen/{nicole.id}/bearbeiten", data=data)

    assert response.status_code == 200
    markup = response.get_data(as_text=True)
    assert field_error(markup, "email") == "Diese E-Mail-Adresse gehört bereits zu Jürgen Müller."
    assert input_value(markup, "phone") == "0621 99 99"
    db.session.expire_all()
    assert (nicole.email, nicole.phone) == ("n.huber@example.org", "030 7730 7253")
    assert audit_rows(db, entity_type="people", entity_id=nicole.id, action="update") == []


def test_topics_are_set_in_the_form(client, db, office, nicole):
    data = main_form(client.get(f"/personen/{nicole.id}/bearbeiten").get_data(as_text=True))
    data["tags"] = ["Mobilität", "E-Government"]

    assert client.post(f"/personen/{nicole.id}/bearbeiten", data=data).status_code == 302

    db.session.expire_all()
    assert [t.name for t in nicole.tags] == ["E-Government", "Mobilität"]
    [entry] = audit_rows(db, entity_type="people", entity_id=nicole.id, action="update")
    assert entry.changes == {"tags": [[], ["E-Government", "Mobilität"]]}
    page = page_text(client.get(f"/personen/{nicole.id}").get_data(as_text=True))
    assert "Themen E-Government, Mobilität" in page


def test_new_person_with_topics(client, db, office, nicole):
    data = {**NEW_PERSON, "first_name": "Nina", "last_name": "Hofer", "email": "neu@example.org", "tags": ["Bildung"]}
    response = client.post("/personen/neu", data=data)
    assert response.status_code == 302
    person = db.session.scalar(sa.select(Person).where(Person.email == "neu@example.org"))
    assert [t.name for t in person.tags] == ["Bildung"]


def test_unticking_every_topic_removes_them(client, db, office, nicole):
    nicole.tags = db.session.scalars(sa.select(Tag)).all()
    db.session.commit()
    data = {**NEW_PERSON, "email": nicole.email}  # the form sent with no topic ticked
    assert client.post(f"/personen/{nicole.id}/bearbeiten", data=data).status_code == 302
    db.session.expire_all()
    assert nicole.tags == []
    [entry] = [e for e in audit_rows(db, entity_type="people", entity_id=nicole.id) if "tags" in e.changes]
    assert entry.changes["tags"] == [["Bildung", "E-Government", "Mobilität"], []]


# --- delete -----------------------------------------------------------------------------------------


@pytest.fixture()
def connected(db, make, office, nicole):
    """Nicole with two roles, a membership and a consent."""
    first, second = make.organization(name="Stadt Heidelberg"), make.organization(name="Digitalverband")
    make.affiliation(nicole, first, position="Bürgermeisterin")
    make.affiliation(nicole, second, position="Beirätin")
    create_membership(actor=office, type="regular", status=MembershipStatus.active, person=nicole)
    record_consent(
        nicole, actor=office, channel=ConsentChannel.newsletter, granted=True, method=ConsentMethod.office,
        source="Anmeldekarte",
    )  # fmt: skip
    db.session.commit()
    return nicole


def test_delete_confirmation_says_what_goes_with_the_person(client, db, connected):
    page = page_text(client.get(f"/personen/{connected.id}/loeschen").get_data(as_text=True))

    assert "Dr. Nicole Huber löschen?" in page
    assert "2 Funktion(en) in Organisationen" in page
    assert "1 Mitgliedschaft(en)" in page
    assert "Erhalten bleiben die 1 Einträge im Einwilligungsnachweis" in page
    assert "Endgültig löschen" in page
    db.session.expire_all()
    assert db.session.get(Person, connected.id) is not None  # asking deletes nothing


def test_delete_removes_roles_and_memberships_but_keeps_consents_and_history(client, db, office, connected):
    person_id = connected.id
    organizations = count(Organization)

    response = client.post(f"/personen/{person_id}/loeschen")

    assert response.status_code == 302 and response.headers["Location"] == "/personen/"
    assert "Dr. Nicole Huber wurde gelöscht." in flashes(client.get("/personen/").get_data(as_text=True))
    db.session.expire_all()
    assert db.session.get(Person, person_id) is None
    assert db.session.scalars(sa.select(Affiliation).where(Affiliation.person_id == person_id)).all() == []
    assert db.session.scalars(sa.select(Membership).where(Membership.person_id == person_id)).all() == []
    assert count(Organization) == organizations
    [consent] = db.session.scalars(sa.select(Consent).where(Consent.source == "Anmeldekarte")).all()
    assert consent.person_id is None and consent.granted is True  # the ledger entry stays, unlinked
    assert audit_rows(db, entity_type="people", entity_id=person_id)[-1].action == "delete"
    [deleted] = audit_rows(db, entity_type="people", entity_id=person_id, action="delete")
    assert deleted.actor_id == office.id and deleted.changes["last_name"] == "Huber"


def test_person_with_a_user_account_cannot_be_deleted(client, db, make, office, nicole):
    make.user(role="member", person=nicole)

    response = client.post(f"/personen/{nicole.id}/loeschen", follow_redirects=True)

    assert response.request.path == f"/personen/{nicole.id}"
    messages = flashes(response.get_data(as_text=True))
    assert messages == [
        "Dr. Nicole Huber hat einen Benutzerzugang. Bitte deaktivieren Sie den Zugang, statt die Person zu löschen."
    ]
    db.session.expire_all()
    assert db.session.get(Person, nicole.id) is not None
    assert audit_rows(db, entity_type="people", entity_id=nicole.id, action="delete") == []


# --- consents ---------------------------------------------------------------------------------------


def consent_state(client, person) -> str:
    page = page_text(client.get(f"/personen/{person.id}").get_data(as_text=True))
    return re.search(r"Newsletter: [a-z ]+ · Einladungen: (eingewilligt|widerrufen|nie gefragt)", page).group(0)


def test_recording_a_consent_appends_to_the_ledger(client, db, office, nicole):
    assert consent_state(client, nicole) == "Newsletter: nie gefragt · Einladungen: nie gefragt"

    response = client.post(
        f"/personen/{nicole.id}/einwilligung",
        data={"channel": "newsletter", "granted": "yes", "source": "E-Mail vom 3. 5. 2024"},
    )

    assert response.status_code == 302
    assert response.headers["Location"] == f"/personen/{nicole.id}#einwilligungen"
    page = page_text(client.get(f"/personen/{nicole.id}").get_data(as_text=True))
    assert "Die Erklärung wurde im Einwilligungsnachweis erfasst." in page
    assert "Newsletter: eingewilligt · Einladungen: nie gefragt" in page
    assert "Eintrag der Geschäftsstelle: E-Mail vom 3. 5. 2024" in page

    client.post(
        f"/personen/{nicole.id}/einwilligung",
        data={"channel": "newsletter", "granted": "no", "source": "Anruf am 4. 5. 2024"},
    )
    page = page_text(client.get(f"/personen/{nicole.id}").get_data(as_text=True))
    assert "Newsletter: widerrufen · Einladungen: nie gefragt" in page
    ledger = db.session.scalars(sa.select(Consent).where(Consent.person_id == nicole.id).order_by(Consent.id)).all()
    assert [(c.granted, c.source, c.method, c.recorded_by_id) for c in ledger] == [
        (True, "E-Mail vom 3. 5. 2024", ConsentMethod.office, office.id),
        (False, "Anruf am 4. 5. 2024", ConsentMethod.office, office.id),
    ]
    assert [e.action for e in audit_rows(db, entity_type="people", entity_id=nicole.id)] == ["consent", "consent"]


def test_invitation_consent_is_its_own_channel(client, db, office, nicole):
    client.post(
        f"/personen/{nicole.id}/einwilligung",
        data={"channel": "event_invitation", "granted": "yes", "source": "Formular Jahrestagung"},
    )
    assert consent_state(client, nicole) == "Newsletter: nie gefragt · Einladungen: eingewilligt"


def test_consent_without_proof_is_refused_on_the_same_page(client, db, office, nicole):
    response = client.post(
        f"/personen/{nicole.id}/einwilligung", data={"channel": "newsletter", "granted": "yes", "source": "  "}
    )

    assert response.status_code == 200
    markup = response.get_data(as_text=True)
    assert "Dr. Nicole Huber" in page_text(markup)  # still the person's page
    assert field_error(markup, "source") == (
        "Bitte geben Sie an, wie die Erklärung vorliegt (z. B. „E-Mail vom 3. 5. 2024“)."
    )
    assert "Newsletter: nie gefragt" in page_text(markup)
    assert count(Consent) == 0
    db.session.expire_all()
    assert nicole.newsletter_consent is None


def test_unknown_person_is_404(client, office):
    response = client.get("/personen/999999")
    assert response.status_code == 404
    assert "Seite nicht gefunden" in response.get_data(as_text=True)


def test_names_are_shown_as_text_not_markup(client, db, make, office):
    person = make.person(first_name="<b>Fett</b>", last_name="<script>alert(1)</script>")
    db.session.commit()
    for url in (f"/personen/{person.id}", "/personen/?q=fett"):
        markup = client.get(url).get_data(as_text=True)
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in markup
        assert "<script>alert(1)" not in markup and "<b>Fett</b>" not in markup
