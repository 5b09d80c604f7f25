"""Reading contacts: one person's items across channels, their other open items, search.

Staff see a contact only through the items of their departments: a contact with none
there is as unknown to them as one that does not exist.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy import Select, exists, or_, select
from sqlalchemy.orm import Session, selectinload

from routing.contacts.addresses import BadAddress, parse_address
from routing.queues.filters import OPEN_STATUSES
from routing.store.models import Contact, ContactAddress, ContactSuggestion, Item

# A contact's page lists this many items, newest first; the API pages past them.
ITEMS_SHOWN = 200
MAX_QUERY = 320


@dataclass(frozen=True)
class ContactItems:
    contact: Contact
    items: list[Item]
    # More items than shown: the page says so.
    more: bool


def contact_items(
    session: Session, contact_id: int, departments: Collection[str] | None, limit: int = ITEMS_SHOWN
) -> ContactItems | None:
    """The contact and its items newest first (read from ix_items_contact_channel), or None
    when there is no such contact, or none of its items is in `departments`."""
    contact = session.scalar(
        select(Contact).where(Contact.id == contact_id).options(selectinload(Contact.addresses))
    )
    if contact is None:
        return None
    query = _visible(select(Item).where(Item.contact_id == contact_id), departments)
    items = list(
        session.scalars(
            query.options(selectinload(Item.department))
            .order_by(Item.received_at.desc(), Item.id.desc())
            .limit(limit + 1)
        )
    )
    if departments is not None and not items:
        return None
    return ContactItems(contact, items[:limit], len(items) > limit)


def other_open_items(session: Session, item: Item, departments: Collection[str] | None) -> list[Item]:
    """The open items of the item's contact besides this one, newest first."""
    if item.contact_id is None:
        return []
    query = select(Item).where(
        Item.contact_id == item.contact_id, Item.id != item.id, Item.status.in_(OPEN_STATUSES)
    )
    return list(session.scalars(_visible(query, departments).order_by(Item.received_at.desc()).limit(20)))


@dataclass(frozen=True)
class ItemPerson:
    """What the item page shows of the sender: their contact, their other open items and
    the open suggestions about this item."""

    contact: Contact | None
    others: list[Item]
    suggestions: list[ContactSuggestion]


def item_person(session: Session, item: Item, departments: Collection[str] | None) -> ItemPerson:
    suggestions = session.scalars(
        select(ContactSuggestion)
        .where(ContactSuggestion.item_id == item.id, ContactSuggestion.status == "open")
        .order_by(ContactSuggestion.id)
    )
    return ItemPerson(item.contact, other_open_items(session, item, departments), list(suggestions))


def search(
    session: Session, text: str, region: str, departments: Collection[str] | None, limit: int
) -> list[Contact]:
    """Contacts whose name holds `text`, or one of whose addresses or numbers holds it
    (a number as the office writes it, "07700 900123", read as the stored "+447700900123")."""
    text = text.strip()[:MAX_QUERY]
    if not text:
        return []
    try:
        address = parse_address(text, region)
    except BadAddress:
        address = None
    wanted = or_(
        Contact.name.ilike(f"%{_escaped(text)}%", escape="\\"),
        exists().where(
            ContactAddress.contact_id == Contact.id,
            ContactAddress.value.contains(address.value if address else text.lower(), autoescape=True),
        ),
    )
    query = select(Contact).where(wanted)
    if departments is not None:
        query = query.where(
            exists().where(Item.contact_id == Contact.id, Item.department_id.in_(sorted(departments)))
        )
    return list(
        session.scalars(query.options(selectinload(Contact.addresses)).order_by(Contact.id).limit(limit))
    )


def _visible(query: Select[Item], departments: Collection[str] | None) -> Select[Item]:
    return query if departments is None else query.where(Item.department_id.in_(sorted(departments)))


def _escaped(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
