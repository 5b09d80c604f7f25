"""Notifications: each department's notify table, and the [notifications] mail server."""

from __future__ import annotations

import re
from collections.abc import Mapping

from config.settings import Department, DepartmentNotify, NotificationSettings
from config.table import ADDRESS, Table, bounded, seconds

_WEBHOOK_URL = re.compile(r"^https?://[^/?#@\s]+(/\S*)?\Z")
_SECURITY_PORTS = {"starttls": 587, "ssl": 465, "none": 25}
# A digest at most once a day: a longer wait is no longer a notification.
MAX_DIGEST_MINUTES = 24 * 60
# The worker claims a row for five minutes; one send must end well inside that.
MAX_TIMEOUT_SECONDS = 120.0


def read_department_notify(table: Table, env: Mapping[str, str]) -> DepartmentNotify:
    """A department's `notify` table: email = [...], digest_minutes, webhook_url and its secret."""
    table.only("email", "digest_minutes", "webhook_url", "webhook_secret", "webhook_secret_env")
    email = tuple(address.lower() for address in table.strings("email"))
    for address in email:
        if not ADDRESS.match(address):
            raise table.fail("email", f"{address!r} is not an email address")
    if len(set(email)) != len(email):
        raise table.fail("email", "names an address twice")
    digest_minutes = bounded(table, "digest_minutes", 0, 0, MAX_DIGEST_MINUTES)
    if digest_minutes and not email:
        raise table.fail("digest_minutes", "needs email = [...] to send the digest to")
    webhook_url = table.get("webhook_url", str, "")
    if webhook_url and not _WEBHOOK_URL.match(webhook_url):
        raise table.fail("webhook_url", f"{webhook_url!r} is not an http:// or https:// URL")
    return DepartmentNotify(
        email=email,
        digest_minutes=digest_minutes,
        webhook_url=webhook_url,
        webhook_secret=_webhook_secret(table, env, bool(webhook_url)),
    )


def _webhook_secret(table: Table, env: Mapping[str, str], wanted: bool) -> str:
    given = [key for key in ("webhook_secret", "webhook_secret_env") if key in table.data]
    if not wanted:
        if given:
            raise table.fail(given[0], "is only used with webhook_url")
        return ""
    if len(given) != 1:
        raise table.fail("webhook_secret", "give exactly one of webhook_secret, webhook_secret_env")
    if given == ["webhook_secret"]:
        return table.text("webhook_secret")
    return table.from_env("webhook_secret_env", env, "SALES_WEBHOOK_SECRET")


def read_notifications(
    table: Table, env: Mapping[str, str], departments: tuple[Department, ...]
) -> NotificationSettings:
    """The [notifications] table; its mail server is required once a department sends email."""
    table.only(
        "smtp_host", "smtp_port", "security", "from_address", "username", "password", "password_env",
        "timeout_seconds", "max_attempts", "retry_seconds",
    )  # fmt: skip
    security = table.text("security", NotificationSettings.security)
    if security not in _SECURITY_PORTS:
        raise table.fail("security", f"{security!r} must be one of starttls, ssl, none")
    from_address = table.get("from_address", str, "")
    if from_address and not ADDRESS.match(from_address):
        raise table.fail("from_address", f"{from_address!r} is not an email address")
    mailing = [d.id for d in departments if d.notify.email]
    smtp_host = table.line("smtp_host").strip()
    for key, value in (("smtp_host", smtp_host), ("from_address", from_address)):
        if mailing and not value:
            raise table.fail(key, f"is required: department {mailing[0]!r} has email notifications")
    username = table.line("username")
    if username and security == "none":
        raise table.fail(
            "username", 'would send the password unencrypted: use security = "starttls" or "ssl"'
        )
    return NotificationSettings(
        smtp_host=smtp_host,
        smtp_port=bounded(table, "smtp_port", _SECURITY_PORTS[security], 1, 65535),
        security=security,
        from_address=from_address,
        username=username,
        password=_password(table, env, bool(username)),
        timeout_seconds=seconds(
            table, "timeout_seconds", NotificationSettings.timeout_seconds, MAX_TIMEOUT_SECONDS
        ),
        max_attempts=bounded(table, "max_attempts", NotificationSettings.max_attempts, 1, 100),
        retry_seconds=seconds(table, "retry_seconds", NotificationSettings.retry_seconds, 3600),
    )


def _password(table: Table, env: Mapping[str, str], wanted: bool) -> str:
    given = [key for key in ("password", "password_env") if key in table.data]
    if not wanted:
        if given:
            raise table.fail(given[0], "is only used with username")
        return ""
    if len(given) != 1:
        raise table.fail("password", "give exactly one of password, password_env with username")
    if given == ["password"]:
        return table.text("password")
    return table.from_env("password_env", env, "INTAKE_SMTP_PASSWORD")
