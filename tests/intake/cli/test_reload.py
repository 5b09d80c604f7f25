"""Hot reload: SIGHUP swaps in a changed config's routing without dropping a connection,
and a broken config is refused while the old routing keeps running."""

from __future__ import annotations

import signal
import smtplib
from collections.abc import Iterator
from pathlib import Path

import pytest

from config.loading import load_settings
from intake.cli.runtime import open_runtime, reload_routing
from tests.conftest import OFFICE
from tests.support.mail import email_bytes
from tests.support.serving import ServeProcess

INVOICES = '\n[[rules]]\nname = "invoices"\nwhen = { subject = ["invoice"] }\nroute = "billing"\n'
BROKEN = '\n[[rules]]\nname = "typo"\nwhen = { subjekt = ["invoice"] }\nroute = "sales"\n'


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "office.toml"
    path.write_text(OFFICE.read_text())
    return path


@pytest.fixture
def serve(config: Path, database_url: str) -> Iterator[ServeProcess]:
    process = ServeProcess(config, database_url)
    try:
        process.wait_for_line("Intake is running")
        yield process
    finally:
        process.stop()


def _send(client: smtplib.SMTP, number: int) -> str:
    """Send one invoice to the front desk over an open connection; return its subject."""
    raw = email_bytes(
        to="hello@office.test", subject=f"Invoice {number}", message_id=f"<reload{number}@client.example>"
    )
    client.mail("ann@client.example")
    client.rcpt("hello@office.test")
    code, reply = client.data(raw)
    assert code == 250, reply
    return f"Invoice {number}"


def test_sighup_reloads_the_rules_on_an_open_connection(serve: ServeProcess, config: Path) -> None:
    with smtplib.SMTP("127.0.0.1", serve.smtp_port, timeout=30) as client:
        client.ehlo()
        before = _send(client, 1)
        config.write_text(config.read_text() + INVOICES)
        serve.process.send_signal(signal.SIGHUP)
        serve.wait_for_line("config reloaded: 1 rules")
        after = _send(client, 2)

        config.write_text(config.read_text() + BROKEN)
        serve.process.send_signal(signal.SIGHUP)
        refused = serve.wait_for_line("config reload refused")
        still = _send(client, 3)

    assert "rules[1].when.subjekt: rule 'typo': unknown condition kind 'subjekt'" in refused
    # SMTP's answer names no item: the items are found by their subjects.
    by_subject = {item["subject"]: item["department"] for item in serve.get_json("/api/v1/items")["items"]}
    departments = [by_subject[subject] for subject in (before, after, still)]
    assert departments == ["front-desk", "billing", "billing"]
    assert serve.process.poll() is None


FAILING_FIXTURE = (
    '\n[[rule_tests]]\nname = "quotes"\nsubject = "quote"\nto = ["hello@office.test"]\nexpect = "sales"\n'
)


def test_a_reload_is_refused_when_a_fixture_fails_and_kept_when_good(config: Path, database_url: str) -> None:
    runtime = open_runtime(load_settings(config, {"INTAKE_DATABASE_URL": database_url}))
    first = runtime.routers.current
    config.write_text(config.read_text() + INVOICES + FAILING_FIXTURE)
    assert not reload_routing(runtime)
    assert runtime.routers.current is first
    config.write_text(config.read_text().replace('expect = "sales"', 'expect = "front-desk"'))
    assert reload_routing(runtime)
    assert runtime.routers.current is not first
    assert [rule.name for rule in runtime.routers.current.rules.rules] == ["invoices"]
    runtime.engine.dispose()
