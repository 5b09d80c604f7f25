"""What a reload changes in a running process's settings, and what waits for a restart."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from config.holder import reloadable
from config.loading import load_settings
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
