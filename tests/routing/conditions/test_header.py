"""The `header` condition: present, or matching a regex; email only."""

from __future__ import annotations

from pathlib import Path

import pytest

from config.loading import ConfigError
from routing.engine import Router
from tests.support.routers import email, match, office_with, rfc5322, rule_under_test, sms

NEWSLETTER = rfc5322(
    "From: news@shop.example",
    "To: hello@office.test",
    "Subject: Our autumn offers",
    "Message-ID: <n1@shop.example>",
    "List-Id: Shop offers <offers.shop.example>",
    "X-Spam-Flag: YES",
)
PERSONAL = rfc5322("From: ann@client.example", "To: hello@office.test", "Subject: Hi", "Message-ID: <p1@c>")


def test_a_header_is_present_whatever_the_case_of_its_name(tmp_path: Path) -> None:
    assert match(tmp_path, 'header = { name = "list-id" }', email(NEWSLETTER)) == "has header list-id"
    assert match(tmp_path, 'header = { name = "List-Id" }', email(PERSONAL)) is None
    assert match(tmp_path, 'header = { name = "List-Id" }', sms("hi")) is None


def test_a_header_value_matches_a_regex(tmp_path: Path) -> None:
    when = 'header = { name = "X-Spam-Flag", regex = "^yes$" }'
    assert match(tmp_path, when, email(NEWSLETTER)) == "header X-Spam-Flag is 'YES'"
    assert match(tmp_path, 'header = { name = "X-Spam-Flag", regex = "^no$" }', email(NEWSLETTER)) is None


def test_a_header_without_a_name_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="rule 'under-test': header: name the header"):
        Router(office_with(tmp_path, rule_under_test('header = { regex = "x" }')))
