"""Hostile input: damaged versions of well-formed mail never make the parser raise.

The damage is deterministic (a fixed seed), so a failure names a case that can be
run again: messages cut short, bytes overwritten, lines dropped, and junk headers.
"""

from __future__ import annotations

import random

import pytest

from intake.email_parser import EmailLimits, parse_email
from routing.message import InboundMessage
from tests.test_email_parts import alternative, many_parts, nested
from tests.test_machine_mail import report

SOURCES = {
    "alternative": alternative("Plain words", "<p>HTML <b>words</b></p>"),
    "report": report("delivery-status", "message/delivery-status"),
    "nested": nested(6),
    "parts": many_parts(6),
}
JUNK = [
    b"Content-Type: multipart/mixed; boundary=b; name*",
    b"Message-ID: <abc@[",
    b"To: <",
    b"Subject: =?x-unknown?B?////?=",
    b"Content-Transfer-Encoding: base64",
    b"Content-Type: text/plain; charset*=x'",
    b"From: \xff\xfe <@>",
    b"\x00\x00",
]


def damaged(raw: bytes, rng: random.Random) -> bytes:
    lines = raw.split(b"\r\n")
    choice = rng.randrange(4)
    if choice == 0:
        return raw[: rng.randrange(len(raw))]
    if choice == 1:
        data = bytearray(raw)
        for _ in range(rng.randrange(1, 20)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        return bytes(data)
    if choice == 2:
        del lines[rng.randrange(len(lines))]
    else:
        lines.insert(rng.randrange(len(lines)), rng.choice(JUNK))
    return b"\r\n".join(lines)


def assert_storable(message: InboundMessage, raw: bytes) -> None:
    assert message.raw == raw
    fields = [message.sender, message.subject, message.text, *message.recipients, *message.parse_defects]
    fields += [a.filename for a in message.attachments]
    for text in fields:
        assert "\x00" not in text
        text.encode("utf-8")  # no lone surrogates: every database can store it


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_damaged_mail_parses_into_storable_text(name: str) -> None:
    rng = random.Random(name)
    for _ in range(150):
        raw = damaged(SOURCES[name], rng)
        assert_storable(parse_email(raw, limits=EmailLimits(max_parts=5, max_depth=4)), raw)
