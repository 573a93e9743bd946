"""the alarm list's indexes: an inspector's district, each filter of the panel, newest first

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-26 10:00:00

The panel's list (GET /api/alarms) is always scoped to a district for inspectors, filtered by verdict, venue type
or state, ordered by id descending and paged by id (keyset). With (district_id, <filter>, id) the database walks the
index in order and stops after a page, instead of fetching every matching row and sorting them (PostgreSQL did so
for every filter; SQLite for none but had to scan). The "since" filter keeps ix_alarms_district_raised.

PostgreSQL (14 and later) also gets statistics on the departments as text, which the scope of a department's
inspector matches with LIKE: without them the planner guesses that 0.5% of a district's alarms are a department's
(really 70-100%), believes the matching rows too few to be worth an ordered walk, and fetches, joins and sorts them
all (27 ms instead of 1 ms for a page out of 4,000 alarms; linear in the district's alarms). Alembic does not
compare statistics objects, so the models need nothing for them.
"""

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

INDEXES = {
    "ix_alarms_list_district": ["district_id", "id"],
    "ix_alarms_list_verdict": ["district_id", "verdict", "id"],
    "ix_alarms_list_venue_type": ["district_id", "venue_type", "id"],
    "ix_alarms_list_active": ["district_id", "active", "id"],
}


STATISTICS = "alarms_departments_text"


def _pg_with_expression_statistics() -> bool:
    bind = op.get_bind()
    return bind.dialect.name == "postgresql" and (bind.dialect.server_version_info or (0,)) >= (14,)


def upgrade() -> None:
    for name, columns in INDEXES.items():
        op.create_index(name, "alarms", columns, unique=False)
    if _pg_with_expression_statistics():
        # the expression exactly as hub/api_alarms.py's scope writes it: CAST(departments AS VARCHAR)
        op.execute(f"CREATE STATISTICS IF NOT EXISTS {STATISTICS} ON ((departments::varchar)) FROM alarms")
        op.execute("ANALYZE alarms")


def downgrade() -> None:
    if _pg_with_expression_statistics():
        op.execute(f"DROP STATISTICS IF EXISTS {STATISTICS}")
    for name in reversed(INDEXES):
        op.drop_index(name, table_name="alarms")
