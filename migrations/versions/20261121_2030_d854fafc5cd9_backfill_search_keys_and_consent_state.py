"""backfill search keys and consent state

Revision ID: d854fafc5cd9
Revises: 65c7e272aeb7
Create Date: 2026-11-21 20:30:16.899307

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'd854fafc5cd9'
down_revision = '65c7e272aeb7'
branch_labels = None
depends_on = None


people = sa.table(
    "people", sa.column("id"), sa.column("first_name"), sa.column("last_name"), sa.column("email"),
    sa.column("search_key"),
)  # fmt: skip
organizations = sa.table(
    "organizations", sa.column("id"), sa.column("name"), sa.column("short_name"), sa.column("city"),
    sa.column("ags"), sa.column("kreisschluessel"), sa.column("search_key"),
)  # fmt: skip
affiliations = sa.table(
    "affiliations", sa.column("id"), sa.column("position"), sa.column("department"), sa.column("search_key")
)

CONSENT_STATE = """
UPDATE people SET {column} = (
    SELECT c.granted FROM consents c WHERE c.person_id = people.id AND c.channel = '{channel}'
    ORDER BY c.effective_at DESC, c.id DESC LIMIT 1)
"""


def _backfill(table, *columns):
    from crm.contacts.search import search_key

    connection = op.get_bind()
    rows = connection.execute(sa.select(table.c.id, *(table.c[c] for c in columns))).all()
    for row in rows:
        connection.execute(
            table.update().where(table.c.id == row.id).values(search_key=search_key(*row[1:]))
        )


def upgrade():
    _backfill(people, "first_name", "last_name", "email")
    _backfill(organizations, "name", "short_name", "city", "ags", "kreisschluessel")
    _backfill(affiliations, "position", "department")
    op.execute(CONSENT_STATE.format(column="newsletter_consent", channel="newsletter"))
    op.execute(CONSENT_STATE.format(column="invitation_consent", channel="event_invitation"))


def downgrade():
    pass  # the columns are dropped by the schema migration before this one
