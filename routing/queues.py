"""Reading the queues: counts per department and pages of items, newest first.

Pages use keyset pagination on (received_at, id), so the thousandth page costs what
the first does. The web layer and the API both read through here.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session, selectinload

from routing.models import Department, Item, Message

STATUSES = ("new", "claimed", "resolved")
OPEN_STATUSES = ("new", "claimed")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class BadQuery(ValueError):
    """A filter or cursor that cannot be used; the message says which and why."""


@dataclass(frozen=True)
class Cursor:
    """Where a page ends: the (received_at, id) of its last item."""

    received_at: datetime
    item_id: int

    def __str__(self) -> str:
        micros = (self.received_at - EPOCH) // timedelta(microseconds=1)
        return f"{micros}-{self.item_id}"

    @classmethod
    def parse(cls, text: str) -> Cursor:
        micros, _, item_id = text.partition("-")
        if not (micros.isdigit() and item_id.isdigit()):
            raise BadQuery(f"cursor {text!r} is not one this server handed out")
        return cls(EPOCH + timedelta(microseconds=int(micros)), int(item_id))


@dataclass(frozen=True)
class DepartmentCount:
    department: Department
    open_items: int


@dataclass(frozen=True)
class Page:
    items: list[Item]
    next: Cursor | None


def department_counts(session: Session) -> list[DepartmentCount]:
    """Every active department with its number of open items, in config order."""
    rows = session.execute(
        select(Item.department_id, func.count())
        .where(Item.status.in_(OPEN_STATUSES))
        .group_by(Item.department_id)
    )
    counts = {department_id: count for department_id, count in rows}
    departments = session.scalars(
        select(Department).where(Department.active).order_by(Department.position)
    ).all()
    return [DepartmentCount(d, counts.get(d.id, 0)) for d in departments]


def list_items(
    session: Session,
    *,
    limit: int,
    department_id: str | None = None,
    status: str | None = None,
    after: Cursor | None = None,
    departments: Collection[str] | None = None,
) -> Page:
    """One page of items, newest first, with the cursor of the next page if any.

    `departments` limits the page to those queues (a staff member's), None to none."""
    if status is not None and status not in STATUSES:
        raise BadQuery(f"status {status!r} is not one of {', '.join(STATUSES)}")
    # Only the follow-ups' ids: a page shows how many messages an item has, not their text.
    query = select(Item).options(
        selectinload(Item.department), selectinload(Item.messages).load_only(Message.id, Message.item_id)
    )
    if department_id is not None:
        query = query.where(Item.department_id == department_id)
    if departments is not None:
        query = query.where(Item.department_id.in_(sorted(departments)))
    if status is not None:
        query = query.where(Item.status == status)
    if after is not None:
        query = query.where(
            or_(
                Item.received_at < after.received_at,
                and_(Item.received_at == after.received_at, Item.id < after.item_id),
            )
        )
    query = query.order_by(Item.received_at.desc(), Item.id.desc()).limit(limit + 1)
    items = list(session.scalars(query))
    if len(items) <= limit:
        return Page(items, None)
    last = items[limit - 1]
    return Page(items[:limit], Cursor(last.received_at, last.id))


def get_item(session: Session, item_id: int) -> Item | None:
    return session.get(Item, item_id)


def get_department(session: Session, department_id: str) -> Department | None:
    return session.get(Department, department_id)
