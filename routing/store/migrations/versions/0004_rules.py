"""Routing decisions on items (priority, tags, spam, suggestion) and the learned model.

Revision ID: 0004_rules
Revises: 0003_twilio
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_rules"
down_revision: str | None = "0003_twilio"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("items", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("priority", sa.String(length=16), server_default="normal", nullable=False)
        )
        batch_op.add_column(sa.Column("tags", sa.JSON(), server_default="[]", nullable=False))
        batch_op.add_column(sa.Column("spam", sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column("suggested_department_id", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("suggestion_confidence", sa.Float(), nullable=True))

    op.create_table(
        "learned_words",
        sa.Column("department_id", sa.String(length=64), nullable=False),
        sa.Column("word", sa.String(length=64), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("department_id", "word"),
    )
    with op.batch_alter_table("learned_words", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_learned_words_word"), ["word"], unique=False)

    op.create_table(
        "learned_departments",
        sa.Column("department_id", sa.String(length=64), nullable=False),
        sa.Column("documents", sa.Integer(), nullable=False),
        sa.Column("words", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("department_id"),
    )


def downgrade() -> None:
    op.drop_table("learned_departments")
    with op.batch_alter_table("learned_words", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_learned_words_word"))
    op.drop_table("learned_words")
    with op.batch_alter_table("items", schema=None) as batch_op:
        batch_op.drop_column("suggestion_confidence")
        batch_op.drop_column("suggested_department_id")
        batch_op.drop_column("spam")
        batch_op.drop_column("tags")
        batch_op.drop_column("priority")
