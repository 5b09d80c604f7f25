"""The [smtp] and [email] tables: listeners, recipients, the submission port, limits."""

from __future__ import annotations

import re
import ssl
from collections.abc import Mapping
from pathlib import Path

from config.domains import domain_key, owns
from config.settings import (
    Department,
    EmailSettings,
    SmtpSettings,
    SubmissionSettings,
)
from config.table import Table, bounded, read_listen, seconds

# A werkzeug password hash: "scrypt:..." or "pbkdf2:...", then "$salt$hash".
_PASSWORD_HASH = re.compile(r"^(scrypt|pbkdf2):[^$\s]*\$[^$\s]+\$[0-9a-f]+\Z")


def read_smtp(
    table: Table, env: Mapping[str, str], domains: tuple[str, ...], departments: tuple[Department, ...]
) -> SmtpSettings:
    table.only(
        "listen",
        "max_message_size",
        "hostname",
        "max_recipients",
        "max_connections",
        "max_connections_per_address",
        "data_timeout_seconds",
        "max_memory_per_connection",
        "proxy_protocol",
        "catch_all",
        "submission",
    )
    size = table.get("max_message_size", int, SmtpSettings.max_message_size)
    if size < 1024:
        raise table.fail("max_message_size", "must be at least 1024 bytes")
    max_recipients = table.get("max_recipients", int, SmtpSettings.max_recipients)
    if not 1 <= max_recipients <= 1000:
        raise table.fail("max_recipients", "must be from 1 to 1000")
    max_connections = bounded(table, "max_connections", SmtpSettings.max_connections, 1, 100_000)
    return SmtpSettings(
        listen=read_listen(table, "listen", env.get("INTAKE_SMTP"), "127.0.0.1:2525"),
        max_message_size=size,
        hostname=table.text("hostname", SmtpSettings.hostname),
        max_recipients=max_recipients,
        max_connections=max_connections,
        max_connections_per_address=bounded(
            table, "max_connections_per_address", SmtpSettings.max_connections_per_address, 1, max_connections
        ),
        data_timeout_seconds=seconds(table, "data_timeout_seconds", SmtpSettings.data_timeout_seconds, 3600),
        max_memory_per_connection=bounded(
            table, "max_memory_per_connection", SmtpSettings.max_memory_per_connection, 4096, 2**30
        ),
        proxy_protocol=table.get("proxy_protocol", bool, False),
        catch_all=_catch_all(table.table("catch_all"), domains, departments),
        submission=_submission(table) if "submission" in table.data else None,
    )


def _catch_all(
    table: Table, domains: tuple[str, ...], departments: tuple[Department, ...]
) -> tuple[tuple[str, str], ...]:
    """[smtp.catch_all]: "domain" = "department id", for mail to unknown local parts."""
    known = {d.id for d in departments}
    pairs = []
    for domain in table.data:
        department_id = table.text(domain)
        if not owns(domains, domain):
            raise table.fail(domain, "is not one of office.domains")
        if department_id not in known:
            raise table.fail(
                domain, f"unknown department {department_id!r} (known: {', '.join(sorted(known))})"
            )
        pairs.append((domain_key(domain), department_id))
    return tuple(pairs)


def _submission(smtp: Table) -> SubmissionSettings:
    table = smtp.table("submission")
    table.only("listen", "tls_cert", "tls_key", "users_file")
    listen = read_listen(table, "listen", None, "127.0.0.1:587")
    cert, key = _relative(table, "tls_cert"), _relative(table, "tls_key")
    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as error:
        raise table.fail("tls_cert", f"cannot be loaded with tls_key {key} ({error})") from None
    return SubmissionSettings(
        listen=listen, tls_cert=cert, tls_key=key, users=_users(table, _relative(table, "users_file"))
    )


def _relative(table: Table, name: str) -> Path:
    """A path from the config, relative to the config file's folder."""
    return table.source.parent / table.text(name)


def _users(table: Table, path: Path) -> tuple[tuple[str, str], ...]:
    """The users file: one "name:password-hash" a line; blank lines and # comments skipped."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise table.fail("users_file", f"{path} cannot be read ({error})") from None
    users: dict[str, str] = {}
    for number, line in enumerate(lines, start=1):
        if not line.strip() or line.startswith("#"):
            continue
        name, _, password_hash = line.strip().partition(":")
        if not name or not _PASSWORD_HASH.match(password_hash):
            raise table.fail(
                "users_file", f"{path} line {number} is not NAME:PASSWORD-HASH (see docs/email.md)"
            )
        if name in users:
            raise table.fail("users_file", f"{path} line {number} repeats user {name!r}")
        users[name] = password_hash
    if not users:
        raise table.fail("users_file", f"{path} names no user")
    return tuple(users.items())


# The accepted range of each [email] key. The parser's own recursion gives out far
# beyond 100 levels; real mail stays under 10.
_EMAIL_RANGES = {
    "max_parts": (1, 100_000),
    "max_depth": (1, 100),
    "max_header_bytes": (1024, 64 * 1024 * 1024),
    "max_header_size": (998, 64 * 1024 * 1024),
    "max_headers": (10, 1_000_000),
    "max_encoded_words": (1, 1_000_000),
    "max_parameters": (1, 100_000),
    "max_addresses": (1, 1_000_000),
    "parse_workers": (1, 64),
    "parse_seconds": (1, 3600),
    "parse_memory_mb": (64, 1024 * 1024),
}


def read_email(table: Table) -> EmailSettings:
    table.only(*_EMAIL_RANGES)
    values: dict[str, int] = {}
    for key, (lowest, highest) in _EMAIL_RANGES.items():
        value = table.get(key, int, getattr(EmailSettings, key))
        if not lowest <= value <= highest:
            raise table.fail(key, f"must be from {lowest} to {highest}")
        values[key] = value
    return EmailSettings(**values)
