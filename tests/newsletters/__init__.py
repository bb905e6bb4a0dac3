"""Tests of the newsletter: subscription (double opt-in, unsubscribe, preference centre) and, later, sending."""
import sqlalchemy as sa

from crm.contacts.models import Consent, Person
from crm.extensions import db
from crm.mail.models import Suppression

BROWSER = {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Testbrowser/1.0"}
FROM = {"REMOTE_ADDR": "203.0.113.7"}


def ledger(person: Person) -> list[Consent]:
    return db.session.scalars(sa.select(Consent).where(Consent.person_id == person.id).order_by(Consent.id)).all()


def suppression(email: str) -> Suppression | None:
    return db.session.scalar(sa.select(Suppression).where(Suppression.email == email))


def enable_csrf(app, monkeypatch) -> None:
    """Switch CSRF protection on for one test, as in production (the suite runs without it)."""
    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", True)
