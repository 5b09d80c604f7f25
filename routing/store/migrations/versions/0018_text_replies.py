"""Text replies: a reply's Twilio Message SID and the delivery status Twilio reports.

Revision ID: 0018_text_replies
Revises: 0017_acknowledgements
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018_text_replies"
down_revision: str | None = "0017_acknowledgements"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("replies") as table:
        table.add_column(sa.Column("external_id", sa.String(length=64), nullable=True))
        table.add_column(sa.Column("delivery_status", sa.String(length=16), nullable=True))
        table.add_column(sa.Column("delivery_error", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("replies") as table:
        table.drop_column("delivery_error")
        table.drop_column("delivery_status")
        table.drop_column("external_id")
