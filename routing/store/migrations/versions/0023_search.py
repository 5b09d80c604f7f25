"""Search: an index of every item's terms (SQLite FTS5, PostgreSQL tsvector with GIN).

The index is made empty, then filled from the stored items in batches, their words
read in the office's languages (handed in by routing.store.schema.upgrade).

Revision ID: 0023_search
Revises: 0022_contacts
"""

from collections.abc import Sequence

from alembic import context, op

from routing.normalize import normalizer_for
from routing.store import search_index

revision: str = "0023_search"
down_revision: str | None = "0022_contacts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    connection = op.get_bind()
    search_index.create(connection)
    languages = context.config.attributes.get("languages", ("en",))
    search_index.fill(connection, normalizer_for(tuple(languages)))


def downgrade() -> None:
    search_index.drop(op.get_bind())
