"""Making the real database refuse one message, as a full disk or a broken disk would."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, text

_SQLITE = (
    [
        "CREATE TRIGGER refuse_subject BEFORE INSERT ON items WHEN NEW.subject = '{subject}' "
        "BEGIN SELECT RAISE(ABORT, 'refused by the database'); END"
    ],
    ["DROP TRIGGER refuse_subject"],
)
_POSTGRESQL = (
    [
        "CREATE FUNCTION refuse_subject() RETURNS trigger AS $$ BEGIN IF NEW.subject = '{subject}' "
        "THEN RAISE EXCEPTION 'refused by the database'; END IF; RETURN NEW; END $$ LANGUAGE plpgsql",
        "CREATE TRIGGER refuse_subject BEFORE INSERT ON items FOR EACH ROW EXECUTE FUNCTION refuse_subject()",
    ],
    ["DROP TRIGGER refuse_subject ON items", "DROP FUNCTION refuse_subject()"],
)


@contextmanager
def refusing(engine: Engine, subject: str) -> Iterator[None]:
    """Inside the block, storing an item with this subject fails in the database itself."""
    create, drop = _SQLITE if engine.dialect.name == "sqlite" else _POSTGRESQL
    _run(engine, [statement.format(subject=subject) for statement in create])
    try:
        yield
    finally:
        _run(engine, drop)


def _run(engine: Engine, statements: list[str]) -> None:
    with engine.begin() as connection:
        for statement in statements:
            connection.execute(text(statement))
