"""What people do about an item's person: link its sender to a contact, merge it into
another item as the same request, undo that, or dismiss a suggestion.

Each takes the item as the triage actions do (routing.queues.triage): only from a
queue the person may see, and each leaves an audit event on the item.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from config.settings import Settings
from routing.contacts import directory, suggestions
from routing.contacts.addresses import parse_address
from routing.people.accounts import Person
from routing.queues.filters import OPEN_STATUSES
from routing.queues.triage import TriageError, item_for, open_item
from routing.store.models import AuditEvent, Contact, Item


def link(session: Session, item_id: int, who: Person, contact: str | None, settings: Settings) -> Item:
    """The sender is the contact named (id, address or number; one `who` may see), or,
    when none is named, the contact the number in the item's signature belongs to (the
    suggestion)."""
    item = item_for(session, item_id, who)
    if contact:
        target = _visible_contact(session, contact, who, settings.region)
    else:
        suggestion = suggestions.open_suggestion(session, item_id, suggestions.KNOWN_NUMBER)
        if suggestion is None or suggestion.contact_id is None:
            raise TriageError("name the contact: its number, or one of its addresses or phone numbers")
        target = directory.find_contact(session, str(suggestion.contact_id), settings.region)
    directory.link(session, item, target, who, settings.region)
    suggestions.settle(session, item_id, suggestions.KNOWN_NUMBER, "accepted")
    session.refresh(item)
    if (
        item.status in OPEN_STATUSES
        and suggestions.open_suggestion(session, item_id, suggestions.SAME_REQUEST) is None
    ):
        arrived = suggestions.Arrived(item_id, target.id, item.channel, item.received_at)
        suggestions.same_request(session, arrived, settings)
    return item


def _visible_contact(session: Session, text: str, who: Person, region: str) -> Contact:
    """The contact `text` names (directory.find_contact), if `who` may see it.

    Staff see a contact only through the items of their departments (as its page shows
    it, routing.contacts.reading): linking their item to another would show them its
    name, addresses and numbers, and join it to their sender. One they may not see is
    refused as one that does not exist is, word for word, so that nobody learns by
    trying whom the office knows.
    """
    found = directory.find_contact(session, text, region)
    if who.sees_every_queue or _has_item_in(session, found, who.departments):
        return found
    wanted = text.strip()
    if wanted.lstrip("#").isdecimal():
        raise directory.NoSuchContact(f"there is no contact {wanted}")
    value = parse_address(wanted, region).value  # find_contact read it as an address
    raise directory.NoSuchContact(f"no contact has the address or number {value}")


def _has_item_in(session: Session, contact: Contact, departments: frozenset[str]) -> bool:
    query = select(Item.id).where(Item.contact_id == contact.id, Item.department_id.in_(sorted(departments)))
    return session.scalar(query.limit(1)) is not None


def merge(session: Session, item_id: int, who: Person, into: int | None) -> Item:
    """Merge the item into item `into`, or into the one it is suggested to be the same request as.

    Not into a resolved item: the merged one leaves the queues, and would wait unseen."""
    if into is None:
        suggestion = suggestions.open_suggestion(session, item_id, suggestions.SAME_REQUEST)
        into = suggestion.other_item_id if suggestion is not None else None
    if into is not None and into < item_id:
        # Both rows are locked (triage.item_for) in id order, as a bulk action locks its
        # items: two merges of the same two items at once then queue, not deadlock.
        item_for(session, into, who)
    item = open_item(session, item_id, who)
    if into is None:
        raise TriageError(f"item {item_id} has no suggestion to merge; name the item to merge it into")
    target = item_for(session, into, who)
    if target.status == "resolved":
        raise TriageError(f"item {into} is resolved; reopen it first")
    return suggestions.merge_items(session, item, target, who)


def unmerged(session: Session, item_id: int, who: Person) -> Item:
    """The item, if `who` may see it and it is not merged into another.

    A merged item waits inside the item it joined and takes no action but an unmerge:
    a reroute or a reopen would put it back in a queue, a spam mark resolve it, while
    it is still merged, and its request would be shown twice.
    """
    item = item_for(session, item_id, who)
    if item.merged_into_id is not None:
        raise TriageError(f"item {item_id} is merged into item {item.merged_into_id}; unmerge it first")
    return item


def unmerge(session: Session, item_id: int, who: Person) -> Item:
    item = item_for(session, item_id, who)
    return suggestions.unmerge_item(session, item, who.name)


def dismiss(session: Session, item_id: int, who: Person) -> Item:
    """Say the item's suggestions are wrong; they are kept, as dismissed."""
    item = item_for(session, item_id, who)
    if not suggestions.settle(session, item_id, None, "dismissed"):
        raise TriageError(f"item {item_id} has no suggestion to dismiss")
    session.add(AuditEvent(item_id=item_id, actor=who.name, action="suggestion dismissed", detail={}))
    return item
