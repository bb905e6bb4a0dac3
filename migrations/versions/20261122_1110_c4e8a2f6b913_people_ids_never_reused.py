"""people ids are never handed out twice (SQLite)

A person's links (unsubscribe, preference centre) are signed tokens that name the person's id. SQLite
gives a new row the largest id plus one, so after the newest person was deleted the next one got the
same id, and the deleted person's old links opened the new person's preferences. AUTOINCREMENT makes
SQLite remember the largest id ever used. PostgreSQL's sequences never hand out an id twice.

The people table is copied (a batch migration), which loses the triggers of the text-search index:
the index is made again from the people (crm.contacts.search_index).

Revision ID: c4e8a2f6b913
Revises: b7d3c1e5f2a4
Create Date: 2026-11-22 11:10:00.000000

"""
from alembic import op

from crm.contacts import search_index

# revision identifiers, used by Alembic.
revision = 'c4e8a2f6b913'
down_revision = 'b7d3c1e5f2a4'
branch_labels = None
depends_on = None


def _rebuild_people(autoincrement: bool) -> None:
    connection = op.get_bind()
    if connection.dialect.name != "sqlite":
        return
    search_index.drop(connection)
    with op.batch_alter_table("people", recreate="always", table_kwargs={"sqlite_autoincrement": autoincrement}):
        pass
    search_index.create(connection)


def upgrade():
    _rebuild_people(True)


def downgrade():
    _rebuild_people(False)
