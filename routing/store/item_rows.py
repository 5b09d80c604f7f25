"""The rows routing.delivery writes for every message that reaches the office: its key,
its raw bytes, its item or follow-up, its attachments and audit events.

Plain INSERTs, compiled once, not the ORM's unit of work: this runs for every message,
and the unit of work cost more than the database itself.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

from sqlalchemy import bindparam, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from routing.message import InboundMessage
from routing.store.models import Attachment, AuditEvent, Base, Blob, DeliveryKey, Item, Message

_TABLES = Base.metadata.tables
# The ids come back with their hashes, to be told apart: asked to keep the order of the
# rows given, SQLAlchemy sends SQLite one INSERT a row (its RETURNING has no set order).
_BLOBS = _TABLES[Blob.__tablename__]
_INSERT_BLOB = insert(_BLOBS).returning(_BLOBS.c.id, _BLOBS.c.sha256)
# The ids come back with the items' keys, as the blobs' with their hashes.
_INSERT_ITEMS = insert(_TABLES[Item.__tablename__]).returning(
    _TABLES[Item.__tablename__].c.id, _TABLES[Item.__tablename__].c.idempotency_key
)
_INSERT_MESSAGE = insert(_TABLES[Message.__tablename__]).returning(_TABLES[Message.__tablename__].c.id)
_INSERT_ATTACHMENT = insert(_TABLES[Attachment.__tablename__])
_KEYS = _TABLES[DeliveryKey.__tablename__]
# Each database's INSERT ... ON CONFLICT DO NOTHING, which returns the keys that were free.
_CLAIM_KEY = {
    "sqlite": sqlite.insert(_KEYS).on_conflict_do_nothing().returning(_KEYS.c.key),
    "postgresql": postgresql.insert(_KEYS).on_conflict_do_nothing().returning(_KEYS.c.key),
}
_INSERT_EVENT = insert(_TABLES[AuditEvent.__tablename__])
# The look-ups of a key, built once over the tables too: building a query costs as much
# as running it, and the ORM's execution more than both.
_ITEMS = _TABLES[Item.__tablename__]
_MESSAGES = _TABLES[Message.__tablename__]
_ITEM_OF_KEY = select(_ITEMS.c.id, _ITEMS.c.department_id).where(_ITEMS.c.idempotency_key == bindparam("key"))
_ITEM_OF_FOLLOW_UP_KEY = (
    select(_ITEMS.c.id, _ITEMS.c.department_id)
    .join(_MESSAGES, _MESSAGES.c.item_id == _ITEMS.c.id)
    .where(_MESSAGES.c.idempotency_key == bindparam("key"))
)
# Raw messages share an INSERT up to this many bytes together: big ones are stored one
# by one, so that no statement holds many of them at once beside the messages themselves.
BLOB_BYTES_PER_STATEMENT = 1024 * 1024


def new_blob(content: bytes) -> Blob:
    return Blob(sha256=hashlib.sha256(content).hexdigest(), size=len(content), content=content)


def claim_keys(session: Session, keys: list[str]) -> list[bool]:
    """Claim the keys in one statement; for each, whether its message is to be stored.

    A key is claimed before anything is looked up: most messages are new, and for them
    the claim spares the two look-ups that would find nothing. A copy being delivered
    at the same moment waits on the claim, then finds what this one stored; so does a
    copy later in the same batch, once the first has been stored."""
    claim = _CLAIM_KEY[session.get_bind().dialect.name]
    free = set(session.execute(claim, [{"key": key} for key in keys]).scalars())
    stores = []
    for key in keys:
        stores.append(key in free)
        free.discard(key)
    return stores


def item_of_key(session: Session, key: str) -> tuple[int, str] | None:
    """The id and department of the item stored with this key, if any."""
    row = session.execute(_ITEM_OF_KEY, {"key": key}).one_or_none()
    return None if row is None else (row.id, row.department_id)


def item_of_follow_up_key(session: Session, key: str) -> tuple[int, str] | None:
    """The id and department of the item a follow-up stored with this key belongs to."""
    row = session.execute(_ITEM_OF_FOLLOW_UP_KEY, {"key": key}).one_or_none()
    return None if row is None else (row.id, row.department_id)


def message_fields(message: InboundMessage, raw_blob_id: int) -> dict[str, Any]:
    """The columns an item's first message and a follow-up share."""
    return {
        "idempotency_key": message.idempotency_key,
        "channel": message.channel,
        "sender": message.sender,
        "sender_name": message.sender_name,
        "subject": message.subject,
        "text": message.text,
        "html": message.html,
        "message_id": message.message_id,
        "in_reply_to": message.in_reply_to,
        "references": list(message.references),
        "parse_defects": list(message.parse_defects),
        "machine_kind": message.machine_kind,
        "received_at": message.received_at,
        "raw_blob_id": raw_blob_id,
        "raw_content_type": message.raw_content_type,
    }


def insert_items(session: Session, rows: list[dict[str, Any]]) -> list[int]:
    """Insert items' rows (each with its own key), in one statement; their ids, in order."""
    ids: dict[str, int] = {key: item_id for item_id, key in session.execute(_INSERT_ITEMS, rows)}
    return [ids[row["idempotency_key"]] for row in rows]


def insert_follow_up(session: Session, row: dict[str, Any]) -> int:
    """Insert a follow-up's row (a message joining an item); its id."""
    message_id: int = session.execute(_INSERT_MESSAGE, row).scalar_one()
    return message_id


def insert_events(session: Session, events: list[dict[str, Any]]) -> None:
    """Insert audit events, in one statement."""
    if events:
        session.execute(_INSERT_EVENT, events)


def insert_attachments(
    session: Session, item_id: int, message: InboundMessage, follow_up_id: int | None = None
) -> None:
    """Store the message's attachments on the item (naming the follow-up they came with,
    if the message is one), their contents as blobs."""
    blob_ids = insert_blobs(session, [attachment.content for attachment in message.attachments])
    for attachment, blob_id in zip(message.attachments, blob_ids, strict=True):
        session.execute(
            _INSERT_ATTACHMENT,
            {
                "item_id": item_id,
                "message_id": follow_up_id,
                "filename": attachment.filename,
                "content_type": attachment.content_type,
                "size": attachment.size,
                "content_id": attachment.content_id,
                "inline": attachment.inline,
                "blob_id": blob_id,
            },
        )


def insert_blobs(session: Session, contents: list[bytes]) -> list[int]:
    """Store each content as a blob; their ids, in the same order. Two equal contents
    have the same hash: either of their ids serves either."""
    blob_ids: list[int] = []
    for group in _by_size(contents, BLOB_BYTES_PER_STATEMENT):
        hashes = [hashlib.sha256(content).hexdigest() for content in group]
        rows = [
            {"sha256": sha256, "size": len(content), "content": content}
            for sha256, content in zip(hashes, group, strict=True)
        ]
        ids_of: dict[str, list[int]] = defaultdict(list)
        for blob_id, sha256 in session.execute(_INSERT_BLOB, rows):
            ids_of[sha256].append(blob_id)
        blob_ids += [ids_of[sha256].pop() for sha256 in hashes]
    return blob_ids


def _by_size(contents: list[bytes], most: int) -> Iterator[list[bytes]]:
    """The contents in order, in groups of at most `most` bytes (or one bigger content)."""
    group: list[bytes] = []
    size = 0
    for content in contents:
        if group and size + len(content) > most:
            yield group
            group, size = [], 0
        group.append(content)
        size += len(content)
    if group:
        yield group
