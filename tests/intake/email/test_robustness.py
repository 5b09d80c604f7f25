"""Hostile input: damaged versions of well-formed mail never make the parser raise.

The damage is deterministic (a fixed seed), so a failure names a case that can be
run again: messages cut short, bytes overwritten, lines dropped, and junk headers.
"""

from __future__ import annotations

import base64
import logging
import random

import pytest

import intake.email.parser
from intake.email.parser import EmailLimits, parse_email
from routing.message import InboundMessage
from tests.intake.email.test_machine_mail import report
from tests.intake.email.test_parts import alternative, many_parts, nested
from tests.support.mail import email_bytes, raw_message

SOURCES = {
    "alternative": alternative("Plain words", "<p>HTML <b>words</b></p>"),
    "report": report("delivery-status", "message/delivery-status"),
    "nested": nested(6),
    "parts": many_parts(6),
    "plain": email_bytes(),
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
    b"Subject: =?UTF-8?B?w6k=?= C:\\Users\\bob",
    b"Subject: =?utf\xb2-8?q?hi?=",
    b'Content-Type: text/plain; charset="utf\x00-8"',
    b"Content-Disposition: attachment; filename*=utf-8''a%FF\xe9b.pdf",
]
# Pieces of real mail syntax, dropped anywhere into a message.
TOKENS = [
    b"=?utf-8?q?a?=",
    b"\\U",
    b"\\u12",
    b"\x00",
    b"\xff\xfe",
    b"\r\n ",
    b";",
    b'"',
    b"*",
    b"'",
    b"%",
    b"\x1b$B",
]


def damaged(raw: bytes, rng: random.Random) -> bytes:
    lines = raw.split(b"\r\n")
    choice = rng.randrange(5)
    if choice == 0:
        return raw[: rng.randrange(len(raw))]
    if choice == 1:
        data = bytearray(raw)
        for _ in range(rng.randrange(1, 20)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        return bytes(data)
    if choice == 2:
        del lines[rng.randrange(len(lines))]
    elif choice == 3:
        at = rng.randrange(len(raw))
        return raw[:at] + rng.choice(TOKENS) + raw[at:]
    else:
        lines.insert(rng.randrange(len(lines)), rng.choice(JUNK))
    return b"\r\n".join(lines)


def assert_storable(message: InboundMessage, raw: bytes) -> None:
    """Every text that reaches the database has no NUL and no lone surrogate."""
    assert message.raw == raw
    fields = [message.sender, message.subject, message.text, *message.recipients, *message.parse_defects]
    fields += [
        message.sender_name or "",
        message.html or "",
        message.message_id or "",
        message.in_reply_to or "",
    ]
    fields += [*message.references, *(text for header in message.headers for text in header)]
    for attachment in message.attachments:
        fields += [attachment.filename, attachment.content_type, attachment.content_id or ""]
    for text in fields:
        assert "\x00" not in text
        text.encode("utf-8")  # no lone surrogates: every database can store it


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_damaged_mail_parses_into_storable_text(name: str) -> None:
    rng = random.Random(name)
    for _ in range(150):
        raw = damaged(SOURCES[name], rng)
        assert_storable(parse_email(raw, limits=EmailLimits(max_parts=5, max_depth=4)), raw)


H = ("From: a@client.example", "To: sales@office.test", "Message-ID: <r@client.example>")
MULTIPART = ("MIME-Version: 1.0", "Content-Type: multipart/mixed; boundary=B", "", "--B")
REAL_MAIL = {
    "a backslash-U after an encoded word": raw_message(
        *H, b"Subject: =?UTF-8?B?w6k=?= C:\\Users\\bob", "", "x"
    ),
    "NUL in an encoded word's charset": raw_message(*H, b"Subject: =?utf\x00-8?q?hi?=", "", "x"),
    "8-bit byte in an encoded word's charset": raw_message(*H, b"Subject: =?utf\xb2-8?q?hi?=", "", "x"),
    "8-bit bytes inside an ISO-2022-JP run": raw_message(
        *H, b"Subject: =?iso-2022-jp?b?" + base64.b64encode(b"\x1b$B\xff\xff\x1b(B") + b"?=", "", "x"
    ),
    "NUL in a charset parameter": raw_message(
        *H, "MIME-Version: 1.0", b'Content-Type: text/plain; charset="utf\x00-8"', "", "x"
    ),
    "8-bit bytes in an RFC 2231 file name": raw_message(
        *H,
        *MULTIPART,
        "Content-Type: application/pdf",
        b"Content-Disposition: attachment; filename*=utf-8''a%FF\xe9b.pdf",
        "",
        "x",
        "--B--",
    ),
    "NUL in an attachment's content type": raw_message(
        *H,
        *MULTIPART,
        b"Content-Type: application/x\x00y",
        "Content-Disposition: attachment",
        "",
        "x",
        "--B--",
    ),
}


@pytest.mark.parametrize("name", sorted(REAL_MAIL))
def test_real_mail_that_broke_the_parser_parses(name: str) -> None:
    message = parse_email(REAL_MAIL[name])
    assert_storable(message, REAL_MAIL[name])
    assert message.sender == "a@client.example"
    assert not any("stored raw only" in defect for defect in message.parse_defects)


def test_a_literal_backslash_u_in_a_subject_is_kept_as_written() -> None:
    message = parse_email(REAL_MAIL["a backslash-U after an encoded word"])
    assert message.subject == "\u00e9 C:\\Users\\bob"


def test_a_content_type_with_a_nul_loses_the_nul() -> None:
    [attachment] = parse_email(REAL_MAIL["NUL in an attachment's content type"]).attachments
    assert attachment.content_type == "application/xy"


def test_a_parser_bug_keeps_the_message_raw_with_the_envelope_addresses(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*args: object) -> None:
        raise KeyError("a bug not found yet")

    # No input known today makes the parser raise; this stands in for tomorrow's.
    monkeypatch.setattr(intake.email.parser, "read_body", broken)
    raw = email_bytes(subject="Lost to a bug?")
    with caplog.at_level(logging.ERROR, logger="intake.email.parser"):
        message = parse_email(
            raw, envelope_sender="Ann@Client.example", envelope_recipients=("sales@office.test",)
        )
    assert message.raw == raw
    assert (message.sender, message.recipients) == ("ann@client.example", ("sales@office.test",))
    assert message.parse_defects == ("parser failed (KeyError); stored raw only",)
    assert message.idempotency_key.startswith("email:sha256:")  # a retry finds the same item
    assert "KeyError" in caplog.text and "Traceback" in caplog.text
