"""The `machine` condition: bounces, auto-replies and other machine mail."""

from __future__ import annotations

from pathlib import Path

import pytest

from config.loading import ConfigError
from routing.engine import Router
from tests.support.routers import email, match, office_with, rfc5322, rule_under_test, sms

BOUNCE = rfc5322(
    "From: MAILER-DAEMON@mx.client.example",
    "To: hello@office.test",
    "Subject: Undelivered Mail Returned to Sender",
    "Message-ID: <b1@mx.client.example>",
    "Auto-Submitted: auto-replied",
)
PERSON = rfc5322("From: ann@client.example", "To: hello@office.test", "Subject: Hi", "Message-ID: <m2@c>")


def test_any_machine_mail(tmp_path: Path) -> None:
    assert match(tmp_path, "machine = true", email(BOUNCE, machine_kind="bounce")) == "machine mail (bounce)"
    assert match(tmp_path, "machine = true", email(PERSON)) is None
    assert match(tmp_path, "machine = true", sms("hi")) is None


def test_named_kinds(tmp_path: Path) -> None:
    when = 'machine = ["auto-reply"]'
    assert match(tmp_path, when, email(BOUNCE, machine_kind="auto-reply")) == "machine mail (auto-reply)"
    assert match(tmp_path, when, email(BOUNCE, machine_kind="bounce")) is None


def test_written_by_a_person(tmp_path: Path) -> None:
    assert match(tmp_path, "machine = false", email(PERSON)) == "written by a person"
    assert match(tmp_path, "machine = false", email(BOUNCE, machine_kind="bounce")) is None


@pytest.mark.parametrize("argument", ['"yes"', '["bounce", "out-of-office"]'])
def test_a_kind_that_does_not_exist_is_refused(tmp_path: Path, argument: str) -> None:
    with pytest.raises(ConfigError, match=r"rule 'under-test': machine: unknown kind '(yes|out-of-office)'"):
        Router(office_with(tmp_path, rule_under_test(f"machine = {argument}")))
