"""When an item last came into its queue (`items.queued_at`): queues list newest first by
it, so that an item a reply reopens comes back at the top of its queue rather than where
it arrived weeks ago. Stored items take their arrival.

SQLite adds a NOT NULL column in place only with a constant default: the epoch, which no
row keeps (each is filled here, and every insert gives its own); PostgreSQL drops it.

Revision ID: 0028_item_queued_at
Revises: 0027_erasure_leftovers
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0028_item_queued_at"
down_revision: str | None = "0027_erasure_leftovers"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_PLACEHOLDER = sa.text("'1970-01-01 00:00:00.000000'")


def upgrade() -> None:
    op.add_column(
        "items",
        sa.Column("queued_at", sa.DateTime(timezone=True), nullable=False, server_default=_PLACEHOLDER),
    )
    op.execute("UPDATE items SET queued_at = received_at")
    if op.get_bind().dialect.name == "postgresql":
        op.alter_column("items", "queued_at", server_default=None)
    _order_queues_by("queued_at")
    op.create_index("ix_items_queued", "items", ["queued_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_items_queued", table_name="items")
    _order_queues_by("received_at")
    op.drop_column("items", "queued_at")


def _order_queues_by(column: str) -> None:
    op.drop_index("ix_items_queue", table_name="items")
    op.create_index("ix_items_queue", "items", ["department_id", "status", column, "id"])
    op.drop_index("ix_items_department_order", table_name="items")
    op.create_index("ix_items_department_order", "items", ["department_id", column, "id"])
