"""`flask db upgrade` builds the schema from empty, and the migrations match the models exactly."""
import flask_migrate
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from config import TestConfig
from crm import create_app
from crm.extensions import db
from tests.databases import empty_database


def test_upgrade_from_empty_matches_models_and_downgrades(tmp_path):
    with empty_database(tmp_path) as url:

        class Config(TestConfig):
            SQLALCHEMY_DATABASE_URI = url

        app = create_app(Config)
        with app.app_context():
            flask_migrate.upgrade()
            tables = set(sa.inspect(db.engine).get_table_names())
            assert {"people", "organizations", "affiliations", "memberships", "users", "consents", "audit_log"} <= tables

            with db.engine.connect() as connection:
                context = MigrationContext.configure(connection, opts={"compare_type": True})
                assert compare_metadata(context, db.metadata) == []

            flask_migrate.downgrade(revision="base")
            assert set(sa.inspect(db.engine).get_table_names()) <= {"alembic_version"}
            db.engine.dispose()


def test_cli_upgrade_then_demo_load(tmp_path):
    """The README's set-up path: `flask db upgrade` and `flask demo load` on an empty database."""
    with empty_database(tmp_path) as url:

        class Config(TestConfig):
            SQLALCHEMY_DATABASE_URI = url

        app = create_app(Config)
        runner = app.test_cli_runner()
        result = runner.invoke(args=["db", "upgrade"])
        assert result.exit_code == 0, result.output
        result = runner.invoke(args=["demo", "load"])
        assert result.exit_code == 0, result.output
        assert "Demo-Daten geladen" in result.output
        assert "admin@example.org" in result.output
        with app.app_context():
            db.engine.dispose()
