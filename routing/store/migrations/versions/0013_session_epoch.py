"""A session epoch per user, renewed at sign-out, so that a copied session cookie ends with it.

Revision ID: 0013_session_epoch
Revises: 0012_login_attempts
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013_session_epoch"
down_revision: str | None = "0012_login_attempts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Existing users start with an empty epoch; their first sign-out gives them a random one.
    with op.batch_alter_table("users") as table:
        table.add_column(sa.Column("session_epoch", sa.String(length=32), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("users") as table:
        table.drop_column("session_epoch")
