"""The [twilio] table: values, environment overrides, a hidden token, and bad values refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from config.loading import ConfigError, load_settings
from config.settings import TWILIO_REDIRECT_HOSTS
from tests.conftest import OFFICE, assert_refused
from tests.support.twilio import ACCOUNT_SID, AUTH_TOKEN, office_with_twilio

GOOD = f"""
account_sid = "{ACCOUNT_SID}"
auth_token = "{AUTH_TOKEN}"
public_url = "https://intake.office.test/"
texting_numbers = ["+15555550101"]

[twilio.greetings."+15555550101"]
open = "Sales, open"
closed = "Sales, closed"

[twilio.acknowledgements.sales]
closed = "We will reply when we open"
"""


def test_the_twilio_table_loads_with_safe_defaults(tmp_path: Path) -> None:
    twilio = load_settings(office_with_twilio(tmp_path, GOOD), {}).twilio
    assert twilio.configured
    assert twilio.public_url == "https://intake.office.test"
    assert twilio.api_base_url == "https://api.twilio.com"
    assert twilio.redirect_hosts == TWILIO_REDIRECT_HOSTS
    assert (twilio.record_max_seconds, twilio.transcribe, twilio.proxy_hops) == (120, True, 0)
    assert twilio.greeting("+15555550101", is_open=False) == "Sales, closed"
    assert twilio.greeting("+15555550100", is_open=True) == ""
    assert twilio.acknowledgement("sales", is_open=False) == "We will reply when we open"
    assert twilio.acknowledgement("sales", is_open=True) == ""
    assert twilio.texting_numbers == ("+15555550101",)


def test_an_office_without_twilio_is_not_configured() -> None:
    assert not load_settings(OFFICE, {}).twilio.configured


def test_environment_variables_override_the_file_and_the_token_is_never_shown(tmp_path: Path) -> None:
    other_sid = "AC" + "9" * 32
    env = {
        "TWILIO_ACCOUNT_SID": other_sid,
        "TWILIO_AUTH_TOKEN": "from-env-secret",
        "INTAKE_PUBLIC_URL": "https://x.test",
    }
    settings = load_settings(office_with_twilio(tmp_path, GOOD), env)
    assert (settings.twilio.account_sid, settings.twilio.auth_token, settings.twilio.public_url) == (
        other_sid,
        "from-env-secret",
        "https://x.test",
    )
    assert "from-env-secret" not in repr(settings)
    assert AUTH_TOKEN not in repr(load_settings(office_with_twilio(tmp_path, GOOD), {}))


def test_the_token_may_come_from_a_named_environment_variable(tmp_path: Path) -> None:
    path = office_with_twilio(
        tmp_path, f'account_sid = "{ACCOUNT_SID}"\nauth_token_env = "OFFICE_TWILIO_TOKEN"\n'
    )
    assert load_settings(path, {"OFFICE_TWILIO_TOKEN": "s3cret"}).twilio.auth_token == "s3cret"
    with pytest.raises(ConfigError) as raised:
        load_settings(path, {})
    assert raised.value.key == "twilio.auth_token_env"
    assert "OFFICE_TWILIO_TOKEN is not set" in raised.value.problem


def test_a_token_pasted_as_the_variable_name_is_refused_without_showing_it(tmp_path: Path) -> None:
    pasted = "0f3c9a7e5d1b2f4a6c8e0a1b3d5f7a9c"
    path = office_with_twilio(tmp_path, f'account_sid = "{ACCOUNT_SID}"\nauth_token_env = "{pasted}"\n')
    with pytest.raises(ConfigError) as raised:
        load_settings(path, {pasted: "anything"})
    assert raised.value.key == "twilio.auth_token_env"
    assert raised.value.problem == "is not an environment variable name such as TWILIO_AUTH_TOKEN"
    assert pasted not in str(raised.value)


# Two UTF-16 code units: Twilio counts it twice.
EMOJI = "\U0001f600"

BAD = [
    ('account_sid = "SK123"', "twilio.account_sid", "not a Twilio account SID"),
    ('public_url = "intake.office.test"', "twilio.public_url", "not a base URL"),
    ('api_base_url = "ftp://api.twilio.com"', "twilio.api_base_url", "not a base URL"),
    ("record_max_seconds = 0", "twilio.record_max_seconds", "must be from 1 to 3600"),
    ("download_timeout_seconds = 300.0", "twilio.download_timeout_seconds", "must be from 0.1 to 120.0"),
    ('transcribe = "yes"', "twilio.transcribe", "must be bool"),
    ("redirect_hosts = [1]", "twilio.redirect_hosts", "must be a list of strings"),
    ('auth_tokn = "x"', "twilio.auth_tokn", "unknown key"),
    ('auth_token = "a"\nauth_token_env = "B"', "twilio.auth_token_env", "not both"),
    ('texting_numbers = ["555-0101"]', "twilio.texting_numbers", "not an E.164 number"),
    ('texting_numbers = "+15555550101"', "twilio.texting_numbers", "must be list"),
    ('[twilio.greetings."555"]\nopen = "hi"', "twilio.greetings.555", "unknown key"),
    ('[twilio.acknowledgements.nobody]\nopen = "hi"', "twilio.acknowledgements.nobody", "unknown key"),
    ('[twilio.acknowledgements.sales]\nopened = "hi"', "twilio.acknowledgements.sales.opened", "unknown key"),
    (
        f'[twilio.acknowledgements.sales]\nopen = "{"x" * 1601}"',
        "twilio.acknowledgements.sales.open",
        "is 1,601 characters as Twilio counts them (an emoji counts two); at most 1,600 fit",
    ),
    (
        f'[twilio.acknowledgements.sales]\nclosed = "Thanks {EMOJI * 800}"',
        "twilio.acknowledgements.sales.closed",
        "is 1,607 characters as Twilio counts them",
    ),
    ('[twilio.acknowledgements.sales]\nopen = "   "', "twilio.acknowledgements.sales.open", "only blanks"),
    (
        '[twilio.acknowledgements.sales]\nclosed = "\\t\\u00a0 "',
        "twilio.acknowledgements.sales.closed",
        "only blanks (leave the key out for none)",
    ),
    ('[twilio.greetings.default]\nopen = " "', "twilio.greetings.default.open", "only blanks"),
]


@pytest.mark.parametrize("text", ["x" * 1600, "\u0105" * 1600, EMOJI * 800])
def test_an_acknowledgement_as_long_as_twilio_takes_loads(tmp_path: Path, text: str) -> None:
    path = office_with_twilio(tmp_path, f'[twilio.acknowledgements.sales]\nopen = "{text}"\n')
    assert load_settings(path, {}).twilio.acknowledgement("sales", is_open=True) == text


@pytest.mark.parametrize(("toml", "key", "problem"), BAD, ids=[b[1] for b in BAD])
def test_bad_twilio_values_are_refused_naming_file_and_key(
    tmp_path: Path, toml: str, key: str, problem: str
) -> None:
    path = office_with_twilio(tmp_path, toml + "\n")
    assert_refused(path, key, problem)
