"""the outbox (hub → edge messages from web workers) and the live feed's index

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-25 01:30:00

A hub web worker (``humiao hub run --role web``) has no broker connection: the messages it sends to edges
(an inspector's evidence request) are rows of ``outbox``, which an ingest worker signs, publishes (QoS 1) and
deletes once the broker has acknowledged them.

The live feed (GET /api/stream) polls the alarms changed since its cursor ``(updated_at, id)`` twice a second per
open panel: ``ix_alarms_feed_district`` (a district's inspectors: their scope) and ``ix_alarms_updated`` (the city's)
make that a range walk in order instead of a scan of the alarms.
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "outbox",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("topic", sa.Text(), nullable=False),
        sa.Column("message_id", sa.String(length=64), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_alarms_feed_district", "alarms", ["district_id", "updated_at", "id"], unique=False)
    op.create_index("ix_alarms_updated", "alarms", ["updated_at", "id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_alarms_updated", table_name="alarms")
    op.drop_index("ix_alarms_feed_district", table_name="alarms")
    op.drop_table("outbox")
