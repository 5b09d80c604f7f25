"""[outbound] and a department's reply_from: good values load, INTAKE_OUTBOUND_SMTP overrides
the relay's address, the password stays out of repr(), and every bad value is refused by its key."""

from __future__ import annotations

from pathlib import Path

import pytest

from config.loading import load_settings
from config.settings import MailServer
from tests.conftest import OFFICE, assert_refused


def _office(tmp_path: Path, outbound: str, reply_from: str = "") -> Path:
    """The test office with [outbound], Billing also at accounts@ and answering from `reply_from`."""
    billing = 'addresses = ["billing@office.test", "accounts@office.test"]\n'
    if reply_from:
        billing += f'reply_from = "{reply_from}"\n'
    text = OFFICE.read_text().replace('addresses = ["billing@office.test"]\n', billing)
    path = tmp_path / "office.toml"
    path.write_text(text + "\n[outbound]\n" + outbound)
    return path


def test_without_outbound_nothing_is_sent_and_departments_answer_from_their_first_address(
    tmp_path: Path,
) -> None:
    settings = load_settings(OFFICE, {})
    assert settings.outbound.server is None
    assert settings.department("sales").reply_address == "sales@office.test"


def test_the_relay_its_login_and_reply_from_load(tmp_path: Path) -> None:
    path = _office(
        tmp_path,
        'smtp = "relay.office.test:587"\nusername = "intake"\npassword_env = "RELAY_PASSWORD"\nmax_attempts = 5\n',
        reply_from="Accounts@Office.test",
    )
    settings = load_settings(path, {"RELAY_PASSWORD": "relay-secret"})
    assert settings.outbound.server == MailServer(
        "relay.office.test", 587, "starttls", "intake", "relay-secret"
    )
    assert settings.outbound.max_attempts == 5
    assert "relay-secret" not in repr(settings.outbound) + repr(settings.outbound.server)
    assert settings.department("billing").reply_address == "accounts@office.test"


def test_intake_outbound_smtp_overrides_the_address(tmp_path: Path) -> None:
    path = _office(tmp_path, 'smtp = "relay.office.test:587"\nsecurity = "none"\n')
    settings = load_settings(path, {"INTAKE_OUTBOUND_SMTP": "127.0.0.1:2526"})
    assert settings.outbound.server == MailServer("127.0.0.1", 2526, "none")
    assert load_settings(OFFICE, {"INTAKE_OUTBOUND_SMTP": "[::1]:25"}).outbound.server == MailServer(
        "::1", 25
    )


@pytest.mark.parametrize(
    ("outbound", "key", "problem"),
    [
        ('smtp = "relay.office.test"', "outbound.smtp", "is not HOST:PORT"),
        ('smtp = "relay:70000"', "outbound.smtp", "is not HOST:PORT"),
        ('smtp = "relay:25"\nsecurity = "tls"', "outbound.security", "must be one of starttls, ssl, none"),
        (
            'smtp = "relay:25"\nsecurity = "none"\nusername = "u"\npassword_env = "P"',
            "outbound.username",
            "unencrypted",
        ),
        ('smtp = "relay:25"\nusername = "u"', "outbound.password_env", "is required with username"),
        ('smtp = "relay:25"\npassword_env = "P"', "outbound.password_env", "is only used with username"),
        (
            'smtp = "relay:25"\nusername = "u"\npassword_env = "UNSET"',
            "outbound.password_env",
            "UNSET is not set",
        ),
        (
            'smtp = "relay:25"\nusername = "u"\npassword_env = "hunter2!"',
            "outbound.password_env",
            "is not an environment variable name",
        ),
        ('smtp = "relay:25"\ntimeout_seconds = 0', "outbound.timeout_seconds", "greater than 0"),
        ('smtp = "relay:25"\nmax_attempts = 0', "outbound.max_attempts", "from 1 to 100"),
        ('smtp = "relay:25"\nport = 25', "outbound.port", "unknown key"),
    ],
)
def test_a_bad_outbound_value_is_refused_naming_file_and_key(
    tmp_path: Path, outbound: str, key: str, problem: str
) -> None:
    error = assert_refused(_office(tmp_path, outbound), key, problem)
    assert "hunter2" not in str(error)


@pytest.mark.parametrize("reply_from", ["sales@office.test", "accounts", "accounts@elsewhere.example"])
def test_a_reply_from_that_is_not_the_departments_own_is_refused(tmp_path: Path, reply_from: str) -> None:
    # The customer's answer comes back to it: only the department's addresses take mail.
    path = _office(tmp_path, "", reply_from)
    assert_refused(path, "departments[2].reply_from", "is not one of the department's addresses")


def test_a_bad_intake_outbound_smtp_is_refused(tmp_path: Path) -> None:
    assert_refused(OFFICE, "outbound.smtp", "is not HOST:PORT", {"INTAKE_OUTBOUND_SMTP": "relay"})
