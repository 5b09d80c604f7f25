"""One table of every delivered key, so concurrent copies of a message cannot split.

Revision ID: 0008_delivery_keys
Revises: 0007_message_id_index
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_delivery_keys"
down_revision: str | None = "0007_message_id_index"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "delivery_keys",
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    op.execute(
        "INSERT INTO delivery_keys (key) "
        "SELECT idempotency_key FROM items UNION SELECT idempotency_key FROM messages"
    )


def downgrade() -> None:
    op.drop_table("delivery_keys")
