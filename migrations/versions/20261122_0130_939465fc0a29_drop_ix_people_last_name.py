"""drop ix_people_last_name

ix_people_name (last_name, first_name) answers every lookup by last name too; the second index only
cost each new person an insert (about a tenth of what importing a person costs on SQLite).

Revision ID: 939465fc0a29
Revises: 14090a47a047
Create Date: 2026-11-22 01:25:43.437072

"""
from alembic import op

# revision identifiers, used by Alembic.
revision = '939465fc0a29'
down_revision = '14090a47a047'
branch_labels = None
depends_on = None


def upgrade():
    # Plain DROP/CREATE INDEX, not a batch operation: on SQLite a batch would copy the people table
    # and lose the search index's triggers (crm.contacts.search_index).
    op.drop_index('ix_people_last_name', table_name='people')


def downgrade():
    op.create_index('ix_people_last_name', 'people', ['last_name'], unique=False)
