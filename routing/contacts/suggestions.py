"""Suggestions a person confirms: "probably the same request as #N" when a contact writes
again on another channel while an item of theirs is open, and "the number in this
email's signature already texted us". Confirming the first merges the items (undone by
an unmerge), the second links the contacts (routing.contacts.directory).

A merged item keeps everything it had, raw message included: it only waits, with the
status "merged", inside the item it joined, whose page shows both conversations in order.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, Select, bindparam, insert, literal, select, union_all, update
from sqlalchemy.orm import Session

from config.settings import Settings
from routing.contacts.directory import ContactError, ContactsAtArrival
from routing.message import InboundMessage
from routing.people.accounts import Person
from routing.queues.filters import OPEN_STATUSES
from routing.store.models import AuditEvent, Base, ContactSuggestion, Item

SAME_REQUEST = "same-request"
KNOWN_NUMBER = "known-number"
MERGED = "merged"

_INSERT_SUGGESTION = insert(Base.metadata.tables[ContactSuggestion.__tablename__])
# The same-request look-up, built once over the table: it runs for every message of a known contact.
_ITEMS = Base.metadata.tables[Item.__tablename__]


def _open_in_window(other_channels: ColumnElement[bool]) -> Select[tuple[int, datetime]]:
    """The contact's open items of the window on the channels `other_channels` picks: one
    range of ix_items_contact_channel, so that the contact's items on this message's own
    channel, however many, are never read."""
    return select(_ITEMS.c.id, _ITEMS.c.received_at).where(
        _ITEMS.c.contact_id == bindparam("contact_id"),
        other_channels,
        _ITEMS.c.received_at >= bindparam("since"),
        _ITEMS.c.received_at <= bindparam("until"),
        _ITEMS.c.id != bindparam("item_id"),
        # Each status a bound value of its own: a list given to `in_` is rendered anew
        # at every execution, which cost more than the rest of the statement's overhead.
        _ITEMS.c.status.in_([literal(status) for status in OPEN_STATUSES]),
    )


# Another channel is two ranges, the channels before this one and those after it, asked
# apart: PostgreSQL reads `channel < x OR channel > x` (or `!=`) as a filter over all of
# the contact's items in the window, thousands for a sender that writes all day.
_ELSEWHERE = union_all(
    _open_in_window(_ITEMS.c.channel < bindparam("channel")),
    _open_in_window(_ITEMS.c.channel > bindparam("channel")),
).subquery()
_OLDEST_OPEN_ELSEWHERE = select(_ELSEWHERE.c.id).order_by(_ELSEWHERE.c.received_at, _ELSEWHERE.c.id).limit(1)


def suggest_at_arrival(
    session: Session,
    item_id: int,
    contact_id: int,
    message: InboundMessage,
    settings: Settings,
    contacts: ContactsAtArrival,
) -> None:
    """Look for what a person should know about a new item of a known contact."""
    same_request(session, item_id, contact_id, message.channel, message.received_at, settings)
    other = contacts.other_by_number(message, contact_id)
    if other is not None:
        known_number(session, item_id, *other)


def same_request(
    session: Session, item_id: int, contact_id: int, channel: str, received_at: datetime, settings: Settings
) -> int | None:
    """Suggest the contact's oldest open item of the window on another channel, if any.

    The oldest, so that a text, a voicemail and an email about one boiler all point at
    the first of them. Read from ix_items_contact_channel: the contact's items of the
    window on the other channels.
    """
    hours = settings.contacts.same_request_hours
    if hours <= 0:
        return None
    window = {"since": received_at - timedelta(hours=hours), "until": received_at}
    found = {"contact_id": contact_id, "item_id": item_id, "channel": channel, **window}
    other = session.execute(_OLDEST_OPEN_ELSEWHERE, found).scalar()
    if other is not None:
        session.execute(
            _INSERT_SUGGESTION,
            {"item_id": item_id, "kind": SAME_REQUEST, "other_item_id": other, "status": "open"},
        )
    return other


def known_number(session: Session, item_id: int, number: str, contact_id: int) -> None:
    """Suggest the contact that already wrote or called from a number in the item's text."""
    session.execute(
        _INSERT_SUGGESTION,
        {
            "item_id": item_id,
            "kind": KNOWN_NUMBER,
            "contact_id": contact_id,
            "number": number,
            "status": "open",
        },
    )


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
