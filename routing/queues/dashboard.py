"""The dashboard's figures: items per office day by department and by channel, and how
long items wait before someone picks them up.

A day is the office's day, not UTC's: the window's local midnights are turned into UTC
instants here, and the database sorts each item into its day by comparing
`received_at` with them (a CASE of 30 comparisons). That needs no time zone support in
the database, so SQLite and PostgreSQL give the same answer, for any zone, across a
change to or from summer time, and for offsets such as +05:30 that an hourly bucket
would split. Counting is grouped in SQL, so the rows that come back are at most
days x departments x channels whatever the office's volume; the window is a range on
`received_at`, served by the index ix_items_received.

Measured with 1M items, 30k of them in the window: the grouped count takes about 80 ms
on SQLite and 25-50 ms on PostgreSQL, where fetching the window's (received_at,
department, channel) rows and sorting them into days in Python takes 160-200 ms on
either, and grows with the office's volume. Medians need every wait, so one number
per picked-up item is fetched: the database subtracts the timestamps (SecondsBetween),
which halves the time on SQLite against turning two timestamps a row into datetimes.
The whole dashboard comes to about 200 ms.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Float, and_, case, func, literal, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from routing.queues.filters import OPEN_STATUSES
from routing.store.models import Department, Item

WINDOW_DAYS = 30
# The channels the adapters make, in the order the dashboard lists them; others follow.
CHANNEL_NAMES = {
    "email": "Email",
    "sms": "SMS",
    "whatsapp": "WhatsApp",
    "voicemail": "Voicemail",
    "phone-note": "Phone note",
    "visit": "Visit",
    "post": "Post",
}


@dataclass(frozen=True)
class Series:
    """One stack of the bar chart: a department or a channel, with a count per day."""

    key: str
    label: str
    counts: tuple[int, ...]
    # Its place in the order of all departments (or channels): it picks the colour, so
    # a department keeps its colour whoever looks.
    position: int

    @property
    def total(self) -> int:
        return sum(self.counts)


@dataclass(frozen=True)
class PickUp:
    """How quickly one department's items of the window were picked up."""

    department_id: str
    label: str
    position: int
    median: timedelta | None  # None when none was picked up
    picked_up: int
    waiting: int  # open and not picked up yet: not in the median


@dataclass(frozen=True)
class Dashboard:
    """Everything the dashboard shows: the days, and a series or a row per department."""

    days: tuple[date, ...]
    by_department: tuple[Series, ...]
    by_channel: tuple[Series, ...]
    pick_up: tuple[PickUp, ...]

    @property
    def total(self) -> int:
        return sum(s.total for s in self.by_department)


@dataclass(frozen=True)
class Window:
    """The office days shown and the UTC instant each one starts at (plus the end)."""

    days: tuple[date, ...]
    starts: tuple[datetime, ...]  # in UTC, len(days) + 1: the last is the end of the last day

    @classmethod
    def ending(cls, now: datetime, zone: ZoneInfo, days: int = WINDOW_DAYS) -> Window:
        if now.tzinfo is None:
            raise ValueError("the dashboard's 'now' must carry a time zone")
        if days < 1:
            raise ValueError(f"the dashboard shows at least one day, not {days}")
        today = now.astimezone(zone).date()
        shown = tuple(today - timedelta(days=days - 1 - n) for n in range(days))
        after = (*shown, today + timedelta(days=1))
        return cls(shown, tuple(datetime.combine(d, time(), zone).astimezone(UTC) for d in after))

    def day_index(self) -> ColumnElement[int]:
        """SQL: which of the window's days an item was received on (0 is the first)."""
        if len(self.days) == 1:
            return literal(0)
        return case(
            *((Item.received_at < start, n) for n, start in enumerate(self.starts[1:-1])),
            else_=len(self.days) - 1,
        )

    def received_within(self) -> ColumnElement[bool]:
        """SQL: the item was received in the window (a range on ix_items_received)."""
        return and_(Item.received_at >= self.starts[0], Item.received_at < self.starts[-1])


def figures(
    session: Session,
    zone: ZoneInfo,
    now: datetime,
    departments: Collection[str] | None = None,
    days: int = WINDOW_DAYS,
) -> Dashboard:
    """The figures of the `days` office days up to and including today.

    `departments` limits them to those queues (a staff member's); None means every queue.
    """
    window = Window.ending(now, zone, days)
    names = _departments(session, departments)
    by_department: dict[str, list[int]] = {}
    by_channel: dict[str, list[int]] = {}
    waiting: dict[str, int] = {}
    for row in _counts(session, window, departments):
        by_department.setdefault(row.department_id, [0] * days)[row.day] += row.items
        by_channel.setdefault(row.channel, [0] * days)[row.day] += row.items
        waiting[row.department_id] = waiting.get(row.department_id, 0) + row.waiting
    # An inactive department is shown while it has items in the window; an item of a
    # department that no longer exists at all cannot be, since the column is a foreign key.
    shown = {d: found for d, found in names.items() if found.active or d in by_department}
    waits = _waits(session, window, departments)
    return Dashboard(
        days=window.days,
        by_department=tuple(
            Series(d, found.name, tuple(by_department.get(d, [0] * days)), found.position)
            for d, found in shown.items()
        ),
        by_channel=tuple(
            Series(c, CHANNEL_NAMES.get(c, c), tuple(by_channel[c]), n)
            for n, c in enumerate(_channel_order(by_channel))
        ),
        pick_up=tuple(
            PickUp(
                d,
                found.name,
                found.position,
                median(waits.get(d, [])),
                len(waits.get(d, [])),
                waiting.get(d, 0),
            )
            for d, found in shown.items()
        ),
    )


def median(values: list[timedelta]) -> timedelta | None:
    """The middle value, or the mean of the two middle ones; None of nothing."""
    if not values:
        return None
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2


def _departments(session: Session, only: Collection[str] | None) -> dict[str, _Department]:
    """Every department the person may see, in the office's order, numbered in the
    order of all of them, so that a department has the same colour for everyone."""
    query = select(Department.id, Department.name, Department.active).order_by(
        Department.active.desc(), Department.position, Department.id
    )
    rows = enumerate(session.execute(query))
    return {d: _Department(name, n, active) for n, (d, name, active) in rows if only is None or d in only}


@dataclass(frozen=True)
class _Department:
    name: str
    position: int
    active: bool


@dataclass(frozen=True)
class _Count:
    department_id: str
    channel: str
    day: int
    items: int
    waiting: int


def _counts(session: Session, window: Window, only: Collection[str] | None) -> list[_Count]:
    """Items and items not picked up yet, per department, channel and office day."""
    # The day is worked out in a subquery and grouped on outside it: grouping on the CASE
    # itself would repeat its 30 bound values, and PostgreSQL does not see the copy in the
    # GROUP BY as the same expression as the one selected.
    received = select(
        Item.department_id,
        Item.channel,
        window.day_index().label("day"),
        # Resolved (spam too) or merged before anyone picked it up, an item waits no more.
        case((and_(Item.claimed_at.is_(None), Item.status.in_(OPEN_STATUSES)), 1), else_=0).label("waiting"),
    ).where(window.received_within())
    if only is not None:
        received = received.where(Item.department_id.in_(only))
    inner = received.subquery()
    query = select(
        inner.c.department_id, inner.c.channel, inner.c.day, func.count(), func.sum(inner.c.waiting)
    ).group_by(inner.c.department_id, inner.c.channel, inner.c.day)
    return [_Count(d, c, int(day), int(n), int(w)) for d, c, day, n, w in session.execute(query)]


def _waits(session: Session, window: Window, only: Collection[str] | None) -> dict[str, list[timedelta]]:
    """How long each of the window's picked-up items waited, per department."""
    query = select(Item.department_id, SecondsBetween(Item.received_at, Item.claimed_at)).where(
        window.received_within(), Item.claimed_at.is_not(None)
    )
    if only is not None:
        query = query.where(Item.department_id.in_(only))
    waits: dict[str, list[timedelta]] = {}
    for department_id, seconds in session.execute(query):
        waits.setdefault(department_id, []).append(timedelta(seconds=round(seconds)))
    return waits


class SecondsBetween(FunctionElement[float]):
    """SQL: the seconds from one timestamp to another, to the nearest millisecond or so.

    Worked out by the database because turning each row's two timestamps into Python
    datetimes costs more than the rest of the dashboard together (measured: 30k rows).
    """

    type = Float()
    inherit_cache = True


@compiles(SecondsBetween, "sqlite")
def _sqlite_seconds(element: SecondsBetween, compiler: SQLCompiler, **kw: Any) -> str:
    start, end = (compiler.process(c, **kw) for c in element.clauses)
    return f"((julianday({end}) - julianday({start})) * 86400.0)"


@compiles(SecondsBetween, "postgresql")
def _postgresql_seconds(element: SecondsBetween, compiler: SQLCompiler, **kw: Any) -> str:
    start, end = (compiler.process(c, **kw) for c in element.clauses)
    return f"EXTRACT(EPOCH FROM ({end} - {start}))"


def _channel_order(channels: Collection[str]) -> list[str]:
    known = [c for c in CHANNEL_NAMES if c in channels]
    return known + sorted(set(channels) - set(known))
