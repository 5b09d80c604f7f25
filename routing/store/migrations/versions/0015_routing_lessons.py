"""The learned suggestion on weights: each text weighs one in all, and items keep their lesson.

`learned_words.count` becomes `weight`: the counts already learned are scaled by their
department's texts over its words, so each old text also weighs one in all, and `word`
widens to hold a sender's address. `learned_departments.words` is no longer needed; `learned_words.documents` counts the texts
that had the term.
`items.routing_lesson` keeps what a correction of the item teaches (its new words' terms
and its sender), so a reroute teaches what the router read.

Revision ID: 0015_routing_lessons
Revises: 0013_session_epoch
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015_routing_lessons"
down_revision: str | None = "0014_jobs"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("items") as table:
        table.add_column(sa.Column("routing_lesson", sa.JSON(), nullable=True))
    with op.batch_alter_table("learned_words") as table:
        table.add_column(sa.Column("weight", sa.Float(), nullable=False, server_default="0"))
        table.add_column(sa.Column("documents", sa.Integer(), nullable=False, server_default="1"))
        table.alter_column("word", type_=sa.String(length=320), existing_type=sa.String(length=64))
    # An old count is at least one text; counted twice or more, it is no one-off.
    op.execute("UPDATE learned_words SET documents = CASE WHEN count > 1 THEN 2 ELSE 1 END")
    op.execute(
        "UPDATE learned_words SET weight = CAST(count AS FLOAT) * ("
        " SELECT CAST(d.documents AS FLOAT) / d.words FROM learned_departments AS d"
        " WHERE d.department_id = learned_words.department_id AND d.words > 0)"
        " WHERE EXISTS (SELECT 1 FROM learned_departments AS d"
        " WHERE d.department_id = learned_words.department_id AND d.words > 0)"
    )
    with op.batch_alter_table("learned_words") as table:
        table.drop_column("count")
    with op.batch_alter_table("learned_departments") as table:
        table.drop_column("words")


def downgrade() -> None:
    # Back to whole counts, as if each text had had twenty words: the old model's scale.
    with op.batch_alter_table("learned_departments") as table:
        table.add_column(sa.Column("words", sa.Integer(), nullable=False, server_default="0"))
    with op.batch_alter_table("learned_words") as table:
        table.add_column(sa.Column("count", sa.Integer(), nullable=False, server_default="0"))
    op.execute("DELETE FROM learned_words WHERE word LIKE 'from:%' OR word LIKE 'domain:%'")
    op.execute(
        "UPDATE learned_words SET count = MAX(1, CAST(ROUND(weight * 20) AS INTEGER))"
        if op.get_bind().dialect.name == "sqlite"
        else "UPDATE learned_words SET count = GREATEST(1, CAST(ROUND(weight * 20) AS INTEGER))"
    )
    op.execute(
        "UPDATE learned_departments SET words = COALESCE((SELECT SUM(w.count) FROM learned_words AS w"
        " WHERE w.department_id = learned_departments.department_id), 0)"
    )
    with op.batch_alter_table("learned_words") as table:
        table.drop_column("weight")
        table.drop_column("documents")
        table.alter_column("word", type_=sa.String(length=64), existing_type=sa.String(length=320))
    # Not in batch mode: on SQLite that rebuilds the items table, which the rows that refer
    # to items forbid; SQLite drops a plain column in place.
    op.drop_column("items", "routing_lesson")
