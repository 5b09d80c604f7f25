"""Indexes on items' and follow-ups' Message-IDs, so a reply finds its item at once.

Revision ID: 0007_message_id_index
Revises: 0006_access
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007_message_id_index"
down_revision: str | None = "0006_access"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_items_message_id", "items", ["message_id"], postgresql_using="hash")
    op.create_index("ix_messages_message_id", "messages", ["message_id"], postgresql_using="hash")


def downgrade() -> None:
    op.drop_index("ix_messages_message_id", table_name="messages")
    op.drop_index("ix_items_message_id", table_name="items")
