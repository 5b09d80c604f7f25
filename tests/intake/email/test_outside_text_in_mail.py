"""Text from outside in the mail Intake sends: a notification to a department, and the subject
of a reply, an acknowledgement or a forward. Plain text has no <bdi>: a bidi control in a
sender's name or subject would reorder the rest of its line (the address after the name,
the item's token after the subject). A notification is read by staff, so each is written
out there, as the pages write it; a reply or a forward goes outside, so its subject leaves
them out. A customer writes with such a subject, a receptionist answers and forwards it,
and the office's relay (a real server on loopback) keeps what each was sent."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from config.loading import load_settings
from intake.email.parser import parse_email
from intake.email.reply_mail import reply_subject
from intake.jobs.notification_send import NewItem
from intake.jobs.notifications import _single
from tests.conftest import OFFICE
from tests.support.mail import email_bytes
from tests.support.replies import ANSWERING, Office, Relay, open_office, replying_office

BIDI_CONTROLS = [chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A))]
INVISIBLE = ["\u200b", "\u2060", "\ufeff", "\u00ad", *map(chr, (0xE0001, 0xE0041, 0xE007F))]
# Between ASCII letters the joiners hide, and are written out too; between Persian letters they stay.
JOINERS = ["\u200c", "\u200d"]
HIDDEN = BIDI_CONTROLS + INVISIBLE + JOINERS


def written(char: str) -> str:
    return f"[U+{ord(char):04X}]"


def _item(name: str, subject: str, text: str) -> NewItem:
    return NewItem(
        1,
        "sales",
        "email",
        "mallory@client.example",
        name,
        subject,
        text,
        datetime(2026, 1, 5, 9, tzinfo=UTC),
    )


@pytest.mark.parametrize("char", HIDDEN, ids=written)
def test_a_notification_writes_out_what_would_reorder_or_hide_its_lines(char: str) -> None:
    settings = load_settings(OFFICE, {})
    item = _item(f"Bank{char} moc.elgoog", f"Invoice{char} 12", f"Pay to{char} 34\nThanks")
    subject, body = _single(settings, settings.department("sales"), item)
    assert char not in subject and char not in body
    assert f"Invoice{written(char)} 12" in subject
    assert f"From: Bank{written(char)} moc.elgoog <mallory@client.example>" in body
    assert f"Subject: Invoice{written(char)} 12" in body
    assert f"Pay to{written(char)} 34\nThanks" in body


def test_a_notification_keeps_a_long_subject_to_one_line() -> None:
    settings = load_settings(OFFICE, {})
    item = _item("Intake <alerts@office.test>", "Open it: http://evil.example\n" + "x" * 10_000, "Hi")
    _, body = _single(settings, settings.department("sales"), item)
    [line] = [line for line in body.splitlines() if line.startswith("Subject: ")]
    assert line.startswith("Subject: Open it: http://evil.example xxx") and len(line) < 400
    assert "From: Intake <alerts@office.test> <mallory@client.example>" in body


@pytest.mark.parametrize("char", HIDDEN, ids=written)
def test_a_reply_subject_leaves_out_what_would_reorder_or_hide_its_token(char: str) -> None:
    assert reply_subject(f"Pay{char}ment{char}", 12) == "Re: Payment [#12]"


@pytest.fixture
def office(database_url: str, tmp_path: Path, smarthost: Relay) -> Iterator[Office]:
    with open_office(replying_office(tmp_path, database_url, smarthost.port, ANSWERING)) as opened:
        yield opened


def test_the_customer_and_the_partner_get_the_subject_without_those_characters(
    office: Office, smarthost: Relay
) -> None:
    subject = "Invoice\u202egpj.exe\u200b for May"
    word = f"=?utf-8?b?{base64.b64encode(subject.encode()).decode()}?="
    raw = email_bytes(to="billing@office.test", sender="ann@client.example", subject=word)
    item_id = office.runtime.deliver_email(parse_email(raw)).item_id
    answered = office.client.post(
        f"/api/v1/items/{item_id}/reply", json={"text": "Paid.", "channel": "email"}
    )
    forwarded = office.client.post(
        f"/api/v1/items/{item_id}/forward", json={"to": "partner@outside.example", "note": "Yours."}
    )
    assert (answered.status_code, forwarded.status_code) == (202, 202)
    office.drain()
    sent = sorted((recipients, message["Subject"]) for recipients, message in smarthost.handler.messages)
    assert sent == [
        (["ann@client.example"], f"Re: Invoicegpj.exe for May [#{item_id}]"),  # the acknowledgement
        (["ann@client.example"], f"Re: Invoicegpj.exe for May [#{item_id}]"),  # the answer
        (["partner@outside.example"], f"Fwd: Invoicegpj.exe for May [#{item_id}]"),
    ]


def test_a_right_to_left_subject_is_answered_as_written() -> None:
    persian = "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645"
    assert reply_subject(persian, 7) == f"Re: {persian} [#7]"
    assert reply_subject("שלום!\u200f", 7) == "Re: שלום!\u200f [#7]"
    assert reply_subject("\U0001f469\u200d\U0001f4bb help", 7) == "Re: \U0001f469\u200d\U0001f4bb help [#7]"
