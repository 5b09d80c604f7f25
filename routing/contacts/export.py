"""A person's data in one zip: a JSON of the contact and their items (each message,
reply and event), and every raw message, recording and attachment as it arrived.

Only the person's own items go in (routing.contacts.directory.persons_items, as an
erasure takes them): an item merged into one of theirs from someone else is named by its
number, never included. Of an item not theirs in which they took part, the zip holds
their part alone, as an erasure takes it: the messages they wrote there, with their
files, and the replies the office sent them there.
"""

from __future__ import annotations

import json
import re
import zipfile
from typing import IO, Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from routing.contacts.directory import persons_items, persons_messages, replies_to_person
from routing.shown_text import HIDDEN, file_name
from routing.store.models import ArrivedMessage, Attachment, Contact, Item, Message, Reply

_EXTENSIONS = {"message/rfc822": "eml", "application/x-www-form-urlencoded": "form"}


def export_contact(session: Session, contact: Contact, into: IO[bytes]) -> int:
    """Write the zip of the contact to `into`; returns how many items it holds."""
    items = list(
        session.scalars(
            select(Item)
            .where(persons_items(contact))
            .options(selectinload(Item.messages), selectinload(Item.attachments), selectinload(Item.replies))
            .order_by(Item.received_at, Item.id)
        )
    )
    with zipfile.ZipFile(into, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for item in items:
            folder = f"items/{item.id}"
            archive.writestr(f"{folder}/raw.{_extension(item)}", item.raw.content)
            for message in item.messages:
                archive.writestr(f"{folder}/messages/{message.id}.{_extension(message)}", message.raw.content)
            for attachment in item.attachments:
                archive.writestr(f"{folder}/attachments/{_file_name(attachment)}", attachment.blob.content)
        shared = _write_shared(session, contact, archive)
        document = {
            "contact": _contact(contact),
            "items": [_item(item) for item in items],
            "shared_items": shared,
        }
        archive.writestr(
            "contact.json", _escape_invisible(json.dumps(document, indent=2, ensure_ascii=False))
        )
    return len(items)


def _write_shared(session: Session, contact: Contact, archive: zipfile.ZipFile) -> list[dict[str, Any]]:
    """Write the person's part in items not theirs under `shared/ITEM/`; its JSON, per item."""
    messages = session.scalars(select(Message).where(persons_messages(contact)).order_by(Message.id)).all()
    replies = session.scalars(select(Reply).where(replies_to_person(contact)).order_by(Reply.id)).all()
    files = session.scalars(
        select(Attachment).where(Attachment.message_id.in_([m.id for m in messages])).order_by(Attachment.id)
    ).all()
    shared: dict[int, dict[str, Any]] = {}
    for message in messages:
        folder = f"shared/{message.item_id}"
        archive.writestr(f"{folder}/messages/{message.id}.{_extension(message)}", message.raw.content)
        mine = [attachment for attachment in files if attachment.message_id == message.id]
        for attachment in mine:
            archive.writestr(f"{folder}/attachments/{_file_name(attachment)}", attachment.blob.content)
        entry = {"id": message.id, **_message(message), "attachments": [_attachment(a) for a in mine]}
        _shared_item(shared, message.item_id)["messages"].append(entry)
    for reply in replies:
        _shared_item(shared, reply.item_id)["replies"].append(_reply(reply))
    return [shared[item_id] for item_id in sorted(shared)]


def _shared_item(shared: dict[int, dict[str, Any]], item_id: int) -> dict[str, Any]:
    return shared.setdefault(item_id, {"item": item_id, "messages": [], "replies": []})


def _escape_invisible(document: str) -> str:
    """The JSON with its invisible characters as \\u escapes: the same strings to a program,
    while a person reading the file sees them instead of text they reorder or hide. JSON's
    own syntax is ASCII, so each can only be inside a string."""

    def escaped(found: re.Match[str]) -> str:
        encoded = found[0].encode("utf-16-be")
        return "".join(f"\\u{encoded[i]:02x}{encoded[i + 1]:02x}" for i in range(0, len(encoded), 2))

    return HIDDEN.sub(escaped, document)


def _file_name(attachment: Attachment) -> str:
    return f"{attachment.id}-{file_name(attachment.filename) or 'file'}"


def _extension(message: ArrivedMessage) -> str:
    return _EXTENSIONS.get(message.raw_content_type, "bin")


def _contact(contact: Contact) -> dict[str, Any]:
    return {
        "id": contact.id,
        "name": contact.name,
        "created_at": contact.created_at.isoformat(),
        "addresses": [{"kind": a.kind, "value": a.value} for a in contact.addresses],
    }


def _message(message: ArrivedMessage) -> dict[str, Any]:
    return {
        "channel": message.channel,
        "sender": message.sender,
        "sender_name": message.sender_name,
        "subject": message.subject,
        "text": message.text,
        "received_at": message.received_at.isoformat(),
    }


def _item(item: Item) -> dict[str, Any]:
    return {
        "id": item.id,
        **_message(item),
        "recipients": list(item.recipients),
        "department": item.department_id,
        "status": item.status,
        "merged_into": item.merged_into_id,
        "follow_ups": [{"id": m.id, **_message(m)} for m in item.messages],
        "replies": [_reply(r) for r in item.replies],
        "attachments": [_attachment(a) for a in item.attachments],
        "history": [
            {"at": e.at.isoformat(), "actor": e.actor, "action": e.action, "detail": e.detail}
            for e in item.events
        ],
    }


def _reply(reply: Reply) -> dict[str, Any]:
    return {
        "author": reply.author,
        "to": reply.recipient,
        "text": reply.text,
        "at": reply.created_at.isoformat(),
    }


def _attachment(attachment: Attachment) -> dict[str, Any]:
    return {
        "id": attachment.id,
        "filename": attachment.filename,
        "content_type": attachment.content_type,
        "size": attachment.size,
    }
