"""Erasing items and people: every row that holds something of them goes, and a
tombstone (routing.store.models.Erasure) says only who erased how many, why and when.

`erase_items` is the one way items leave the database. It finds the tables that refer
to an item through the models' foreign keys, so that a table added later, such as a
search index kept as a model, is cleared with no change here; what the models cannot
show (the raw bytes' blobs, the delivery keys, the learned word counts) it clears by name.

A person's part in other people's items (the follow-ups they wrote there, the office's
replies sent to them) goes with them; the others' messages in those items stay.

On SQLite the database runs with `secure_delete` (routing.store.database), so deleted
rows are overwritten in the file. Each erasure owes a compaction of the search index in
its own transaction; `forget` pays it and empties the write-ahead log afterwards, and is
run again at each start and every hour (intake.jobs.retention), for a process that died
before.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Column, ColumnElement, Engine, Table, delete, exists, select, text
from sqlalchemy.orm import InstrumentedAttribute, Session, sessionmaker

from routing.contacts.directory import persons_items, persons_messages, replies_to_person
from routing.contacts.suggestions import unmerge_item
from routing.learning import unlearn
from routing.lessons import Lesson, legacy_lesson
from routing.normalize import Normalizer
from routing.store import search_index
from routing.store.database import transaction
from routing.store.models import (
    SYSTEM_ACTOR,
    AcknowledgedSender,
    Attachment,
    AuditEvent,
    Base,
    Blob,
    Contact,
    ContactAddress,
    ContactEvent,
    ContactSuggestion,
    DeliveryKey,
    Erasure,
    Item,
    Job,
    Message,
    Reply,
)

# Ids per statement: well inside SQLite's and PostgreSQL's limits on bound parameters.
CHUNK = 500
# A correction taught the item's department at that moment: these events say which.
_TAUGHT = {"rerouted": "to", "confirmed": "department"}


@dataclass(frozen=True)
class Erased:
    items: int
    contacts: int


def erase_items(session: Session, item_ids: Collection[int]) -> int:
    """Delete the items, the items merged into them, and everything that refers to them;
    take back what their texts taught the learned suggestion. Returns how many items went."""
    ids = _with_merged(session, set(item_ids))
    if ids:
        search_index.owe_compaction(session)
    for chunk in _chunks(sorted(ids)):
        _unteach(session, chunk)
        blobs, keys = _blobs_and_keys(session, chunk)
        for column in _references():
            session.execute(delete(column.table).where(column.in_(chunk)))
        session.execute(delete(Item).where(Item.id.in_(chunk)))
        _delete_blobs_and_keys(session, blobs, keys)
    return len(ids)


def erase_contact(session: Session, contact: Contact, actor: str, normalizer: Normalizer) -> Erased:
    """Erase the person: their items (and any item sent from their addresses before
    contacts were kept), their part in other people's items, their addresses, history
    and the suggestions naming them."""
    items = session.scalars(select(Item.id).where(persons_items(contact))).all()
    # Someone else's item merged into one of theirs is not theirs: it goes back to its queue.
    for other in session.scalars(
        select(Item).where(Item.merged_into_id.in_(items), Item.contact_id.is_distinct_from(contact.id))
    ):
        unmerge_item(session, other, actor)
    session.flush()
    erase_shared(session, contact, actor, normalizer)
    erased = erase_items(session, items)
    values = [address.value for address in contact.addresses]
    session.execute(delete(AcknowledgedSender).where(AcknowledgedSender.address.in_(values)))
    session.execute(delete(ContactSuggestion).where(ContactSuggestion.contact_id == contact.id))
    session.execute(delete(ContactEvent).where(ContactEvent.contact_id == contact.id))
    session.execute(delete(ContactAddress).where(ContactAddress.contact_id == contact.id))
    session.execute(delete(Contact).where(Contact.id == contact.id))
    session.expunge_all()
    tombstone(session, actor, "request", erased, 1)
    return Erased(erased, 1)


def tombstone(session: Session, actor: str, reason: str, items: int, contacts: int) -> None:
    session.add(Erasure(actor=actor, reason=reason, items=items, contacts=contacts))


def erase_shared(session: Session, contact: Contact, actor: str, normalizer: Normalizer) -> None:
    """Erase the person's part in items not theirs: the follow-ups they wrote there, with
    their files, raw bytes and delivery keys, and the replies the office sent them there,
    with their jobs, and the events naming either. The others' messages stay; each item
    records how many were erased, and is indexed again without them."""
    found = session.execute(select(Message.id, Message.item_id).where(persons_messages(contact)))
    messages = {message.id: message.item_id for message in found}
    replies = session.execute(
        select(Reply.id, Reply.item_id, Reply.job_id).where(replies_to_person(contact))
    ).all()
    written, answered = Counter(messages.values()), Counter(reply.item_id for reply in replies)
    items = sorted({*written, *answered})
    _forget_events(session, items, set(messages), {reply.id for reply in replies})
    _delete_follow_ups(session, sorted(messages))
    _delete_in(session, Reply.id, [reply.id for reply in replies])
    _delete_in(session, Job.id, [reply.job_id for reply in replies if reply.job_id is not None])
    for item_id in items:
        detail = {"messages": written[item_id], "replies": answered[item_id]}
        session.add(AuditEvent(item_id=item_id, actor=actor, action="erased", detail=detail))
        search_index.reindex(session, normalizer, item_id)
    if items:
        search_index.owe_compaction(session)


def forget(sessions: sessionmaker[Session]) -> None:
    """Pay the compaction that erasures owe, on SQLite: drop the erased terms from the
    search index's segments, then move the write-ahead log into the database file and
    empty it, so that no old copy of an erased page stays on disk. The debt is paid only
    once the log is emptied (a reader may hold it back): until then it is owed, and the
    next call compacts again. Nothing is done when nothing is owed, as on PostgreSQL."""
    with transaction(sessions) as session:
        owed = search_index.compaction_owed(session.connection())
        if owed is None:
            return
        search_index.compact(session.connection())
    engine: Engine = sessions.kw["bind"]
    with engine.connect() as connection:
        busy = connection.execute(text("PRAGMA wal_checkpoint(TRUNCATE)")).scalar()
    if not busy:
        with transaction(sessions) as session:
            search_index.compaction_paid(session.connection(), owed)


def _with_merged(session: Session, ids: set[int]) -> set[int]:
    """The items and those merged into them (a merge is one level deep)."""
    found = set(ids)
    for chunk in _chunks(sorted(ids)):
        found.update(session.scalars(select(Item.id).where(Item.merged_into_id.in_(chunk))))
    return found


def _references() -> Iterator[Column[int]]:
    """Every column of another table that refers to an item, dependants first (a reply
    before the job it waits on), from the models' foreign keys."""
    items = Base.metadata.tables[Item.__tablename__]
    for table in reversed(Base.metadata.sorted_tables):
        if table is items:
            continue
        yield from _keys_to(table, items)


def _keys_to(table: Table, items: Table) -> list[Column[int]]:
    return [key.parent for key in table.foreign_keys if key.column.table is items]


def _blobs_and_keys(session: Session, chunk: list[int]) -> tuple[set[int], set[str]]:
    """The raw bytes and attached files of the items and their follow-ups, and their delivery keys."""
    blobs: set[int] = set()
    keys: set[str] = set()
    for model in (Item, Message):
        owner = Item.id if model is Item else Message.item_id
        for blob_id, key in session.execute(
            select(model.raw_blob_id, model.idempotency_key).where(owner.in_(chunk))
        ):
            blobs.add(blob_id)
            keys.add(key)
    blobs.update(session.scalars(select(Attachment.blob_id).where(Attachment.item_id.in_(chunk))))
    return blobs, keys


def _delete_follow_ups(session: Session, message_ids: list[int]) -> None:
    """Delete these follow-ups with their files, their raw bytes and delivery keys."""
    blobs: set[int] = set()
    keys: set[str] = set()
    for chunk in _chunks(message_ids):
        for blob_id, key in session.execute(
            select(Message.raw_blob_id, Message.idempotency_key).where(Message.id.in_(chunk))
        ):
            blobs.add(blob_id)
            keys.add(key)
        blobs.update(session.scalars(select(Attachment.blob_id).where(Attachment.message_id.in_(chunk))))
    _delete_in(session, Attachment.message_id, message_ids)
    _delete_in(session, Message.id, message_ids)
    _delete_blobs_and_keys(session, blobs, keys)


def _forget_events(
    session: Session, item_ids: Collection[int], message_ids: set[int], reply_ids: set[int]
) -> None:
    """Delete the items' events that name one of the messages (its arrival, with the
    matchers' reasons, which name the sender) or one of the replies (written, sent,
    failed: they name its recipient)."""
    named = []
    for chunk in _chunks(sorted(item_ids)):
        for event_id, detail in session.execute(
            select(AuditEvent.id, AuditEvent.detail).where(AuditEvent.item_id.in_(chunk))
        ):
            if detail.get("message") in message_ids or reply_ids & {
                detail.get("reply"),
                detail.get("reply_id"),
            }:
                named.append(event_id)
    _delete_in(session, AuditEvent.id, named)


def _delete_in(session: Session, column: Column[Any] | InstrumentedAttribute[Any], values: list[Any]) -> None:
    for chunk in _chunks(values):
        session.execute(delete(column.table).where(column.in_(chunk)))


def _delete_blobs_and_keys(session: Session, blobs: set[int], keys: set[str]) -> None:
    """Delete the blobs no row refers to any more, and the delivery keys."""
    for blob_chunk in _chunks(sorted(blobs)):
        session.execute(delete(Blob).where(Blob.id.in_(blob_chunk), *_unused_blob()))
    _delete_in(session, DeliveryKey.key, sorted(keys))


def _unused_blob() -> list[ColumnElement[bool]]:
    """That no row left refers to the blob: bytes are stored once per use today, but a
    blob shared by two items must stay for the one not erased."""
    return [
        ~exists().where(Item.raw_blob_id == Blob.id),
        ~exists().where(Message.raw_blob_id == Blob.id),
        ~exists().where(Attachment.blob_id == Blob.id),
    ]


def _unteach(session: Session, chunk: list[int]) -> None:
    """Take back each correction of these items from the learned suggestion. Only a
    person's correction taught it: a reroute Intake made itself (a voicemail's transcript
    routed again) taught nothing, and taking it back would take what others taught."""
    events = session.execute(
        select(AuditEvent.item_id, AuditEvent.action, AuditEvent.detail).where(
            AuditEvent.item_id.in_(chunk),
            AuditEvent.action.in_(list(_TAUGHT)),
            AuditEvent.actor != SYSTEM_ACTOR,
        )
    ).all()
    lessons: dict[int, Lesson] = {}
    for item_id, action, detail in events:
        department = detail.get(_TAUGHT[action])
        if isinstance(department, str):
            lesson = lessons.get(item_id) or _lesson(session, item_id)
            lessons[item_id] = lesson
            unlearn(session, lesson, department)


def _lesson(session: Session, item_id: int) -> Lesson:
    item = session.get_one(Item, item_id)
    if item.routing_lesson is not None:
        return Lesson.from_stored(item.routing_lesson)
    return legacy_lesson(item.channel, item.sender, item.subject, item.text)


def _chunks(ids: list[Any]) -> Iterator[list[Any]]:
    for start in range(0, len(ids), CHUNK):
        yield ids[start : start + CHUNK]
