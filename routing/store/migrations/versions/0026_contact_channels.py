"""A contact's items by channel, then time: the same-request check, at every new item of a
known contact, looks for an open item of theirs on another channel, and read from
ix_items_contact (contact, time) it went through every item of the contact's window:
half a millisecond, in the write lock, at 3,000 items of a sender that writes often.
The contact's page reads the new index too, and sorts the contact's items by time.

Revision ID: 0026_contact_channels
Revises: 0025_ingest
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0026_contact_channels"
down_revision: str | None = "0025_ingest"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_items_contact_channel", "items", ["contact_id", "channel", "received_at"])
    op.drop_index("ix_items_contact", table_name="items")


def downgrade() -> None:
    op.create_index("ix_items_contact", "items", ["contact_id", "received_at"])
    op.drop_index("ix_items_contact_channel", table_name="items")
