"""The `recipient` condition: addresses and called numbers."""

from __future__ import annotations

from pathlib import Path

from tests.support.routers import email, match, rfc5322, sms, voicemail

WHEN = 'recipient = ["Orders@Office-Two.test", "+15555550101"]'


def test_an_address_in_to_or_cc_whatever_its_case(tmp_path: Path) -> None:
    to = rfc5322(
        "From: ann@client.example", "To: orders@office-two.test", "Subject: Order", "Message-ID: <r1@c>"
    )
    cc = rfc5322(
        "From: ann@client.example",
        "To: hello@office.test",
        "Cc: ORDERS@office-two.test",
        "Subject: x",
        "Message-ID: <r2@c>",
    )
    assert match(tmp_path, WHEN, email(to)) == "sent to orders@office-two.test"
    assert match(tmp_path, WHEN, email(cc)) == "sent to orders@office-two.test"


def test_another_address_misses(tmp_path: Path) -> None:
    other = rfc5322(
        "From: ann@client.example", "To: sales@office.test", "Subject: Order", "Message-ID: <r3@c>"
    )
    assert match(tmp_path, WHEN, email(other)) is None


def test_a_called_number(tmp_path: Path) -> None:
    assert match(tmp_path, WHEN, sms("hi", to="+15555550101")) == "sent to +15555550101"
    assert match(tmp_path, WHEN, sms("hi", to="+15555550100")) is None
    assert match(tmp_path, WHEN, voicemail("hello")) is None
