"""The search index: each item's words as terms, kept in step with the item.

One row per item holds the normalized terms (routing.normalize) of its sender, the
sender's name, its subject and its text, in the language the text is written in:
an SQLite FTS5 table keyed by the item's id, a PostgreSQL `tsvector` (the `simple`
configuration over terms that are already folded and stemmed, so both databases match
alike) under a GIN index. Rows are written in the transaction that writes or changes
the item; deleting an item deletes its row (a trigger on SQLite, ON DELETE CASCADE on
PostgreSQL), so no code that deletes items has to know of the index. A PostgreSQL row
holds at most TSVECTOR_ROOM: the words of an item past it are stored but not indexed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from itertools import chain
from typing import Any

from sqlalchemy import Connection, text
from sqlalchemy.orm import Session

from routing.normalize import Normalizer

TABLE = "item_search"
# The unicode61 tokenizer without its own diacritics folding: the terms come folded.
_SQLITE_DDL = (
    f"CREATE VIRTUAL TABLE {TABLE} USING fts5(terms, tokenize = 'unicode61 remove_diacritics 0')",
    f"CREATE TRIGGER {TABLE}_item_deleted AFTER DELETE ON items BEGIN"
    f" DELETE FROM {TABLE} WHERE rowid = old.id; END",
)
TERMS_INDEX = f"ix_{TABLE}_terms"
TERMS_INDEX_DDL = f"CREATE INDEX {TERMS_INDEX} ON {TABLE} USING gin (terms)"
_POSTGRESQL_DDL = (
    f"CREATE TABLE {TABLE} (item_id INTEGER PRIMARY KEY REFERENCES items (id) ON DELETE CASCADE,"
    " terms TSVECTOR NOT NULL)",
    TERMS_INDEX_DDL,
)
# On SQLite, FTS5's own table of the index's terms, one row per occurrence in term
# order, read from the index itself (it stores nothing, so it never holds an erased
# word): a word being typed is expanded into the terms it starts (routing.queues.search).
# Of its kinds, "instance" finds the first occurrence at or after a term without reading
# the rest; "row" counts each term's items first, reading its whole list of rows.
VOCABULARY = f"{TABLE}_vocabulary"
_VOCABULARY_DDL = f"CREATE VIRTUAL TABLE {VOCABULARY} USING fts5vocab({TABLE}, instance)"
# On SQLite, one row per erasure whose terms may still be in the index's segments,
# written in the erasure's own transaction and deleted once the index is compacted, so
# that a process that dies in between leaves the compaction owed (compaction_owed()).
OWED = f"{TABLE}_owed"
_OWED_DDL = f"CREATE TABLE {OWED} (id INTEGER PRIMARY KEY)"
# Items read and indexed per transaction while filling the index for stored items.
FILL_BATCH = 2_000
# PostgreSQL refuses a tsvector past 1 MB of lexemes and positions (MAXSTRPOS), and the
# item's whole transaction with it: what an item's row may take there, with a margin for
# a term its parser reads as two (see _fitting()). It keeps 256 positions of a lexeme.
TSVECTOR_ROOM = 1_000_000
_POSITIONS_KEPT = 256


def outside_models(name: str | None, kind: str, _parents: object = None) -> bool:
    """False for the index's tables (and FTS5's own beside them), which no model maps:
    Alembic's `include_name`, so that comparing the models with the schema skips them."""
    return not (kind == "table" and name is not None and (name == TABLE or name.startswith(f"{TABLE}_")))


def create(connection: Connection) -> None:
    """Make the index's table (and its trigger on SQLite); empty."""
    for statement in _SQLITE_DDL if connection.dialect.name == "sqlite" else _POSTGRESQL_DDL:
        connection.exec_driver_sql(statement)


def drop(connection: Connection) -> None:
    if connection.dialect.name == "sqlite":
        connection.exec_driver_sql(f"DROP TRIGGER IF EXISTS {TABLE}_item_deleted")
    connection.exec_driver_sql(f"DROP TABLE IF EXISTS {TABLE}")


def create_vocabulary(connection: Connection) -> None:
    """Make SQLite's table of the index's terms; PostgreSQL has none."""
    if connection.dialect.name == "sqlite":
        connection.exec_driver_sql(_VOCABULARY_DDL)


def drop_vocabulary(connection: Connection) -> None:
    if connection.dialect.name == "sqlite":
        connection.exec_driver_sql(f"DROP TABLE IF EXISTS {VOCABULARY}")


def create_owed(connection: Connection) -> None:
    """Make SQLite's table of owed compactions; PostgreSQL needs none."""
    if connection.dialect.name == "sqlite":
        connection.exec_driver_sql(_OWED_DDL)


def drop_owed(connection: Connection) -> None:
    if connection.dialect.name == "sqlite":
        connection.exec_driver_sql(f"DROP TABLE IF EXISTS {OWED}")


def owe_compaction(session: Session) -> None:
    """Record, in the transaction that deletes terms for good (an erasure), that the index
    must be compacted: FTS5 keeps a deleted row's terms in its older segments until they
    are merged. Nothing on PostgreSQL, whose rows are gone from the index with the row."""
    if _on_sqlite(session):
        session.execute(text(f"INSERT INTO {OWED} DEFAULT VALUES"))


def compaction_owed(connection: Connection) -> int | None:
    """The latest owed compaction's mark, or None when none is owed (always on PostgreSQL)."""
    if connection.dialect.name != "sqlite":
        return None
    owed: int | None = connection.exec_driver_sql(f"SELECT max(id) FROM {OWED}").scalar()
    return owed


def compaction_paid(connection: Connection, mark: int) -> None:
    """The compaction owed up to `mark` is done; an erasure committed since owes its own."""
    connection.execute(text(f"DELETE FROM {OWED} WHERE id <= :mark"), {"mark": mark})


def compact(connection: Connection) -> None:
    """On SQLite, merge the index's segments into one, so that no deleted row's terms
    stay on disk. The cost grows with the index (it is rewritten whole): it is run only
    when an erasure owes it. PostgreSQL needs nothing."""
    if connection.dialect.name == "sqlite":
        connection.exec_driver_sql(f"INSERT INTO {TABLE} ({TABLE}) VALUES ('optimize')")


def terms(normalizer: Normalizer, sender: str, sender_name: str | None, subject: str, body: str) -> str:
    """What the index holds of one message: its terms, space-separated.

    The language is told from the subject and text (a sender's address says nothing of
    it); the address and name are read in that language too, so `ana.popescu@firma.ro`
    is found by `popescu` and by `firma`."""
    language = normalizer.language(f"{subject}\n{body}")
    # Part by part, which gives the terms of the parts joined by spaces: the text's
    # reading is then the one routing made of it already (Normalizer.read keeps it).
    parts = (sender, sender_name or "", subject, body)
    return " ".join(chain.from_iterable(normalizer.terms(part, language) for part in parts))


def write(session: Session | Connection, rows: Sequence[dict[str, Any]], *, new: bool = False) -> None:
    """Store or replace the index rows {"item_id": ..., "terms": ...} of these items;
    `new` says they are items stored just now, which have no row to replace. On
    PostgreSQL a row holds the terms that fit TSVECTOR_ROOM (_fitting())."""
    if not rows:
        return
    if _on_sqlite(session):
        if not new:  # FTS5 has no upsert: the old row, if any, goes first.
            session.execute(text(f"DELETE FROM {TABLE} WHERE rowid = :item_id"), rows)
        session.execute(text(f"INSERT INTO {TABLE} (rowid, terms) VALUES (:item_id, :terms)"), rows)
        return
    session.execute(
        text(
            f"INSERT INTO {TABLE} (item_id, terms) VALUES (:item_id, to_tsvector('simple', :terms))"
            " ON CONFLICT (item_id) DO UPDATE SET terms = excluded.terms"
        ),
        [{**row, "terms": _fitting(row["terms"])[0]} for row in rows],
    )


def add_terms(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Add follow-ups' terms {"item_id": ..., "more": ...} to their items' rows, after
    those already there, in the order given.

    On PostgreSQL a follow-up whose terms would take the row past TSVECTOR_ROOM adds
    none: such an item is a megabyte of distinct words already."""
    if not rows:
        return
    if _on_sqlite(session):
        statement = f"UPDATE {TABLE} SET terms = terms || ' ' || :more WHERE rowid = :item_id"
        session.execute(text(statement), rows)
        return
    fitted = []
    for row in rows:
        more, size = _fitting(row["more"])
        fitted.append({**row, "more": more, "size": size})
    # The row's size counted as _fitting() counts it, from its lexemes and their positions.
    session.execute(
        text(
            f"UPDATE {TABLE} SET terms = terms || to_tsvector('simple', :more) WHERE item_id = :item_id"
            " AND (SELECT coalesce(sum(octet_length(lexeme) + 3 + 2 * cardinality(positions)), 0)"
            f" FROM unnest(terms)) + :size <= {TSVECTOR_ROOM}"
        ),
        fitted,
    )


def _fitting(terms: str) -> tuple[str, int]:
    """The longest start of `terms` whose PostgreSQL tsvector fits TSVECTOR_ROOM, and at
    most how many bytes it takes: a mail of a megabyte of distinct words (an export
    pasted into it) is then stored, its words past the room not indexed.

    A lexeme takes its bytes, one to align them, two to count its positions and two for
    each position, of which 256 are kept: at most three bytes and four for the last term
    to each byte of text, so that text of up to a third of the room is not counted term
    by term."""
    bound = 3 * len(terms.encode()) + 4
    if bound <= TSVECTOR_ROOM:
        return terms, bound
    positions: dict[str, int] = {}
    size = 0
    words = terms.split()
    for index, term in enumerate(words):
        seen = positions.get(term, 0)
        cost = len(term.encode()) + 5 if seen == 0 else 2 if seen < _POSITIONS_KEPT else 0
        if size + cost > TSVECTOR_ROOM:
            return " ".join(words[:index]), size
        positions[term] = seen + 1
        size += cost
    return terms, size


def fill(connection: Connection, normalizer: Normalizer) -> int:
    """Index every stored item and its follow-ups, FILL_BATCH items at a time in id order
    (bounded memory); returns how many items were indexed. Used when the index is made."""
    done, last = 0, 0
    while found := _read(connection, "id > :last ORDER BY id LIMIT :n", {"last": last, "n": FILL_BATCH}):
        write(
            connection,
            [{"item_id": item.id, "terms": _item_terms(normalizer, item, follow)} for item, follow in found],
        )
        done, last = done + len(found), found[-1][0].id
    return done


def reindex(session: Session, normalizer: Normalizer, item_id: int) -> None:
    """Index one item again, with its follow-ups, after its text changed."""
    session.flush()  # the item's changes are read back below
    found = _read(session, "id = :id", {"id": item_id})
    write(
        session,
        [{"item_id": item.id, "terms": _item_terms(normalizer, item, follow)} for item, follow in found],
    )


def _read(
    database: Session | Connection, where: str, parameters: dict[str, Any]
) -> list[tuple[Any, list[Any]]]:
    """The items matching `where`, each with its follow-ups in order."""
    items = database.execute(
        text(f"SELECT id, sender, sender_name, subject, text FROM items WHERE {where}"), parameters
    ).all()
    if not items:
        return []
    follow_ups: dict[int, list[Any]] = {}
    rows = database.execute(
        text(
            "SELECT item_id, sender, sender_name, subject, text FROM messages"
            " WHERE item_id >= :first AND item_id <= :last ORDER BY id"
        ),
        {"first": items[0].id, "last": items[-1].id},
    )
    for row in rows:
        follow_ups.setdefault(row.item_id, []).append(row)
    return [(item, follow_ups.get(item.id, [])) for item in items]


def _on_sqlite(database: Session | Connection) -> bool:
    bind = database.get_bind() if isinstance(database, Session) else database
    return bind.dialect.name == "sqlite"


def _item_terms(normalizer: Normalizer, row: Any, follow_ups: Iterable[Any]) -> str:
    found = [terms(normalizer, row.sender, row.sender_name, row.subject, row.text)]
    found += [terms(normalizer, m.sender, m.sender_name, m.subject, m.text) for m in follow_ups]
    return " ".join(found)
