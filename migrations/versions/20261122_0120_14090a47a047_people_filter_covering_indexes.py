"""covering indexes for the people list filters

The Bundesland/kind, topic and membership filters find their people in these indexes alone
(organization, end date and person; topic and person; status and person). Each replaces an index
on its first column, which it serves as well.

Revision ID: 14090a47a047
Revises: 679137ef14ea
Create Date: 2026-11-22 01:14:02.430056

"""
from alembic import op

# revision identifiers, used by Alembic.
revision = '14090a47a047'
down_revision = '679137ef14ea'
branch_labels = None
depends_on = None

_TABLES = ("affiliations", "memberships", "person_tags")


def upgrade():
    op.drop_index("ix_affiliations_organization_id", table_name="affiliations")
    op.create_index("ix_affiliations_organization_current", "affiliations", ["organization_id", "end_date", "person_id"])
    op.drop_index("ix_memberships_status", table_name="memberships")
    op.create_index("ix_memberships_status_person", "memberships", ["status", "person_id"])
    op.drop_index("ix_person_tags_tag_id", table_name="person_tags")
    op.create_index("ix_person_tags_tag_person", "person_tags", ["tag_id", "person_id"])
    _analyze()


def downgrade():
    op.drop_index("ix_person_tags_tag_person", table_name="person_tags")
    op.create_index("ix_person_tags_tag_id", "person_tags", ["tag_id"])
    op.drop_index("ix_memberships_status_person", table_name="memberships")
    op.create_index("ix_memberships_status", "memberships", ["status"])
    op.drop_index("ix_affiliations_organization_current", table_name="affiliations")
    op.create_index("ix_affiliations_organization_id", "affiliations", ["organization_id"])
    _analyze()


def _analyze():
    # SQLite plans with the statistics ANALYZE stored (sqlite_stat1); a new index has none until
    # then, and the planner would guess how many rows a key finds.
    if op.get_bind().dialect.name == "sqlite":
        for table in _TABLES:
            op.execute(f"ANALYZE {table}")
