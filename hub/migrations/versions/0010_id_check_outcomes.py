"""the ID-check outcome in full: document and read method, whether an age was read, walk-up checks
(no alert: event_id NULL), the hotel's guardian record, the staff account and the alert's time

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-25 10:00:00

Rows stored before this revision take the defaults (no document, nothing read, not a walk-up, no
guardian record, no staff account), which is what their signed bodies say: those fields were not on
the wire yet, so hub/custody.py still finds the rows equal to what their devices signed.

Downgrade: walk-up checks cannot be kept (the old schema has every check answer an alert) and are
deleted; the new columns are dropped with what they held.
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

FLAGS = ("age_known", "walk_up", "guardian_contact_recorded", "co_occupants_recorded")
TEXTS = (("document", 32), ("method", 16), ("staff", 64))


def upgrade() -> None:
    # SQLite: batch mode copies the table (its indexes, ix_id_checks_event_id among them, are rebuilt);
    # PostgreSQL: plain ALTER TABLE statements
    with op.batch_alter_table("id_checks", schema=None) as batch_op:
        batch_op.alter_column("event_id", existing_type=sa.String(length=36), nullable=True)
        for name in FLAGS:
            batch_op.add_column(sa.Column(name, sa.Boolean(), nullable=False, server_default=sa.false()))
        for name, length in TEXTS:
            batch_op.add_column(sa.Column(name, sa.String(length=length), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("alerted_at", sa.DateTime(), nullable=True))
        batch_op.create_index("ix_id_checks_venue_checked", ["venue_id", "checked_at"])


def downgrade() -> None:
    op.execute("DELETE FROM id_checks WHERE event_id IS NULL")
    with op.batch_alter_table("id_checks", schema=None) as batch_op:
        batch_op.drop_index("ix_id_checks_venue_checked")
        batch_op.drop_column("alerted_at")
        for name, _length in reversed(TEXTS):
            batch_op.drop_column(name)
        for name in reversed(FLAGS):
            batch_op.drop_column(name)
        batch_op.alter_column("event_id", existing_type=sa.String(length=36), nullable=False)
