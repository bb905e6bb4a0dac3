"""German error pages, deny-by-default access, production settings and security headers."""
from urllib.parse import parse_qs, urlsplit

import pytest
import sqlalchemy as sa
from flask import template_rendered

from config import DEV_SECRET_KEY, ProductionConfig, TestConfig, config_from_env
from crm import create_app
from crm.auth.models import Role, User
from crm.contacts.models import Person
from crm.extensions import db
from crm.security import public
from tests.conftest import PASSWORD
from tests.html import page_text

GOOD_SECRET = "Zufall-" + "k3Q9vX2mPz8LwR4tY7uB1nC6eH0jS5aD"  # 39 characters
GOOD_DATABASE_URL = "postgresql+psycopg://crm:geheim@db.example.org/crm"


# --- German error pages -------------------------------------------------------------------------------------------


def test_unknown_url_is_a_german_404(client):
    response = client.get("/gibt-es-nicht")
    assert response.status_code == 404
    markup = response.get_data(as_text=True)
    assert '<html lang="de">' in markup
    text = page_text(markup)
    assert "Seite nicht gefunden" in text
    assert "Not Found" not in text


def test_unknown_url_is_404_when_logged_in_too(client, login):
    login("office")
    response = client.get("/start/gibt-es-nicht")
    assert response.status_code == 404
    assert "Seite nicht gefunden" in page_text(response.get_data(as_text=True))


def test_member_on_office_page_gets_german_403(client, login):
    login("member")
    response = client.get("/start")
    assert response.status_code == 403
    text = page_text(response.get_data(as_text=True))
    assert "Kein Zugriff" in text
    assert "Sie haben keine Berechtigung" in text
    assert "Forbidden" not in text
    assert "Letzte Änderungen" not in text  # nothing of the office page


def test_wrong_method_is_a_german_405(client, login):
    login("office")
    response = client.post("/start")
    assert response.status_code == 405
    assert "Nicht erlaubt" in page_text(response.get_data(as_text=True))


def test_anonymous_visitor_is_sent_to_login_and_back(client, make):
    response = client.get("/start")
    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    assert location.path == "/login"
    assert parse_qs(location.query)["next"] == ["/start"]

    user = make.user(role="office", password=PASSWORD)
    response = client.post(response.headers["Location"], data={"email": user.email, "password": PASSWORD})
    assert response.status_code == 302
    assert response.headers["Location"] == "/start"


def test_login_does_not_redirect_to_another_site(client, make):
    user = make.user(role="office", password=PASSWORD)
    response = client.post("/login?next=https://evil.example.com/", data={"email": user.email, "password": PASSWORD})
    assert response.status_code == 302
    assert urlsplit(response.headers["Location"]).netloc in ("", "localhost")


# --- a fresh app for routes added by the tests --------------------------------------------------------------------


class FreshConfig(TestConfig):
    SQLALCHEMY_DATABASE_URI = "sqlite://"  # its own empty in-memory database


@pytest.fixture()
def fresh_app():
    """A new app (routes can only be added before the first request) with its own database."""
    app = create_app(FreshConfig)
    with app.app_context():
        db.create_all()
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def _fresh_user(app, role: str) -> User:
    with app.app_context():
        person = Person(last_name="Neu", email=f"{role}@example.org")
        user = User(email=person.email, role=Role(role), person=person)
        user.set_password(PASSWORD, app.config["PASSWORD_HASH_METHOD"])
        db.session.add(user)
        db.session.commit()
        return user


def test_exception_in_a_view_is_a_german_500_and_rolls_back(fresh_app):
    @fresh_app.get("/test/kaputt")
    @public
    def broken():
        db.session.add(Person(last_name="Nie gespeichert"))
        db.session.flush()
        raise RuntimeError("absichtlicher Fehler")

    def unsaved_rows_when_error_page_renders(sender, template, context, **extra):
        if template.name == "errors/error.html":
            seen.append(db.session.scalar(sa.select(sa.func.count()).where(Person.last_name == "Nie gespeichert")))

    seen = []
    with template_rendered.connected_to(unsaved_rows_when_error_page_renders, fresh_app):
        response = fresh_app.test_client().get("/test/kaputt")

    assert response.status_code == 500
    text = page_text(response.get_data(as_text=True))
    assert "Interner Fehler" in text
    assert "Ihre Eingaben wurden nicht gespeichert" in text
    assert "absichtlicher Fehler" not in text and "Traceback" not in text  # no internals shown
    assert seen == [0], "the half-done change was still in the session when the error page was shown"
    with fresh_app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).where(Person.last_name == "Nie gespeichert")) == 0


def test_database_error_in_a_view_still_renders_the_german_500(fresh_app):
    @fresh_app.get("/test/db-kaputt")
    @public  # the user is loaded only while the error page renders, after the failed flush
    def broken_insert():
        db.session.add(Person(last_name="Falsch", email="GROSS@example.org"))  # violates ck_people_email_normalized
        db.session.flush()
        return "nicht erreicht"

    _fresh_user(fresh_app, "office")
    client = fresh_app.test_client()
    client.post("/login", data={"email": "office@example.org", "password": PASSWORD})

    response = client.get("/test/db-kaputt")
    assert response.status_code == 500
    text = page_text(response.get_data(as_text=True))
    assert "Interner Fehler" in text
    assert "Abmelden" in text  # the page still knows who is logged in
    assert client.get("/start").status_code == 200  # and the next request works normally


def test_undeclared_view_is_denied_by_default(fresh_app):
    @fresh_app.get("/test/vergessen")
    def forgotten():
        return "geheime Daten"

    _fresh_user(fresh_app, "admin")
    client = fresh_app.test_client()
    anonymous = client.get("/test/vergessen")
    assert anonymous.status_code == 302
    assert urlsplit(anonymous.headers["Location"]).path == "/login"

    client.post("/login", data={"email": "admin@example.org", "password": PASSWORD})
    response = client.get("/test/vergessen")
    assert response.status_code == 403
    assert "geheime Daten" not in response.get_data(as_text=True)


def test_every_endpoint_is_public_or_declares_roles(app):
    undeclared = [
        endpoint
        for endpoint, view in app.view_functions.items()
        if endpoint != "static" and not getattr(view, "is_public", False) and not getattr(view, "allowed_roles", None)
    ]
    assert undeclared == []


def test_declared_roles_are_known_roles(app):
    known = {role.value for role in Role}
    for endpoint, view in app.view_functions.items():
        assert set(getattr(view, "allowed_roles", ())) <= known, endpoint


# --- production configuration -------------------------------------------------------------------------------------


@pytest.fixture()
def production_env(monkeypatch):
    monkeypatch.setenv("CRM_SECRET_KEY", GOOD_SECRET)
    monkeypatch.setenv("CRM_DATABASE_URL", GOOD_DATABASE_URL)
    return monkeypatch


def test_production_accepts_proper_settings(production_env):
    assert ProductionConfig.check() is None


@pytest.mark.parametrize("secret", [None, "", "kurz", DEV_SECRET_KEY, "x" * 31])
def test_production_refuses_missing_short_or_dev_secret(production_env, secret):
    if secret is None:
        production_env.delenv("CRM_SECRET_KEY")
    else:
        production_env.setenv("CRM_SECRET_KEY", secret)
    with pytest.raises(RuntimeError, match="CRM_SECRET_KEY"):
        ProductionConfig.check()


def test_production_refuses_missing_database_url(production_env):
    production_env.delenv("CRM_DATABASE_URL")
    with pytest.raises(RuntimeError, match="CRM_DATABASE_URL"):
        ProductionConfig.check()


def test_production_app_does_not_start_without_settings(monkeypatch):
    monkeypatch.delenv("CRM_SECRET_KEY", raising=False)
    monkeypatch.delenv("CRM_DATABASE_URL", raising=False)
    with pytest.raises(RuntimeError):
        create_app(ProductionConfig)


def test_crm_env_selects_the_configuration(monkeypatch):
    monkeypatch.setenv("CRM_ENV", "production")
    assert config_from_env() is ProductionConfig
    monkeypatch.setenv("CRM_ENV", "produktion")
    with pytest.raises(RuntimeError, match="CRM_ENV"):
        config_from_env()


def test_production_cookies_are_secure(production_env):
    class ProductionTestConfig(ProductionConfig):
        SQLALCHEMY_DATABASE_URI = "sqlite://"

    app = create_app(ProductionTestConfig)
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert app.config["SESSION_COOKIE_HTTPONLY"] is True
    assert app.config["SESSION_COOKIE_SAMESITE"] == "Lax"
    assert app.config["REMEMBER_COOKIE_SECURE"] is True
    assert app.config["REMEMBER_COOKIE_HTTPONLY"] is True
    assert app.config["PREFERRED_URL_SCHEME"] == "https"
    assert app.config["SHOW_OUTBOX"] is False
    assert not app.debug and not app.testing

    response = app.test_client().get("/login", base_url="https://crm.example.org")
    assert response.status_code == 200
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("session=")
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    with app.app_context():
        db.engine.dispose()


# --- security headers ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/login", "/start", "/gibt-es-nicht"])
def test_security_headers_on_every_response(client, path):
    response = client.get(path)
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] in ("DENY", "SAMEORIGIN")
    assert response.headers["Referrer-Policy"] in ("same-origin", "strict-origin-when-cross-origin", "no-referrer")


def test_security_headers_on_error_pages(client, login):
    login("member")
    response = client.get("/start")
    assert response.status_code == 403
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] in ("DENY", "SAMEORIGIN")
