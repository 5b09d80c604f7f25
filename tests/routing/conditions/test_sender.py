"""The `sender` condition: addresses, numbers and domains (with their subdomains)."""

from __future__ import annotations

from pathlib import Path

import pytest

from config.loading import ConfigError
from routing.engine import Router
from tests.support.routers import email, match, office_with, rfc5322, rule_under_test, sms

WHEN = 'sender = ["Boss@Client.example", "+15555550199", "@supplier.example"]'


def _from(address: str) -> bytes:
    return rfc5322(
        f"From: Someone <{address}>", "To: hello@office.test", "Subject: Hi", f"Message-ID: <{address}>"
    )


def test_an_address(tmp_path: Path) -> None:
    assert match(tmp_path, WHEN, email(_from("boss@client.example"))) == "from boss@client.example"
    assert match(tmp_path, WHEN, email(_from("ann@client.example"))) is None


def test_a_domain_and_its_subdomains_but_not_a_lookalike(tmp_path: Path) -> None:
    assert (
        match(tmp_path, WHEN, email(_from("jo@supplier.example")))
        == "from jo@supplier.example, at supplier.example"
    )
    assert match(tmp_path, WHEN, email(_from("jo@eu.supplier.example"))) is not None
    assert match(tmp_path, WHEN, email(_from("jo@notsupplier.example"))) is None


def test_a_number(tmp_path: Path) -> None:
    assert match(tmp_path, WHEN, sms("hi", sender="+15555550199")) == "from +15555550199"
    assert match(tmp_path, WHEN, sms("hi", sender="+15555550198")) is None


def test_an_entry_that_is_nothing_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="rule 'under-test': sender: 'bob' is neither"):
        Router(office_with(tmp_path, rule_under_test('sender = ["bob"]')))
