"""index deliveries.message_id

`flask mail process-bounces` finds the delivery of a DSN without a VERP return path by the Message-ID
of the returned original.

Revision ID: 5b0e7c3a9d21
Revises: 939465fc0a29
Create Date: 2026-11-22 03:00:00.000000

"""
from alembic import op

# revision identifiers, used by Alembic.
revision = '5b0e7c3a9d21'
down_revision = '939465fc0a29'
branch_labels = None
depends_on = None


def upgrade():
    op.create_index('ix_deliveries_message_id', 'deliveries', ['message_id'], unique=False)


def downgrade():
    op.drop_index('ix_deliveries_message_id', table_name='deliveries')
