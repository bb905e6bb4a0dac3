"""Fixtures of the bounce tests: the DSN files, deliveries with the ids the files name, a real Dovecot."""
from pathlib import Path

import pytest

from crm.extensions import db, utcnow
from crm.mail.models import Delivery, DeliveryStatus
from tests.mail.dovecot import Dovecot

DSN_DIR = Path(__file__).resolve().parent.parent / "fixtures" / "dsn"
BOUNCE_ADDRESS = "bounces@example.org"

#: The deliveries the DSN files are about: id (in their signed return path), address, Message-ID.
FIXTURE_DELIVERIES = {
    "postfix-5.1.1-verp.eml": (4711, "anna.beispiel@example.com", "<179534070912.4711.1002003004005006007@example.org>"),
    "postfix-5.2.2-mailbox-full.eml": (4712, "claudia.voll@example.com", "<179534105912.4712.2003004005006007008@example.org>"),
    "postfix-4.4.1-delayed.eml": (4713, "dieter.langsam@example.com", "<179534076712.4713.3004005006007008009@example.org>"),
    "abwesenheitsnotiz.eml": (4714, "emil.urlaub@example.com", "<179534090312.4714.4005006007008009001@example.org>"),
    "forged-hmac.eml": (4715, "frieda.echt@example.com", "<179534145912.4715.5006007008009001002@example.org>"),
    "postfix-multi-recipient-alias.eml": (4716, "info@example.com", "<179534151712.4716.5006007008009001002@example.org>"),
    "exchange-5.1.10-unzustellbar.eml": (4717, "clara.klein@example.com", "<179534100112.4717.6007008009001002003@example.org>"),
    # Sent before VERP was switched on: found by the Message-ID of the returned original only.
    "exim-5.1.1-original-headers.eml": (9001, "bernd.muster@example.com", "<179534175950.2207.9988776655443322110@example.org>"),
}  # fmt: skip


def dsn(name: str) -> bytes:
    return (DSN_DIR / name).read_bytes()


def postfix_hard_bounce(delivery: Delivery, return_path: str) -> bytes:
    """The Postfix 5.1.1 DSN file, about `delivery` as it went out with `return_path`."""
    data = dsn("postfix-5.1.1-verp.eml").decode()
    data = data.replace("bounces+4711-a6b47c206819@example.org", return_path).replace("anna.beispiel@example.com", delivery.email)
    return data.replace(FIXTURE_DELIVERIES["postfix-5.1.1-verp.eml"][2], delivery.message_id).encode()


@pytest.fixture()
def verp(app, db, monkeypatch):
    """VERP on: CRM_BOUNCE_ADDRESS=bounces@example.org."""
    monkeypatch.setitem(app.config, "BOUNCE_ADDRESS", BOUNCE_ADDRESS)


@pytest.fixture()
def sent(make):
    """sent(name) creates the sent delivery the DSN file `name` is about; sent() all of them."""

    def _sent(*names: str) -> dict[str, Delivery]:
        created = {}
        for name in names or FIXTURE_DELIVERIES:
            delivery_id, email, message_id = FIXTURE_DELIVERIES[name]
            person = make.person(email=email)
            delivery = Delivery(
                id=delivery_id, mailing="newsletter", subject_id=1, person=person, email=email, status=DeliveryStatus.sent,
                attempts=1, message_id=message_id, sent_at=utcnow(),
            )  # fmt: skip
            db.session.add(delivery)
            created[name] = delivery
        db.session.flush()
        return created

    return _sent


@pytest.fixture(scope="session")
def dovecot():
    """A real IMAP server (Debian's dovecot-imapd; `make test` installs it) for the whole run."""
    server = Dovecot()
    try:
        server.start()
        yield server
    finally:
        server.stop()
