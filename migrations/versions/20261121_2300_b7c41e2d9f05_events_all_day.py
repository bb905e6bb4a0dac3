"""events: all-day flag (only the day is known, e.g. the regional conferences 2015/2016)

Revision ID: b7c41e2d9f05
Revises: 3e9fade9a972
Create Date: 2026-11-21 23:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'b7c41e2d9f05'
down_revision = '3e9fade9a972'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('all_day', sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade():
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.drop_column('all_day')
