"""The embedded default's SQLite file: the office reads while a send writes, and the send still commits."""
import sqlalchemy as sa

import crm.extensions  # noqa: F401 - registers the connection settings on every engine


def test_an_open_read_does_not_stop_a_writer_from_committing(tmp_path):
    """A page that reads (a transaction holding its snapshot) and a send that records its batch at the same
    time: with SQLite's rollback journal the commit would fail with "database is locked"."""
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'crm.sqlite'}", connect_args={"timeout": 0})
    with engine.begin() as setup:
        setup.exec_driver_sql("CREATE TABLE deliveries (id INTEGER PRIMARY KEY, status TEXT)")
        setup.exec_driver_sql("INSERT INTO deliveries (status) VALUES ('queued')")
    with engine.connect() as reader, engine.connect() as writer:  # each begins its transaction when first used
        assert reader.exec_driver_sql("SELECT status FROM deliveries").scalar() == "queued"
        writer.exec_driver_sql("UPDATE deliveries SET status = 'sent'")
        writer.commit()
        assert reader.exec_driver_sql("SELECT status FROM deliveries").scalar() == "queued", "the reader's snapshot"
        reader.commit()
        assert reader.exec_driver_sql("SELECT status FROM deliveries").scalar() == "sent"
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
