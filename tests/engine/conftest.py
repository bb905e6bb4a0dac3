"""The production engine with its real parts: a redis-server, Celery worker and beat processes, a
database the test commits into, and an aiosmtpd server.

These tests cannot use the `db` fixture (one rolled-back transaction, in-memory SQLite by default):
the workers are separate processes and must see what the test wrote. Each test gets a database of
its own (a SQLite file, or on PostgreSQL a new database beside CRM_TEST_DATABASE_URL that is dropped
afterwards), an app bound to it that sends its background work to the broker, and workers started
with the environment variables a deployment would set.

Redis: a redis-server of the test run on a free port, or CRM_TEST_REDIS_URL (a Redis database the
tests may empty, e.g. redis://127.0.0.1:6379/15). Missing redis-server or Celery fails the tests.
"""
import asyncio
import importlib.util
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Callable

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller

from config import TestConfig
from crm import create_app
from crm.extensions import db as _db
from tests.conftest import Mailbox, free_port
from tests.databases import empty_database
from tests.factories import Factories

ROOT = Path(__file__).resolve().parents[2]
#: How long a test waits for the workers before it fails (generous: CI machines are slow and shared).
PATIENCE = 90


def _require(found: bool, what: str) -> None:
    if not found:
        pytest.fail(f"{what} (`make test` installs it on Debian).", pytrace=False)


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory):
    """A Redis for the run: CRM_TEST_REDIS_URL, or a redis-server of our own without persistence."""
    _require(importlib.util.find_spec("celery") is not None, "Celery fehlt: pip install -r requirements.txt")
    if os.environ.get("CRM_TEST_REDIS_URL"):
        yield os.environ["CRM_TEST_REDIS_URL"]
        return
    server = shutil.which("redis-server") or "/usr/bin/redis-server"
    _require(os.path.exists(server), "redis-server fehlt: apt-get install redis-server")
    port, directory = free_port(), tmp_path_factory.mktemp("redis")
    process = subprocess.Popen(
        [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(directory)],
        stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"redis://127.0.0.1:{port}/0"
    try:
        _wait_for(lambda: _redis_answers(url), "redis-server antwortet nicht", process=None)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


def _redis_answers(url: str) -> bool:
    import redis

    try:
        return redis.Redis.from_url(url, socket_connect_timeout=1).ping()
    except redis.ConnectionError:
        return False


def _wait_for(condition: Callable[[], bool], failure: str, process=None, timeout: float = PATIENCE) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if process is not None and process.poll() is not None:
            pytest.fail(f"{failure}: Prozess beendet (Code {process.returncode})")
        if time.monotonic() > deadline:
            pytest.fail(f"{failure} (nach {timeout} s)")
        time.sleep(0.1)


class SlowMailbox(Mailbox):
    """The test SMTP server's mailbox, answering each message after `delay` seconds. Like a real server it
    keeps the message once the end of its data arrived, even if the client dies before the answer."""

    def __init__(self, delay: float = 0.0):
        super().__init__()
        self.delay = delay

    async def handle_DATA(self, server, session, envelope):
        reply = await super().handle_DATA(server, session, envelope)
        if self.delay:
            await asyncio.sleep(self.delay)
        return reply

    def per_recipient(self) -> Counter:
        return Counter(address for envelope in list(self.envelopes) for address in envelope.rcpt_tos)


class Engine:
    """One test's engine: its database, app, SMTP server, broker and the worker processes it starts."""

    def __init__(self, database_url: str, broker_url: str, tmp_path: Path):
        self.database_url, self.broker_url, self.tmp_path = database_url, broker_url, tmp_path
        self.mailbox = SlowMailbox()
        self.smtp = Controller(self.mailbox, hostname="127.0.0.1", port=free_port())
        self.import_dir = tmp_path / "imports"
        self.settings: dict[str, str] = {"MAIL_BATCH_SIZE": "5", "SCHEDULER_SECONDS": "1"}
        self.processes: list[tuple[str, subprocess.Popen]] = []
        self.app = create_app(self._config())
        self.make = Factories(_db)

    def _config(self):
        engine = self

        class EngineConfig(TestConfig):
            SQLALCHEMY_DATABASE_URI = engine.database_url
            CELERY_BROKER_URL = engine.broker_url
            TASKS_INLINE = False
            SCHEDULER_SECONDS = 0  # beat runs the scheduler here, not this process
            SMTP_PORT = engine.smtp.port
            IMPORT_DIR = str(engine.import_dir)

        return EngineConfig

    def environment(self) -> dict[str, str]:
        """What a deployment sets for its workers (development configuration, no CRM_* of the caller)."""
        env = {key: value for key, value in os.environ.items() if not key.startswith("CRM_")}
        env.update({
            "CRM_ENV": "development", "CRM_DATABASE_URL": self.database_url, "CRM_CELERY_BROKER_URL": self.broker_url,
            "CRM_MAIL_BACKEND": "smtp", "CRM_SMTP_HOST": "127.0.0.1", "CRM_SMTP_PORT": str(self.smtp.port),
            "CRM_SMTP_TLS": "none", "CRM_BASE_URL": self.app.config["BASE_URL"], "CRM_IMPORT_DIR": str(self.import_dir),
            "CRM_MAIL_JOURNAL_DIR": str(self.tmp_path / "journal"),  # shared by a killed worker and its successor
            "PYTHONUNBUFFERED": "1",
        })  # fmt: skip
        env.update({f"CRM_{key}": value for key, value in self.settings.items()})
        return env

    def _start(self, name: str, *command: str) -> subprocess.Popen:
        log = open(self.tmp_path / f"{name}.log", "ab")
        process = subprocess.Popen(
            [sys.executable, "-m", *command, "--loglevel=INFO"],
            cwd=ROOT, env=self.environment(), stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: the test can kill the worker with its children
        )  # fmt: skip
        log.close()
        self.processes.append((name, process))
        return process

    def start_worker(self, name: str = "worker") -> subprocess.Popen:
        """A worker as docs/deployment.md starts one (python -m crm.worker), with two pool processes."""
        return self._start(name, "crm.worker", "--concurrency=2", "--without-mingle", "--without-gossip", "--hostname", f"{name}@%h")

    def start_beat(self) -> subprocess.Popen:
        return self._start("beat", "celery", "-A", "crm.celery_app", "beat", "--schedule", str(self.tmp_path / "celerybeat-schedule"))

    def kill(self, process: subprocess.Popen) -> None:
        """SIGKILL to the worker and every process it forked, as when a machine loses power."""
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)

    def log(self, name: str) -> str:
        path = self.tmp_path / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def wait_for(self, condition: Callable[[], bool], failure: str) -> None:
        """Poll until condition() holds; fail (with the processes' logs) if a process ends or time runs out."""
        # This process's open transaction would keep SQLite's workers from committing (a read holds a lock).
        _db.session.close()
        deadline = time.monotonic() + PATIENCE
        while not condition():
            ended = [(name, p) for name, p in self.processes if p.poll() is not None and p.returncode != -signal.SIGKILL]
            if ended or time.monotonic() > deadline:
                why = f"{ended[0][0]} beendet" if ended else f"nach {PATIENCE} s"
                pytest.fail(f"{failure} ({why})\n{self.logs_tail()}")
            time.sleep(0.1)

    def logs_tail(self) -> str:
        return "\n".join(f"--- {name}.log\n{self.log(name)[-3000:]}" for name in dict(self.processes))

    def scalar(self, statement):
        """A value read in a transaction of its own (what the workers committed so far)."""
        with _db.engine.connect() as connection:
            return connection.scalar(statement)

    def stop(self) -> None:
        for _, process in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for _, process in self.processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=15)


@pytest.fixture()
def engine(redis_url, tmp_path):
    """An Engine with an empty broker and a database with the schema; workers are started by the test."""
    import redis

    redis.Redis.from_url(redis_url).flushdb()  # nothing left over from an earlier test's workers
    with empty_database(tmp_path) as database_url:
        engine = Engine(database_url, redis_url, tmp_path)
        engine.smtp.start()
        try:
            with engine.app.app_context():
                _db.create_all()
                yield engine
                _db.session.remove()
        finally:
            engine.stop()
            engine.smtp.stop()
            with engine.app.app_context():
                _db.engine.dispose()
            redis.Redis.from_url(redis_url).flushdb()


def count_where(engine: Engine, model, *conditions) -> int:
    return engine.scalar(sa.select(sa.func.count()).select_from(model).where(*conditions))
