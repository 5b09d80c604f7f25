"""Contacts: people with their addresses and numbers, the suggestions about their items,
the items merged as one request, the tombstones of erasures and the retention job's runs.

Revision ID: 0022_contacts
Revises: 0021_inbox
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022_contacts"
down_revision: str | None = "0021_inbox"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "contacts",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(length=320), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "contact_addresses",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("contact_id", sa.Integer(), sa.ForeignKey("contacts.id"), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("value", sa.String(length=320), nullable=False, unique=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_contact_addresses_contact_id", "contact_addresses", ["contact_id"])
    op.create_table(
        "contact_events",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("contact_id", sa.Integer(), sa.ForeignKey("contacts.id"), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
    )
    op.create_index("ix_contact_events_contact_id", "contact_events", ["contact_id"])
    op.create_table(
        "contact_suggestions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("item_id", sa.Integer(), sa.ForeignKey("items.id"), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("other_item_id", sa.Integer(), sa.ForeignKey("items.id"), nullable=True),
        sa.Column("contact_id", sa.Integer(), sa.ForeignKey("contacts.id"), nullable=True),
        sa.Column("number", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_contact_suggestions_item_id", "contact_suggestions", ["item_id"])
    op.create_index("ix_contact_suggestions_other_item_id", "contact_suggestions", ["other_item_id"])
    op.create_index("ix_contact_suggestions_contact_id", "contact_suggestions", ["contact_id"])
    op.create_index("ix_contact_suggestions_open", "contact_suggestions", ["status", "created_at"])
    op.create_table(
        "erasures",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("reason", sa.String(length=64), nullable=False),
        sa.Column("items", sa.Integer(), nullable=False),
        sa.Column("contacts", sa.Integer(), nullable=False),
    )
    # No references on these two (see the model): each is added and dropped in place.
    op.add_column("items", sa.Column("contact_id", sa.Integer(), nullable=True))
    op.add_column("items", sa.Column("merged_into_id", sa.Integer(), nullable=True))
    op.create_index("ix_items_contact", "items", ["contact_id", "received_at"])
    op.create_index("ix_items_merged_into_id", "items", ["merged_into_id"])
    op.create_index("ix_items_resolved", "items", ["status", "resolved_at"])
    op.create_table(
        "retention_runs",
        sa.Column("day", sa.String(length=10), primary_key=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("erased", sa.JSON(), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("retention_runs")
    op.drop_index("ix_items_resolved", table_name="items")
    op.drop_index("ix_items_merged_into_id", table_name="items")
    op.drop_index("ix_items_contact", table_name="items")
    op.drop_column("items", "merged_into_id")
    op.drop_column("items", "contact_id")
    op.drop_table("erasures")
    op.drop_index("ix_contact_suggestions_open", table_name="contact_suggestions")
    op.drop_index("ix_contact_suggestions_contact_id", table_name="contact_suggestions")
    op.drop_index("ix_contact_suggestions_other_item_id", table_name="contact_suggestions")
    op.drop_index("ix_contact_suggestions_item_id", table_name="contact_suggestions")
    op.drop_table("contact_suggestions")
    op.drop_index("ix_contact_events_contact_id", table_name="contact_events")
    op.drop_table("contact_events")
    op.drop_index("ix_contact_addresses_contact_id", table_name="contact_addresses")
    op.drop_table("contact_addresses")
    op.drop_table("contacts")
