"""Who a contact is: made from a sender at delivery, found by id, address or number,
joined with another (a link or a merge) and split apart again.

Each thing a person does to a contact is a ContactEvent, and the item it was done from
gets an audit event too. Events name contacts and items by id, never by an address or
a number, so that erasing a person leaves nothing of them in anyone else's history.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from sqlalchemy import ColumnElement, Select, and_, bindparam, delete, func, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from routing.contacts.addresses import Address, BadAddress, address_of, numbers_in, parse_address
from routing.message import InboundMessage
from routing.people.accounts import Person
from routing.queues.triage import TriageError
from routing.store.models import (
    MAX_ID,
    AuditEvent,
    Base,
    Contact,
    ContactAddress,
    ContactEvent,
    ContactSuggestion,
    Item,
    Message,
    Reply,
)


class ContactError(TriageError):
    """Something asked of a contact that cannot be done; the message says why."""


class NoSuchContact(ContactError):
    pass


_TABLES = Base.metadata.tables
_INSERT_CONTACT = insert(_TABLES[Contact.__tablename__]).returning(_TABLES[Contact.__tablename__].c.id)
# Built once over the table: it runs for every batch of messages that arrives.
_ADDRESSES = _TABLES[ContactAddress.__tablename__]
# A new sender's address, unless another transaction has just given it to a contact: on
# PostgreSQL this waits for that one to end, and inserts nothing if it committed.
_INSERT_ADDRESS = {
    name: dialect.insert(_ADDRESSES)
    .on_conflict_do_nothing(index_elements=[_ADDRESSES.c.value])
    .returning(_ADDRESSES.c.contact_id)
    for name, dialect in (("postgresql", postgresql), ("sqlite", sqlite))
}
_DELETE_CONTACT = delete(_TABLES[Contact.__tablename__]).where(
    _TABLES[Contact.__tablename__].c.id == bindparam("id")
)
_CONTACT_OF_VALUE = select(_ADDRESSES.c.contact_id).where(_ADDRESSES.c.value == bindparam("value"))
_CONTACTS_OF_VALUES = select(_ADDRESSES.c.value, _ADDRESSES.c.contact_id).where(
    _ADDRESSES.c.value.in_(bindparam("values", expanding=True))
)


def written_numbers(message: InboundMessage, region: str) -> tuple[str, ...]:
    """The phone numbers written in an email's text (none for other channels), in order."""
    return tuple(numbers_in(message.text, region)) if message.channel == "email" else ()


class ContactsAtArrival:
    """The contacts of the senders of messages being delivered together, and of the
    numbers written in their emails: read in one statement, made on first sight (a
    sender's second message of the batch finds the contact its first made, and an email
    the contact a text of the batch made of the number in its signature).

    `written` holds the numbers of messages whose text was read ahead (keyed by their
    idempotency key), so that the matcher does not run in the storing transaction,
    which on SQLite holds the only write lock; the others' are read here."""

    def __init__(
        self,
        session: Session,
        messages: Iterable[InboundMessage],
        region: str,
        written: Mapping[str, tuple[str, ...]] | None = None,
    ) -> None:
        self._addresses: dict[str, Address | None] = {}
        self._numbers: dict[str, tuple[str, ...]] = {}
        written = written or {}
        for message in messages:
            self._addresses[message.sender] = address_of(message.sender, region)
            known = written.get(message.idempotency_key)
            self._numbers[message.idempotency_key] = (
                known if known is not None else written_numbers(message, region)
            )
        values = {address.value for address in self._addresses.values() if address is not None}
        values.update(number for numbers in self._numbers.values() for number in numbers)
        found = session.execute(_CONTACTS_OF_VALUES, {"values": sorted(values)}).all() if values else []
        self._contacts: dict[str, int] = dict(found)

    def other_by_number(self, message: InboundMessage, contact_id: int) -> tuple[str, int] | None:
        """(number, contact) for the first number written in the message (an email of the
        batch) that is another contact's than `contact_id`; None if none is."""
        for number in self._numbers.get(message.idempotency_key, ()):
            owner = self._contacts.get(number)
            if owner is not None and owner != contact_id:
                return number, owner
        return None

    def of(self, session: Session, message: InboundMessage) -> int | None:
        """The contact of the sender of a message of the batch, made on first sight;
        None for a sender that is neither an address nor a number. Two first messages of
        one sender in two transactions at once (two workers on PostgreSQL): the second
        finds the contact the first made once that one commits, and drops its own."""
        address = self._addresses[message.sender]
        if address is None:
            return None
        found = self._contacts.get(address.value)
        if found is not None:
            return found
        name = (message.sender_name or "").strip() or None
        contact_id: int = session.execute(_INSERT_CONTACT, {"name": name}).scalar_one()
        row = {"contact_id": contact_id, "kind": address.kind, "value": address.value}
        if session.execute(_INSERT_ADDRESS[session.get_bind().dialect.name], row).scalar() is None:
            session.execute(_DELETE_CONTACT, {"id": contact_id})
            contact_id = session.execute(_CONTACT_OF_VALUE, {"value": address.value}).scalar_one()
        self._contacts[address.value] = contact_id
        return contact_id


def find_contact(session: Session, text: str, region: str) -> Contact:
    """A contact by its id ("12" or "#12"), or by any of its addresses or numbers."""
    wanted = text.strip()
    if wanted.lstrip("#").isdecimal():
        return _by_digits(session, wanted, region)
    try:
        address = parse_address(wanted, region)
    except BadAddress as error:
        raise ContactError(f"{error}, nor a contact's number like 12") from None
    contact = _by_address(session, address.value)
    if contact is None:
        raise NoSuchContact(f"no contact has the address or number {address.value}")
    return contact


def _by_digits(session: Session, wanted: str, region: str) -> Contact:
    """The contact that digits name: "#12" is an id; bare digits are an id or a phone
    number as people write one ("07700900123"), and when they are both, of two different
    contacts, the choice is refused rather than guessed: an erasure of the wrong one
    cannot be undone."""
    number = int(wanted.lstrip("#"))
    by_id = session.get(Contact, number) if number <= MAX_ID else None
    written = None if wanted.startswith("#") else address_of(wanted, region)
    value = written.value if written is not None else None
    by_number = _by_address(session, value) if value is not None else None
    if by_id is not None and by_number is not None and by_id.id != by_number.id:
        raise ContactError(
            f"{wanted} is contact {by_id.id}, and the number {value} is contact {by_number.id}'s:"
            f" write #{by_id.id} for the one, {value} for the other"
        )
    contact = by_id or by_number
    if contact is None:
        raise NoSuchContact(f"there is no contact {wanted}")
    return contact


def _by_address(session: Session, value: str) -> Contact | None:
    contact_id = session.scalar(select(ContactAddress.contact_id).where(ContactAddress.value == value))
    return session.get_one(Contact, contact_id) if contact_id is not None else None


def persons_items(contact: Contact) -> ColumnElement[bool]:
    """Which items are the person's: their contact's, and any sent from one of their
    addresses or numbers before contacts were kept (such an item has no contact). An
    export holds these, and an erasure removes them: the two must agree."""
    return or_(Item.contact_id == contact.id, Item.sender.in_(_values(contact)))


def persons_messages(contact: Contact) -> ColumnElement[bool]:
    """Which follow-ups the person wrote into items not theirs: as the one the office
    answered (an item's Reply-To), or as one more writer of the conversation. Exported
    and erased with the person, as their items are."""
    return and_(Message.sender.in_(_values(contact)), Message.item_id.not_in(_own_item_ids(contact)))


def replies_to_person(contact: Contact) -> ColumnElement[bool]:
    """Which of the office's replies, acknowledgements and forwards went to the person
    from items not theirs (those of their own items go with the items)."""
    return and_(
        func.lower(Reply.recipient).in_(_values(contact)), Reply.item_id.not_in(_own_item_ids(contact))
    )


def _own_item_ids(contact: Contact) -> Select[int]:
    return select(Item.id).where(persons_items(contact))


def _values(contact: Contact) -> list[str]:
    """The person's addresses and numbers, as stored: lower case, E.164."""
    return [address.value for address in contact.addresses]


def sender_contact(session: Session, item: Item, region: str) -> Contact:
    """The item's contact, made now for an item stored before contacts were."""
    if item.contact is not None:
        return item.contact
    address = address_of(item.sender, region)
    if address is None:
        raise ContactError(f"the sender of item {item.id} is neither an address nor a number")
    contact = Contact(
        name=item.sender_name, addresses=[ContactAddress(kind=address.kind, value=address.value)]
    )
    session.add(contact)
    session.flush()
    item.contact = contact
    return contact


def merge_contacts(session: Session, source: Contact, target: Contact, who: Person) -> Contact:
    """Make `source` part of `target`: its addresses, items, suggestions and history move,
    and `source` is gone. One ContactEvent on `target` says so."""
    if source.id == target.id:
        raise ContactError(f"contact {source.id} is already that contact")
    moved = len(source.addresses)
    for model in (ContactAddress, ContactEvent, Item, ContactSuggestion):
        session.execute(update(model).where(model.contact_id == source.id).values(contact_id=target.id))
    target.name = target.name or source.name
    session.add(
        ContactEvent(
            contact_id=target.id,
            actor=who.name,
            action="merged",
            detail={"from": source.id, "addresses": moved},
        )
    )
    session.flush()
    session.expire_all()
    session.delete(session.get_one(Contact, source.id))
    return target


def split(session: Session, contact_id: int, text: str, who: Person, region: str) -> Contact:
    """Take one address or number out of a contact into a new one, with the items sent from it."""
    contact = session.get(Contact, contact_id)
    if contact is None:
        raise NoSuchContact(f"there is no contact {contact_id}")
    address = _address(text, region)
    row = next((a for a in contact.addresses if a.value == address.value), None)
    if row is None:
        raise ContactError(f"contact {contact_id} has no address or number {address.value}")
    if len(contact.addresses) == 1:
        raise ContactError(
            f"{address.value} is contact {contact_id}'s only address; there is nothing to split"
        )
    new = Contact(name=None)
    session.add(new)
    session.flush()
    row.contact_id = new.id
    senders = session.execute(select(Item.id, Item.sender).where(Item.contact_id == contact_id)).all()
    moved = [item_id for item_id, sender in senders if address_of(sender, region) == address]
    session.execute(update(Item).where(Item.id.in_(moved)).values(contact_id=new.id))
    for side, other in ((contact, new), (new, contact)):
        detail = {"other": other.id, "items": len(moved)}
        session.add(ContactEvent(contact_id=side.id, actor=who.name, action="split", detail=detail))
    session.flush()
    session.expire_all()
    return session.get_one(Contact, new.id)


def link(session: Session, item: Item, target: Contact, who: Person, region: str) -> Contact:
    """Say that the item's sender is `target`: their contacts become one. Audited on the item."""
    source = sender_contact(session, item, region)
    if source.id == target.id:
        raise ContactError(f"item {item.id} is already from contact {target.id}")
    session.add(AuditEvent(item_id=item.id, actor=who.name, action="linked", detail={"contact": target.id}))
    return merge_contacts(session, source, target, who)


def _address(text: str, region: str) -> Address:
    try:
        return parse_address(text, region)
    except BadAddress as error:
        raise ContactError(str(error)) from None
