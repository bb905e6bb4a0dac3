"""The text-search index over the people's search keys (Person.search_key and Person.context_key).

A search looks for each folded term with LIKE '%term%' in both keys (crm.contacts.filters). Without
an index every search reads every person; with it, a term of three or more characters reads only
the people whose keys hold it:

- PostgreSQL: pg_trgm GIN indexes on the two columns; the planner uses them for the LIKE conditions
  by itself and rechecks each candidate row with LIKE.
- SQLite: an FTS5 table with the trigram tokenizer over the same two columns. It is an external
  content table (it stores only the index, the text stays in people) kept current by triggers, so
  every write (ORM, bulk import, merge, undo) updates it. The query asks it explicitly (lookup()).

The models cannot declare an extension, operator classes or a virtual table, so the DDL lives here:
the migration runs it, and so does a DDL event on the people table for db.create_all() (tests).
Alembic's comparison of models and database skips these objects (include_name). Changing the DDL
needs a migration that drops and creates the index again. On SQLite, a batch migration that copies
the people table loses its triggers and must call create() again (test_migrations notices).
"""
import sqlalchemy as sa

from crm.extensions import db

#: The trigram index cannot answer shorter terms; those are found by LIKE over all rows.
MIN_TERM_LENGTH = 3

_SQLITE_TRIGGER = "CREATE TRIGGER people_fts_{name} AFTER {event} ON people BEGIN {body} END"
_FTS_DELETE = (
    "INSERT INTO people_fts(people_fts, rowid, search_key, context_key) "
    "VALUES ('delete', old.id, old.search_key, old.context_key);"
)
_FTS_INSERT = "INSERT INTO people_fts(rowid, search_key, context_key) VALUES (new.id, new.search_key, new.context_key);"

_CREATE = {
    "sqlite": [
        # Positions are kept (detail=full) so that a quoted term matches its trigrams in a row, i.e.
        # as a substring; columnsize=0: no ranking, so no document sizes.
        "CREATE VIRTUAL TABLE people_fts USING fts5(search_key, context_key, content='people', "
        "content_rowid='id', tokenize='trigram', columnsize=0)",
        # Merge segments only once 16 of a size have piled up (default 4): a third of the cost of
        # each new person, searches barely slower.
        "INSERT INTO people_fts(people_fts, rank) VALUES ('automerge', 16)",
        _SQLITE_TRIGGER.format(name="insert", event="INSERT", body=_FTS_INSERT),
        _SQLITE_TRIGGER.format(name="delete", event="DELETE", body=_FTS_DELETE),
        _SQLITE_TRIGGER.format(
            name="update", event="UPDATE OF id, search_key, context_key", body=_FTS_DELETE + _FTS_INSERT
        ),
        "INSERT INTO people_fts(people_fts) VALUES ('rebuild')",  # the people already there
    ],
    "postgresql": [
        "CREATE EXTENSION IF NOT EXISTS pg_trgm",  # a trusted extension: the database owner may create it
        "CREATE INDEX ix_people_search_key_trgm ON people USING gin (search_key gin_trgm_ops)",
        "CREATE INDEX ix_people_context_key_trgm ON people USING gin (context_key gin_trgm_ops)",
    ],
}
_DROP = {
    # The triggers go with the people table, but a migration's downgrade drops them first.
    "sqlite": [f"DROP TRIGGER IF EXISTS people_fts_{name}" for name in ("insert", "delete", "update")]
    + ["DROP TABLE IF EXISTS people_fts"],
    # pg_trgm stays: it may have been there before, and other objects may use it.
    "postgresql": ["DROP INDEX IF EXISTS ix_people_search_key_trgm", "DROP INDEX IF EXISTS ix_people_context_key_trgm"],
}
_INDEX_NAMES = {"ix_people_search_key_trgm", "ix_people_context_key_trgm"}


def create(connection) -> None:
    """Create the index for this connection's database and fill it from the people there."""
    for statement in _CREATE.get(connection.dialect.name, []):
        connection.exec_driver_sql(statement)


def drop(connection) -> None:
    for statement in _DROP.get(connection.dialect.name, []):
        connection.exec_driver_sql(statement)


def settle(connection) -> None:
    """After many new people: PostgreSQL keeps new index entries in a pending list (up to 4 MB,
    for fast inserts) until autovacuum merges them; until then every search reads that list and
    the planner prefers reading the whole table. Merge it now. (SQLite's FTS5 merges as it goes.)"""
    if connection.dialect.name == "postgresql":
        for name in sorted(_INDEX_NAMES):
            connection.execute(sa.text("SELECT gin_clean_pending_list(CAST(:name AS regclass))"), {"name": name})


def include_name(name, type_, parent_names) -> bool:
    """Alembic hook: leave the index's objects (FTS5 table and its shadow tables, GIN indexes) out
    of the comparison of models and database; the models do not know them."""
    if type_ == "table":
        return not (name or "").startswith("people_fts")
    return not (type_ == "index" and name in _INDEX_NAMES)


def lookup(terms: list[str]) -> tuple[sa.Select | None, set[str]]:
    """The ids of the people whose keys hold the search terms, as the index finds them, and the
    terms it answers alone; (None, empty set) where nothing is to be asked.

    SQLite: one FTS5 query for all terms of three or more characters, each as a quoted string
    (the rows holding it as a substring). For a term of plain ASCII characters that is exactly
    what LIKE finds: SQLite's LIKE ignores the case of ASCII letters only, the tokenizer that of
    other letters too, but the only letters it folds to ASCII ones (the long s and the Kelvin
    sign) never stay in a folded key. Other terms keep their LIKE test.

    PostgreSQL uses its trigram indexes for the LIKE conditions by itself, if it plans with the
    terms: psycopg prepares a statement after five runs, and a generic plan made for all terms
    would read the whole index for a term without trigrams (many times slower than the table)
    and misjudge how many people a term finds (which decides between sorting the hits and
    walking the name index). So this transaction plans each statement with its values.
    """
    if db.session.get_bind().dialect.name == "postgresql" and terms:
        db.session.execute(sa.text("SET LOCAL plan_cache_mode = force_custom_plan"))
    if db.session.get_bind().dialect.name != "sqlite":
        return None, set()
    # A NUL would end the query string early: such a term is left to LIKE.
    indexed = [term for term in dict.fromkeys(terms) if len(term) >= MIN_TERM_LENGTH and "\x00" not in term]
    if not indexed:
        return None, set()
    query = " AND ".join('"' + term.replace('"', '""') + '"' for term in indexed)
    fts = sa.table("people_fts", sa.column("rowid"))
    matching = sa.select(fts.c.rowid).where(sa.literal_column("people_fts").op("MATCH")(query))
    return matching, {term for term in indexed if term.isascii()}
