"""Leases: one process at a time reads each IMAP mailbox, whatever the number of nodes.

Revision ID: 0020_leases
Revises: 0019_user_language
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020_leases"
down_revision: str | None = "0019_user_language"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "leases",
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("holder", sa.String(length=200), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )


def downgrade() -> None:
    op.drop_table("leases")
