"""Search prefix: on SQLite, an fts5vocab table over the search index, through which a
word being typed is expanded into the whole terms it starts. Nothing on PostgreSQL.

Revision ID: 0024_search_prefix
Revises: 0023_search
"""

from collections.abc import Sequence

from alembic import op

from routing.store import search_index

revision: str = "0024_search_prefix"
down_revision: str | None = "0023_search"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    search_index.create_vocabulary(op.get_bind())


def downgrade() -> None:
    search_index.drop_vocabulary(op.get_bind())
