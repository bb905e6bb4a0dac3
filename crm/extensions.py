"""Flask extensions, created unbound and initialised in create_app()."""
import sqlite3
from datetime import datetime, timezone

import click
import sqlalchemy as sa
from flask import current_app, g
from flask_login import LoginManager
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(sa.types.TypeDecorator):
    """A timezone-aware UTC datetime on every database (SQLite drops the zone)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None:
            if value.tzinfo is None:
                raise ValueError("naive datetime given; use an aware UTC datetime")
            value = value.astimezone(timezone.utc)
            if dialect.name == "sqlite":
                value = value.replace(tzinfo=None)
        return value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        # SQLite returns naive values; PostgreSQL returns them in the session's time zone.
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)


# Every Mapped[datetime] column stores aware UTC datetimes.
Base.registry.update_type_annotation_map({datetime: UTCDateTime()})


db = SQLAlchemy(model_class=Base)
csrf = CSRFProtect()
login_manager = LoginManager()
login_manager.login_view = "auth.login"
login_manager.login_message = "Bitte melden Sie sich an, um diese Seite zu sehen."
login_manager.login_message_category = "info"


@sa.event.listens_for(Engine, "connect")
def _sqlite_on_connect(dbapi_connection, connection_record):
    """Enforce foreign keys and let SQLAlchemy, not pysqlite, manage transactions on SQLite."""
    if type(dbapi_connection).__module__ == "sqlite3":
        dbapi_connection.isolation_level = None  # so SAVEPOINTs work (per-test isolation)
        # SQLite's lower() only knows A-Z; German needs "Ü" -> "ü" as on PostgreSQL.
        dbapi_connection.create_function(
            "lower", 1, lambda value: value.lower() if isinstance(value, str) else value, deterministic=True
        )
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        # Write-ahead log: the office reads while a send writes its ledger, and a commit is one append to
        # the log, not two flushes to disk. NORMAL syncs at checkpoints only: a commit survives a crash
        # of the app, a power cut may take back the last ones (as it may the mail journal's entries).
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
        except sqlite3.OperationalError:  # another process is switching the file over right now
            pass
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()


@sa.event.listens_for(Engine, "begin")
def _sqlite_on_begin(conn):
    if conn.dialect.name == "sqlite":
        # Celery worker processes take the write lock at once (crm.engine.celery): two processes whose
        # transactions read and then write would otherwise deadlock, and SQLite fails one of them.
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("sqlite_immediate") else "BEGIN")


def str_enum(enum_cls, name: str) -> sa.Enum:
    """A StrEnum column stored as its value in a VARCHAR with a CHECK constraint (portable, migratable)."""
    return sa.Enum(
        enum_cls,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=max(len(m.value) for m in enum_cls),
        values_callable=lambda e: [m.value for m in e],
        validate_strings=True,
    )


def migrations(app):
    """Flask-Migrate, set up on first use: alembic costs every process 12 MB, and only `flask db …`,
    the demo set-up and the migration tests need it (web and sending processes do not)."""
    if "migrate" not in app.extensions:
        from flask_migrate import Migrate

        from crm import ROOT

        Migrate(app, db, directory=str(ROOT / "migrations"), render_as_batch=True, compare_type=True)
    return app.extensions["migrate"]


class MigrationCommands(click.Group):
    """The `flask db` command group of Flask-Migrate, loaded when one of its commands is asked for."""

    def __init__(self):
        options = [click.Option(["-d", "--directory"]), click.Option(["-x", "--x-arg"], multiple=True)]
        super().__init__("db", help="Datenbank-Migrationen (Flask-Migrate).", params=options, callback=self._options)

    @staticmethod
    def _options(directory, x_arg):
        g.directory, g.x_arg = directory, x_arg  # where Flask-Migrate's own group puts them

    def _commands(self) -> click.Group:
        migrations(current_app._get_current_object())
        from flask_migrate.cli import db as commands

        return commands

    def list_commands(self, ctx):
        return self._commands().list_commands(ctx)

    def get_command(self, ctx, name):
        return self._commands().get_command(ctx, name)

