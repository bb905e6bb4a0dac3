"""SQL for thousands of rows at once: INSERTs of whole batches and IN lists of thousands of values.

A large import writes hundreds of thousands of rows (people, roles, audit entries, report rows).
Through SQLAlchemy every value would be converted in Python; COPY streams the rows to PostgreSQL
in one go and SQLite's executemany runs in C. Both take values as the driver stores them: plain
str/int/bool/None, enums as their `.value`, JSON as text and datetimes through `stored()`.
"""
import json
from contextlib import contextmanager
from typing import Any, Iterable, Iterator, Sequence

import sqlalchemy as sa

from crm.extensions import db


def insert_rows(table: sa.Table, columns: Sequence[str], rows: Iterable[Sequence[Any]], *, one_statement: bool = False) -> None:
    """INSERT `rows` (tuples in the order of `columns`) into `table`; errors are SQLAlchemy's DBAPIError.
    On PostgreSQL the rows are sent while they are made, so the database works meanwhile.

    `one_statement`: on SQLite, for a table whose triggers feed an FTS5 index (people): the rows go
    into a temporary table first and then into `table` with one INSERT … SELECT. FTS5 writes the
    entries it holds as a new index segment at the start of every statement; one statement per row
    would write (and then merge) thousands of tiny segments, three quarters of the cost of a row."""
    rows = iter(rows)
    first = next(rows, None)
    if first is None:
        return
    connection = db.session.connection()
    quote = connection.dialect.identifier_preparer.quote
    names = ", ".join(quote(name) for name in columns)
    if connection.dialect.name != "postgresql":
        placeholders = ", ".join("?" * len(columns))
        target = quote(table.name)
        if one_statement:
            target = quote(f"new_{table.name}")
            connection.exec_driver_sql(f"DROP TABLE IF EXISTS temp.{target}")
            connection.exec_driver_sql(f"CREATE TEMP TABLE {target} AS SELECT {names} FROM {quote(table.name)} WHERE 0")
        connection.exec_driver_sql(f"INSERT INTO {target} ({names}) VALUES ({placeholders})", [first, *rows])
        if one_statement:
            connection.exec_driver_sql(f"INSERT INTO {quote(table.name)} ({names}) SELECT {names} FROM temp.{target}")
            connection.exec_driver_sql(f"DROP TABLE temp.{target}")
        return
    statement = f"COPY {quote(table.name)} ({names}) FROM STDIN"
    driver_error = connection.dialect.dbapi.Error
    try:
        with connection.connection.dbapi_connection.cursor() as cursor, cursor.copy(statement) as copy:
            copy.write_row(first)
            for row in rows:
                copy.write_row(row)
    except driver_error as error:  # as if SQLAlchemy had run it: callers catch DBAPIError
        raise sa.exc.DBAPIError.instance(statement, None, error, driver_error) from error


def stored(column: sa.Column, value: Any) -> Any:
    """`value` as SQLAlchemy would hand it to the driver for `column` (e.g. a datetime on SQLite)."""
    dialect = db.session.get_bind().dialect
    process = column.type.dialect_impl(dialect).bind_processor(dialect)
    return process(value) if process else value


def allocate_ids(table: sa.Table, count: int) -> list[int]:
    """Primary keys for `count` new rows: from the sequence on PostgreSQL; on SQLite (one writer at
    a time) the next free ones, above every id the table ever had if it remembers them (AUTOINCREMENT:
    people, whose ids signed links name). A clash with a concurrent insert fails the batch's savepoint,
    and the import then writes those rows one by one."""
    if _dialect() == "postgresql":
        sequence = db.session.scalar(sa.text(f"SELECT pg_get_serial_sequence('{table.name}', 'id')"))
        ids = sa.text("SELECT nextval(CAST(:seq AS regclass)) FROM generate_series(1, :n)")
        return list(db.session.scalars(ids, {"seq": sequence, "n": count}))
    start = db.session.scalar(sa.select(sa.func.coalesce(sa.func.max(table.c.id), 0))) + 1
    if table.dialect_options["sqlite"]["autoincrement"]:
        used = db.session.scalar(sa.text("SELECT seq FROM sqlite_sequence WHERE name = :name"), {"name": table.name})
        start = max(start, (used or 0) + 1)
    return list(range(start, start + count))


def one_of(expression: sa.ColumnElement, values: Iterable[Any]) -> sa.ColumnElement[bool]:
    """`expression IN values` for thousands of values, sent as one JSON array: the database unpacks
    it faster than the driver binds (PostgreSQL) or even accepts (SQLite: 32,766 at most) one
    parameter per value."""
    array = sa.bindparam(None, json.dumps(list(values)), type_=sa.String)
    if _dialect() == "postgresql":
        element = sa.func.json_array_elements_text(sa.cast(array, sa.JSON))
        if isinstance(expression.type, sa.Integer):
            element = sa.cast(element, sa.Integer)
        return expression.in_(sa.select(element))
    return expression.in_(sa.select(sa.column("value")).select_from(sa.func.json_each(array)))


@contextmanager
def large_page_cache(kibibytes: int = 16_384) -> Iterator[None]:
    """On SQLite, a larger page cache for the connection while a batch is written (restored before the
    commit). New rows land all over the indexes of a large table; with SQLite's default of 2 MB their
    pages are written out and read back again several times before the batch commits."""
    if _dialect() != "sqlite":
        yield
        return
    connection = db.session.connection()
    size = connection.exec_driver_sql("PRAGMA cache_size").scalar()
    connection.exec_driver_sql(f"PRAGMA cache_size = {-kibibytes}")
    try:
        yield
    finally:
        connection.exec_driver_sql(f"PRAGMA cache_size = {size}")


def _dialect() -> str:
    return db.session.get_bind().dialect.name
