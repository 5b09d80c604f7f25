"""What people do about an item's person: link its sender to a contact, merge it into
another item as the same request, undo that, or dismiss a suggestion.

Each takes the item as the triage actions do (routing.queues.triage): only from a
queue the person may see, and each leaves an audit event on the item.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from config.settings import Settings
from routing.contacts import directory, suggestions
from routing.people.accounts import Person
from routing.queues.filters import OPEN_STATUSES
from routing.queues.triage import TriageError, item_for, open_item
from routing.store.models import AuditEvent, Item


def link(session: Session, item_id: int, who: Person, contact: str | None, settings: Settings) -> Item:
    """The sender is the contact named (id, address or number), or, when none is named,
    the contact the number in the item's signature belongs to (the suggestion)."""
    item = item_for(session, item_id, who)
    if contact:
        target = directory.find_contact(session, contact, settings.region)
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


def merge(session: Session, item_id: int, who: Person, into: int | None) -> Item:
    """Merge the item into item `into`, or into the one it is suggested to be the same request as."""
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
    return suggestions.merge_items(session, item, item_for(session, into, who), who)


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
