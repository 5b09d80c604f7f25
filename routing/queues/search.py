"""A search typed in a queue's box or the API's `q=`, read like the items were indexed.

Each word becomes its term in every office language (a query has too few words to tell
its language), so `facturii`, `factura` and `factură` find the same items; all words must
match. "Quoted words" must stand side by side. The last word also matches as the start
of a term, for a search that runs while it is typed. Every other character (FTS5 or
tsquery syntax: `*`, `(`, `:`, `-`, `NEAR`, `&`) is only a gap between words: every
term goes to the database quoted, so no query is a syntax error there.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace

from sqlalchemy import (
    ColumnElement,
    Integer,
    Select,
    Text,
    column,
    exists,
    func,
    literal,
    literal_column,
    select,
    table,
)
from sqlalchemy.orm import Session

from routing.normalize import Normalizer, fold
from routing.store import search_index
from routing.store.models import Item

# A word or a "quoted phrase" (an unclosed quote runs to the end).
_PART = re.compile(r'"([^"]*)"?|([^"\s]+)')
MAX_WORDS = 16
# A last word shorter than this is not read as the start of a longer one: one or two
# letters start too many terms to be worth the database's time.
PREFIX_MIN = 3
# How many matches are few enough to look up by id and sort (see matching()).
FEW_MATCHES = 2_000
# The first and the largest chunk of a queue's ids that walk() reads at a time.
WALK_CHUNK = 256
WALK_CHUNK_MAX = 8_192


class UnsearchableQuery(ValueError):
    """A query with nothing to search for, or too much; the message says which."""


@dataclass(frozen=True)
class Clause:
    """One word or phrase of a query: its term sequences (one per office language),
    and the folded start of a word still being typed, if any."""

    spellings: tuple[tuple[str, ...], ...]
    prefix: str | None = None


@dataclass(frozen=True)
class SearchQuery:
    """A query's clauses, every one of which an item must match."""

    clauses: tuple[Clause, ...]

    @classmethod
    def parse(cls, typed: str, normalizer: Normalizer) -> SearchQuery:
        parts = [(phrase, word) for phrase, word in _PART.findall(typed)]
        clauses = [
            _clause(normalizer, phrase or word, phrase == "" and index == len(parts) - 1)
            for index, (phrase, word) in enumerate(parts)
        ]
        found = tuple(clause for clause in clauses if clause is not None)
        if not found:
            raise UnsearchableQuery("has no word to search for (letters or digits)")
        if sum(len(clause.spellings[0]) for clause in found) > MAX_WORDS:
            raise UnsearchableQuery(f"has more than {MAX_WORDS} words")
        return cls(found)

    def fts5(self) -> str:
        """The query in FTS5's syntax: each term a quoted string."""
        return " AND ".join(_alternatives(c, _fts5_phrase, " OR ", '"{}"*') for c in self.clauses)

    def tsquery(self) -> str:
        """The query in PostgreSQL's to_tsquery syntax: each term a quoted lexeme."""
        return " & ".join(_alternatives(c, _tsquery_phrase, " | ", "'{}':*") for c in self.clauses)


def _clause(normalizer: Normalizer, typed: str, last_word: bool) -> Clause | None:
    spellings = normalizer.spellings(typed)
    if not spellings:
        return None
    folded = fold(typed)
    prefix = folded if last_word and len(folded) >= PREFIX_MIN and folded.isalnum() else None
    return Clause(tuple(sorted(spellings)), prefix)


def _alternatives(clause: Clause, phrase: Callable[[tuple[str, ...]], str], joiner: str, prefix: str) -> str:
    found = [phrase(spelling) for spelling in clause.spellings]
    if clause.prefix is not None:
        found.append(prefix.format(clause.prefix))
    return "(" + joiner.join(found) + ")"


def _fts5_phrase(terms: tuple[str, ...]) -> str:
    # A string of several terms is an FTS5 phrase. Terms hold only letters and digits.
    return '"' + " ".join(terms) + '"'


def _tsquery_phrase(terms: tuple[str, ...]) -> str:
    return "(" + " <-> ".join(f"'{term}'" for term in terms) + ")"


@dataclass(frozen=True)
class Matching:
    """How a page finds the items that match a query: `condition` tells them row by
    row; `walk` says that the page must be listed by walk() instead (a common word)."""

    query: SearchQuery
    condition: ColumnElement[bool]
    walk: bool = False


def matching(session: Session, query: SearchQuery) -> Matching:
    """How to find the items that match the query, on this database.

    A page keeps its queue's order whatever the search. The matches are counted
    first, up to FEW_MATCHES: fewer are fetched by their ids and sorted; more (a common
    word), and the page walks the queue in its order: PostgreSQL's planner does that
    itself, checking each item's row of the index; on SQLite, walk() does it.
    """
    query = _settled(session, query)
    if session.get_bind().dialect.name != "sqlite":
        tsquery = func.to_tsquery(literal_column("'simple'::regconfig"), query.tsquery())
        found = select(_INDEX.c.item_id).where(_INDEX.c.terms.op("@@")(tsquery))
        # The planner guesses a rare word's share of the items from its statistics of
        # common ones, and would walk a whole queue for two matches: few are handed over.
        few = list(session.scalars(found.limit(FEW_MATCHES + 1)))
        return Matching(query, Item.id.in_(few if len(few) <= FEW_MATCHES else found))
    found = select(_FTS5.c.rowid).where(_FTS5.c.terms.match(query.fts5()))
    counted = session.scalar(select(func.count()).select_from(found.limit(FEW_MATCHES + 1).subquery()))
    if (counted or 0) <= FEW_MATCHES:
        return Matching(query, Item.id.in_(found))
    each = exists(
        select(literal(1))
        .select_from(_FTS5)
        .where(_FTS5.c.terms.match(query.fts5()), _FTS5.c.rowid == Item.id)
    )
    return Matching(query, each, walk=True)


def _settled(session: Session, query: SearchQuery) -> SearchQuery:
    """The query without its last word's prefix when that word, as typed, is found whole.

    A prefix makes FTS5 gather every row of every term it starts (half the items, for a
    common word) for each query: worth it while a word is being typed, not once it is
    complete. Both databases drop it alike, so they find the same items."""
    last = query.clauses[-1]
    if last.prefix is None:
        return query
    whole = SearchQuery((replace(last, prefix=None),))
    if session.get_bind().dialect.name == "sqlite":
        found = select(_FTS5.c.rowid).where(_FTS5.c.terms.match(whole.fts5()))
    else:
        tsquery = func.to_tsquery(literal_column("'simple'::regconfig"), whole.tsquery())
        found = select(_INDEX.c.item_id).where(_INDEX.c.terms.op("@@")(tsquery))
    if session.scalar(found.limit(1)) is None:
        return query
    return SearchQuery((*query.clauses[:-1], *whole.clauses))


def walk(session: Session, matching: Matching, ordered: Select[int], want: int) -> list[int]:
    """The ids of the first `want` items of `ordered` (item ids in a page's order) that
    match: SQLite's way for a query that matches many items.

    The queue's ids are read in growing chunks, and each chunk's matches come from one
    FTS5 query over the chunk's range of ids; asking FTS5 item by item would set up the
    query again for each row, at a tenth of a millisecond or more each time."""
    fts, offset, size = matching.query.fts5(), 0, WALK_CHUNK
    found: list[int] = []
    while len(found) < want:
        chunk = list(session.scalars(ordered.limit(size).offset(offset)))
        if not chunk:
            break
        in_range = _FTS5.c.rowid.between(min(chunk), max(chunk))
        matched = set(session.scalars(select(_FTS5.c.rowid).where(_FTS5.c.terms.match(fts), in_range)))
        found += [item_id for item_id in chunk if item_id in matched]
        offset, size = offset + len(chunk), min(size * 2, WALK_CHUNK_MAX)
    return found[:want]


_FTS5 = table(search_index.TABLE, column("rowid", Integer), column("terms", Text))
_INDEX = table(search_index.TABLE, column("item_id", Integer), column("terms", Text))
