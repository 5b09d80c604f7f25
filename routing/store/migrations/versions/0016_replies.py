"""Replies: what people answer from an item, stored before a "reply" job sends it.

Revision ID: 0016_replies
Revises: 0014_jobs
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016_replies"
down_revision: str | None = "0015_routing_lessons"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "replies",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("item_id", sa.Integer(), sa.ForeignKey("items.id"), nullable=False),
        sa.Column("job_id", sa.Integer(), sa.ForeignKey("jobs.id"), nullable=True),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("author", sa.String(length=200), nullable=False),
        sa.Column("sender", sa.String(length=320), nullable=False),
        sa.Column("sender_name", sa.String(length=320), nullable=False),
        sa.Column("recipient", sa.String(length=320), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("message_id", sa.Text(), nullable=False),
        sa.Column("in_reply_to", sa.Text(), nullable=True),
        sa.Column("references", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_replies_item_id", "replies", ["item_id"])
    op.create_index("ix_replies_job_id", "replies", ["job_id"])
    # A hash index on PostgreSQL, as for items' and messages' Message-IDs: a B-tree entry
    # has a size limit, and a Message-ID has none.
    op.create_index("ix_replies_message_id", "replies", ["message_id"], postgresql_using="hash")


def downgrade() -> None:
    op.drop_index("ix_replies_message_id", table_name="replies")
    op.drop_index("ix_replies_job_id", table_name="replies")
    op.drop_index("ix_replies_item_id", table_name="replies")
    op.drop_table("replies")
