"""deliveries queue index ends with the id

A claim asks for the first queued deliveries of a mailing by id. With (status, mailing, subject_id)
alone PostgreSQL walked the primary key instead, past every delivery ever sent (30 ms per claim with
150,000 of them, growing with every mailing); with the id last it reads the batch's rows in order.

Revision ID: b7d3c1e5f2a4
Revises: 61c67918daec
Create Date: 2026-11-22 06:20:00.000000

"""
from alembic import op

# revision identifiers, used by Alembic.
revision = 'b7d3c1e5f2a4'
down_revision = '61c67918daec'
branch_labels = None
depends_on = None


def upgrade():
    op.drop_index('ix_deliveries_queue', table_name='deliveries')
    op.create_index('ix_deliveries_queue', 'deliveries', ['status', 'mailing', 'subject_id', 'id'], unique=False)


def downgrade():
    op.drop_index('ix_deliveries_queue', table_name='deliveries')
    op.create_index('ix_deliveries_queue', 'deliveries', ['status', 'mailing', 'subject_id'], unique=False)
