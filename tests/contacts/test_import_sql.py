"""The tools of large imports: IN lists of any length, batch INSERTs that store and fail as SQLAlchemy would,
and the register of what a file mentioned, which lives on disk between batches."""
import pytest
import sqlalchemy as sa

from crm.audit.models import AuditLog
from crm.contacts.imports.seen import SeenRows
from crm.contacts.imports.sql import insert_rows, one_of, stored
from crm.contacts.models import Person, Salutation
from crm.extensions import utcnow

PERSON = ("last_name", "email", "salutation", "language", "search_key", "context_key", "name_key", "name_phonetic",
          "created_at", "updated_at")  # fmt: skip


def test_one_of_takes_more_values_than_sqlite_can_bind(db, make):
    anna = make.person(email="anna@example.org")
    emails = [f"niemand{n}@example.org" for n in range(40_000)] + ["anna@example.org"]

    assert db.session.scalars(sa.select(Person.id).where(one_of(Person.email, emails))).all() == [anna.id]
    assert db.session.scalars(sa.select(Person.id).where(one_of(Person.id, [-1, anna.id]))).all() == [anna.id]
    assert db.session.scalars(sa.select(Person.id).where(one_of(Person.id, []))).all() == []


def test_inserted_rows_read_back_as_if_sqlalchemy_had_written_them(db):
    now = utcnow()
    at = stored(Person.__table__.c.created_at, now)

    insert_rows(Person.__table__, PERSON, [("Lang", "lea@example.org", Salutation.frau.value, "de", "lang", "", " lang", "56", at, at)])
    insert_rows(AuditLog.__table__, ("created_at", "actor_label", "action", "entity_type", "entity_label", "changes"),
                [(at, "System", "create", "people", "Lea Lang", '{"last_name": "Lang", "note": "Grü\\u00dfe"}')])  # fmt: skip

    lea = db.session.scalar(sa.select(Person).where(Person.email == "lea@example.org"))
    assert (lea.salutation, lea.created_at) == (Salutation.frau, now)
    entry = db.session.scalar(sa.select(AuditLog).where(AuditLog.entity_label == "Lea Lang"))
    assert entry.changes == {"last_name": "Lang", "note": "Grüße"}


def test_a_failing_batch_insert_raises_sqlalchemys_error_and_writes_nothing(db):
    at = stored(Person.__table__.c.created_at, utcnow())
    rows = [("Lang", "lea@example.org", None, "de", "", "", "", "", at, at)] * 2

    with pytest.raises(sa.exc.IntegrityError):
        with db.session.begin_nested():
            insert_rows(Person.__table__, PERSON, rows)

    assert db.session.scalar(sa.select(sa.func.count()).select_from(Person).where(Person.email == "lea@example.org")) == 0


def test_the_register_remembers_the_first_row_of_each_key_across_batches():
    seen = SeenRows()
    try:
        seen.prefetch(["email:a", "email:b"])
        assert seen.get("email:a") is None
        seen.add("email:a", 2)
        seen.add("email:a", 5)  # a later row does not replace the first
        assert seen.get("email:a") == 2
        seen.flush()  # the batch ends: its keys go to the file

        seen.prefetch(["email:a", "email:b"])
        assert (seen.get("email:a"), seen.get("email:b")) == (2, None)
        assert seen.get("email:c") is None  # not prefetched: asked of the file directly
        seen.add("email:c", 9)
        seen.flush()

        assert (seen.get("email:a"), seen.get("email:c")) == (2, 9)
    finally:
        seen.close()
