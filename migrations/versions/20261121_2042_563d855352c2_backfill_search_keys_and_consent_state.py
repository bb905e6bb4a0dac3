"""backfill search keys and consent state

Revision ID: 563d855352c2
Revises: a7f0ae6db0d4
Create Date: 2026-11-21 20:42:14.473933

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '563d855352c2'
down_revision = 'a7f0ae6db0d4'
branch_labels = None
depends_on = None


people = sa.table(
    "people", sa.column("id"), sa.column("first_name"), sa.column("last_name"), sa.column("email"),
    sa.column("search_key"), sa.column("name_phonetic"), sa.column("name_key"),
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


def _backfill_phonetic():
    from crm.contacts.search import cologne_phonetic, name_key

    connection = op.get_bind()
    for row in connection.execute(sa.select(people.c.id, people.c.first_name, people.c.last_name)).all():
        connection.execute(
            people.update().where(people.c.id == row.id)
            .values(name_phonetic=cologne_phonetic(row.last_name), name_key=name_key(row.first_name, row.last_name))
        )


CONTEXT = """
SELECT a.person_id, o.name, o.short_name, o.city, a.position, a.department
FROM affiliations a JOIN organizations o ON o.id = a.organization_id
WHERE a.end_date IS NULL OR a.end_date > CURRENT_DATE
ORDER BY a.person_id, a.id
"""


def _backfill_context():
    from crm.contacts.search import search_key

    connection = op.get_bind()
    parts = {}
    for person_id, *row in connection.execute(sa.text(CONTEXT)):
        parts.setdefault(person_id, []).extend(row)
    for person_id, values in parts.items():
        connection.execute(
            sa.text("UPDATE people SET context_key = :key WHERE id = :id"), {"key": search_key(*values)[:1000], "id": person_id}
        )


def upgrade():
    _backfill(people, "first_name", "last_name", "email")
    _backfill_phonetic()
    _backfill_context()
    _backfill(organizations, "name", "short_name", "city", "ags", "kreisschluessel")
    _backfill(affiliations, "position", "department")
    op.execute(CONSENT_STATE.format(column="newsletter_consent", channel="newsletter"))
    op.execute(CONSENT_STATE.format(column="invitation_consent", channel="event_invitation"))


def downgrade():
    pass  # the columns are dropped by the schema migration before this one
