"""Triage: who has an item, when it is due, when it was picked up and resolved, and
why a person must decide where it belongs.

Revision ID: 0009_triage
Revises: 0008_delivery_keys
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009_triage"
down_revision: str | None = "0008_delivery_keys"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("items") as batch_op:
        batch_op.add_column(sa.Column("decision_needed", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("assignee_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("due_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_foreign_key("fk_items_assignee_id_users", "users", ["assignee_id"], ["id"])
        batch_op.create_index("ix_items_open", ["status", "department_id", "due_at"], unique=False)
        batch_op.create_index("ix_items_assignee", ["assignee_id", "status"], unique=False)
        batch_op.create_index(
            "ix_items_decision",
            ["received_at"],
            unique=False,
            sqlite_where=sa.text("decision_needed IS NOT NULL"),
            postgresql_where=sa.text("decision_needed IS NOT NULL"),
        )


def downgrade() -> None:
    with op.batch_alter_table("items") as batch_op:
        batch_op.drop_index("ix_items_decision")
        batch_op.drop_index("ix_items_assignee")
        batch_op.drop_index("ix_items_open")
        batch_op.drop_constraint("fk_items_assignee_id_users", type_="foreignkey")
        for column in ("resolved_at", "claimed_at", "due_at", "assignee_id", "decision_needed"):
            batch_op.drop_column(column)
