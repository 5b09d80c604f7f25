"""The [outbound] table: the office's relay (smarthost) that replies to customers go out through."""

from __future__ import annotations

from collections.abc import Mapping

from config.settings import OutboundSettings
from config.table import Table, bounded, parse_listen, seconds

SECURITIES = ("starttls", "ssl", "none")
# The worker claims a reply for five minutes; one send must end well inside that.
MAX_TIMEOUT_SECONDS = 120.0


def read_outbound(table: Table, env: Mapping[str, str]) -> OutboundSettings:
    """`smtp = "HOST:PORT"` (INTAKE_OUTBOUND_SMTP overrides it), its security and login,
    and how sending is retried. Without an address nothing is answered by email."""
    table.only(
        "smtp", "security", "username", "password_env", "timeout_seconds", "max_attempts", "retry_seconds"
    )
    security = table.text("security", "starttls")
    if security not in SECURITIES:
        raise table.fail("security", f"{security!r} must be one of {', '.join(SECURITIES)}")
    username = table.line("username")
    if username and security == "none":
        raise table.fail(
            "username", 'would send the password unencrypted: use security = "starttls" or "ssl"'
        )
    if "password_env" in table.data and not username:
        raise table.fail("password_env", "is only used with username")
    if username and "password_env" not in table.data:
        raise table.fail("password_env", "is required with username (the variable holding the password)")
    password = table.from_env("password_env", env, "INTAKE_OUTBOUND_PASSWORD") if username else ""
    address = env.get("INTAKE_OUTBOUND_SMTP") or table.get("smtp", str, "")
    relay = parse_listen(address, lambda problem: table.fail("smtp", problem)) if address else None
    return OutboundSettings(
        smtp_host=relay.host if relay else "",
        smtp_port=relay.port if relay else OutboundSettings.smtp_port,
        security=security,
        username=username,
        password=password,
        timeout_seconds=seconds(
            table, "timeout_seconds", OutboundSettings.timeout_seconds, MAX_TIMEOUT_SECONDS
        ),
        max_attempts=bounded(table, "max_attempts", OutboundSettings.max_attempts, 1, 100),
        retry_seconds=seconds(table, "retry_seconds", OutboundSettings.retry_seconds, 3600),
    )
