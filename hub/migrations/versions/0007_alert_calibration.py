"""the calibration behind each alert's probabilities (age model and population profile)

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-24 10:25:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        # alerts from before: the edge did not say (then the shipped Cydral calibration for all faces)
        batch_op.add_column(sa.Column("calibration", sa.String(length=128), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_column("calibration")
