"""What a reload changes in a running process's settings, and what waits for a restart."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from config.holder import reloadable, waiting_for_restart
from config.loading import load_settings
from config.settings import ImapMailbox, Settings
from config.table import parse_listen
from tests.conftest import OFFICE

TWILIO = """
[twilio]
account_sid = "AC{sid}"
auth_token = "{token}"

[twilio.greetings.default]
open = "{greeting}"
"""


def _office(tmp_path: Path, name: str, token: str, greeting: str, sid: str) -> Path:
    path = tmp_path / f"{name}.toml"
    text = OFFICE.read_text().replace('name = "Test Office"', f'name = "{name}"')
    path.write_text(text + TWILIO.format(sid=sid, token=token, greeting=greeting))
    return path


def test_a_reload_takes_the_office_and_its_texts_but_keeps_what_the_process_started_with(
    tmp_path: Path,
) -> None:
    started = load_settings(_office(tmp_path, "Old", "old-token", "Hello", "0" * 32), {})
    # Started with `--web 127.0.0.1:9999`, which the file does not say.
    listen = parse_listen("127.0.0.1:9999", ValueError)
    running = dataclasses.replace(started, web=dataclasses.replace(started.web, listen=listen))
    loaded = load_settings(_office(tmp_path, "New", "new-token", "Welcome", "1" * 32), {})

    merged = reloadable(running, loaded)

    assert merged.office_name == "New"
    assert merged.twilio.greeting("+15555550100", True) == "Welcome"
    assert (merged.twilio.account_sid, merged.twilio.auth_token) == ("AC" + "0" * 32, "old-token")
    assert str(merged.web.listen) == "127.0.0.1:9999"
    assert merged.source == running.source
    assert merged.database == running.database


def _replaced(settings: Settings, **tables: dict[str, object]) -> Settings:
    """`settings` with some keys of some tables changed, as an edited file gives them."""
    changed = {name: dataclasses.replace(getattr(settings, name), **keys) for name, keys in tables.items()}
    return dataclasses.replace(settings, **changed)


def test_a_reload_applies_what_is_read_at_each_request_message_or_job() -> None:
    running = load_settings(OFFICE, {})
    loaded = _replaced(
        dataclasses.replace(running, domains=(*running.domains, "office-three.test")),
        web={"page_size": 7, "public_url": "https://intake.office.test", "threads": 2},
        smtp={"catch_all": (("office.test", "sales"),), "max_recipients": 5},
        twilio={"texting_numbers": ("+15555550101",)},
    )

    merged = reloadable(running, loaded)

    assert (merged.web.page_size, merged.web.public_url) == (7, "https://intake.office.test")
    assert merged.smtp.catch_all_department("office.test") == "sales"
    assert merged.domains == loaded.domains
    assert merged.twilio.texting_numbers == ("+15555550101",)
    # Read once, when the web server and the SMTP door were built.
    assert merged.web.threads == running.web.threads
    assert merged.smtp.max_recipients == running.smtp.max_recipients


def test_what_waits_for_a_restart_is_named_key_by_key() -> None:
    running = load_settings(OFFICE, {})
    loaded = _replaced(
        running,
        web={"page_size": 7, "threads": 2, "listen": parse_listen("127.0.0.1:9999", ValueError)},
        smtp={"max_recipients": 5},
        database={"lock_timeout_seconds": 3.0},
        email={"max_parts": 10},
        twilio={"auth_token": "new-token", "greetings": ()},
    )
    mailbox = ImapMailbox("new", "imap.test", 993, "ssl", "new@office.test")
    loaded = dataclasses.replace(loaded, imap=(mailbox,))

    assert waiting_for_restart(running, loaded) == [
        "smtp.max_recipients",
        "web.listen",
        "web.threads",
        "database.lock_timeout_seconds",
        "email.max_parts",
        "twilio.auth_token",
        "imap",
    ]
    # Started with `--web`: the file's address would not count after a restart either.
    assert "web.listen" not in waiting_for_restart(running, loaded, given={"web.listen"})
    assert waiting_for_restart(running, running) == []
