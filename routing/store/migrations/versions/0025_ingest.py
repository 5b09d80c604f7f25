"""The inbox's raw bytes last in its rows, on SQLite: a big message is then written into
its row in place (routing.store.inbox.add), where a column stored after it made SQLite
build the whole row, message included, in memory.

Revision ID: 0025_ingest
Revises: 0024_search_prefix
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0025_ingest"
down_revision: str | None = "0024_search_prefix"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_KEPT = "id, channel, sender, recipients, received_at, attempts, lease_until, raw"


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return  # PostgreSQL keeps a big value out of its row whatever the order
    op.create_table(
        "inbox_reordered",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("sender", sa.Text(), nullable=True),
        sa.Column("recipients", sa.JSON(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("raw", sa.LargeBinary(), nullable=False),
    )
    op.execute(f"INSERT INTO inbox_reordered ({_KEPT}) SELECT {_KEPT} FROM inbox")
    op.drop_index("ix_inbox_lease_until", table_name="inbox")
    op.drop_index("ix_inbox_received_at", table_name="inbox")
    op.drop_table("inbox")
    op.rename_table("inbox_reordered", "inbox")
    op.create_index("ix_inbox_received_at", "inbox", ["received_at"])
    op.create_index("ix_inbox_lease_until", "inbox", ["lease_until"])


def downgrade() -> None:
    pass  # the order of the columns matters to nothing older
