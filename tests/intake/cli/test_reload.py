"""Hot reload: SIGHUP swaps in a changed config's routing without dropping a connection,
and a broken config is refused while the old routing keeps running."""

from __future__ import annotations

import logging
import os
import signal
import smtplib
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import pytest
from sqlalchemy import select

from config.loading import ConfigError, load_settings
from intake.cli.runtime import open_runtime, reload_config, reload_worker
from intake.cli.worker_processes import WorkerProcesses
from intake.rules.rule_tests import build_router
from routing.store.database import transaction
from routing.store.models import Department
from tests.conftest import OFFICE
from tests.support.mail import email_bytes
from tests.support.serving import WORKER_RUNNING, ServeProcess
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


def _assert_an_invoice_goes_to_billing(process: ServeProcess, number: int) -> None:
    """Send invoice `number` on a new connection: the reloaded rules route it to billing."""
    with smtplib.SMTP("127.0.0.1", process.smtp_port, timeout=30) as client:
        client.ehlo()
        subject = _send(process, client, number)
    [item] = process.get_json("/api/v1/items")["items"]
    assert (item["subject"], item["department"]) == (subject, "billing")


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
        _assert_an_invoice_goes_to_billing(process, 4)
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


FIXTURE_FILE = '\n[[rule_tests]]\nname = "an invoice"\nfile = "invoice.eml"\nexpect = "billing"\n'


def test_a_fixture_that_cannot_be_read_refuses_the_config_naming_the_file(
    config: Path, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    fixture = config.with_name("invoice.eml")
    fixture.write_bytes(email_bytes(to="hello@office.test", subject="Invoice 9"))
    config.write_text(config.read_text() + INVOICES + FIXTURE_FILE)
    runtime = open_runtime(load_settings(config, {"INTAKE_DATABASE_URL": database_url}))
    first = runtime.routers.current
    # A file when the config was read, a folder when its fixtures are routed (a deploy
    # swapping the folder; or a file this process may not read).
    fixture.unlink()
    fixture.mkdir()
    try:
        with pytest.raises(ConfigError, match=r"rule_tests\[0\]\.file: rule test 'an invoice': cannot read"):
            build_router(runtime.settings)  # as at start: one line, not a traceback
        with caplog.at_level(logging.ERROR):
            assert not reload_config(runtime)  # in the signal handler: nothing may escape
    finally:
        runtime.engine.dispose()
    assert runtime.routers.current is first
    assert f"rule_tests[0].file: rule test 'an invoice': no such file {str(fixture)!r}" in caplog.text


PARTS = '\n[[departments]]\nid = "parts"\nname = "Parts"\naddresses = ["parts@office.test"]\n'


def test_the_smtp_door_takes_a_department_address_a_reload_adds(serve: ServeProcess, config: Path) -> None:
    config.write_text(config.read_text().replace("\n[smtp]", PARTS + "\n[smtp]", 1))
    serve.process.send_signal(signal.SIGHUP)
    serve.wait_for_line("config reloaded")
    raw = email_bytes(to="parts@office.test", subject="A spare part", message_id="<part1@client.example>")
    with smtplib.SMTP("127.0.0.1", serve.smtp_port, timeout=30) as client:
        refused = client.sendmail("ann@client.example", ["parts@office.test"], raw)
    assert refused == {}
    serve.wait_until_drained()
    [item] = serve.get_json("/api/v1/items")["items"]
    assert (item["subject"], item["department"]) == ("A spare part", "parts")
    # Listening where --smtp and --web say, not where the file does: as after a restart.
    assert not any("wait for a restart" in line for line in serve.output)


def test_a_reload_applies_the_page_size_and_warns_of_each_change_that_waits_for_a_restart(
    config: Path, database_url: str, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INTAKE_DATABASE_URL", database_url)  # as the reload reads the file too
    runtime = open_runtime(load_settings(config))
    edited = config.read_text().replace("page_size = 3", "page_size = 2\nthreads = 3")
    config.write_text(edited.replace("max_message_size = 1048576", "max_message_size = 2097152"))
    try:
        with caplog.at_level(logging.WARNING):
            assert reload_config(runtime)
    finally:
        runtime.engine.dispose()
    assert runtime.settings.web.page_size == 2
    assert (runtime.settings.web.threads, runtime.settings.smtp.max_message_size) == (8, 1048576)
    [warning] = [record.getMessage() for record in caplog.records if record.levelno == logging.WARNING]
    assert warning.endswith("wait for a restart: smtp.max_message_size, web.threads")


def test_the_workers_take_a_reload_only_once_the_serving_process_has(config: Path, database_url: str) -> None:
    # Refused by the serving process, the config must not reach its workers: they would
    # route under the new config while IMAP, voicemail and the front desk's messages,
    # stored in the serving process, go by the old.
    process = ServeProcess(config, database_url, "--workers", "1")
    try:
        process.wait_until_running()
        good = config.read_text()
        config.write_text(good + BROKEN)
        process.process.send_signal(signal.SIGHUP)
        process.wait_for_line("config reload refused")
        config.write_text(good + INVOICES)
        process.process.send_signal(signal.SIGHUP)
        for _ in ("the serving process", "its worker"):
            process.wait_for_line("config reloaded: 1 rules")
    finally:
        process.stop()
    assert sum("config reload refused" in line for line in process.output) == 1


def test_a_worker_refusing_a_reload_says_it_routes_under_the_old_config(
    config: Path, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    runtime = open_runtime(load_settings(config, {"INTAKE_DATABASE_URL": database_url}))
    config.write_text(config.read_text() + BROKEN)  # edited again since its serving process reloaded
    try:
        with caplog.at_level(logging.ERROR):
            assert not reload_worker(runtime, parent=os.getppid())
    finally:
        runtime.engine.dispose()
    assert f"worker {os.getpid()} keeps routing under its old config" in caplog.text


def test_a_sighup_while_serving_starts_is_kept_for_once_it_runs(config: Path, database_url: str) -> None:
    # Until a process handles SIGHUP, the signal ends it; `intake serve` takes seconds to
    # start. The config is read by the first line: a reload asked for after it must apply.
    process = ServeProcess(config, database_url, "--workers", "0")
    try:
        process.wait_for_line("Intake for ")
        config.write_text(config.read_text() + INVOICES)
        process.process.send_signal(signal.SIGHUP)
        process.wait_until_running()
        _wait_for_reloads(process, 1)
        _assert_an_invoice_goes_to_billing(process, 5)
    finally:
        process.stop()
    assert sum("config reloaded" in line for line in process.output) == 1


def _wait_for_reloads(process: ServeProcess, count: int) -> None:
    """Wait until `count` processes logged their reload, before "running" or after."""
    deadline = time.monotonic() + 30
    while sum("config reloaded: 1 rules" in line for line in process.output) < count:
        assert time.monotonic() < deadline, "".join(process.output)
        time.sleep(0.05)


def test_a_worker_process_signalled_while_it_starts_lives_and_takes_the_reload(
    config: Path, database_url: str
) -> None:
    # The serving process passes a reload on to a worker it has just started: one that
    # died of it was started again a second later, with a warning.
    process = ServeProcess(config, database_url, "--workers", "1")
    try:
        process.wait_for_line("Inbox workers: 1 processes")  # the worker has just been started
        config.write_text(config.read_text() + INVOICES)
        process.process.send_signal(signal.SIGHUP)
        process.wait_until_running()
        _wait_for_reloads(process, 2)  # the serving process's and its worker's
        _assert_an_invoice_goes_to_billing(process, 6)
    finally:
        process.stop()
    assert not any("ended (exit code" in line for line in process.output)


def test_a_worker_process_signalled_the_moment_it_is_started_lives(
    config: Path, database_url: str, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    # Before its interpreter has even loaded `intake`: the child starts with SIGHUP blocked.
    monkeypatch.setenv("INTAKE_DATABASE_URL", database_url)
    monkeypatch.setenv("INTAKE_LOG_LEVEL", "info")
    workers = WorkerProcesses(config, 1)
    workers.start()
    try:
        workers.reload()
        logged = ""
        deadline = time.monotonic() + 30
        while WORKER_RUNNING not in logged and time.monotonic() < deadline:
            time.sleep(0.05)
            logged += capfd.readouterr().err
    finally:
        workers.stop()
    assert "ended (exit code" not in logged
    assert 0 <= logged.find("config reloaded: 0 rules") < logged.find(WORKER_RUNNING)
