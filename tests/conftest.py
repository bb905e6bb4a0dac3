"""Shared fixtures: the app, a per-test database transaction, a real SMTP server, logins per role.

Each test runs inside an outer transaction that is rolled back afterwards; the code under test
commits into a SAVEPOINT (SQLAlchemy's join_transaction_mode="create_savepoint"), so views and
services behave exactly as in production. Set CRM_TEST_DATABASE_URL to run on PostgreSQL.
"""
import email
import email.policy
import socket

import pytest
import sqlalchemy as sa
import sqlalchemy.orm as sa_orm
from aiosmtpd.controller import Controller
from flask import g, request_started

from config import TestConfig
from crm import create_app
from crm.extensions import db as _db
from tests.factories import Factories

PASSWORD = "richtig-gutes-passwort"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Pipelining:
    """An aiosmtpd handler whose server offers PIPELINING (RFC 2920), as production servers do.
    aiosmtpd reads the commands from its stream one after the other, so it answers pipelined ones
    right; it only does not offer it by itself."""

    pipelining = True

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        return [*responses[:-1], "250-PIPELINING", responses[-1]] if self.pipelining else responses


class Mailbox(Pipelining):
    """aiosmtpd handler that keeps every message it receives."""

    def __init__(self):
        self.messages: list[email.message.EmailMessage] = []
        self.envelopes = []

    async def handle_DATA(self, server, session, envelope):
        self.envelopes.append(envelope)
        self.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
        return "250 Message accepted for delivery"

    def clear(self):
        self.messages.clear()
        self.envelopes.clear()

    def to(self, address: str) -> list:
        return [m for m in self.messages if address in m["To"]]


@pytest.fixture(scope="session")
def smtp_server():
    """A real SMTP server on 127.0.0.1 for the whole run."""
    mailbox = Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield controller
    controller.stop()


def _fresh_request_globals(sender, **extra):
    """Give every test request a fresh `g`, as in production.

    The `db` fixture keeps one app context open for the whole test and Flask reuses it for each
    test request, so Flask-Login's cached user would otherwise survive from one request (and one
    client) to the next instead of the session cookie deciding.
    """
    g.__dict__.clear()


@pytest.fixture(scope="session")
def app(smtp_server):
    class Config(TestConfig):
        SMTP_PORT = smtp_server.port

    app = create_app(Config)
    request_started.connect(_fresh_request_globals, app)
    with app.app_context():
        _db.drop_all()
        _db.create_all()
    yield app
    with app.app_context():
        _db.session.remove()
        _db.engine.dispose()


@pytest.fixture()
def db(app):
    """The database, with everything a test (and the app under test) writes rolled back afterwards."""
    with app.app_context():
        connection = _db.engine.connect()
        transaction = connection.begin()
        original = _db.session
        _db.session = sa_orm.scoped_session(
            sa_orm.sessionmaker(bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False)
        )
        try:
            yield _db
        finally:
            _db.session.remove()
            _db.session = original
            transaction.rollback()
            connection.close()


@pytest.fixture()
def mailbox(smtp_server):
    smtp_server.handler.clear()
    yield smtp_server.handler
    smtp_server.handler.clear()


@pytest.fixture()
def client(app, db):
    return app.test_client()


@pytest.fixture()
def runner(app, db):
    return app.test_cli_runner()


@pytest.fixture()
def make(db):
    """Factories: make.person(...), make.organization(...), make.user(role=...)."""
    return Factories(db)


@pytest.fixture()
def login(client, make):
    """login("office") creates a user with that role, logs in with the test client and returns it."""

    def _login(role: str, **kwargs):
        user = make.user(role=role, password=PASSWORD, **kwargs)
        response = client.post("/login", data={"email": user.email, "password": PASSWORD})
        assert response.status_code == 302, response.get_data(as_text=True)
        return user

    return _login


def count(model) -> int:
    return _db.session.scalar(sa.select(sa.func.count()).select_from(model))


@pytest.fixture()
def count_queries(db):
    """`with count_queries() as queries: ...`, then `queries.count` is the number of SQL statements sent.

    Listens to SQLAlchemy's before_cursor_execute on db.engine; the SAVEPOINT statements of the
    per-test transaction are left out, so the count is what the code under test asks for.
    """
    import contextlib

    harness = ("SAVEPOINT", "RELEASE SAVEPOINT", "ROLLBACK TO SAVEPOINT")

    class Queries:
        def __init__(self):
            self.statements: list[str] = []

        def __call__(self, conn, cursor, statement, parameters, context, executemany):
            if not statement.lstrip().upper().startswith(harness):
                self.statements.append(statement)

        @property
        def count(self) -> int:
            return len(self.statements)

    @contextlib.contextmanager
    def _count():
        queries = Queries()
        sa.event.listen(_db.engine, "before_cursor_execute", queries)
        try:
            yield queries
        finally:
            sa.event.remove(_db.engine, "before_cursor_execute", queries)

    return _count
