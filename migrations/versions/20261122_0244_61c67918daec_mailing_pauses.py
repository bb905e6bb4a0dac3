"""mailing pauses: a mailing that stopped itself after too many failed delivery attempts, and why

Revision ID: 61c67918daec
Revises: 5b0e7c3a9d21
Create Date: 2026-11-22 02:44:27.587627

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '61c67918daec'
down_revision = '5b0e7c3a9d21'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('mailing_pauses',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('mailing', sa.String(length=40), nullable=False),
    sa.Column('subject_id', sa.Integer(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('paused_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_mailing_pauses')),
    sa.UniqueConstraint('mailing', 'subject_id', name='uq_mailing_pauses_mailing')
    )


def downgrade():
    op.drop_table('mailing_pauses')
