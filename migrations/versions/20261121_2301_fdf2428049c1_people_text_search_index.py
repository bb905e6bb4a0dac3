"""people text search index

Revision ID: fdf2428049c1
Revises: b7c41e2d9f05
Create Date: 2026-11-21 22:15:13.601170

"""
from alembic import op

from crm.contacts import search_index

# revision identifiers, used by Alembic.
revision = 'fdf2428049c1'
down_revision = 'b7c41e2d9f05'
branch_labels = None
depends_on = None


def upgrade():
    # pg_trgm GIN indexes on PostgreSQL, an FTS5 trigram table with its triggers on SQLite,
    # filled from the people already there (see crm.contacts.search_index).
    search_index.create(op.get_bind())


def downgrade():
    search_index.drop(op.get_bind())
