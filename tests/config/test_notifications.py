"""Notification settings: a department's notify table, [notifications], [web] public_url;
good values load, secrets stay out of repr(), and every bad value is refused by its key."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from config.loading import DEFAULT_CONFIG, load_settings
from routing.store.notifications import digest_due
from tests.conftest import OFFICE, assert_refused

SERVER_KEYS = 'smtp_host = "mail.office.test"\nfrom_address = "intake@office.test"\n'
SERVER = "[notifications]\n" + SERVER_KEYS


def _office(tmp_path: Path, notify: str, tail: str = SERVER) -> Path:
    """The test office with `notify` as Sales' notify table (the second department)."""
    text = OFFICE.read_text().replace('name = "Sales"\n', f'name = "Sales"\nnotify = {{ {notify} }}\n')
    path = tmp_path / "office.toml"
    path.write_text(text + "\n" + tail)
    return path


def test_a_notify_table_and_its_server_load(tmp_path: Path) -> None:
    path = _office(
        tmp_path,
        'email = ["Team@Office.test"], digest_minutes = 30, webhook_url = "https://chat.test/h/1", '
        'webhook_secret_env = "SALES_HOOK"',
        SERVER + 'username = "intake"\npassword_env = "SMTP_PASSWORD"\nmax_attempts = 4\n',
    )
    settings = load_settings(path, {"SALES_HOOK": "hook-secret", "SMTP_PASSWORD": "mail-secret"})
    notify = settings.department("sales").notify
    assert (notify.email, notify.digest_minutes, notify.webhook_url) == (
        ("team@office.test",),
        30,
        "https://chat.test/h/1",
    )
    assert notify.webhook_secret == "hook-secret" and "hook-secret" not in repr(settings)
    server = settings.notifications
    assert (server.smtp_host, server.smtp_port, server.security, server.max_attempts) == (
        "mail.office.test",
        587,
        "starttls",
        4,
    )
    assert server.password == "mail-secret" and "mail-secret" not in repr(settings)
    assert settings.department("billing").notify.email == ()


def test_the_sample_office_notifies_nobody() -> None:
    settings = load_settings(DEFAULT_CONFIG, {})
    assert all(not d.notify.email and not d.notify.webhook_url for d in settings.departments)


def test_the_public_url_for_links(tmp_path: Path) -> None:
    path = tmp_path / "office.toml"
    path.write_text(
        OFFICE.read_text().replace("[web]\n", '[web]\npublic_url = "https://intake.test/office/"\n')
    )
    assert load_settings(path, {}).web.public_url == "https://intake.test/office"
    assert (
        load_settings(path, {"INTAKE_PUBLIC_URL": "https://other.test"}).web.public_url
        == "https://other.test"
    )


NOTIFY = "departments[1].notify"


@pytest.mark.parametrize(
    ("notify", "key", "problem"),
    [
        ('email = ["not-an-address"]', "email", "is not an email address"),
        ('email = ["a@office.test", "A@office.test"]', "email", "names an address twice"),
        ('email = "a@office.test"', "email", "must be list"),
        ("digest_minutes = 5", "digest_minutes", "needs email"),
        ('email = ["a@office.test"], digest_minutes = 1441', "digest_minutes", "must be from 0 to 1440"),
        ('email = ["a@office.test"], digest_minutes = -1', "digest_minutes", "must be from 0 to 1440"),
        (
            'webhook_url = "ftp://chat.test/x", webhook_secret = "s"',
            "webhook_url",
            "is not an http:// or https:// URL",
        ),
        ('webhook_url = "https://chat.test/x"', "webhook_secret", "give exactly one of"),
        (
            'webhook_url = "https://chat.test/x", webhook_secret = "s", webhook_secret_env = "S"',
            "webhook_secret",
            "give exactly one of",
        ),
        ('webhook_url = "https://chat.test/x", webhook_secret = " "', "webhook_secret", "must not be empty"),
        (
            'webhook_url = "https://chat.test/x", webhook_secret_env = "UNSET_SECRET"',
            "webhook_secret_env",
            "UNSET_SECRET is not set",
        ),
        (
            'webhook_url = "https://chat.test/x", webhook_secret_env = "pasted secret"',
            "webhook_secret_env",
            "is not an environment variable name",
        ),
        ('webhook_secret = "s"', "webhook_secret", "is only used with webhook_url"),
        ('mail = ["a@office.test"]', "mail", "unknown key"),
    ],
)
def test_a_bad_notify_table_is_refused(tmp_path: Path, notify: str, key: str, problem: str) -> None:
    assert_refused(_office(tmp_path, notify), f"{NOTIFY}.{key}", problem)


@pytest.mark.parametrize(
    ("server", "key", "problem"),
    [
        ('from_address = "intake@office.test"', "smtp_host", "is required: department 'sales' has email"),
        ('smtp_host = "mail.office.test"', "from_address", "is required: department 'sales' has email"),
        (SERVER_KEYS + 'security = "tls"', "security", "must be one of starttls, ssl, none"),
        (SERVER_KEYS + "smtp_port = 0", "smtp_port", "must be from 1 to 65535"),
        (SERVER_KEYS + 'smtp_port = "25"', "smtp_port", "must be int"),
        (
            SERVER_KEYS + 'security = "none"\nusername = "u"\npassword = "p"',
            "username",
            "would send the password unencrypted",
        ),
        (SERVER_KEYS + 'password = "p"', "password", "is only used with username"),
        (SERVER_KEYS + 'username = "u"', "password", "give exactly one of password, password_env"),
        (
            SERVER_KEYS + 'username = "u"\npassword_env = "UNSET_PASSWORD"',
            "password_env",
            "UNSET_PASSWORD is not set",
        ),
        (SERVER_KEYS + "max_attempts = 0", "max_attempts", "must be from 1 to 100"),
        (SERVER_KEYS + "retry_seconds = 0", "retry_seconds", "must be greater than 0"),
        (SERVER_KEYS + "timeout_seconds = 600", "timeout_seconds", "must be at most 120"),
        (SERVER_KEYS + 'relay = "x"', "relay", "unknown key"),
    ],
)
def test_a_bad_notifications_table_is_refused(tmp_path: Path, server: str, key: str, problem: str) -> None:
    path = _office(tmp_path, 'email = ["team@office.test"]', "[notifications]\n" + server)
    assert_refused(path, f"notifications.{key}", problem)


def test_a_bad_from_address_and_public_url_are_refused(tmp_path: Path) -> None:
    path = _office(tmp_path, 'email = ["team@office.test"]', SERVER.replace("intake@office.test", "intake"))
    assert_refused(path, "notifications.from_address", "is not an email address")
    path.write_text(OFFICE.read_text().replace("[web]\n", '[web]\npublic_url = "intake.test"\n'))
    assert_refused(path, "web.public_url", "is not a base URL")


def test_digest_periods_are_the_same_for_every_process() -> None:
    assert digest_due(datetime(2026, 11, 3, 10, 7, 1, tzinfo=UTC), 15) == datetime(
        2026, 11, 3, 10, 15, tzinfo=UTC
    )
    assert digest_due(datetime(2026, 11, 3, 10, 14, 59, tzinfo=UTC), 15) == datetime(
        2026, 11, 3, 10, 15, tzinfo=UTC
    )
    assert digest_due(datetime(2026, 11, 3, 10, 15, 1, tzinfo=UTC), 60) == datetime(
        2026, 11, 3, 11, 0, tzinfo=UTC
    )
