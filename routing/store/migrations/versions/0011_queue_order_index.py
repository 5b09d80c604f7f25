"""An index in a queue's own order, newest first, so that a department's page is a
range read whatever its items' statuses and whether or not the planner has statistics.

Revision ID: 0011_queue_order_index
Revises: 0010_notifications
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0011_queue_order_index"
down_revision: str | None = "0010_notifications"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_items_department_order", "items", ["department_id", "received_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_items_department_order", table_name="items")
