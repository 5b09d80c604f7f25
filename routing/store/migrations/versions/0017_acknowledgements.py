"""Acknowledgements and forwards: the kind of email sent from an item, and who was
acknowledged by which department on which day (at most once a day, RFC 3834).

Revision ID: 0017_acknowledgements
Revises: 0016_replies
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017_acknowledgements"
down_revision: str | None = "0016_replies"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("replies", sa.Column("kind", sa.String(length=16), nullable=False, server_default="reply"))
    op.create_table(
        "acknowledged_senders",
        sa.Column("department_id", sa.String(length=64), primary_key=True),
        sa.Column("address", sa.String(length=320), primary_key=True),
        sa.Column("day", sa.String(length=10), primary_key=True),
        sa.Column("item_id", sa.Integer(), sa.ForeignKey("items.id"), nullable=False),
    )
    op.create_index("ix_acknowledged_senders_day", "acknowledged_senders", ["day"])
    op.create_index("ix_acknowledged_senders_item_id", "acknowledged_senders", ["item_id"])


def downgrade() -> None:
    op.drop_index("ix_acknowledged_senders_item_id", table_name="acknowledged_senders")
    op.drop_index("ix_acknowledged_senders_day", table_name="acknowledged_senders")
    op.drop_table("acknowledged_senders")
    with op.batch_alter_table("replies") as batch:
        batch.drop_column("kind")
