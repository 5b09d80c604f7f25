"""A person's part in another person's conversation, as a dialogue: Bob writes with his
assistant Ana's address as Reply-To, the office answers her, she answers back with a
file, and Bob writes again. Ana's export holds her part of Bob's item; her erasure takes
it and leaves Bob's item and his messages. On SQLite and PostgreSQL."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from intake.email.parser import parse_email
from routing.contacts.erasure import erase_contact, forget
from routing.contacts.export import export_contact
from routing.normalize import normalizer_for
from routing.queues import reading
from routing.queues.filters import Filters
from routing.store.database import transaction
from routing.store.models import Base, Blob, Contact, ContactAddress, Item
from tests.support.mail import raw_message
from tests.support.replies import Office, open_office, relay, replying_office

ANA = "ana@home.example"
# Ana's words and file, which her erasure must leave nowhere.
ANA_TRACES = (ANA, "qwertyfrobnicate", "ana-file-bytes", "zanzibarquux")


@dataclass(frozen=True)
class Conversation:
    office: Office
    ana_contact: int
    ana_item: int
    bob_item: int


def _writes(office: Office, *lines: str) -> int:
    return office.runtime.deliverer.deliver(parse_email(raw_message(*lines))).item_id


@pytest.fixture
def conversation(database_url: str, tmp_path: Path) -> Iterator[Conversation]:
    with relay() as smarthost, open_office(replying_office(tmp_path, database_url, smarthost.port)) as office:
        ana_item = _writes(
            office, f"From: Ana Lima <{ANA}>", "To: sales@office.test", "Subject: Boiler",
            "Message-ID: <a1@home.example>", "", "The zanzibarquux boiler leaks.",
        )  # fmt: skip
        bob_item = _writes(
            office, "From: Bob Stone <bob@other.example>", f"Reply-To: Ana Lima <{ANA}>",
            "To: billing@office.test", "Subject: Invoice", "Message-ID: <b1@other.example>", "",
            "Please send the bobsbody invoice.",
        )  # fmt: skip
        answered = office.client.post(f"/api/v1/items/{bob_item}/reply", json={"text": "Here it is."})
        assert answered.status_code == 202, answered.get_json()
        assert office.drain() == 1
        assert smarthost.handler.messages[0][0] == [ANA]  # the office answered Ana
        joined = _writes(
            office, f"From: Ana Lima <{ANA}>", "To: billing@office.test", "Subject: Re: Invoice",
            "Message-ID: <a2@home.example>", f"In-Reply-To: {answered.get_json()['message_id']}",
            "MIME-Version: 1.0", 'Content-Type: multipart/mixed; boundary="b"', "", "--b",
            "Content-Type: text/plain; charset=utf-8", "", "qwertyfrobnicate: send it to me.", "--b",
            'Content-Type: text/plain; name="notes.txt"', 'Content-Disposition: attachment; filename="notes.txt"',
            "", "ana-file-bytes", "--b--",
        )  # fmt: skip
        again = _writes(
            office, "From: Bob Stone <bob@other.example>", "To: billing@office.test", "Subject: Re: Invoice",
            "Message-ID: <b2@other.example>", "In-Reply-To: <b1@other.example>", "", "Thanks, bobsthanks.",
        )  # fmt: skip
        assert joined == again == bob_item
        with transaction(office.runtime.sessions, write=False) as session:
            contact = session.scalar(select(ContactAddress.contact_id).where(ContactAddress.value == ANA))
        assert contact is not None
        yield Conversation(office, contact, ana_item, bob_item)


def _export(conversation: Conversation) -> zipfile.ZipFile:
    into = io.BytesIO()
    with transaction(conversation.office.runtime.sessions, write=False) as session:
        export_contact(session, session.get_one(Contact, conversation.ana_contact), into)
    return zipfile.ZipFile(into)


def _erase(conversation: Conversation) -> None:
    runtime = conversation.office.runtime
    with transaction(runtime.sessions) as session:
        contact = session.get_one(Contact, conversation.ana_contact)
        erase_contact(session, contact, "test", normalizer_for(runtime.settings.languages))
    forget(runtime.sessions)


def _found(conversation: Conversation, query: str) -> list[int]:
    filters = Filters.parse({"q": query, "status": "all"})
    with transaction(conversation.office.runtime.sessions, write=False) as session:
        return [item.id for item in reading.list_items(session, limit=50, filters=filters).items]


def _every_row_but(conversation: Conversation, blob_id: int) -> str:
    """Every row of every table but one blob, as one text (bytes read as Latin-1)."""
    seen: list[str] = []
    with conversation.office.runtime.engine.connect() as connection:
        for table in Base.metadata.sorted_tables:
            for row in connection.execute(select(table)):
                if table.name == Blob.__tablename__ and row.id == blob_id:
                    continue
                seen += [v.decode("latin-1") if isinstance(v, bytes) else repr(v) for v in row]
    return "\n".join(seen)


def test_the_export_holds_the_persons_messages_in_another_persons_item(conversation: Conversation) -> None:
    archive = _export(conversation)
    document: dict[str, Any] = json.loads(archive.read("contact.json"))
    assert [item["id"] for item in document["items"]] == [conversation.ana_item]
    [shared] = document["shared_items"]
    assert shared["item"] == conversation.bob_item
    [message] = shared["messages"]
    assert (message["sender"], message["text"].strip()) == (ANA, "qwertyfrobnicate: send it to me.")
    assert [a["filename"] for a in message["attachments"]] == ["notes.txt"]
    assert [(r["to"], r["text"]) for r in shared["replies"]] == [(ANA, "Here it is.")]
    folder = f"shared/{conversation.bob_item}"
    assert b"qwertyfrobnicate" in archive.read(f"{folder}/messages/{message['id']}.eml")
    [attachment] = [name for name in archive.namelist() if name.startswith(f"{folder}/attachments/")]
    assert attachment.endswith("-notes.txt") and archive.read(attachment) == b"ana-file-bytes"
    everything = b"".join(archive.read(name) for name in archive.namelist())
    assert b"bobsbody" not in everything and b"bobsthanks" not in everything  # Bob's own words


def test_the_erasure_takes_the_persons_part_and_leaves_the_other_persons_item(
    conversation: Conversation,
) -> None:
    assert _found(conversation, "qwertyfrobnicate") == [conversation.bob_item]
    _erase(conversation)
    with transaction(conversation.office.runtime.sessions, write=False) as session:
        assert session.get(Item, conversation.ana_item) is None
        bob = session.get_one(Item, conversation.bob_item)
        assert [m.text.strip() for m in bob.messages] == ["Thanks, bobsthanks."]
        assert (bob.replies, bob.attachments) == ([], [])
        assert [e.action for e in bob.events] == ["received", "reply received", "erased"]
        assert bob.events[-1].detail == {"messages": 1, "replies": 1}
        bob_raw = bob.raw_blob_id
    assert _found(conversation, "qwertyfrobnicate") == []
    assert _found(conversation, "bobsthanks") == [conversation.bob_item]
    # Bob's own mail names Ana in its Reply-To, as he wrote it: it is his, and it stays.
    left = _every_row_but(conversation, bob_raw)
    assert [trace for trace in ANA_TRACES if trace in left] == []
    assert "bobsbody" in left and "bobsthanks" in left
