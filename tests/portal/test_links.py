"""Personal links by mail: one-time login links, portal invitations, and what a copy of the database reveals."""
import pytest
import sqlalchemy as sa

from crm.auth.models import AccessToken, Role, User
from crm.contacts.models import Salutation
from crm.extensions import db
from crm.security import make_token
from tests.conftest import PASSWORD
from tests.contacts.pages import main_form
from tests.html import field_error, page_text, text
from tests.portal import (
    EXPIRED, INVALID, NEW_PASSWORD, audit_rows, flashes, followed_flashes, fresh, is_logged_in, link_path,
    location_path, log_in, logs_in, move_clock, plain_body, user_by_email, without_csrf_token,
)  # fmt: skip

LINK_SENT = (
    "Wenn es zu dieser Adresse einen Zugang gibt, haben wir einen Anmeldelink geschickt. Er ist 30 Minuten gültig."
)
MINUTE, DAY = 60, 24 * 60 * 60


def request_login_link(client, mailbox, email: str) -> str:
    response = client.post("/anmeldelink", data={"email": email})
    assert response.status_code == 302
    [message] = mailbox.to(email)
    mailbox.clear()
    return link_path(message, "/anmeldelink/")


def tampered(path: str) -> str:
    """The link with one character of its signature changed (the last one may carry only padding bits)."""
    return path[:-5] + ("A" if path[-5] != "A" else "B") + path[-4:]


# --- one-time login links -------------------------------------------------------------------------


def test_login_link_page_is_german_and_reachable_from_the_login(client):
    assert 'href="/anmeldelink"' in text(client.get("/login"))
    response = client.get("/anmeldelink")
    assert response.status_code == 200
    page = page_text(text(response))
    assert "Anmelden ohne Passwort" in page
    assert "Anmeldelink schicken" in page


def test_login_link_mail_is_german_and_names_its_lifetime(client, make, mailbox):
    person = make.person(salutation=Salutation.frau, first_name="Erika", last_name="Musterfrau")
    user = make.user(role="member", password=PASSWORD, person=person)
    response = client.post("/anmeldelink", data={"email": user.email})
    assert response.status_code == 302
    assert location_path(response) == "/login"
    assert LINK_SENT in followed_flashes(client, response)

    [message] = mailbox.messages
    assert user.email in message["To"] and "Erika Musterfrau" in message["To"]
    assert message["Subject"] == "Ihr Anmeldelink für Kommune 2.0 e. V."
    plain = plain_body(message)
    assert plain.startswith("Sehr geehrte Frau Musterfrau,")
    assert "30 Minuten gültig" in plain
    assert link_path(message, "/anmeldelink/").startswith("/anmeldelink/")


def test_opening_the_link_shows_a_button_and_only_the_button_logs_in(app, client, make, mailbox):
    user = make.user(role="member", password=PASSWORD)
    path = request_login_link(client, mailbox, user.email)

    for _ in range(2):  # a mail scanner opens the link first; that must not use it up
        response = client.get(path)
        assert response.status_code == 200
        page = page_text(text(response))
        assert f"Sie melden sich an als {user.email}" in page
        assert "Jetzt anmelden" in page
        assert not is_logged_in(client)
    assert fresh(user).last_login_at is None

    response = client.post(path)
    assert response.status_code == 302
    assert location_path(response) == "/mein-bereich/"
    assert is_logged_in(client)
    assert fresh(user).last_login_at is not None


def test_login_link_of_office_staff_leads_to_the_start_page(client, make, mailbox):
    user = make.user(role="office", password=PASSWORD)
    path = request_login_link(client, mailbox, user.email)
    response = client.post(path)
    assert response.status_code == 302
    assert location_path(response) == "/start"
    assert client.get("/start").status_code == 200


def test_used_login_link_is_refused_in_german(app, client, make, mailbox):
    user = make.user(role="member", password=PASSWORD)
    path = request_login_link(client, mailbox, user.email)
    assert client.post(path).status_code == 302

    other_browser = app.test_client()
    for method in (other_browser.get, other_browser.post):
        response = method(path)
        assert response.status_code == 400
        page = text(response)
        assert INVALID in page
        assert "ungültig" in page and "Fehlercode 400" in page
    assert not is_logged_in(other_browser)


def test_using_one_login_link_uses_up_the_others(app, client, make, mailbox):
    user = make.user(role="member", password=PASSWORD)
    first = request_login_link(client, mailbox, user.email)
    second = request_login_link(client, mailbox, user.email)
    assert first != second
    assert client.post(second).status_code == 302

    other_browser = app.test_client()
    response = other_browser.post(first)
    assert response.status_code == 400
    assert INVALID in text(response)
    assert not is_logged_in(other_browser)


def test_login_link_still_works_shortly_before_30_minutes(client, make, mailbox, monkeypatch):
    user = make.user(role="member", password=PASSWORD)
    path = request_login_link(client, mailbox, user.email)
    move_clock(monkeypatch, 29 * MINUTE)
    assert client.get(path).status_code == 200
    assert client.post(path).status_code == 302
    assert is_logged_in(client)


def test_login_link_has_expired_after_30_minutes(client, make, mailbox, monkeypatch):
    user = make.user(role="member", password=PASSWORD)
    path = request_login_link(client, mailbox, user.email)
    move_clock(monkeypatch, 31 * MINUTE)
    for method in (client.get, client.post):
        response = method(path)
        assert response.status_code == 400
        assert EXPIRED in text(response)
    monkeypatch.undo()
    assert not is_logged_in(client)
    assert fresh(user).last_login_at is None


def test_tampered_login_link_is_refused(client, make, mailbox):
    user = make.user(role="member", password=PASSWORD)
    path = request_login_link(client, mailbox, user.email)
    for bad in (tampered(path), "/anmeldelink/irgendwas", path + "x"):
        for method in (client.get, client.post):
            response = method(bad)
            assert response.status_code == 400, bad
            assert INVALID in text(response)
    assert not is_logged_in(client)
    assert client.get(path).status_code == 200  # the real link still works


def test_a_password_link_is_no_login_link(client, make, mailbox):
    """Links are signed for one purpose: the token of a reset mail does not open a session."""
    user = make.user(role="member", password=PASSWORD)
    client.post("/passwort-vergessen", data={"email": user.email})
    [message] = mailbox.to(user.email)
    token = link_path(message, "/passwort-setzen/").rsplit("/", 1)[1]
    response = client.post(f"/anmeldelink/{token}")
    assert response.status_code == 400
    assert INVALID in text(response)
    assert not is_logged_in(client)


def test_unknown_address_gets_the_same_answer_and_no_mail(client, make, mailbox):
    user = make.user(role="member", password=PASSWORD)
    make.person(email="nur-kontakt@example.org")  # in the records, but without an account
    db.session.commit()
    known = client.post("/anmeldelink", data={"email": user.email}, follow_redirects=True)
    for address in ("niemand@example.org", "nur-kontakt@example.org"):
        unknown = client.post("/anmeldelink", data={"email": address}, follow_redirects=True)
        assert known.status_code == unknown.status_code == 200
        assert known.request.path == unknown.request.path == "/login"
        assert without_csrf_token(known) == without_csrf_token(unknown)
        assert LINK_SENT in flashes(unknown)
    assert len(mailbox.messages) == 1
    assert mailbox.to(user.email)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AccessToken)) == 1


def test_malformed_address_gets_a_german_message(client, mailbox):
    response = client.post("/anmeldelink", data={"email": "kein-at-zeichen"})
    assert response.status_code == 200
    assert field_error(response, "email") == "Bitte geben Sie eine gültige E-Mail-Adresse an (z. B. name@example.org)."
    assert mailbox.messages == []


def test_deactivated_account_gets_no_login_link(client, make, mailbox):
    user = make.user(role="member", password=PASSWORD, active=False)
    response = client.post("/anmeldelink", data={"email": user.email})
    assert response.status_code == 302
    assert LINK_SENT in followed_flashes(client, response)
    assert mailbox.messages == []


def test_link_of_an_account_deactivated_since_is_refused(app, client, make, mailbox):
    user = make.user(role="member", password=PASSWORD)
    path = request_login_link(client, mailbox, user.email)
    user.active = False
    db.session.commit()
    for method in (client.get, client.post):
        response = method(path)
        assert response.status_code == 400
        assert INVALID in text(response)
    assert not is_logged_in(client)


def test_login_link_works_for_the_address_in_any_case(client, make, mailbox):
    user = make.user(role="member", password=PASSWORD, email="kim.klein@example.org")
    client.post("/anmeldelink", data={"email": "  Kim.Klein@Example.ORG "})
    [message] = mailbox.to("kim.klein@example.org")
    assert client.post(link_path(message, "/anmeldelink/")).status_code == 302
    assert is_logged_in(client)
    assert user.email == "kim.klein@example.org"


# --- invitations from the office ------------------------------------------------------------------


def person_page(client, person) -> str:
    response = client.get(f"/personen/{person.id}")
    assert response.status_code == 200
    return page_text(text(response))


def invite(client, person):
    return client.post(f"/personen/{person.id}/zugang-einladen")


def invitation_path(mailbox, person) -> str:
    [message] = mailbox.to(person.email)
    mailbox.clear()
    return link_path(message, "/einladung/")


def listed_accounts(client, state: str = "") -> str:
    response = client.get("/zugaenge/", query_string={"state": state} if state else {})
    assert response.status_code == 200
    return page_text(text(response))


def test_office_invites_a_person_who_sets_a_password_and_logs_in(app, client, login, make, mailbox):
    office = login("office")
    person = make.person(salutation=Salutation.herr, first_name="Max", last_name="Mustermann", email="max@example.org")
    page = person_page(client, person)
    assert "Kein Zugang zum Mitgliederbereich." in page
    assert "Zum Mitgliederbereich einladen" in page

    response = invite(client, person)
    assert response.status_code == 302
    assert location_path(response) == f"/personen/{person.id}"
    assert "Die Einladung an max@example.org ist verschickt." in followed_flashes(client, response)

    [message] = mailbox.messages
    assert "max@example.org" in message["To"]
    assert message["Subject"] == "Ihr Zugang zu Kommune 2.0 e. V."
    plain = plain_body(message)
    assert plain.startswith("Sehr geehrter Herr Mustermann,")
    assert "14 Tage gültig" in plain
    assert "Mitgliederbereich" in plain
    path = invitation_path(mailbox, person)

    user = user_by_email("max@example.org")
    assert user.role == Role.member and user.person_id == person.id
    assert user.password_hash is None and user.invited_at is not None
    assert [e.actor_id for e in audit_rows("users", user.id, "invitation")] == [office.id]
    page = person_page(client, person)
    assert "Eingeladen am" in page and "das Passwort ist noch nicht gesetzt" in page
    assert "Erneut einladen" in page
    assert not logs_in(app, "max@example.org", "irgendein-passwort")  # no password yet, no way in

    invitee = app.test_client()  # Max opens the mail in his own browser
    response = invitee.get(path)
    assert response.status_code == 200
    page = page_text(text(response))
    assert "Willkommen – Passwort festlegen" in page
    assert "max@example.org" in page
    response = invitee.post(path, data={"password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    assert response.status_code == 302
    assert location_path(response) == "/login"
    assert "Ihr Passwort wurde gespeichert. Sie können sich jetzt anmelden." in followed_flashes(invitee, response)

    response = log_in(invitee, "max@example.org", NEW_PASSWORD)
    assert response.status_code == 302
    assert location_path(response) == "/mein-bereich/"
    portal = page_text(text(invitee.get("/mein-bereich/")))
    assert "Mein Bereich" in portal and "Max Mustermann" in portal

    again = app.test_client().get(path)  # the link is used up
    assert again.status_code == 400
    assert INVALID in text(again)

    page = person_page(client, person)
    assert "Zugang max@example.org ist aktiv, zuletzt angemeldet am" in page
    assert "Erneut einladen" not in page and "Zum Mitgliederbereich einladen" not in page


def test_account_list_shows_an_invitation_as_invited_then_as_active(app, client, login, make, mailbox):
    login("office")
    person = make.person(first_name="Ina", last_name="Eingeladen", email="ina@example.org")
    make.user(role="member", password=PASSWORD)  # someone else, already active
    assert "ina@example.org" not in listed_accounts(client)

    invite(client, person)
    path = invitation_path(mailbox, person)
    assert "Ina Eingeladen ina@example.org eingeladen" in listed_accounts(client)
    assert "ina@example.org" in listed_accounts(client, "invited")
    assert "ina@example.org" not in listed_accounts(client, "active")

    app.test_client().post(path, data={"password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    assert "Ina Eingeladen ina@example.org aktiv" in listed_accounts(client)
    assert "ina@example.org" not in listed_accounts(client, "invited")
    assert "ina@example.org" in listed_accounts(client, "active")


def test_invitation_is_valid_for_14_days(app, client, login, make, mailbox, monkeypatch):
    login("office")
    person = make.person(email="vierzehn@example.org")
    invite(client, person)
    path = invitation_path(mailbox, person)
    move_clock(monkeypatch, 14 * DAY - MINUTE)
    assert app.test_client().get(path).status_code == 200
    response = app.test_client().post(path, data={"password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    assert response.status_code == 302
    monkeypatch.undo()
    assert logs_in(app, "vierzehn@example.org", NEW_PASSWORD)


@pytest.mark.parametrize("age", [14 * DAY + MINUTE, 15 * DAY])
def test_invitation_has_expired_after_14_days(app, client, login, make, mailbox, monkeypatch, age):
    login("office")
    person = make.person(email="zu-spaet@example.org")
    invite(client, person)
    path = invitation_path(mailbox, person)
    move_clock(monkeypatch, age)
    invitee = app.test_client()
    assert invitee.get(path).status_code == 400
    response = invitee.post(path, data={"password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    assert response.status_code == 400
    assert EXPIRED in text(response)
    monkeypatch.undo()
    assert user_by_email("zu-spaet@example.org").password_hash is None
    assert not logs_in(app, "zu-spaet@example.org", NEW_PASSWORD)


def test_invitation_link_is_no_password_reset_link(app, client, login, make, mailbox):
    login("office")
    person = make.person(email="zweck@example.org")
    invite(client, person)
    token = invitation_path(mailbox, person).rsplit("/", 1)[1]
    passwords = {"password": NEW_PASSWORD, "confirm": NEW_PASSWORD}
    response = app.test_client().post(f"/passwort-setzen/{token}", data=passwords)
    assert response.status_code == 400
    assert user_by_email("zweck@example.org").password_hash is None


def test_reinviting_while_no_password_is_set_sends_a_new_working_link(app, client, login, make, mailbox):
    login("office")
    person = make.person(email="nochmal@example.org")
    invite(client, person)
    first = invitation_path(mailbox, person)

    response = invite(client, person)
    assert "Die Einladung an nochmal@example.org ist verschickt." in followed_flashes(client, response)
    second = invitation_path(mailbox, person)
    assert second != first
    assert db.session.scalar(sa.select(sa.func.count()).select_from(User).where(User.person_id == person.id)) == 1

    invitee = app.test_client()
    assert invitee.post(second, data={"password": NEW_PASSWORD, "confirm": NEW_PASSWORD}).status_code == 302
    assert logs_in(app, "nochmal@example.org", NEW_PASSWORD)
    response = invitee.post(first, data={"password": "ein-anderes-passwort", "confirm": "ein-anderes-passwort"})
    assert response.status_code == 400  # the older invitation is used up with the newer one
    assert logs_in(app, "nochmal@example.org", NEW_PASSWORD)


def test_reinvitation_after_correcting_the_address_goes_to_the_corrected_address(app, client, login, make, mailbox):
    """The first invitation went to a mistyped address; the office corrects it and invites again."""
    login("office")
    person = make.person(first_name="Tina", last_name="Tippfehler", email="tina@exmaple.org")
    db.session.commit()
    invite(client, person)
    mailbox.clear()
    form = main_form(text(client.get(f"/personen/{person.id}/bearbeiten")))  # corrected on the person's page
    response = client.post(f"/personen/{person.id}/bearbeiten", data={**form, "email": "tina@example.org"})
    assert response.status_code == 302
    assert fresh(person).email == "tina@example.org"

    response = invite(client, person)
    assert "Die Einladung an tina@example.org ist verschickt." in followed_flashes(client, response)
    assert not mailbox.to("tina@exmaple.org")
    path = invitation_path(mailbox, person)
    assert app.test_client().post(path, data={"password": NEW_PASSWORD, "confirm": NEW_PASSWORD}).status_code == 302
    assert logs_in(app, "tina@example.org", NEW_PASSWORD)


def test_account_list_filters_leave_out_deactivated_accounts(client, login, make):
    login("office")
    make.user(role="member", person=make.person(first_name="Dora", last_name="Deaktiviert", email="dora@example.org"),
              active=False)  # fmt: skip
    assert "Dora Deaktiviert dora@example.org deaktiviert" in listed_accounts(client)
    assert "dora@example.org" not in listed_accounts(client, "active")
    assert "dora@example.org" not in listed_accounts(client, "invited")  # she cannot accept an invitation


def test_invitation_is_refused_when_the_account_is_already_active(client, login, make, mailbox):
    login("office")
    person = make.person(first_name="Aktiv", last_name="Schonda", email="aktiv@example.org")
    user = make.user(role="member", password=PASSWORD, person=person)
    hash_before = user.password_hash
    assert "Zum Mitgliederbereich einladen" not in person_page(client, person)

    response = invite(client, person)
    assert response.status_code == 302
    messages = followed_flashes(client, response)
    assert "Aktiv Schonda hat bereits einen Zugang." in messages
    assert not any("verschickt" in m for m in messages)
    assert mailbox.messages == []
    assert fresh(user).password_hash == hash_before
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AccessToken)) == 0


def test_invitation_is_refused_without_an_email_address(client, login, make, mailbox):
    login("office")
    person = make.person(email=None)
    db.session.commit()
    assert "Zum Mitgliederbereich einladen" not in person_page(client, person)

    response = invite(client, person)
    assert response.status_code == 302
    assert "Ohne E-Mail-Adresse kann niemand eingeladen werden." in followed_flashes(client, response)
    assert mailbox.messages == []
    assert db.session.scalar(sa.select(User).where(User.person_id == person.id)) is None


def test_invitation_is_refused_when_the_address_is_another_login(client, login, make, mailbox):
    login("office")
    other = make.user(role="member", password=PASSWORD, person=make.person(), email="geteilt@example.org")
    person = make.person(email="geteilt@example.org")
    db.session.commit()
    response = invite(client, person)
    refusal = "Die Adresse geteilt@example.org gehört bereits zu einem anderen Zugang."
    assert refusal in followed_flashes(client, response)
    assert mailbox.messages == []
    assert db.session.scalar(sa.select(User).where(User.person_id == person.id)) is None
    assert fresh(other).person_id != person.id


def test_invitation_of_a_deactivated_account_is_refused(app, client, login, make, mailbox):
    """An account the office deactivated cannot be used; an invitation would mail a link that only fails."""
    login("office")
    person = make.person(first_name="Dora", last_name="Deaktiviert", email="dora@example.org")
    make.user(role="member", person=person, active=False)  # invited once, never set a password, then deactivated

    response = invite(client, person)
    assert response.status_code == 302
    messages = followed_flashes(client, response)
    assert mailbox.messages == []
    assert "Die Einladung an dora@example.org ist verschickt." not in messages
    assert messages, "the office is told why nothing was sent"
    page = person_page(client, person)
    assert "ist deaktiviert" in page
    assert "Erneut einladen" not in page and "Zum Mitgliederbereich einladen" not in page


def test_invitation_of_an_unknown_person_is_404(client, login, mailbox):
    login("office")
    assert client.post("/personen/999999/zugang-einladen").status_code == 404
    assert mailbox.messages == []


# --- what a copy of the database reveals ----------------------------------------------------------


def database_dump() -> str:
    """Every value of every table, as a backup would hold it."""
    values = []
    for table in db.metadata.sorted_tables:
        for row in db.session.execute(sa.select(table)):
            values.extend(str(value) for value in row)
    return "\n".join(values)


def test_a_database_dump_contains_no_usable_link(app, client, login, make, mailbox):
    from crm.security import load_token

    login("office")
    invited = make.person(email="eingeladen@example.org")
    invite(client, invited)
    links = {"invitation": invitation_path(mailbox, invited)}
    member = make.user(role="member", password=PASSWORD)
    links["login"] = request_login_link(app.test_client(), mailbox, member.email)
    app.test_client().post("/passwort-vergessen", data={"email": member.email})
    [message] = mailbox.to(member.email)
    links["password"] = link_path(message, "/passwort-setzen/")

    dump = database_dump()
    rows = db.session.scalars(sa.select(AccessToken)).all()
    assert sorted(r.purpose for r in rows) == ["invitation", "login", "password"]
    for purpose, path in links.items():
        token = path.rsplit("/", 1)[1]
        secret = load_token(purpose, token, max_age=3600)
        assert token not in dump and secret not in dump, purpose
        row = next(r for r in rows if r.purpose == purpose)
        assert row.digest != token and row.digest != secret
        assert len(row.digest) == 64 and int(row.digest, 16) >= 0

    # Even someone with the dump and the signing key cannot make a working link from what is stored.
    forged = {purpose: make_token(purpose, next(r for r in rows if r.purpose == purpose).digest) for purpose in links}
    visitor = app.test_client()
    assert visitor.post(f"/anmeldelink/{forged['login']}").status_code == 400
    assert visitor.get(f"/einladung/{forged['invitation']}").status_code == 400
    assert visitor.get(f"/passwort-setzen/{forged['password']}").status_code == 400
    assert not is_logged_in(visitor)

    # The real links still work.
    assert visitor.post(links["login"]).status_code == 302
    assert is_logged_in(visitor)
    assert app.test_client().get(links["invitation"]).status_code == 200
