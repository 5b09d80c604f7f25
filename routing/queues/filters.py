"""What a queue view asks for: its filters, its order, and where a page ends.

Filters arrive as text (a page's query string, the API's), are checked here once,
and become SQL conditions in routing.queues.reading. Every bad value is a BadQuery whose
message names the parameter and the values it takes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from config.settings import PRIORITIES, Settings
from routing.message import CHANNELS
from routing.normalize import normalizer_for
from routing.queues.search import SearchQuery, UnsearchableQuery
from routing.store.models import MAX_ID

STATUSES = ("new", "claimed", "resolved")
OPEN_STATUSES = ("new", "claimed")
# What the status filter takes: a status, "open" (new and claimed) or "all".
STATUS_VIEWS = ("open", *STATUSES, "all")
SORTS = ("newest", "urgent")
FILTER_NAMES = ("status", "channel", "priority", "tag", "assignee", "due", "q", "sort")
DUE_VIEWS = ("overdue",)  # the due filter: only items whose due time has passed
# The assignee filter takes a user name or one of these.
ME, NOBODY = "me", "nobody"
MAX_TEXT = 200
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Where an item without a due time sorts among due times: after all of them.
NEVER_DUE = datetime(9999, 12, 31, tzinfo=UTC)


class BadQuery(ValueError):
    """A filter or cursor that cannot be used; the message says which and why."""


def row_id(text: str) -> int | None:
    """`text` as a row id (ASCII digits, at most MAX_ID), or None: int() alone also
    reads other scripts' digits and numbers no database column holds."""
    if not text.isascii() or not text.isdigit() or int(text) > MAX_ID:
        return None
    return int(text)


def priority_rank(priority: str) -> int:
    """0 for the most urgent priority; what the "urgent" order sorts by first."""
    return len(PRIORITIES) - 1 - PRIORITIES.index(priority) if priority in PRIORITIES else len(PRIORITIES)


@dataclass(frozen=True)
class Filters:
    """A queue view's filters; None means "any". `assignee` is a user name, ME or NOBODY."""

    status: str | None = None
    channel: str | None = None
    priority: str | None = None
    tag: str | None = None
    assignee: str | None = None
    due: str | None = None
    q: str | None = None
    sort: str = "newest"
    # The office's languages, which `q` is read in.
    languages: tuple[str, ...] = Settings.languages

    @classmethod
    def parse(
        cls,
        args: Mapping[str, str],
        default_status: str | None = None,
        languages: tuple[str, ...] = Settings.languages,
    ) -> Filters:
        """The filters in a query string; empty values count as absent."""
        value = {name: (args.get(name) or "").strip() or None for name in FILTER_NAMES}
        status = value["status"] or default_status
        filters = cls(
            status=None if status == "all" else _one_of("status", status, STATUS_VIEWS),
            channel=_one_of("channel", value["channel"], CHANNELS),
            priority=_one_of("priority", value["priority"], PRIORITIES),
            tag=_text("tag", value["tag"]),
            assignee=_text("assignee", value["assignee"]),
            due=_one_of("due", value["due"], DUE_VIEWS),
            q=_text("q", value["q"]),
            sort=_one_of("sort", value["sort"], SORTS) or "newest",
            languages=languages,
        )
        _ = filters.search  # a query that cannot be searched is refused here, not at the first read
        return filters

    @property
    def search(self) -> SearchQuery | None:
        """`q` as the search index reads it (routing.queues.search)."""
        if self.q is None:
            return None
        try:
            return SearchQuery.parse(self.q, normalizer_for(self.languages))
        except UnsearchableQuery as error:
            raise BadQuery(f"q {error}") from None

    @property
    def statuses(self) -> tuple[str, ...] | None:
        if self.status is None:
            return None
        return OPEN_STATUSES if self.status == "open" else (self.status,)


def _one_of(name: str, value: str | None, allowed: tuple[str, ...]) -> str | None:
    if value is not None and value not in allowed:
        raise BadQuery(f"{name} {value!r} is not one of {', '.join(allowed)}")
    return value


def _text(name: str, value: str | None) -> str | None:
    if value is not None and len(value) > MAX_TEXT:
        raise BadQuery(f"{name} is longer than {MAX_TEXT} characters")
    if value is not None and "\x00" in value:  # PostgreSQL refuses it in any text
        raise BadQuery(f"{name} has a NUL character")
    return value


def _micros(moment: datetime) -> int:
    return (moment - EPOCH) // timedelta(microseconds=1)


def _moment(micros: str) -> datetime:
    return EPOCH + timedelta(microseconds=int(micros))


@dataclass(frozen=True)
class Cursor:
    """Where a page ends: the sort keys of its last item.

    Newest first: (queued_at, id). Most urgent first: the priority rank, the due
    time (NEVER_DUE for none), then (queued_at, id); such a cursor starts with "u"
    so that one handed out for one order is refused for the other.
    """

    queued_at: datetime
    item_id: int
    rank: int | None = None
    due_at: datetime | None = None

    @property
    def sort(self) -> str:
        return "newest" if self.rank is None else "urgent"

    def __str__(self) -> str:
        newest = f"{_micros(self.queued_at)}-{self.item_id}"
        if self.rank is None or self.due_at is None:
            return newest
        return f"u{self.rank}-{_micros(self.due_at)}-{newest}"

    @classmethod
    def parse(cls, text: str, sort: str = "newest") -> Cursor:
        refused = BadQuery(f"cursor {text!r} is not one this server handed out")
        parts = text.removeprefix("u").split("-")
        if not all(part.isascii() and part.isdigit() for part in parts):
            raise refused
        if len(parts) != (4 if text.startswith("u") else 2):
            raise refused
        item_id = row_id(parts[-1])
        if item_id is None or (len(parts) == 4 and int(parts[0]) > len(PRIORITIES)):
            raise refused
        try:
            if len(parts) == 2:
                cursor = cls(_moment(parts[0]), item_id)
            else:
                cursor = cls(_moment(parts[2]), item_id, int(parts[0]), _moment(parts[1]))
        except OverflowError:
            raise refused from None
        if cursor.sort != sort:
            raise BadQuery(f"cursor {text!r} belongs to sort={cursor.sort}, not sort={sort}")
        return cursor
