"""Fixtures of the sending engine's tests: scripted SMTP servers, a real Redis, fresh rate buckets."""
import shutil
import subprocess
import time

import pytest
import redis
from aiosmtpd.controller import Controller

from tests.conftest import free_port
from tests.events.test_pipeline import sent_hook  # noqa: F401  (the test mailing's fixture, for every test here)

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


class ScriptedServer:
    """Answers by the recipient's local part (SCRIPT), or `everyone` to all; remembers connections."""

    def __init__(self, everyone: tuple[str, str] | None = None):
        self.everyone = everyone
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


@pytest.fixture()
def scripted():
    """scripted(everyone=None) starts a ScriptedServer on a free port; all are stopped afterwards."""
    controllers = []

    def start(everyone: tuple[str, str] | None = None) -> Controller:
        controller = Controller(ScriptedServer(everyone), hostname="127.0.0.1", port=free_port())
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
