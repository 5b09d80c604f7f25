"""Hot reload: SIGHUP swaps in a changed config's routing without dropping a connection,
and a broken config is refused while the old routing keeps running."""

from __future__ import annotations

import signal
import smtplib
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import pytest
from sqlalchemy import select

from config.loading import load_settings
from intake.cli.runtime import open_runtime, reload_config
from routing.store.database import transaction
from routing.store.models import Department
from tests.conftest import OFFICE
from tests.support.mail import email_bytes
from tests.support.serving import ServeProcess
from tests.support.twilio import ACCOUNT_SID, AUTH_TOKEN, PUBLIC_URL, sign, sms_form

INVOICES = '\n[[rules]]\nname = "invoices"\nwhen = { subject = ["invoice"] }\nroute = "billing"\n'
BROKEN = '\n[[rules]]\nname = "typo"\nwhen = { subjekt = ["invoice"] }\nroute = "sales"\n'


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "office.toml"
    path.write_text(OFFICE.read_text())
    return path


@pytest.fixture
def serve(config: Path, database_url: str) -> Iterator[ServeProcess]:
    # Items made in the serving process: its own log says when its routing has been reloaded.
    process = ServeProcess(config, database_url, "--workers", "0")
    try:
        process.wait_until_running()
        yield process
    finally:
        process.stop()


def _send(serve: ServeProcess, client: smtplib.SMTP, number: int) -> str:
    """Send one invoice to the front desk over an open connection; return its subject."""
    raw = email_bytes(
        to="hello@office.test", subject=f"Invoice {number}", message_id=f"<reload{number}@client.example>"
    )
    client.mail("ann@client.example")
    client.rcpt("hello@office.test")
    code, reply = client.data(raw)
    assert code == 250, reply
    serve.wait_until_drained()  # routed by the rules of now, not of after the next reload
    return f"Invoice {number}"


def test_sighup_reloads_the_rules_on_an_open_connection(serve: ServeProcess, config: Path) -> None:
    with smtplib.SMTP("127.0.0.1", serve.smtp_port, timeout=30) as client:
        client.ehlo()
        before = _send(serve, client, 1)
        config.write_text(config.read_text() + INVOICES)
        serve.process.send_signal(signal.SIGHUP)
        serve.wait_for_line("config reloaded: 1 rules")
        after = _send(serve, client, 2)

        config.write_text(config.read_text() + BROKEN)
        serve.process.send_signal(signal.SIGHUP)
        refused = serve.wait_for_line("config reload refused")
        still = _send(serve, client, 3)

    assert "rules[1].when.subjekt: rule 'typo': unknown condition kind 'subjekt'" in refused
    # SMTP's answer names no item: the items are found by their subjects.
    by_subject = {item["subject"]: item["department"] for item in serve.get_json("/api/v1/items")["items"]}
    departments = [by_subject[subject] for subject in (before, after, still)]
    assert departments == ["front-desk", "billing", "billing"]
    assert serve.process.poll() is None


def test_sighup_reaches_the_worker_processes_that_route(config: Path, database_url: str) -> None:
    process = ServeProcess(config, database_url, "--workers", "1")
    try:
        process.wait_until_running()  # its worker too
        config.write_text(config.read_text() + INVOICES)
        process.process.send_signal(signal.SIGHUP)
        for _ in ("the serving process", "its worker"):
            process.wait_for_line("config reloaded: 1 rules")
        with smtplib.SMTP("127.0.0.1", process.smtp_port, timeout=30) as client:
            client.ehlo()
            subject = _send(process, client, 4)
        [item] = process.get_json("/api/v1/items")["items"]
        assert (item["subject"], item["department"]) == (subject, "billing")
    finally:
        process.stop()


FAILING_FIXTURE = (
    '\n[[rule_tests]]\nname = "quotes"\nsubject = "quote"\nto = ["hello@office.test"]\nexpect = "sales"\n'
)


def test_a_reload_is_refused_when_a_fixture_fails_and_kept_when_good(config: Path, database_url: str) -> None:
    runtime = open_runtime(load_settings(config, {"INTAKE_DATABASE_URL": database_url}))
    first = runtime.routers.current
    config.write_text(config.read_text() + INVOICES + FAILING_FIXTURE)
    assert not reload_config(runtime)
    assert runtime.routers.current is first
    config.write_text(config.read_text().replace('expect = "sales"', 'expect = "front-desk"'))
    assert reload_config(runtime)
    assert runtime.routers.current is not first
    assert [rule.name for rule in runtime.routers.current.rules.rules] == ["invoices"]
    runtime.engine.dispose()


TWILIO = (
    f'\n[twilio]\naccount_sid = "{ACCOUNT_SID}"\nauth_token = "{AUTH_TOKEN}"\npublic_url = "{PUBLIC_URL}"\n'
)
REFUNDS = '\n[[rules]]\nname = "refunds"\nwhen = { body = ["refund"] }\nroute = "billing"\n'


def _text(serve: ServeProcess, number: int) -> None:
    """A signed Twilio text about a refund, to the front desk's number."""
    # From a new number each time, so that the second text is no follow-up of the first.
    form = sms_form(
        sid=f"SM{number:032d}", body="About my refund", To="+15555550100", From=f"+1555765000{number}"
    )
    request = urllib.request.Request(
        f"http://127.0.0.1:{serve.web_port}/twilio/sms",
        data=urlencode(form).encode(),
        headers={"X-Twilio-Signature": sign(PUBLIC_URL + "/twilio/sms", form)},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 200
    serve.wait_until_drained()  # made an item under the rules of now, as a mail is


def _mail(serve: ServeProcess, number: int) -> None:
    raw = email_bytes(
        to="hello@office.test",
        subject=f"Mail {number}",
        body="About my refund.",
        message_id=f"<refund{number}@client.example>",
    )
    with smtplib.SMTP("127.0.0.1", serve.smtp_port, timeout=30) as client:
        client.sendmail("ann@client.example", ["hello@office.test"], raw)
    serve.wait_until_drained()


def test_a_reload_reaches_email_and_texts_alike(config: Path, database_url: str) -> None:
    config.write_text(config.read_text() + TWILIO)
    serve = ServeProcess(config, database_url, "--workers", "0")
    try:
        serve.wait_until_running()
        _mail(serve, 1)
        _text(serve, 1)
        config.write_text(config.read_text() + REFUNDS)
        serve.process.send_signal(signal.SIGHUP)
        serve.wait_for_line("config reloaded: 1 rules")
        _mail(serve, 2)
        _text(serve, 2)
        items = serve.get_json("/api/v1/items?limit=10")["items"]
    finally:
        serve.stop()
    by_channel = sorted((item["channel"], item["received_at"], item["department"]) for item in items)
    assert [(channel, department) for channel, _, department in by_channel] == [
        ("email", "front-desk"),
        ("email", "billing"),
        ("sms", "front-desk"),
        ("sms", "billing"),
    ]


def test_a_reload_while_another_process_writes_is_refused_and_the_old_config_kept(
    config: Path, database_url: str
) -> None:
    # Another process stores mail and holds the departments past the office's 1 s lock
    # timeout (on SQLite, the one writer's turn). The reload, run in a signal handler, must
    # say so and keep the old config, never raise into the main thread and stop the process.
    environ = {"INTAKE_DATABASE_URL": database_url}
    runtime, worker = (open_runtime(load_settings(config, environ)) for _ in range(2))
    first, settings = runtime.routers.current, runtime.settings
    config.write_text(config.read_text().replace('name = "Sales"', 'name = "Sales team"') + INVOICES)
    try:
        with transaction(worker.sessions) as session:
            session.scalars(select(Department).with_for_update()).all()
            assert not reload_config(runtime)
        assert (runtime.routers.current, runtime.settings) == (first, settings)
        assert reload_config(runtime)
    finally:
        worker.engine.dispose()
        runtime.engine.dispose()
