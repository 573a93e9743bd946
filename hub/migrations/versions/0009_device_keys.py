"""device keys (enrolment and revocation) and the device signature kept with every alert, ID check
and evidence item (alerts and ID checks keep the signed body too)

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-24 14:20:00

Rows stored before this revision have no signature (the columns stay empty).
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

SIGNED = ("alerts", "id_checks", "evidence")


def upgrade() -> None:
    op.create_table(
        "device_keys",
        sa.Column("key_id", sa.String(length=16), primary_key=True),
        sa.Column("device_key", sa.String(length=200), nullable=False),
        sa.Column("district_id", sa.String(length=64), nullable=False),
        sa.Column("venue_id", sa.String(length=64), nullable=False),
        sa.Column("device_id", sa.String(length=64), nullable=False),
        sa.Column("public_key", sa.String(length=64), nullable=False),
        sa.Column("username", sa.String(length=200), nullable=False),
        sa.Column("enrolled_at", sa.DateTime(), nullable=False),
        sa.Column("enrolled_by", sa.String(length=64), nullable=False),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        sa.Column("revoked_by", sa.String(length=64), nullable=True),
        sa.Column("revoke_reason", sa.String(length=200), nullable=True),
    )
    op.create_index("ix_device_keys_device_key", "device_keys", ["device_key"])
    # one active key per device
    op.create_index(
        "uq_device_keys_active",
        "device_keys",
        ["device_key"],
        unique=True,
        sqlite_where=sa.text("revoked_at IS NULL"),
        postgresql_where=sa.text("revoked_at IS NULL"),
    )
    for table in SIGNED:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("signer_key_id", sa.String(length=16), nullable=True))
            batch_op.add_column(sa.Column("signed_at", sa.DateTime(), nullable=True))
            batch_op.add_column(sa.Column("signature", sa.LargeBinary(), nullable=True))
            batch_op.add_column(sa.Column("body_sha256", sa.String(length=64), nullable=True))
            if table != "evidence":
                batch_op.add_column(sa.Column("signed_body", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    for table in SIGNED:
        with op.batch_alter_table(table, schema=None) as batch_op:
            if table != "evidence":
                batch_op.drop_column("signed_body")
            for column in ("body_sha256", "signature", "signed_at", "signer_key_id"):
                batch_op.drop_column(column)
    op.drop_index("uq_device_keys_active", table_name="device_keys")
    op.drop_index("ix_device_keys_device_key", table_name="device_keys")
    op.drop_table("device_keys")
