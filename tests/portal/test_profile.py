"""A member keeps their own record current: name and phone, roles, and the email address (confirmed by link)."""
from datetime import date

import sqlalchemy as sa

from crm.auth.models import AccessToken
from crm.contacts.models import Salutation
from crm.extensions import db
from tests.conftest import PASSWORD
from tests.html import field_error, input_value, page_text, text
from tests.portal import (
    EXPIRED, INVALID, REQUIRED, audit_rows, followed_flashes, fresh, link_path, location_path, logs_in, move_clock,
    plain_body,
)  # fmt: skip

HOUR = 60 * 60
TAKEN = "Diese E-Mail-Adresse wird bereits verwendet. Bitte wenden Sie sich an die Geschäftsstelle."
PHONE_CHARS = "Bitte nur Ziffern, Leerzeichen und + ( ) / - verwenden, z. B. 030 7730 7253 oder +49 30 7730 7253."
AREA_CODE = "Bitte mit Vorwahl angeben: mit 0 (z. B. 030 …) oder international mit + (z. B. +49 30 …)."


def member(login, make, **person):
    person.setdefault("salutation", Salutation.frau)
    person.setdefault("first_name", "Erika")
    person.setdefault("last_name", "Musterfrau")
    person.setdefault("phone", "030 1234567")
    return login("member", person=make.person(**person))


def profile_data(**changes) -> dict:
    data = {"salutation": "frau", "title": "", "first_name": "Erika", "last_name": "Musterfrau",
            "phone": "030 1234567", "mobile": ""}  # fmt: skip
    data.update(changes)
    return data


def overview(client) -> str:
    response = client.get("/mein-bereich/")
    assert response.status_code == 200
    return page_text(text(response))


# --- name and phone -------------------------------------------------------------------------------


def test_profile_form_shows_the_current_values(client, login, make):
    member(login, make, title="Dr.", mobile="0171 1203537")
    response = client.get("/mein-bereich/profil")
    assert response.status_code == 200
    assert "Meine Daten bearbeiten" in text(response)
    assert input_value(response, "title") == "Dr."
    assert input_value(response, "first_name") == "Erika"
    assert input_value(response, "last_name") == "Musterfrau"
    assert input_value(response, "phone") == "030 1234567"
    assert input_value(response, "mobile") == "0171 1203537"


def test_profile_change_is_saved_and_audited_with_the_member_as_actor(client, login, make):
    user = member(login, make)
    person = user.person
    response = client.post("/mein-bereich/profil", data=profile_data(
        salutation="divers", title="Prof. Dr.", first_name="Eri", last_name="Muster-Frau", phone="+49 30 7730 7253",
        mobile="0171 1203537",
    ))  # fmt: skip
    assert response.status_code == 302
    assert location_path(response) == "/mein-bereich/"
    assert "Ihre Angaben wurden gespeichert." in followed_flashes(client, response)

    fresh(person)
    assert person.salutation == Salutation.divers
    assert (person.title, person.first_name, person.last_name) == ("Prof. Dr.", "Eri", "Muster-Frau")
    assert (person.phone, person.mobile) == ("+49 30 7730 7253", "0171 1203537")
    page = overview(client)
    assert "Prof. Dr. Eri Muster-Frau" in page and "+49 30 7730 7253" in page

    [entry] = audit_rows("people", person.id, "update")
    assert entry.actor_id == user.id
    assert entry.actor_label == user.email
    assert entry.changes["phone"] == ["030 1234567", "+49 30 7730 7253"]
    assert entry.changes["last_name"] == ["Musterfrau", "Muster-Frau"]
    assert entry.changes["mobile"] == [None, "0171 1203537"]


def test_office_sees_the_members_own_change_in_the_history(app, client, login, make):
    user = member(login, make)
    client.post("/mein-bereich/profil", data=profile_data(phone="030 7654321"))
    office = app.test_client()
    staff = make.user(role="office", password=PASSWORD)
    office.post("/login", data={"email": staff.email, "password": PASSWORD})
    page = page_text(text(office.get(f"/personen/{user.person_id}")))
    assert "Telefon: 030 1234567 → 030 7654321" in page
    assert user.email in page  # who changed it


def test_unchanged_profile_writes_no_audit_row(client, login, make):
    user = member(login, make)
    response = client.post("/mein-bereich/profil", data=profile_data())
    assert response.status_code == 302
    assert audit_rows("people", user.person_id, "update") == []


def test_field_errors_are_german_and_nothing_is_saved(client, login, make):
    user = member(login, make)
    response = client.post("/mein-bereich/profil", data=profile_data(
        last_name="", phone="abc", mobile="7730 7253", title="x" * 51, first_name="Neu",
    ))  # fmt: skip
    assert response.status_code == 200
    assert field_error(response, "last_name") == REQUIRED
    assert field_error(response, "phone") == PHONE_CHARS
    assert field_error(response, "mobile") == AREA_CODE
    assert field_error(response, "title") == "Höchstens 50 Zeichen."
    assert "Bitte prüfen Sie die markierten Felder." in text(response)
    assert input_value(response, "phone") == "abc"  # what was typed stays in the form
    assert input_value(response, "first_name") == "Neu"

    person = fresh(user.person)
    assert (person.first_name, person.last_name, person.phone, person.mobile) == (
        "Erika", "Musterfrau", "030 1234567", None
    )
    assert audit_rows("people", person.id, "update") == []


def test_too_short_phone_number_is_refused(client, login, make):
    user = member(login, make)
    response = client.post("/mein-bereich/profil", data=profile_data(phone="030 1"))
    assert response.status_code == 200
    assert field_error(response, "phone") == "Diese Telefonnummer ist zu kurz oder zu lang."
    assert fresh(user.person).phone == "030 1234567"


def test_profile_form_cannot_change_the_email_or_other_fields(client, login, make):
    user = member(login, make, notes="Notiz der Geschäftsstelle")
    old_email = user.person.email
    response = client.post("/mein-bereich/profil", data=profile_data(
        email="untergeschoben@example.org", notes="geändert", fax="030 999999", newsletter_consent="y",
    ))  # fmt: skip
    assert response.status_code == 302
    person = fresh(user.person)
    assert person.email == old_email and fresh(user).email == old_email
    assert person.notes == "Notiz der Geschäftsstelle"
    assert person.fax is None and person.newsletter_consent is None


# --- own roles ------------------------------------------------------------------------------------


def test_member_changes_function_and_department_of_an_own_role(client, login, make):
    user = member(login, make)
    organization = make.organization(name="Stadt Neuhausen")
    affiliation = make.affiliation(user.person, organization, position="Sachbearbeitung")
    assert "/mein-bereich/funktionen/%d" % affiliation.id in text(client.get("/mein-bereich/"))

    response = client.get(f"/mein-bereich/funktionen/{affiliation.id}")
    assert response.status_code == 200
    assert "Meine Funktion bei Stadt Neuhausen" in text(response)
    assert input_value(response, "position") == "Sachbearbeitung"

    data = {"position": "Amtsleitung", "department": "Bauamt"}
    response = client.post(f"/mein-bereich/funktionen/{affiliation.id}", data=data)
    assert response.status_code == 302
    assert "Ihre Funktion bei Stadt Neuhausen wurde gespeichert." in followed_flashes(client, response)
    fresh(affiliation)
    assert (affiliation.position, affiliation.department) == ("Amtsleitung", "Bauamt")
    assert "Stadt Neuhausen – Amtsleitung (Bauamt)" in overview(client)
    [entry] = audit_rows("affiliations", affiliation.id, "update")
    assert entry.actor_id == user.id
    assert entry.changes["position"] == ["Sachbearbeitung", "Amtsleitung"]


def test_too_long_function_is_refused_in_german(client, login, make):
    user = member(login, make)
    affiliation = make.affiliation(user.person, make.organization(), position="Amtsleitung")
    response = client.post(f"/mein-bereich/funktionen/{affiliation.id}", data={"position": "x" * 201, "department": ""})
    assert response.status_code == 200
    assert field_error(response, "position") == "Höchstens 200 Zeichen."
    assert fresh(affiliation).position == "Amtsleitung"


def test_member_ends_an_own_role(client, login, make):
    user = member(login, make)
    organization = make.organization(name="Landkreis Beispiel")
    affiliation = make.affiliation(user.person, organization, position="Kreisrätin")
    response = client.post(f"/mein-bereich/funktionen/{affiliation.id}/beenden")
    assert response.status_code == 302
    assert "Ihre Funktion bei Landkreis Beispiel ist beendet." in followed_flashes(client, response)
    fresh(affiliation)
    assert affiliation.end_date == date.today()
    assert not affiliation.is_current
    page = text(client.get("/mein-bereich/"))
    assert "Landkreis Beispiel – Kreisrätin" in page_text(page)  # stays in the history
    assert f"/mein-bereich/funktionen/{affiliation.id}" not in page  # no longer editable
    [entry] = audit_rows("affiliations", affiliation.id, "update")
    assert entry.actor_id == user.id


def test_an_ended_role_stays_as_it_was(client, login, make):
    """Ended roles are history: the overview offers no change, and sending one anyway changes nothing."""
    user = member(login, make)
    old = make.affiliation(user.person, make.organization(name="Gemeinde Früher"), position="Kämmerin",
                           start_date=date(2010, 1, 1), end_date=date(2020, 1, 1))  # fmt: skip
    db.session.commit()
    assert f"/mein-bereich/funktionen/{old.id}" not in text(client.get("/mein-bereich/"))

    # An ended role is history: like a role of someone else, it is not found.
    assert client.post(f"/mein-bereich/funktionen/{old.id}/beenden").status_code == 404
    response = client.post(f"/mein-bereich/funktionen/{old.id}", data={"position": "Bürgermeisterin", "department": ""})
    assert response.status_code == 404
    fresh(old)
    assert old.end_date == date(2020, 1, 1)  # not moved to today
    assert old.position == "Kämmerin"
    assert audit_rows("affiliations", old.id, "update") == []


def test_unknown_salutation_is_refused_in_german(client, login, make):
    user = member(login, make)
    response = client.post("/mein-bereich/profil", data=profile_data(salutation="majestaet"))
    assert response.status_code == 200
    assert field_error(response, "salutation") == "Bitte wählen Sie einen Eintrag aus der Liste."
    assert fresh(user.person).salutation == Salutation.frau


# --- email address --------------------------------------------------------------------------------


def request_change(client, email: str):
    return client.post("/mein-bereich/email", data={"email": email})


def confirmation_path(mailbox, email: str) -> str:
    [message] = mailbox.to(email)
    mailbox.clear()
    return link_path(message, "/mein-bereich/email-bestaetigen/")


def test_confirmation_mail_goes_to_the_new_address_only_and_nothing_changes_yet(app, client, login, make, mailbox):
    user = member(login, make, email="alt@example.org")
    response = request_change(client, "neu@example.org")
    assert response.status_code == 302
    assert location_path(response) == "/mein-bereich/"
    assert (
        "Wir haben einen Bestätigungslink an neu@example.org geschickt. Erst nach der Bestätigung verwenden wir die "
        "neue Adresse."
    ) in followed_flashes(client, response)

    [message] = mailbox.messages
    assert message["To"].addresses[0].addr_spec == "neu@example.org"
    assert "alt@example.org" not in str(message["To"]) and not message["Cc"] and not message["Bcc"]
    assert message["Subject"] == "Bitte bestätigen Sie Ihre neue E-Mail-Adresse"
    assert "48 Stunden gültig" in plain_body(message)
    link_path(message, "/mein-bereich/email-bestaetigen/")

    assert fresh(user.person).email == "alt@example.org"
    assert fresh(user).email == "alt@example.org"
    assert logs_in(app, "alt@example.org")
    assert not logs_in(app, "neu@example.org")


def test_opening_the_confirmation_link_changes_nothing(app, client, login, make, mailbox):
    user = member(login, make, email="alt@example.org")
    request_change(client, "neu@example.org")
    path = confirmation_path(mailbox, "neu@example.org")
    for _ in range(2):  # a mail scanner opens it first
        response = app.test_client().get(path)
        assert response.status_code == 200
        page = page_text(text(response))
        assert "Ihre neue Adresse: neu@example.org" in page
        assert "Adresse bestätigen" in page
    assert fresh(user.person).email == "alt@example.org"
    assert fresh(user).email == "alt@example.org"
    assert logs_in(app, "alt@example.org")


def test_confirming_switches_person_and_login_to_the_new_address(app, client, login, make, mailbox):
    user = member(login, make, email="alt@example.org")
    request_change(client, "Neu@Example.org ")
    path = confirmation_path(mailbox, "neu@example.org")

    other_browser = app.test_client()  # the mail is opened on the phone, not logged in
    response = other_browser.post(path)
    assert response.status_code == 302
    assert location_path(response) == "/login"
    assert "Ihre E-Mail-Adresse ist jetzt neu@example.org." in followed_flashes(other_browser, response)

    assert fresh(user.person).email == "neu@example.org"
    assert fresh(user).email == "neu@example.org"
    assert logs_in(app, "neu@example.org")
    assert not logs_in(app, "alt@example.org")
    assert "neu@example.org" in page_text(text(client.get("/mein-bereich/")))

    [person_entry] = audit_rows("people", user.person_id, "update")
    assert person_entry.changes == {"email": ["alt@example.org", "neu@example.org"]}
    assert person_entry.actor_id == user.id
    [login_entry] = audit_rows("users", user.id, "update")
    assert login_entry.changes["email"] == ["alt@example.org", "neu@example.org"]


def test_confirming_while_logged_in_leads_back_to_the_own_area(client, login, make, mailbox):
    member(login, make, email="alt@example.org")
    request_change(client, "neu@example.org")
    response = client.post(confirmation_path(mailbox, "neu@example.org"))
    assert response.status_code == 302
    assert location_path(response) == "/mein-bereich/"


def test_confirmation_link_works_only_once(app, client, login, make, mailbox):
    user = member(login, make, email="alt@example.org")
    request_change(client, "neu@example.org")
    path = confirmation_path(mailbox, "neu@example.org")
    assert app.test_client().post(path).status_code == 302
    for method in (app.test_client().get, app.test_client().post):
        response = method(path)
        assert response.status_code == 400
        assert INVALID in text(response)
    assert fresh(user).email == "neu@example.org"


def test_only_the_latest_requested_address_can_be_confirmed_after_use(app, client, login, make, mailbox):
    """Two requests, the newer one confirmed: the older mail cannot switch the address back."""
    user = member(login, make, email="alt@example.org")
    request_change(client, "erst@example.org")
    first = confirmation_path(mailbox, "erst@example.org")
    request_change(client, "dann@example.org")
    second = confirmation_path(mailbox, "dann@example.org")
    assert app.test_client().post(second).status_code == 302
    response = app.test_client().post(first)
    assert response.status_code == 400
    assert fresh(user).email == "dann@example.org"
    assert fresh(user.person).email == "dann@example.org"


def test_confirmation_link_still_works_shortly_before_48_hours(app, client, login, make, mailbox, monkeypatch):
    user = member(login, make, email="alt@example.org")
    request_change(client, "neu@example.org")
    path = confirmation_path(mailbox, "neu@example.org")
    move_clock(monkeypatch, 47 * HOUR)
    assert app.test_client().post(path).status_code == 302
    assert fresh(user).email == "neu@example.org"


def test_expired_confirmation_link_is_refused_and_changes_nothing(app, client, login, make, mailbox, monkeypatch):
    user = member(login, make, email="alt@example.org")
    request_change(client, "neu@example.org")
    path = confirmation_path(mailbox, "neu@example.org")
    move_clock(monkeypatch, 48 * HOUR + 60)
    for method in (app.test_client().get, app.test_client().post):
        response = method(path)
        assert response.status_code == 400
        assert EXPIRED in text(response)
    monkeypatch.undo()
    assert fresh(user).email == "alt@example.org"
    assert fresh(user.person).email == "alt@example.org"
    assert logs_in(app, "alt@example.org")


def test_tampered_confirmation_link_is_refused(app, client, login, make, mailbox):
    user = member(login, make, email="alt@example.org")
    request_change(client, "neu@example.org")
    path = confirmation_path(mailbox, "neu@example.org")
    bad = path[:-5] + ("A" if path[-5] != "A" else "B") + path[-4:]
    assert app.test_client().post(bad).status_code == 400
    assert fresh(user).email == "alt@example.org"


def test_address_of_another_person_is_refused_at_the_field(client, login, make, mailbox):
    user = member(login, make, email="alt@example.org")
    make.person(email="vergeben@example.org")  # no login, but the address is theirs
    db.session.commit()
    for typed in ("vergeben@example.org", " Vergeben@Example.ORG"):
        response = request_change(client, typed)
        assert response.status_code == 200
        assert field_error(response, "email") == TAKEN
    assert mailbox.messages == []
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AccessToken)) == 0
    assert fresh(user).email == "alt@example.org"


def test_login_address_of_another_account_is_refused_at_the_field(client, login, make, mailbox):
    member(login, make, email="alt@example.org")
    colleague = make.person(email="privat@example.org")
    make.user(role="office", password=PASSWORD, person=colleague, email="dienst@example.org")
    response = request_change(client, "dienst@example.org")
    assert response.status_code == 200
    assert field_error(response, "email") == TAKEN
    assert mailbox.messages == []


def test_own_current_address_is_refused_at_the_field(client, login, make, mailbox):
    member(login, make, email="alt@example.org")
    for typed in ("alt@example.org", "ALT@example.org "):
        response = request_change(client, typed)
        assert response.status_code == 200
        assert field_error(response, "email") == "Das ist bereits Ihre E-Mail-Adresse."
    assert mailbox.messages == []


def test_empty_or_malformed_address_is_refused_in_german(client, login, make, mailbox):
    member(login, make)
    assert field_error(request_change(client, ""), "email") == REQUIRED
    assert field_error(request_change(client, "kein-at-zeichen"), "email") == (
        "Bitte geben Sie eine gültige E-Mail-Adresse an (z. B. name@example.org)."
    )
    assert mailbox.messages == []


def test_address_taken_before_confirmation_is_refused_on_confirming(app, client, login, make, mailbox):
    user = member(login, make, email="alt@example.org")
    request_change(client, "neu@example.org")
    path = confirmation_path(mailbox, "neu@example.org")
    make.person(email="neu@example.org")  # the office gives the address to someone else meanwhile
    db.session.commit()

    response = app.test_client().post(path)
    assert response.status_code == 200
    assert "Diese E-Mail-Adresse wird inzwischen von einem anderen Zugang verwendet." in text(response)
    assert fresh(user).email == "alt@example.org"
    assert fresh(user.person).email == "alt@example.org"
    assert logs_in(app, "alt@example.org")
    assert audit_rows("users", user.id, "update") == []
