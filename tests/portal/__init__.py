"""Tests of the member portal and personal links, with helpers to read pages and mails as a person does."""
import re
import time
import types
from urllib.parse import urlsplit

import sqlalchemy as sa

from crm.audit.models import AuditLog
from crm.auth.models import User
from crm.extensions import db
from tests.conftest import PASSWORD
from tests.html import page_text, text
from tests.test_auth import is_logged_in, location_path  # noqa: F401  (used by the portal tests)

INVALID = "Dieser Link ist ungültig oder wurde bereits verwendet."
EXPIRED = "Dieser Link ist abgelaufen. Bitte fordern Sie einen neuen an."
WRONG = "E-Mail-Adresse oder Passwort ist falsch."
REQUIRED = "Bitte füllen Sie dieses Feld aus."
NEW_PASSWORD = "mein-eigenes-passwort"


def log_in(client, email: str, password: str):
    return client.post("/login", data={"email": email, "password": password})


def logs_in(app, email: str, password: str = PASSWORD) -> bool:
    """Whether this address and password open a session (tried in a fresh browser)."""
    response = log_in(app.test_client(), email, password)
    if response.status_code == 302:
        return True
    assert WRONG in text(response), text(response)
    return False


def plain_body(message) -> str:
    return message.get_body(preferencelist=("plain",)).get_content()


def html_body(message) -> str:
    return message.get_body(preferencelist=("html",)).get_content()


def link_path(message, prefix: str) -> str:
    """The path of the one personal link starting with `prefix` in a mail (plain and HTML part agree)."""
    links = re.findall(rf"https?://\S+{re.escape(prefix)}\S+", plain_body(message))
    assert len(links) == 1, plain_body(message)
    parts = urlsplit(links[0])
    assert parts.netloc == "crm.test"  # absolute, to BASE_URL
    assert f'href="{links[0]}"' in html_body(message)
    return parts.path


def flashes(response) -> list[str]:
    return [page_text(m) for m in re.findall(r'<div class="flash [^"]*"[^>]*>(.*?)</div>', text(response), flags=re.S)]


def followed_flashes(client, response) -> list[str]:
    """The messages shown on the page a redirect leads to."""
    assert response.status_code == 302, text(response)
    return flashes(client.get(location_path(response)))


def without_csrf_token(response) -> str:
    return re.sub(r'name="csrf_token" value="[^"]*"', "", response.get_data(as_text=True))


def move_clock(monkeypatch, seconds: float) -> None:
    """Open links `seconds` from now: itsdangerous' clock is moved (the app's own clock is not)."""
    later = time.time() + seconds
    monkeypatch.setattr("itsdangerous.timed.time", types.SimpleNamespace(time=lambda: later))


def user_by_email(email: str) -> User | None:
    return db.session.scalar(sa.select(User).where(User.email == email))


def audit_rows(entity_type: str, entity_id: int, action: str | None = None) -> list[AuditLog]:
    stmt = sa.select(AuditLog).where(AuditLog.entity_type == entity_type, AuditLog.entity_id == entity_id)
    if action:
        stmt = stmt.where(AuditLog.action == action)
    return db.session.scalars(stmt.order_by(AuditLog.id)).all()


def fresh(obj):
    """The object as the database has it now."""
    db.session.refresh(obj)
    return obj
