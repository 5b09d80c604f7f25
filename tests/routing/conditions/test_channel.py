"""The `channel` condition."""

from __future__ import annotations

from pathlib import Path

import pytest

from config.loading import ConfigError
from routing.engine import Router
from tests.support.routers import (
    email,
    match,
    office_with,
    rfc5322,
    rule_under_test,
    sms,
    twilio_message,
    voicemail,
)

MAIL = rfc5322(
    "From: ann@client.example", "To: hello@office.test", "Subject: Hi", "Message-ID: <c1@client.example>"
)


def test_one_channel(tmp_path: Path) -> None:
    assert match(tmp_path, 'channel = "sms"', sms("hello")) == "came by sms"
    assert match(tmp_path, 'channel = "sms"', email(MAIL)) is None
    assert match(tmp_path, 'channel = "sms"', voicemail("call me back")) is None


def test_a_list_of_channels(tmp_path: Path) -> None:
    when = 'channel = ["email", "voicemail"]'
    assert match(tmp_path, when, email(MAIL)) == "came by email"
    assert match(tmp_path, when, voicemail("call me back")) == "came by voicemail"
    assert match(tmp_path, when, sms("hello")) is None


def test_whatsapp_is_its_own_channel(tmp_path: Path) -> None:
    form = {
        "MessageSid": "SMw1",
        "From": "whatsapp:+15555550123",
        "To": "whatsapp:+15555550101",
        "Body": "hi",
    }
    assert match(tmp_path, 'channel = "whatsapp"', twilio_message(form)) == "came by whatsapp"


@pytest.mark.parametrize("argument", ["[]", "3", '[""]'])
def test_a_bad_argument_is_refused_naming_the_rule(tmp_path: Path, argument: str) -> None:
    with pytest.raises(ConfigError, match=r"rules\[0\]\.when\.channel: rule 'under-test': channel must be"):
        Router(office_with(tmp_path, rule_under_test(f"channel = {argument}")))


@pytest.mark.parametrize("argument", ['"fax"', '["sms", "voice"]'])
def test_a_channel_that_does_not_exist_is_refused(tmp_path: Path, argument: str) -> None:
    with pytest.raises(
        ConfigError, match=r"rule 'under-test': channel: unknown channel '(fax|voice)' \(channels: email"
    ):
        Router(office_with(tmp_path, rule_under_test(f"channel = {argument}")))
