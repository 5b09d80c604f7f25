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
from typing import Any

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
    text,
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
# SQLite: a word being typed is expanded into the whole terms it starts when there are at
# most this many; a start shared by more is left to FTS5 as a prefix (see _expanded()).
MAX_COMPLETIONS = 64
# PostgreSQL: a word being typed is common when it is in this many of the newest
# RECENT_ROWS items (2 %); see _common_of_late().
RECENT_ROWS = 1_000
COMMON_OF_LATE = 20
# The first and the largest chunk of a queue's ids that walk() reads at a time.
WALK_CHUNK = 256
WALK_CHUNK_MAX = 8_192


class UnsearchableQuery(ValueError):
    """A query with nothing to search for, or too much; the message says which."""


@dataclass(frozen=True)
class Clause:
    """One word or phrase of a query: its term sequences (one per office language),
    the folded start of a word still being typed, if any, and the index's whole terms
    that this start was expanded into, if it was."""

    spellings: tuple[tuple[str, ...], ...]
    prefix: str | None = None
    completions: tuple[str, ...] = ()


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
    found = [phrase(spelling) for spelling in (*clause.spellings, *((t,) for t in clause.completions))]
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
        return _on_postgresql(session, query)
    query = _expanded(session, query)
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


def _on_postgresql(session: Session, query: SearchQuery) -> Matching:
    """The planner guesses a rare word's share of the items from its statistics of
    common ones, and would walk a whole queue for two matches: few are handed over by id.

    Only whole words are counted: for a word being typed GIN gathers every row of every
    term it starts before the first is returned (half the items for `invo`). Its start
    is counted only when it is rare of late; a common one is left to the planner, which
    walks the queue and checks each item's row of the index."""
    # A search's statements are one text whatever the words (they are parameters):
    # psycopg prepares a statement run five times, and PostgreSQL then plans it once for
    # any words, blind to how common they are (a rare start's page then walked a whole
    # queue). This transaction's statements are planned for their words.
    session.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))
    found = _tsquery_rows(query)
    typed = query.clauses[-1].prefix is not None
    finished = SearchQuery(query.clauses[:-1]) if typed else query  # the words typed whole
    if finished.clauses:
        few = list(session.scalars(_tsquery_rows(finished).limit(FEW_MATCHES + 1)))
        if len(few) <= FEW_MATCHES:
            if typed:  # those of the few that also have a term the typed word starts
                few = list(session.scalars(found.where(_INDEX.c.item_id.in_(few))))
            return Matching(query, Item.id.in_(few))
    if typed and not _common_of_late(session, query):
        few = list(session.scalars(found.limit(FEW_MATCHES + 1)))
        if len(few) <= FEW_MATCHES:
            return Matching(query, Item.id.in_(few))
    return Matching(query, Item.id.in_(found))


def _common_of_late(session: Session, query: SearchQuery) -> bool:
    """Whether COMMON_OF_LATE of the newest RECENT_ROWS items match: reading those rows
    by key costs a few milliseconds, where GIN would gather a common start's every row."""
    recent = select(_INDEX.c.terms).order_by(_INDEX.c.item_id.desc()).limit(RECENT_ROWS).subquery()
    matched = select(func.count()).select_from(recent).where(recent.c.terms.op("@@")(_tsquery(query)))
    return (session.scalar(matched) or 0) >= COMMON_OF_LATE


def _expanded(session: Session, query: SearchQuery) -> SearchQuery:
    """On SQLite, the query with the word being typed expanded into the index's whole
    terms that it starts, when there are at most MAX_COMPLETIONS.

    FTS5 answers a prefix by gathering the rows of every term it starts, for the whole
    table and at each query (a walk asks one per chunk); whole terms are read lazily,
    in id order, and stop at the page. The same items match either way. A start shared
    by more terms stays a prefix."""
    last = query.clauses[-1]
    if last.prefix is None:
        return query
    after = last.prefix[:-1] + chr(ord(last.prefix[-1]) + 1)  # the first string past the prefix's
    parameters = {"start": last.prefix, "after": after, "most": MAX_COMPLETIONS + 1}
    terms = list(session.scalars(_COMPLETIONS, parameters))
    if len(terms) > MAX_COMPLETIONS:
        return query
    typed = replace(last, prefix=None, completions=tuple(terms))
    return SearchQuery((*query.clauses[:-1], typed))


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
        found = _tsquery_rows(whole)
    # Up to as many as a count reads: under LIMIT 1, PostgreSQL's planner, guessing that
    # a word outside its statistics is in 0.5 % of the rows, scans the table for the
    # first, and reads every row for a word that is in none.
    counted = session.scalar(select(func.count()).select_from(found.limit(FEW_MATCHES + 1).subquery()))
    if not counted:
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


def _tsquery(query: SearchQuery) -> ColumnElement[Any]:
    return func.to_tsquery(literal_column("'simple'::regconfig"), query.tsquery())


def _tsquery_rows(query: SearchQuery) -> Select[tuple[int]]:
    """PostgreSQL: the ids of the items that match."""
    return select(_INDEX.c.item_id).where(_INDEX.c.terms.op("@@")(_tsquery(query)))


_FTS5 = table(search_index.TABLE, column("rowid", Integer), column("terms", Text))
_INDEX = table(search_index.TABLE, column("item_id", Integer), column("terms", Text))
# The terms in [start, after), each found by one seek past the one before: a term's
# successor is at or after the term + "0", no term holding a character below "0" (terms
# are letters and digits), so no occurrence of the term itself is read.
_COMPLETIONS = text(
    f"""WITH RECURSIVE following (term) AS (
        SELECT (SELECT term FROM {search_index.VOCABULARY} WHERE term >= :start AND term < :after LIMIT 1)
        UNION ALL
        SELECT (SELECT term FROM {search_index.VOCABULARY} WHERE term >= following.term || '0' AND term < :after LIMIT 1)
        FROM following WHERE following.term IS NOT NULL
    )
    SELECT term FROM following WHERE term IS NOT NULL LIMIT :most"""
)
