"""The `has_attachments` condition."""

from __future__ import annotations

from pathlib import Path

import pytest

from config.loading import ConfigError
from routing.engine import Router
from tests.support.routers import email, match, office_with, rfc5322, rule_under_test, sms

WITH_FILE = rfc5322(
    "From: ann@client.example",
    "To: hello@office.test",
    "Subject: The photo",
    "Message-ID: <a1@c>",
    'Content-Type: multipart/mixed; boundary="b1"',
    body=(
        "--b1\r\nContent-Type: text/plain\r\n\r\nSee attached.\r\n"
        '--b1\r\nContent-Type: image/png\r\nContent-Disposition: attachment; filename="leak.png"\r\n'
        "Content-Transfer-Encoding: base64\r\n\r\niVBORw0KGgo=\r\n--b1--\r\n"
    ),
)
PLAIN = rfc5322("From: ann@client.example", "To: hello@office.test", "Subject: Hi", "Message-ID: <a2@c>")


def test_with_attachments(tmp_path: Path) -> None:
    assert match(tmp_path, "has_attachments = true", email(WITH_FILE)) == "has 1 attachment"
    assert match(tmp_path, "has_attachments = true", email(PLAIN)) is None
    assert match(tmp_path, "has_attachments = true", sms("no media")) is None


def test_without_attachments(tmp_path: Path) -> None:
    assert match(tmp_path, "has_attachments = false", email(PLAIN)) == "has no attachments"
    assert match(tmp_path, "has_attachments = false", email(WITH_FILE)) is None


def test_a_non_boolean_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="has_attachments must be true or false"):
        Router(office_with(tmp_path, rule_under_test('has_attachments = "yes"')))
