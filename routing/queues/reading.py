"""Reading the queues: counts per department, the items awaiting a decision, and pages.

Pages use keyset pagination (see routing.queues.filters.Cursor), so the thousandth page costs
what the first does. The web layer and the API both read through here.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

from sqlalchemy import ColumnElement, Select, and_, case, exists, func, literal, or_, select, tuple_
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session, selectinload

from config.settings import PRIORITIES
from routing.queues import search
from routing.queues.filters import (
    ME,
    NEVER_DUE,
    NOBODY,
    OPEN_STATUSES,
    STATUSES,
    BadQuery,
    Cursor,
    Filters,
    priority_rank,
)
from routing.store.models import Department, Item, Message, User, utcnow

__all__ = ["STATUSES", "BadQuery", "Cursor", "DepartmentCount", "Filters", "Page"]

T = TypeVar("T")

# How far back a watching page is shown items again, in case one committed late.
LATE_WINDOW = timedelta(seconds=60)


@dataclass(frozen=True)
class DepartmentCount:
    department: Department
    new: int = 0
    claimed: int = 0
    overdue: int = 0  # open items whose due time has passed

    @property
    def open_items(self) -> int:
        return self.new + self.claimed


@dataclass(frozen=True)
class Page:
    items: list[Item]
    next: Cursor | None


def department_counts(
    session: Session, departments: Collection[str] | None = None, now: datetime | None = None
) -> list[DepartmentCount]:
    """Every active department (of `departments`, None for all) with its new, claimed
    and overdue items, in config order. Read from ix_items_open alone."""
    overdue = func.sum(case((Item.due_at < (now or utcnow()), 1), else_=0))
    query = (
        select(Item.department_id, Item.status, func.count(), overdue)
        .where(Item.status.in_(OPEN_STATUSES))
        .group_by(Item.department_id, Item.status)
    )
    listed = select(Department).where(Department.active).order_by(Department.position)
    if departments is not None:
        query = query.where(Item.department_id.in_(sorted(departments)))
        listed = listed.where(Department.id.in_(sorted(departments)))
    counts: dict[str, dict[str, int]] = {}
    for department_id, status, count, late in session.execute(query):
        found = counts.setdefault(department_id, {"overdue": 0})
        found[status] = count
        found["overdue"] += late or 0
    return [DepartmentCount(d, **counts.get(d.id, {})) for d in session.scalars(listed)]


@dataclass(frozen=True)
class Decisions:
    """The newest open items a person must place, and how many wait in all."""

    shown: list[Item]
    waiting: int


def needs_decision(session: Session, departments: Collection[str] | None, limit: int) -> Decisions:
    """Open items a person must place (weak suggestion, unrouted, unknown machine mail),
    newest first, at most `limit` of them: the partial index ix_items_decision holds only
    these, so counting them all stays cheap."""
    undecided = and_(Item.decision_needed.is_not(None), Item.status.in_(OPEN_STATUSES))
    if departments is not None:
        undecided = and_(undecided, Item.department_id.in_(sorted(departments)))
    newest = (
        select(Item)
        .options(selectinload(Item.department))
        .where(undecided)
        .order_by(Item.received_at.desc(), Item.id.desc())
        .limit(limit)
    )
    shown = list(session.scalars(newest))
    if len(shown) < limit:
        return Decisions(shown, len(shown))
    return Decisions(shown, session.scalar(select(func.count()).select_from(Item).where(undecided)) or 0)


def list_items(
    session: Session,
    *,
    limit: int,
    department_id: str | None = None,
    filters: Filters | None = None,
    after: Cursor | None = None,
    departments: Collection[str] | None = None,
    me: str | None = None,
) -> Page:
    """One page of items in the filters' order, with the cursor of the next page if any.

    `departments` limits the page to those queues (a staff member's), None to none;
    `me` is the asking person's name, for the assignee filter "me"."""
    filters = filters or Filters()
    order = _most_urgent_first if filters.sort == "urgent" else _newest_first
    matching = search.matching(session, filters.search) if filters.search is not None else None
    if matching is not None and matching.walk:
        # A word in many items: the page's ids are found by walking the queue in order.
        ids = order(_where(select(Item.id), session, filters, department_id, departments, me), after)
        found = search.walk(session, matching, ids, limit + 1)
        query = _where(_items(), session, filters, department_id, departments, me).where(Item.id.in_(found))
    else:
        query = _view(session, filters, department_id, departments, me, matching)
    query = order(query, after)
    items = list(session.scalars(query.limit(limit + 1)))
    if len(items) <= limit:
        return Page(items, None)
    return Page(items[:limit], _cursor(items[limit - 1], filters.sort))


def newer_items(
    session: Session, department_id: str, after_id: int, filters: Filters, me: str | None, limit: int
) -> list[Item]:
    """Items of the view that arrived after item `after_id`, newest first: what a
    watching page adds at its top. Cheap: the newest few ids of one queue.

    Also the view's items come into it in the last LATE_WINDOW (a reopened one too), whatever their id: on
    PostgreSQL two processes can take ids 10 and 11 and commit 11 first, and a page
    that saw 11 must still be shown 10. The page skips the rows it has already."""
    view = _view(session, filters, department_id, None, me)
    newer = session.scalars(view.where(Item.id > after_id).order_by(Item.id.desc()).limit(limit))
    recent = session.scalars(
        view.where(Item.queued_at >= utcnow() - LATE_WINDOW, Item.id <= after_id)
        .order_by(Item.queued_at.desc(), Item.id.desc())
        .limit(limit)
    )
    found = {item.id: item for item in [*newer, *recent]}
    return [found[item_id] for item_id in sorted(found, reverse=True)][:limit]


def item_in_view(
    session: Session, department_id: str, item_id: int, filters: Filters, me: str | None
) -> Item | None:
    """The item if it (still) belongs in the view, else None: a page that changed an
    item asks this to redraw or drop its row."""
    query = _view(session, filters, department_id, None, me).where(Item.id == item_id)
    return session.scalars(query).first()


def latest_item_id(session: Session) -> int:
    """The highest item id stored: a watching page asks for the items after it."""
    return session.scalar(select(func.max(Item.id))) or 0


def get_item(session: Session, item_id: int) -> Item | None:
    return session.get(Item, item_id)


def active_departments(session: Session) -> list[Department]:
    return list(session.scalars(select(Department).where(Department.active).order_by(Department.position)))


def get_department(session: Session, department_id: str) -> Department | None:
    return session.get(Department, department_id)


def _view(
    session: Session,
    filters: Filters,
    department_id: str | None,
    departments: Collection[str] | None,
    me: str | None,
    matching: search.Matching | None = None,
) -> Select[Item]:
    """The items of the view, with what a page row shows of them."""
    query = _where(_items(), session, filters, department_id, departments, me)
    if matching is None and filters.search is not None:
        matching = search.matching(session, filters.search)
    return query if matching is None else query.where(matching.condition)


def _items() -> Select[Item]:
    # Only the follow-ups' ids: a row shows how many messages an item has, not their text.
    return select(Item).options(
        selectinload(Item.department),
        selectinload(Item.assignee),
        selectinload(Item.messages).load_only(Message.id, Message.item_id),
    )


def _where(
    query: Select[T],
    session: Session,
    filters: Filters,
    department_id: str | None,
    departments: Collection[str] | None,
    me: str | None,
) -> Select[T]:
    """`query` limited to the queue(s) and every filter but the search."""
    if department_id is not None:
        query = query.where(Item.department_id == department_id)
    if departments is not None:
        query = query.where(Item.department_id.in_(sorted(departments)))
    return query.where(*_conditions(session, filters, me))


def _conditions(session: Session, filters: Filters, me: str | None) -> list[ColumnElement[bool]]:
    found: list[ColumnElement[bool]] = []
    if filters.statuses is not None:
        found.append(Item.status.in_(filters.statuses))
    if filters.channel is not None:
        found.append(Item.channel == filters.channel)
    if filters.priority is not None:
        found.append(Item.priority == filters.priority)
    if filters.tag is not None:
        found.append(_has_tag(session, filters.tag))
    if filters.assignee is not None:
        found.append(_assigned_to(session, filters.assignee, me))
    if filters.due is not None:  # "overdue", the one value it takes
        found.append(Item.due_at < utcnow())
    return found


def _has_tag(session: Session, tag: str) -> ColumnElement[bool]:
    """The tags list holds exactly `tag` (not a tag that merely contains it)."""
    if session.get_bind().dialect.name == "postgresql":
        return Item.tags.cast(JSONB).op("@>")(func.jsonb_build_array(tag))  # type: ignore[no-any-return]
    tags = func.json_each(Item.tags).table_valued("value")
    return exists(select(literal(1)).select_from(tags).where(tags.c.value == tag))


def _assigned_to(session: Session, who: str, me: str | None) -> ColumnElement[bool]:
    if who == NOBODY:
        return Item.assignee_id.is_(None)
    name = me if who == ME else who
    user_id = session.scalar(select(User.id).where(User.name == name)) if name else None
    if user_id is None:
        raise BadQuery(f"assignee {who!r} is not a user name, {ME!r} or {NOBODY!r}")
    return Item.assignee_id == user_id


def _rank() -> ColumnElement[int]:
    return case({p: priority_rank(p) for p in PRIORITIES}, value=Item.priority, else_=len(PRIORITIES))


def _due() -> ColumnElement[datetime]:
    return func.coalesce(Item.due_at, literal(NEVER_DUE, Item.due_at.type))


def _newest_first(query: Select[T], after: Cursor | None) -> Select[T]:
    if after is not None:
        query = query.where(_older(after))
    return query.order_by(Item.queued_at.desc(), Item.id.desc())


def _older(after: Cursor) -> ColumnElement[bool]:
    # A row-value comparison, not `a < x OR (a = x AND id < y)`: both databases then
    # start the index range at the cursor instead of testing every newer row.
    return tuple_(Item.queued_at, Item.id) < tuple_(after.queued_at, after.item_id)


def _most_urgent_first(query: Select[T], after: Cursor | None) -> Select[T]:
    """Urgent before high before normal before low; within one priority the soonest
    due (so the overdue) first, then those without a due time; then newest first.

    No index serves this order: it sorts what the queue and status filters leave."""
    rank, due = _rank(), _due()
    if after is not None and after.rank is not None and after.due_at is not None:
        query = query.where(
            or_(
                rank > after.rank,
                and_(rank == after.rank, or_(due > after.due_at, and_(due == after.due_at, _older(after)))),
            )
        )
    return query.order_by(rank, due, Item.queued_at.desc(), Item.id.desc())


def _cursor(item: Item, sort: str) -> Cursor:
    if sort == "urgent":
        return Cursor(item.queued_at, item.id, priority_rank(item.priority), item.due_at or NEVER_DUE)
    return Cursor(item.queued_at, item.id)
