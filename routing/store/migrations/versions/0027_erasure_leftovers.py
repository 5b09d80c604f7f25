"""Erasure leftovers: each attachment names the follow-up it came with, so that a person's
files in another person's conversation are erased with their message; and on SQLite a
table of compactions of the search index owed by erasures, written in each erasure's
transaction, so that a process that dies before compacting leaves the work to the next.

Revision ID: 0027_erasure_leftovers
Revises: 0026_contact_channels
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from routing.store import search_index

revision: str = "0027_erasure_leftovers"
down_revision: str | None = "0026_contact_channels"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("attachments", sa.Column("message_id", sa.Integer(), nullable=True))
    search_index.create_owed(op.get_bind())


def downgrade() -> None:
    search_index.drop_owed(op.get_bind())
    with op.batch_alter_table("attachments") as table:
        table.drop_column("message_id")
