"""The settings a running process uses, replaced whole when its config file is reloaded.

A reload changes what the office decides (rules, departments, hours, texts, notify
tables); what the process was started with (where it listens, the database, the mail
limits, the IMAP mailboxes, the domains, the Twilio account) stays until a restart.
"""

from __future__ import annotations

import dataclasses

from config.settings import Settings


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
    twilio = dataclasses.replace(
        running.twilio,
        greetings=loaded.twilio.greetings,
        acknowledgements=loaded.twilio.acknowledgements,
        record_max_seconds=loaded.twilio.record_max_seconds,
        transcribe=loaded.twilio.transcribe,
    )
    return dataclasses.replace(
        loaded,
        source=running.source,
        domains=running.domains,
        smtp=running.smtp,
        web=running.web,
        database=running.database,
        email=running.email,
        imap=running.imap,
        twilio=twilio,
    )
