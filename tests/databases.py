"""Throwaway databases for tests that need an empty schema (migrations, browser tests)."""
import contextlib
import os
import time
import uuid

import sqlalchemy as sa
from sqlalchemy.engine import make_url


@contextlib.contextmanager
def empty_database(tmp_path):
    """Yield the URL of a new, empty database of the kind under test; drop it afterwards."""
    base = os.environ.get("CRM_TEST_DATABASE_URL")
    if not base or base.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'empty.sqlite'}"
        return
    url = make_url(base)
    name = f"{url.database}_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        try:
            _drop(admin, name)
        finally:
            admin.dispose()


def _drop(admin: sa.Engine, name: str, attempts: int = 40) -> None:
    for attempt in range(attempts):
        try:
            with admin.connect() as conn:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            return
        except sa.exc.ProgrammingError as error:
            # An autovacuum worker busy with the new database runs as the superuser: WITH (FORCE) may not end
            # it ("must be a member of the role … pg_signal_backend"), but it finishes within moments.
            if "pg_signal_backend" not in str(error) or attempt == attempts - 1:
                raise
            time.sleep(0.25)
