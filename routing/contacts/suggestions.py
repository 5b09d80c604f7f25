"""Suggestions a person confirms: "probably the same request as #N" when a contact writes
again on another channel while an item of theirs is open, and "the number in this
email's signature already texted us". Confirming the first merges the items (undone by
an unmerge), the second links the contacts (routing.contacts.directory).

A merged item keeps everything it had, raw message included: it only waits, with the
status "merged", inside the item it joined, whose page shows both conversations in order.
"""

from __future__ import annotations

import functools
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    CTE,
    ColumnElement,
    Integer,
    Select,
    String,
    bindparam,
    insert,
    literal,
    select,
    union_all,
    update,
)
from sqlalchemy.orm import Session
from sqlalchemy.types import TypeEngine

from config.settings import Settings
from routing.contacts.directory import ContactError, ContactsAtArrival
from routing.message import InboundMessage
from routing.people.accounts import Person
from routing.queues.filters import OPEN_STATUSES
from routing.store.models import AuditEvent, Base, ContactSuggestion, Item, UTCDateTime

SAME_REQUEST = "same-request"
KNOWN_NUMBER = "known-number"
MERGED = "merged"

_INSERT_SUGGESTION = insert(Base.metadata.tables[ContactSuggestion.__tablename__])
_ITEMS = Base.metadata.tables[Item.__tablename__]
# Items checked in one statement at most: a worker's batch is 16, and SQLite takes at
# most 500 SELECTs joined into one.
SAME_REQUESTS_PER_STATEMENT = 64
# The columns of the same-request check's rows, one row an item.
_WANTED: tuple[tuple[str, TypeEngine[Any]], ...] = (
    ("place", Integer()),
    ("contact_id", Integer()),
    ("channel", String()),
    ("since", UTCDateTime()),
    ("until", UTCDateTime()),
    ("item_id", Integer()),
)


@dataclass(frozen=True)
class Arrived:
    """An item of a known contact, as the same-request check reads it."""

    item_id: int
    contact_id: int
    channel: str
    received_at: datetime


def _open_in(wanted: CTE, other_channels: ColumnElement[bool], earlier_only: bool) -> Select[int, datetime]:
    """The contact's open items of the window on the channels `other_channels` picks: one
    range of ix_items_contact_channel, so that the contact's items on this message's own
    channel, however many, are never read."""
    conditions = [
        _ITEMS.c.contact_id == wanted.c.contact_id,
        other_channels,
        _ITEMS.c.received_at >= wanted.c.since,
        _ITEMS.c.received_at <= wanted.c.until,
        # Each status a bound value of its own: a list given to `in_` is rendered anew
        # at every execution, which cost more than the rest of the statement's overhead.
        _ITEMS.c.status.in_([literal(status) for status in OPEN_STATUSES]),
    ]
    if earlier_only:
        conditions.append(_ITEMS.c.id < wanted.c.item_id)
    return select(_ITEMS.c.id, _ITEMS.c.received_at).where(*conditions).correlate(wanted)


@functools.lru_cache(maxsize=2 * SAME_REQUESTS_PER_STATEMENT)
def _same_request_statement(size: int, earlier_only: bool) -> Select[int, int | None]:
    """For each of `size` rows of bound values (place_N, contact_id_N, channel_N, since_N,
    until_N, item_id_N), the oldest open item of the contact's on another channel. Built
    once for each size: a statement of literal rows (VALUES) is compiled anew at every
    execution, which cost more than the statements it spares.

    Another channel is two ranges, the channels before this one and those after it,
    asked apart: PostgreSQL reads `channel < x OR channel > x` (or `!=`) as a filter over
    all of the contact's items in the window, thousands for a sender that writes all day."""
    wanted = union_all(
        *(
            select(*(bindparam(f"{name}_{row}", type_=kind).label(name) for name, kind in _WANTED))
            for row in range(size)
        )
    ).cte("wanted")
    elsewhere = union_all(
        _open_in(wanted, _ITEMS.c.channel < wanted.c.channel, earlier_only),
        _open_in(wanted, _ITEMS.c.channel > wanted.c.channel, earlier_only),
    ).subquery("elsewhere")
    oldest = (
        select(elsewhere.c.id)
        .order_by(elsewhere.c.received_at, elsewhere.c.id)
        .limit(1)
        .correlate(wanted)
        .scalar_subquery()
    )
    return select(wanted.c.place, oldest)


def same_requests(
    session: Session, arrived: Sequence[Arrived], settings: Settings, *, earlier_only: bool = False
) -> list[int | None]:
    """For each item, the contact's oldest open item of the window on another channel, if
    any, in one statement; with `earlier_only`, only among items stored before it (a batch
    being stored asks as if each item had been stored alone, in turn).

    The oldest, so that a text, a voicemail and an email about one boiler all point at
    the first of them. Read from ix_items_contact_channel: the contact's items of the
    window on the other channels.
    """
    hours = settings.contacts.same_request_hours
    if hours <= 0 or not arrived:
        return [None] * len(arrived)
    window = timedelta(hours=hours)
    found: list[int | None] = []
    for start in range(0, len(arrived), SAME_REQUESTS_PER_STATEMENT):
        part = arrived[start : start + SAME_REQUESTS_PER_STATEMENT]
        bound: dict[str, Any] = {}
        for place, new in enumerate(part):
            row = (place, new.contact_id, new.channel, new.received_at - window, new.received_at, new.item_id)
            bound.update((f"{name}_{place}", value) for (name, _), value in zip(_WANTED, row, strict=True))
        statement = _same_request_statement(len(part), earlier_only)
        others: dict[int, int | None] = {place: other for place, other in session.execute(statement, bound)}
        found += [others.get(place) for place in range(len(part))]
    return found


def same_request(session: Session, arrived: Arrived, settings: Settings) -> int | None:
    """Suggest the contact's oldest open item of the window on another channel, if any
    (same_requests); its id."""
    other = same_requests(session, [arrived], settings)[0]
    if other is not None:
        session.execute(_INSERT_SUGGESTION, _same_request_row(arrived.item_id, other))
    return other


def _same_request_row(item_id: int, other: int) -> dict[str, Any]:
    return {"item_id": item_id, "kind": SAME_REQUEST, "other_item_id": other, "status": "open"}


@dataclass
class SuggestionsAtArrival:
    """What a person should know about the new items of a batch of known contacts,
    gathered while the batch is stored and looked for at once when it is written: the
    same-request check in one statement, the suggestions in another."""

    settings: Settings
    arrived: list[Arrived] = field(default_factory=list)
    # (item, number, contact): the number written in the item's email is that contact's.
    numbers: list[tuple[int, str, int]] = field(default_factory=list)

    def add(
        self, item_id: int, contact_id: int, message: InboundMessage, contacts: ContactsAtArrival
    ) -> None:
        """A new item of a known contact: looked at when the batch is written."""
        self.arrived.append(Arrived(item_id, contact_id, message.channel, message.received_at))
        other = contacts.other_by_number(message, contact_id)
        if other is not None:
            self.numbers.append((item_id, *other))

    def write(self, session: Session) -> None:
        """Look for what was gathered, store the suggestions found, and gather anew."""
        others = same_requests(session, self.arrived, self.settings, earlier_only=True)
        rows = [
            _same_request_row(new.item_id, other)
            for new, other in zip(self.arrived, others, strict=True)
            if other is not None
        ]
        rows += [
            {
                "item_id": item_id,
                "kind": KNOWN_NUMBER,
                "contact_id": contact_id,
                "number": number,
                "status": "open",
            }
            for item_id, number, contact_id in self.numbers
        ]
        if rows:
            session.execute(_INSERT_SUGGESTION, rows)
        self.arrived, self.numbers = [], []


def open_suggestion(session: Session, item_id: int, kind: str) -> ContactSuggestion | None:
    return session.scalar(
        select(ContactSuggestion)
        .where(ContactSuggestion.item_id == item_id, ContactSuggestion.kind == kind)
        .where(ContactSuggestion.status == "open")
        .order_by(ContactSuggestion.id.desc())
        .limit(1)
    )


def settle(session: Session, item_id: int, kind: str | None, status: str) -> int:
    """Mark the item's open suggestions (of `kind`, or all) accepted or dismissed."""
    query = update(ContactSuggestion).where(
        ContactSuggestion.item_id == item_id, ContactSuggestion.status == "open"
    )
    if kind is not None:
        query = query.where(ContactSuggestion.kind == kind)
    result = session.execute(query.values(status=status))
    return int(getattr(result, "rowcount", 0) or 0)


def merge_items(session: Session, item: Item, target: Item, who: Person) -> Item:
    """Merge `item` into `target` as one request: both audited, undone by unmerge_item."""
    if target.id == item.id:
        raise ContactError(f"item {item.id} cannot be merged into itself")
    if target.status == MERGED:
        raise ContactError(f"item {target.id} is merged into item {target.merged_into_id}; merge into that")
    if session.scalar(select(Item.id).where(Item.merged_into_id == item.id).limit(1)) is not None:
        raise ContactError(f"items are merged into item {item.id}; merge {target.id} into it instead")
    before = {"item": target.id, "status": item.status}
    session.add(AuditEvent(item_id=item.id, actor=who.name, action="merged into", detail=before))
    session.add(AuditEvent(item_id=target.id, actor=who.name, action="merged", detail={"item": item.id}))
    item.merged_into_id, item.status, item.decision_needed = target.id, MERGED, None
    settle(session, item.id, SAME_REQUEST, "accepted")
    return item


def unmerge_item(session: Session, item: Item, actor: str) -> Item:
    """Undo a merge: the item is back in its queue as it was before."""
    if item.merged_into_id is None:
        raise ContactError(f"item {item.id} is not merged into another")
    target_id = item.merged_into_id
    merged = session.scalar(
        select(AuditEvent)
        .where(AuditEvent.item_id == item.id, AuditEvent.action == "merged into")
        .order_by(AuditEvent.id.desc())
        .limit(1)
    )
    status = str(merged.detail.get("status", "new")) if merged is not None else "new"
    item.merged_into_id, item.status = None, status
    session.add(AuditEvent(item_id=item.id, actor=actor, action="unmerged", detail={"item": target_id}))
    session.add(AuditEvent(item_id=target_id, actor=actor, action="unmerged", detail={"item": item.id}))
    return item


def desk_suggestions(
    session: Session, departments: Collection[str] | None, limit: int
) -> list[tuple[ContactSuggestion, Item]]:
    """Open suggestions on open items, newest first, for the front desk."""
    query = (
        select(ContactSuggestion, Item)
        .join(Item, Item.id == ContactSuggestion.item_id)
        .where(ContactSuggestion.status == "open", Item.status.in_(OPEN_STATUSES))
        .order_by(ContactSuggestion.created_at.desc(), ContactSuggestion.id.desc())
        .limit(limit)
    )
    if departments is not None:
        query = query.where(Item.department_id.in_(sorted(departments)))
    return [(row[0], row[1]) for row in session.execute(query)]
