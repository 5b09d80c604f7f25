"""Text from outside in the mail Intake sends: a notification to a department, and the subject
of a reply, an acknowledgement or a forward. Plain text has no <bdi>: a bidi control in a
sender's name or subject would reorder the rest of its line (the address after the name,
the item's token after the subject), so each is written out, as the pages write it."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from config.loading import load_settings
from intake.email.reply_mail import reply_subject
from intake.jobs.notification_send import NewItem
from intake.jobs.notifications import _single
from tests.conftest import OFFICE

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
def test_a_reply_subject_keeps_its_token_in_place(char: str) -> None:
    assert reply_subject(f"Payment{char}", 12) == f"Re: Payment{written(char)} [#12]"


def test_a_right_to_left_subject_is_answered_as_written() -> None:
    persian = "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645"
    assert reply_subject(persian, 7) == f"Re: {persian} [#7]"
    assert reply_subject("שלום!\u200f", 7) == "Re: שלום!\u200f [#7]"
