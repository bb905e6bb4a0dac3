"""`flask db upgrade` builds the schema from empty, and the migrations match the models exactly."""
import flask_migrate
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from config import TestConfig
from crm import create_app
from crm.contacts import search_index
from crm.contacts.filters import PersonFilter
from crm.contacts.models import Person
from crm.extensions import db, migrations
from crm.mail.models import MailingPause
from tests.contacts.test_search_index import assert_index_in_step
from tests.databases import empty_database


def app_for(url: str):
    class Config(TestConfig):
        SQLALCHEMY_DATABASE_URI = url

    app = create_app(Config)
    migrations(app)  # Flask-Migrate is set up on first use; flask_migrate's functions expect it
    return app


def test_upgrade_from_empty_matches_models_and_downgrades(tmp_path):
    with empty_database(tmp_path) as url:
        app = app_for(url)
        with app.app_context():
            flask_migrate.upgrade()
            tables = set(sa.inspect(db.engine).get_table_names())
            assert {"people", "organizations", "affiliations", "memberships", "users", "consents", "audit_log"} <= tables

            with db.engine.connect() as connection:
                context = MigrationContext.configure(
                    connection, opts={"compare_type": True, "include_name": search_index.include_name}
                )
                assert compare_metadata(context, db.metadata) == []

            flask_migrate.downgrade(revision="base")
            assert set(sa.inspect(db.engine).get_table_names()) <= {"alembic_version"}
            db.engine.dispose()


def test_cli_upgrade_then_demo_load(tmp_path):
    """The README's set-up path: `flask db upgrade` and `flask demo load` on an empty database."""
    with empty_database(tmp_path) as url:
        app = app_for(url)
        runner = app.test_cli_runner()
        result = runner.invoke(args=["db", "upgrade"])
        assert result.exit_code == 0, result.output
        result = runner.invoke(args=["demo", "load"])
        assert result.exit_code == 0, result.output
        assert "Demo-Daten geladen" in result.output
        assert "admin@example.org" in result.output
        with app.app_context():
            db.engine.dispose()


def test_search_index_covers_people_from_before_and_after_its_migration(tmp_path):
    """The migration indexes the people already there, and its triggers (SQLite) the ones to come."""
    with empty_database(tmp_path) as url:
        app = app_for(url)
        with app.app_context():
            flask_migrate.upgrade(revision="b7c41e2d9f05")  # the revision before the search index
            db.session.add(Person(first_name="Vera", last_name="Vorher", email="vera@example.org"))
            db.session.commit()
            flask_migrate.upgrade()
            db.session.add(Person(first_name="Nils", last_name="Nachher", email="nils@example.org"))
            db.session.commit()

            found = db.session.scalars(PersonFilter(q="example.org").statement())
            assert [p.last_name for p in found] == ["Nachher", "Vorher"]
            assert PersonFilter(q="vorher").count(db.session) == PersonFilter(q="nachher").count(db.session) == 1
            assert_index_in_step()
            db.session.remove()
            db.engine.dispose()


def test_mailing_pauses_migration_up_and_down(tmp_path):
    """The table of self-paused mailings comes with its unique key and goes again on downgrade."""
    with empty_database(tmp_path) as url:
        app = app_for(url)
        with app.app_context():
            flask_migrate.upgrade(revision="939465fc0a29")
            assert "mailing_pauses" not in sa.inspect(db.engine).get_table_names()
            flask_migrate.upgrade(revision="61c67918daec")
            db.session.add(MailingPause(mailing="event_invitation", subject_id=1, reason="Automatisch angehalten: …"))
            db.session.commit()
            db.session.add(MailingPause(mailing="event_invitation", subject_id=1, reason="noch einmal"))
            with pytest.raises(sa.exc.IntegrityError):
                db.session.commit()
            db.session.rollback()
            flask_migrate.downgrade(revision="939465fc0a29")
            assert "mailing_pauses" not in sa.inspect(db.engine).get_table_names()
            db.session.remove()
            db.engine.dispose()
