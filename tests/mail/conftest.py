"""Fixtures of the mail tests: scripted SMTP servers, a real Redis, fresh rate buckets; the DSN files,
deliveries with the ids the files name, and a real Dovecot."""
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import redis
from aiosmtpd.controller import Controller

from crm.extensions import db, utcnow
from crm.mail.models import Delivery, DeliveryStatus
from tests.conftest import Pipelining, free_port
from tests.events.test_pipeline import sent_hook  # noqa: F401  (the test mailing's fixture, for every test here)
from tests.mail.dovecot import Dovecot

#: Local part of a recipient → (stage, answer) of the scripted server.
SCRIPT = {
    "rcpt421": ("RCPT", "421 4.7.0 Zu viele Nachrichten, Verbindung wird beendet"),
    "rcpt451": ("RCPT", "451 4.3.0 Voruebergehender lokaler Fehler"),
    "data421": ("DATA", "421 4.3.2 Dienst wird heruntergefahren"),
    "data451": ("DATA", "451 4.3.0 Voruebergehender lokaler Fehler"),
    "unbekannt": ("RCPT", "550 5.1.1 Mailbox unbekannt"),
    "data550": ("DATA", "550 5.1.1 User unknown"),
    "ohnecode": ("RCPT", "550 User unknown"),
    "voll": ("DATA", "552 5.2.2 Postfach voll"),
    "spam": ("DATA", "550 5.7.1 Als Spam abgelehnt"),
}


class ScriptedServer(Pipelining):
    """Answers by the recipient's local part (SCRIPT), or `everyone` to all; remembers connections."""

    def __init__(self, everyone: tuple[str, str] | None = None, *, pipelining: bool = True):
        self.everyone, self.pipelining = everyone, pipelining
        self.received: list[str] = []
        self.sessions: list[int] = []
        self.attempts = 0

    def _answer(self, stage: str, address: str) -> str | None:
        rule = self.everyone or SCRIPT.get(address.partition("@")[0])
        return rule[1] if rule and rule[0] == stage else None

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        self.attempts += 1
        if answer := self._answer("RCPT", address):
            return answer
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.sessions.append(id(session))
        if answer := self._answer("DATA", envelope.rcpt_tos[0]):
            return answer
        self.received += envelope.rcpt_tos
        return "250 Message accepted for delivery"


@pytest.fixture(params=[True, False], ids=["pipelining", "one-by-one"])
def scripted(request):
    """scripted(everyone=None) starts a ScriptedServer on a free port; all are stopped afterwards. Each
    test runs against a server that offers PIPELINING and one that does not (the client talks differently)."""
    controllers = []

    def start(everyone: tuple[str, str] | None = None) -> Controller:
        controller = Controller(ScriptedServer(everyone, pipelining=request.param), hostname="127.0.0.1", port=free_port())
        controller.start()
        controllers.append(controller)
        return controller

    yield start
    for controller in controllers:
        controller.stop()


@pytest.fixture()
def fresh_buckets(app):
    """Rate buckets start full in each test (the app keeps them between runs, as in production)."""
    app.extensions.pop("crm_mail_buckets", None)
    yield
    app.extensions.pop("crm_mail_buckets", None)


@pytest.fixture(scope="session")
def redis_server():
    """A real Redis on a free port for the whole run: redis-server --save "" (nothing on disk)."""
    binary = shutil.which("redis-server") or "/usr/bin/redis-server"
    port = free_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url)
    for _ in range(100):
        try:
            client.ping()
            break
        except redis.ConnectionError:
            time.sleep(0.05)
    else:
        process.kill()
        raise RuntimeError("redis-server did not start")
    yield url
    client.close()
    process.terminate()
    process.wait(timeout=10)


@pytest.fixture()
def redis_url(redis_server):
    """The test Redis, emptied before the test."""
    client = redis.Redis.from_url(redis_server)
    client.flushdb()
    client.close()
    return redis_server


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
