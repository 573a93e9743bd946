"""the audit log as a hash chain: every row commits to the one before it

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-24 11:05:00

Existing rows are chained in id order (the append-only triggers are lifted for that one pass and
put back in the same transaction).
"""

import hashlib
import json
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

GENESIS = "0" * 64


def _digest(prev: str, row) -> str:
    # the same fields, in the same order, as hub/audit.py's digest() (kept here as it was written,
    # so that this migration means the same thing later)
    at = datetime.fromisoformat(row.at) if isinstance(row.at, str) else row.at  # SQLite: the stored text
    at = at if at.tzinfo else at.replace(tzinfo=UTC)
    fields = [
        prev,
        at.astimezone(UTC).isoformat(timespec="microseconds"),
        row.user_id,
        row.role,
        row.action,
        row.object_type,
        row.object_id,
        row.why or "",
        row.client or "",
    ]
    return hashlib.sha256(json.dumps(fields, ensure_ascii=False, separators=(",", ":")).encode()).hexdigest()


def _triggers(create: bool) -> None:
    pg = op.get_bind().dialect.name == "postgresql"
    if not create:
        if pg:
            op.execute("DROP TRIGGER audit_events_append_only ON audit_events")
        else:
            op.execute("DROP TRIGGER audit_events_no_update")
            op.execute("DROP TRIGGER audit_events_no_delete")
        return
    if pg:
        op.execute(
            "CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events "
            "FOR EACH ROW EXECUTE FUNCTION humiao_append_only()"
        )
    else:
        for what in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER audit_events_no_{what.lower()} BEFORE {what} ON audit_events "
                "BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END"
            )


def upgrade() -> None:
    op.add_column("audit_events", sa.Column("prev_hash", sa.String(length=64), nullable=False, server_default=""))
    op.add_column("audit_events", sa.Column("row_hash", sa.String(length=64), nullable=False, server_default=""))
    bind = op.get_bind()
    rows = bind.execute(
        sa.text(
            "SELECT id, at, user_id, role, action, object_type, object_id, why, client FROM audit_events ORDER BY id"
        )
    ).all()
    if rows:
        _triggers(create=False)
        prev = GENESIS
        for row in rows:
            own = _digest(prev, row)
            bind.execute(
                sa.text("UPDATE audit_events SET prev_hash = :p, row_hash = :h WHERE id = :i"),
                {"p": prev, "h": own, "i": row.id},
            )
            prev = own
        _triggers(create=True)


def downgrade() -> None:
    _triggers(create=False)
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_column("row_hash")
        batch_op.drop_column("prev_hash")
    _triggers(create=True)
