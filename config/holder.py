"""The settings a running process uses, replaced whole when its config file is reloaded.

A reload changes what the office decides (rules, departments and their addresses, domains,
hours, texts, notify tables, page size, links); what the process was started with (where
and how it listens, the database, the mail limits, the IMAP mailboxes, the Twilio account)
stays until a restart. RESTART_ONLY lists the latter, key by key.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection

from config.settings import EmailSettings, Settings

# Per table, the keys a reload keeps as the process started with: each is read once, when
# a listener, the database engine, a parser or a fetcher is built. The whole [[imap]] list
# waits too (a poller per mailbox is started once).
RESTART_ONLY: dict[str, tuple[str, ...]] = {
    "smtp": (
        *("listen", "hostname", "max_message_size", "max_recipients", "max_connections"),
        *("max_connections_per_address", "data_timeout_seconds", "max_memory_per_connection"),
        *("proxy_protocol", "submission"),
    ),
    "web": (
        *("listen", "secure_cookies", "connection_limit", "idle_timeout_seconds"),
        *("max_request_bytes", "threads"),
    ),
    "database": ("url", "lock_timeout_seconds", "inbox_lease_seconds"),
    "email": tuple(field.name for field in dataclasses.fields(EmailSettings)),
    "twilio": (
        *("account_sid", "auth_token", "public_url", "api_base_url", "redirect_hosts", "proxy_hops"),
        *("download_max_bytes", "download_timeout_seconds", "download_attempts"),
    ),
}


class SettingsHolder:
    """The settings in use. Each request or job reads `current` once, so it sees one
    config whole; assigning an attribute is atomic, so no lock is needed."""

    def __init__(self, settings: Settings) -> None:
        self.current = settings

    def swap(self, settings: Settings) -> None:
        self.current = settings


def reloadable(running: Settings, loaded: Settings) -> Settings:
    """`loaded` with the parts that need a restart kept as `running` has them.

    `running` may differ from its file (`--smtp` and `--web` override the listen
    addresses), so its parts are kept rather than the file's.
    """
    kept = {
        table: dataclasses.replace(
            getattr(loaded, table), **{key: getattr(getattr(running, table), key) for key in keys}
        )
        for table, keys in RESTART_ONLY.items()
    }
    return dataclasses.replace(loaded, source=running.source, imap=running.imap, **kept)


def waiting_for_restart(running: Settings, loaded: Settings, given: Collection[str] = ()) -> list[str]:
    """The keys whose value in `loaded` a reload does not apply, as "table.key".

    `given` names the keys the command line set (such as "web.listen"): the file's value
    of those would not count after a restart either.
    """
    changed = [
        f"{table}.{key}"
        for table, keys in RESTART_ONLY.items()
        for key in keys
        if getattr(getattr(running, table), key) != getattr(getattr(loaded, table), key)
    ]
    if running.imap != loaded.imap:
        changed.append("imap")
    return [key for key in changed if key not in given]
