"""Login, logout, throttling and the password-reset flow, as a visitor experiences them."""
import re
import time
import types
from urllib.parse import urljoin, urlsplit

import pytest
import sqlalchemy as sa

from crm.audit.models import AuditLog
from crm.auth.models import User
from crm.contacts.models import Salutation
from crm.extensions import db
from tests.html import field_error, input_value, text
from tests.conftest import PASSWORD

WRONG = "E-Mail-Adresse oder Passwort ist falsch."
REQUIRED = "Bitte füllen Sie dieses Feld aus."
THROTTLED = "Zu viele fehlgeschlagene Anmeldeversuche"
DEACTIVATED = "Ihr Zugang ist deaktiviert. Bitte wenden Sie sich an die Geschäftsstelle."
NEW_PASSWORD = "ein-ganz-neues-passwort"



# --- helpers: read what a person sees on the page ------------------------------------------------




def without_csrf_token(response) -> str:
    """The page without its CSRF token (it carries a timestamp, so it differs from second to second)."""
    return re.sub(r'name="csrf_token" value="[^"]*"', "", response.get_data(as_text=True))


def location_path(response) -> str:
    parts = urlsplit(response.headers["Location"])
    return parts.path + (f"?{parts.query}" if parts.query else "")


def is_logged_in(client) -> bool:
    """A logged-in user reaches their start page; a visitor is sent to the login."""
    response = client.get("/mein-bereich/")
    if response.status_code == 200:
        return True
    assert response.status_code == 302 and location_path(response).startswith("/login")
    return False


def db_user(email) -> User:
    return db.session.scalar(sa.select(User).where(User.email == email))


def log_in(client, email, password, **query):
    return client.post("/login", query_string=query, data={"email": email, "password": password})


def plain_body(message) -> str:
    return message.get_body(preferencelist=("plain",)).get_content()


def html_body(message) -> str:
    return message.get_body(preferencelist=("html",)).get_content()


def link_path(message) -> str:
    """The path of the set-password link in a mail (the host is CRM_BASE_URL)."""
    links = re.findall(r"https?://\S+/passwort-setzen/\S+", plain_body(message))
    assert len(links) == 1, plain_body(message)
    parts = urlsplit(links[0])
    assert parts.netloc == "crm.test"
    return parts.path


def request_reset_link(client, mailbox, user) -> str:
    response = client.post("/passwort-vergessen", data={"email": user.email})
    assert response.status_code == 302
    [message] = mailbox.to(user.email)
    return link_path(message)


# --- login ------------------------------------------------------------------------------------------


def test_login_page_is_german(client):
    response = client.get("/login")
    assert response.status_code == 200
    page = text(response)
    assert '<html lang="de">' in page
    assert "<h1>Anmelden</h1>" in page
    assert "E-Mail-Adresse" in page
    assert "Passwort vergessen?" in page


@pytest.mark.parametrize(
    ("role", "home"), [("admin", "/start"), ("office", "/start"), ("member", "/mein-bereich/")]
)
def test_correct_login_redirects_to_the_home_of_the_role(client, make, role, home):
    user = make.user(role=role, password=PASSWORD)
    response = log_in(client, user.email, PASSWORD)
    assert response.status_code == 302
    assert location_path(response) == home
    assert client.get(home).status_code == 200
    assert db_user(user.email).last_login_at is not None


def test_login_ignores_case_in_the_email(client, make):
    make.user(role="office", password=PASSWORD, email="kim.gross@example.org")
    response = log_in(client, "Kim.Gross@Example.ORG", PASSWORD)
    assert response.status_code == 302
    assert location_path(response) == "/start"


def test_login_ignores_spaces_around_the_email(client, make):
    """Autofill and copy-paste often add a space; the address is still the same."""
    make.user(role="office", password=PASSWORD, email="kim.leer@example.org")
    response = log_in(client, "  kim.leer@example.org ", PASSWORD)
    assert response.status_code == 302
    assert location_path(response) == "/start"


def test_logged_in_user_visiting_login_is_sent_home(client, login):
    login("member")
    response = client.get("/login")
    assert response.status_code == 302
    assert location_path(response) == "/mein-bereich/"


def test_wrong_password_is_refused_and_keeps_the_typed_email(client, make):
    user = make.user(role="office", password=PASSWORD)
    response = log_in(client, user.email, "falsches-passwort")
    assert response.status_code == 200
    assert WRONG in text(response)
    assert input_value(response, "email") == user.email
    assert "falsches-passwort" not in text(response)  # the password is never echoed back
    assert not is_logged_in(client)


def test_unknown_email_gives_the_same_message(client, make):
    make.user(role="office", password=PASSWORD)
    response = log_in(client, "niemand@example.org", PASSWORD)
    assert response.status_code == 200
    assert WRONG in text(response)
    assert input_value(response, "email") == "niemand@example.org"
    assert not is_logged_in(client)


def test_empty_fields_get_german_messages_next_to_the_fields(client):
    response = log_in(client, "", "")
    assert response.status_code == 200
    assert field_error(response, "email") == REQUIRED
    assert field_error(response, "password") == REQUIRED
    assert "Bitte prüfen Sie die markierten Felder." in text(response)


def test_malformed_email_gets_a_german_message(client):
    response = log_in(client, "kein-at-zeichen", PASSWORD)
    assert response.status_code == 200
    assert field_error(response, "email") == (
        "Bitte geben Sie eine gültige E-Mail-Adresse an (z. B. name@example.org)."
    )


# --- throttling -------------------------------------------------------------------------------------


def test_after_too_many_failures_even_the_right_password_is_refused(app, client, make):
    user = make.user(role="office", password=PASSWORD)
    limit = app.config["LOGIN_THROTTLE_LIMIT"]
    assert limit == 5
    for _ in range(limit):
        response = log_in(client, user.email, "falsch-geraten")
        assert WRONG in text(response)
    response = log_in(client, user.email, PASSWORD)
    assert response.status_code == 200
    page = text(response)
    assert THROTTLED in page
    assert re.search(r"Bitte versuchen Sie es in \d+ Minuten erneut\.", page)
    assert not is_logged_in(client)


def test_failures_below_the_limit_do_not_block_the_right_password(app, client, make):
    user = make.user(role="office", password=PASSWORD)
    for _ in range(app.config["LOGIN_THROTTLE_LIMIT"] - 1):
        log_in(client, user.email, "falsch-geraten")
    response = log_in(client, user.email, PASSWORD)
    assert response.status_code == 302
    assert is_logged_in(client)


def test_throttling_one_account_does_not_affect_others(app, client, make):
    victim = make.user(role="office", password=PASSWORD)
    other = make.user(role="member", password=PASSWORD)
    for _ in range(app.config["LOGIN_THROTTLE_LIMIT"]):
        log_in(client, victim.email, "falsch-geraten")
    assert THROTTLED in text(log_in(client, victim.email, PASSWORD))

    response = log_in(client, other.email, PASSWORD)
    assert response.status_code == 302
    assert location_path(response) == "/mein-bereich/"


# --- deactivated accounts ---------------------------------------------------------------------------


def test_deactivated_user_cannot_log_in(client, make):
    user = make.user(role="office", password=PASSWORD, active=False)
    response = log_in(client, user.email, PASSWORD)
    assert response.status_code == 200
    assert DEACTIVATED in text(response)
    assert not is_logged_in(client)


def test_deactivated_user_with_wrong_password_learns_nothing_about_the_account(client, make):
    user = make.user(role="office", password=PASSWORD, active=False)
    response = log_in(client, user.email, "falsch-geraten")
    assert WRONG in text(response)
    assert "deaktiviert" not in text(response)


def test_logged_in_user_who_is_deactivated_is_logged_out_on_next_request(app, client, login, make):
    user = login("office")
    assert client.get("/start").status_code == 200

    admin_client = app.test_client()  # an admin deactivates the account meanwhile, in another browser
    admin = make.user(role="admin", password=PASSWORD)
    assert log_in(admin_client, admin.email, PASSWORD).status_code == 302
    assert admin_client.post(f"/admin/benutzer/{user.id}/deaktivieren").status_code == 302

    response = client.get("/start")
    assert response.status_code == 302
    assert location_path(response).startswith("/login?next=")
    page = text(client.get(response.headers["Location"]))
    assert "Bitte melden Sie sich an, um diese Seite zu sehen." in page
    assert "Abmelden" not in page  # no account menu any more
    assert client.get("/mein-bereich/").status_code == 302


# --- logout -----------------------------------------------------------------------------------------


def test_logout_is_post_only(client, login):
    login("office")
    response = client.get("/logout")
    assert response.status_code == 405
    assert "Nicht erlaubt" in text(response)
    assert client.get("/start").status_code == 200  # still logged in


def test_logout_ends_the_session(client, login):
    login("office")
    response = client.post("/logout")
    assert response.status_code == 302
    assert location_path(response) == "/login"
    assert "Sie wurden abgemeldet." in text(client.get("/login"))
    response = client.get("/start")
    assert response.status_code == 302
    assert location_path(response).startswith("/login")


# --- ?next= -----------------------------------------------------------------------------------------


def test_anonymous_visitor_is_sent_to_login_and_back_after_login(client, make):
    user = make.user(role="admin", password=PASSWORD)
    response = client.get("/admin/benutzer/")
    assert response.status_code == 302
    login_url = location_path(response)
    assert login_url.startswith("/login?next=")
    response = client.post(login_url, data={"email": user.email, "password": PASSWORD})
    assert response.status_code == 302
    assert location_path(response) == "/admin/benutzer/"


@pytest.mark.parametrize(
    "target",
    ["https://evil.example.com/", "//evil.example.com/", "http:/evil.example.com/", "javascript:alert(1)", "start"],
)
def test_next_pointing_elsewhere_is_ignored(client, make, target):
    user = make.user(role="office", password=PASSWORD)
    response = log_in(client, user.email, PASSWORD, next=target)
    assert response.status_code == 302
    assert response.headers["Location"] == "/start"


@pytest.mark.parametrize("target", ["/\\evil.example.com/", "/\\/evil.example.com/", "/\t/evil.example.com/"])
def test_next_with_tricks_browsers_resolve_off_site_stays_on_the_site(client, make, target):
    user = make.user(role="office", password=PASSWORD)
    response = log_in(client, user.email, PASSWORD, next=target)
    assert response.status_code == 302
    location = response.headers["Location"]
    # Browsers read "\\" as "/" and drop tabs and newlines before resolving a redirect.
    as_browser = re.sub(r"[\t\r\n]", "", location).replace("\\", "/")
    assert urlsplit(urljoin("http://crm.test/login", as_browser)).netloc == "crm.test", location


def test_next_with_a_local_path_and_query_is_followed(client, make):
    user = make.user(role="office", password=PASSWORD)
    response = log_in(client, user.email, PASSWORD, next="/mein-bereich/?tab=1")
    assert response.status_code == 302
    assert response.headers["Location"] == "/mein-bereich/?tab=1"


# --- forgot password --------------------------------------------------------------------------------


def test_forgot_password_page_is_german(client):
    response = client.get("/passwort-vergessen")
    assert response.status_code == 200
    assert "<h1>Passwort vergessen</h1>" in text(response)
    assert "Link anfordern" in text(response)


def test_forgot_password_does_not_reveal_whether_the_address_exists(client, make, mailbox):
    user = make.user(role="member", password=PASSWORD)
    known = client.post("/passwort-vergessen", data={"email": user.email}, follow_redirects=True)
    unknown = client.post("/passwort-vergessen", data={"email": "unbekannt@example.org"}, follow_redirects=True)
    assert known.status_code == unknown.status_code == 200
    assert known.request.path == unknown.request.path == "/login"
    assert without_csrf_token(known) == without_csrf_token(unknown)
    assert "Wenn es zu dieser Adresse einen Zugang gibt" in text(known)
    assert len(mailbox.messages) == 1
    assert mailbox.to(user.email)
    assert not mailbox.to("unbekannt@example.org")


def test_forgot_password_sends_no_mail_for_a_deactivated_account(client, make, mailbox):
    user = make.user(role="office", password=PASSWORD, active=False)
    response = client.post("/passwort-vergessen", data={"email": user.email})
    assert response.status_code == 302
    assert mailbox.messages == []


def test_forgot_password_rejects_a_malformed_address_in_german(client, mailbox):
    response = client.post("/passwort-vergessen", data={"email": "kein-at-zeichen"})
    assert response.status_code == 200
    assert field_error(response, "email") == (
        "Bitte geben Sie eine gültige E-Mail-Adresse an (z. B. name@example.org)."
    )
    assert mailbox.messages == []


def test_reset_mail_is_a_proper_german_mail(client, make, mailbox):
    person = make.person(salutation=Salutation.frau, first_name="Erika", last_name="Musterfrau")
    user = make.user(role="member", password=PASSWORD, person=person)
    client.post("/passwort-vergessen", data={"email": user.email.upper()})

    [message] = mailbox.messages
    assert user.email in message["To"]
    assert "Erika Musterfrau" in message["To"]
    assert message["Subject"] == "Neues Passwort für Kommune 2.0 e. V."
    assert message["Message-ID"] and re.fullmatch(r"<[^@>]+@[^@>]+>", message["Message-ID"].strip())
    assert message["Date"] and message["Date"].datetime is not None
    assert message.get_content_type() == "multipart/alternative"
    assert {part.get_content_type() for part in message.iter_parts()} == {"text/plain", "text/html"}

    plain = plain_body(message)
    assert plain.startswith("Sehr geehrte Frau Musterfrau,")
    path = link_path(message)
    assert path.startswith("/passwort-setzen/")
    rich = html_body(message)
    assert "Sehr geehrte Frau Musterfrau," in rich
    assert f'href="http://crm.test{path}"' in rich


def test_reset_mail_uses_the_male_salutation(client, make, mailbox):
    person = make.person(salutation=Salutation.herr, first_name="Max", last_name="Mustermann", title="Dr.")
    user = make.user(role="office", password=PASSWORD, person=person)
    client.post("/passwort-vergessen", data={"email": user.email})
    [message] = mailbox.to(user.email)
    assert plain_body(message).startswith("Sehr geehrter Herr Dr. Mustermann,")


# --- setting the password from the link -------------------------------------------------------------


def test_link_shows_the_set_password_form(client, make, mailbox):
    user = make.user(role="member", password=PASSWORD)
    path = request_reset_link(client, mailbox, user)
    response = client.get(path)
    assert response.status_code == 200
    page = text(response)
    assert "<h1>Passwort setzen</h1>" in page
    assert user.email in page
    assert "Neues Passwort" in page and "Passwort wiederholen" in page


def test_too_short_password_gets_a_german_error_next_to_the_field(client, make, mailbox):
    user = make.user(role="member", password=PASSWORD)
    path = request_reset_link(client, mailbox, user)
    response = client.post(path, data={"password": "kurz", "confirm": "kurz"})
    assert response.status_code == 200
    assert field_error(response, "password") == "Das Passwort muss mindestens 10 Zeichen lang sein."
    assert log_in(client, user.email, PASSWORD).status_code == 302  # old password unchanged


def test_mismatched_confirmation_gets_a_german_error(client, make, mailbox):
    user = make.user(role="member", password=PASSWORD)
    path = request_reset_link(client, mailbox, user)
    response = client.post(path, data={"password": NEW_PASSWORD, "confirm": NEW_PASSWORD + "x"})
    assert response.status_code == 200
    assert field_error(response, "confirm") == "Die beiden Passwörter stimmen nicht überein."
    assert log_in(client, user.email, NEW_PASSWORD).status_code == 200  # not saved


def test_empty_new_password_gets_german_errors(client, make, mailbox):
    user = make.user(role="member", password=PASSWORD)
    path = request_reset_link(client, mailbox, user)
    response = client.post(path, data={"password": "", "confirm": ""})
    assert response.status_code == 200
    assert field_error(response, "password") == REQUIRED
    assert field_error(response, "confirm") == REQUIRED


def test_valid_password_is_saved_and_the_link_is_then_used_up(client, make, mailbox):
    user = make.user(role="member", password=PASSWORD)
    path = request_reset_link(client, mailbox, user)

    response = client.post(path, data={"password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    assert response.status_code == 302
    assert location_path(response) == "/login"
    assert "Ihr Passwort wurde gespeichert. Sie können sich jetzt anmelden." in text(client.get("/login"))

    assert WRONG in text(log_in(client, user.email, PASSWORD))  # the old one no longer works
    response = log_in(client, user.email, NEW_PASSWORD)
    assert response.status_code == 302
    assert location_path(response) == "/mein-bereich/"
    client.post("/logout")

    for method in (client.get, client.post):
        again = method(path, data={"password": "noch-ein-passwort", "confirm": "noch-ein-passwort"})
        assert again.status_code == 400
        assert "Dieser Link ist ungültig oder wurde bereits verwendet." in text(again)
        assert "Ungültige Anfrage" in text(again)
    assert log_in(client, user.email, NEW_PASSWORD).status_code == 302


def test_password_change_writes_an_audit_row(client, make, mailbox):
    user = make.user(role="member", password=PASSWORD)
    path = request_reset_link(client, mailbox, user)
    client.post(path, data={"password": NEW_PASSWORD, "confirm": NEW_PASSWORD})

    entries = db.session.scalars(
        sa.select(AuditLog).where(AuditLog.entity_type == "users", AuditLog.entity_id == user.id).order_by(AuditLog.id)
    ).all()
    assert [e.action for e in entries] == ["password_link", "password_set"]
    password_set = entries[-1]
    assert password_set.actor_id == user.id
    assert password_set.actor_label == user.email
    assert password_set.entity_label == user.email
    assert "password" in password_set.changes
    assert PASSWORD not in str(password_set.changes) and NEW_PASSWORD not in str(password_set.changes)


def test_second_link_is_refused_after_the_first_was_used(client, make, mailbox):
    user = make.user(role="member", password=PASSWORD)
    first = request_reset_link(client, mailbox, user)
    mailbox.clear()
    second = request_reset_link(client, mailbox, user)
    assert client.post(second, data={"password": NEW_PASSWORD, "confirm": NEW_PASSWORD}).status_code == 302
    response = client.get(first)
    assert response.status_code == 400
    assert "ungültig" in text(response)


def test_tampered_token_gives_the_german_400_page(client, make, mailbox):
    user = make.user(role="member", password=PASSWORD)
    path = request_reset_link(client, mailbox, user)
    # Change a character inside the signature (the very last base64 character may carry only padding bits).
    middle = path[-5]
    tampered = path[:-5] + ("A" if middle != "A" else "B") + path[-4:]
    for bad in (tampered, "/passwort-setzen/irgendwas", path + "x"):
        response = client.get(bad)
        assert response.status_code == 400, bad
        page = text(response)
        assert "Dieser Link ist ungültig oder wurde bereits verwendet." in page
        assert "Fehlercode 400" in page
    response = client.post(tampered, data={"password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    assert response.status_code == 400
    assert log_in(client, user.email, NEW_PASSWORD).status_code == 200  # nothing was saved


def test_expired_link_gives_the_german_400_page_with_max_age_config(app, client, make, mailbox, monkeypatch):
    user = make.user(role="member", password=PASSWORD)
    path = request_reset_link(client, mailbox, user)
    monkeypatch.setitem(app.config, "PASSWORD_RESET_MAX_AGE", -1)
    response = client.get(path)
    assert response.status_code == 400
    assert "Dieser Link ist abgelaufen. Bitte fordern Sie einen neuen an." in text(response)


def test_link_opened_a_day_later_has_expired(app, client, make, mailbox, monkeypatch):
    """The link is opened 24 hours and a minute after it was mailed (itsdangerous' clock is moved)."""
    user = make.user(role="member", password=PASSWORD)
    path = request_reset_link(client, mailbox, user)
    later = time.time() + app.config["PASSWORD_RESET_MAX_AGE"] + 60
    monkeypatch.setattr("itsdangerous.timed.time", types.SimpleNamespace(time=lambda: later))

    response = client.get(path)
    assert response.status_code == 400
    assert "abgelaufen" in text(response)
    response = client.post(path, data={"password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    assert response.status_code == 400
    monkeypatch.undo()
    assert log_in(client, user.email, NEW_PASSWORD).status_code == 200  # nothing was saved


def test_link_still_works_shortly_before_it_expires(app, client, make, mailbox, monkeypatch):
    user = make.user(role="member", password=PASSWORD)
    path = request_reset_link(client, mailbox, user)
    later = time.time() + app.config["PASSWORD_RESET_MAX_AGE"] - 60
    monkeypatch.setattr("itsdangerous.timed.time", types.SimpleNamespace(time=lambda: later))
    assert client.get(path).status_code == 200


def test_link_of_a_deactivated_user_is_refused(client, make, mailbox):
    user = make.user(role="member", password=PASSWORD)
    path = request_reset_link(client, mailbox, user)
    db_user(user.email).active = False
    db.session.commit()
    response = client.get(path)
    assert response.status_code == 400
    assert "ungültig" in text(response)
