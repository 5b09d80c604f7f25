"""Failed sign-ins, counted per name and per client address, so that guessing is slowed down.

Revision ID: 0012_login_attempts
Revises: 0011_queue_order_index
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012_login_attempts"
down_revision: str | None = "0011_queue_order_index"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "login_attempts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("address", sa.String(length=64), nullable=False),
        sa.Column("attempted_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_login_attempts_name", "login_attempts", ["name", "attempted_at"])
    op.create_index("ix_login_attempts_address", "login_attempts", ["address", "attempted_at"])
    op.create_index("ix_login_attempts_attempted_at", "login_attempts", ["attempted_at"])


def downgrade() -> None:
    op.drop_index("ix_login_attempts_attempted_at", table_name="login_attempts")
    op.drop_index("ix_login_attempts_address", table_name="login_attempts")
    op.drop_index("ix_login_attempts_name", table_name="login_attempts")
    op.drop_table("login_attempts")
