"""Phone intake: the facts of voicemail calls and the queue of pending downloads.

Revision ID: 0003_twilio
Revises: 0002_imap
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_twilio"
down_revision: str | None = "0002_imap"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "voice_calls",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("call_sid", sa.String(length=64), nullable=False),
        sa.Column("recording_sid", sa.String(length=64), nullable=True),
        sa.Column("caller", sa.String(length=64), nullable=False),
        sa.Column("called", sa.String(length=64), nullable=False),
        sa.Column("duration_seconds", sa.Integer(), nullable=True),
        sa.Column("transcript_status", sa.String(length=16), nullable=False),
        sa.Column("transcript", sa.Text(), nullable=True),
        sa.Column("transcription_sid", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["item_id"],
            ["items.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("call_sid"),
        sa.UniqueConstraint("item_id"),
    )
    op.create_table(
        "pending_downloads",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("url", sa.String(length=2000), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("attachment_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["attachment_id"],
            ["attachments.id"],
        ),
        sa.ForeignKeyConstraint(
            ["item_id"],
            ["items.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("item_id", "url", name="uq_pending_downloads_item_url"),
    )
    with op.batch_alter_table("pending_downloads", schema=None) as batch_op:
        batch_op.create_index("ix_pending_downloads_due", ["status", "next_attempt_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_pending_downloads_item_id"), ["item_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("pending_downloads", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_pending_downloads_item_id"))
        batch_op.drop_index("ix_pending_downloads_due")

    op.drop_table("pending_downloads")
    op.drop_table("voice_calls")
