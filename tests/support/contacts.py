"""Two people who wrote to the test office: Ana, by text and by email (one contact after
a link, one email taught to the learned suggestion, one with a file), and Bob, by email."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from intake.cli.runtime import Runtime
from intake.email.parser import parse_email
from routing.contacts import item_actions
from routing.message import InboundMessage
from routing.people.accounts import Person
from routing.queues import triage
from routing.store.database import transaction
from routing.store.models import Item
from tests.support.mail import email_bytes, raw_message

ARRIVED = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
RECEPTION = Person(0, "reception", "receptionist", frozenset(), "")
ANA_NUMBER = "+447700900123"
ANA_ADDRESS = "ana@home.example"
# What nothing may hold after Ana is erased: her address, number, name and her own words.
ANA_TRACES = (ANA_ADDRESS, ANA_NUMBER, "Ana Lima", "home.example", "zanzibarquux", "qwertyfrobnicate")


@dataclass(frozen=True)
class People:
    ana_contact: int
    ana_items: tuple[int, ...]
    bob_items: tuple[int, ...]


def text_message(runtime: Runtime, sender: str, body: str, key: str, at: datetime) -> int:
    message = InboundMessage(
        "sms", sender, ("+15555550101",), body[:40], body, key, at, f"From={sender}&Body={body}".encode(),
        "application/x-www-form-urlencoded",
    )  # fmt: skip
    return runtime.deliverer.deliver(message).item_id


def _with_file(sender: str, message_id: str, body: str, filename: str, content: str) -> bytes:
    return raw_message(
        f"From: {sender}", "To: sales@office.test", "Subject: Photos of the boiler", f"Message-ID: {message_id}",
        "MIME-Version: 1.0", 'Content-Type: multipart/mixed; boundary="b"', "", "--b",
        "Content-Type: text/plain; charset=utf-8", "", body, "--b",
        f'Content-Type: application/octet-stream; name="{filename}"',
        f'Content-Disposition: attachment; filename="{filename}"', "", content, "--b--",
    )  # fmt: skip


def two_people(runtime: Runtime) -> People:
    text = text_message(runtime, ANA_NUMBER, "zanzibarquux boiler broken, no hot water", "SM-ana-1", ARRIVED)
    signed = "Hello,\r\nthe qwertyfrobnicate boiler still leaks.\r\n\r\nAna Lima\r\n07700 900123\r\n"
    raw = email_bytes(
        sender=f"Ana Lima <{ANA_ADDRESS}>", subject="Boiler", message_id="<a1@home.example>", body=signed
    )
    email = runtime.deliverer.deliver(parse_email(raw, received_at=ARRIVED + timedelta(hours=2))).item_id
    photo = _with_file(
        f"Ana Lima <{ANA_ADDRESS}>", "<a2@home.example>", "Photos attached", "boiler.jpg", "ana-photo-bytes"
    )
    photo_item = runtime.deliverer.deliver(
        parse_email(photo, received_at=ARRIVED + timedelta(hours=3))
    ).item_id
    bob_raw = email_bytes(
        sender="Bob Stone <bob@other.example>", subject="Invoice", message_id="<b1@other.example>",
        body="Please send the invoice for the chairs.\r\n",
    )  # fmt: skip
    bob = runtime.deliverer.deliver(parse_email(bob_raw, received_at=ARRIVED)).item_id
    with transaction(runtime.sessions) as session:
        item_actions.link(session, email, RECEPTION, None, runtime.settings)
        triage.reroute(session, email, RECEPTION, "billing", "about a bill")
        triage.reroute(session, text, RECEPTION, "front-desk", "a repair")
        triage.reroute(session, bob, RECEPTION, "billing", "an invoice")
        contact = session.scalar(select(Item.contact_id).where(Item.id == text))
    assert contact is not None
    return People(contact, (text, email, photo_item), (bob,))
