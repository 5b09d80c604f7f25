"""End to end: `intake serve` as a real process, a real SMTP client, the web and the API."""

from __future__ import annotations

import os
import smtplib
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

from tests.conftest import OFFICE
from tests.support.mail import email_bytes
from tests.support.serving import RUNNING, ServeProcess


@pytest.fixture
def serve(database_url: str) -> Iterator[ServeProcess]:
    process = ServeProcess(OFFICE, database_url)
    try:
        process.wait_until_running()
        yield process
    finally:
        process.stop()


def test_serve_starts_one_worker_on_sqlite_and_one_per_core_on_postgresql(
    serve: ServeProcess, database_url: str
) -> None:
    # SQLite takes one writer at a time: a second worker would queue behind the first.
    sqlite = make_url(database_url).get_backend_name() == "sqlite"
    expected = 1 if sqlite else (os.cpu_count() or 1)
    assert f"Inbox workers: {expected} processes" in "".join(serve.output)


def test_a_log_level_of_warning_quiets_serve_and_its_workers(database_url: str) -> None:
    serve = ServeProcess(OFFICE, database_url, log_level="warning")
    try:
        serve.wait_for_line(RUNNING)
        # The worker process logs a line at INFO for what it stores: none may show.
        _send(serve, email_bytes(to="sales@office.test", subject="Quiet please"))
    finally:
        assert serve.stop() == 0
    shown = "".join(serve.output)
    assert "Inbox workers:" in shown and " INFO " not in shown, shown


def test_an_unknown_log_level_is_refused_before_anything_starts(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'never.db'}"
    environment = {**os.environ, "INTAKE_LOG_LEVEL": "loud", "INTAKE_DATABASE_URL": database}
    result = subprocess.run(
        [sys.executable, "-m", "intake", "--config", str(OFFICE), "serve"],
        env=environment, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 2
    assert (
        result.stderr == "intake: INTAKE_LOG_LEVEL is 'loud'; it may be one of debug, info, warning, error\n"
    )
    assert not (tmp_path / "never.db").exists()


def _send(serve: ServeProcess, raw: bytes, to: str = "sales@office.test") -> None:
    with smtplib.SMTP("127.0.0.1", serve.smtp_port, timeout=30) as client:
        client.sendmail("ann@client.example", [to], raw)
    serve.wait_until_drained()


def test_mail_to_a_department_shows_in_its_queue_and_the_api(serve: ServeProcess) -> None:
    _send(serve, email_bytes(to="sales@office.test", subject="Quote for 40 chairs"))
    items = serve.get_json("/api/v1/items?department=sales")["items"]
    assert [(i["department"], i["subject"], i["sender"]) for i in items] == [
        ("sales", "Quote for 40 chairs", "ann@client.example")
    ]
    assert "Quote for 40 chairs" in serve.get_text("/departments/sales")
    assert "Quote for 40 chairs" in serve.get_text(f"/items/{items[0]['id']}")
    assert serve.get_json("/api/v1/items?department=billing")["items"] == []
    assert serve.get_json("/healthz") == {
        "status": "ok",
        "database": "ok",
        "mailboxes": [],
        "notifications": {"pending": 0, "failed": 0},
        "jobs": {
            "notification": {"pending": 0, "failed": 0},
            "download": {"pending": 0, "failed": 0},
            "reply": {"pending": 0, "failed": 0},
        },
        "inbox": {"depth": 0, "oldest_seconds": 0.0},
    }


def test_a_resent_message_makes_one_item_and_a_foreign_domain_is_refused(serve: ServeProcess) -> None:
    raw = email_bytes(message_id="<resent@client.example>")
    _send(serve, raw)
    _send(serve, raw)
    with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
        _send(serve, email_bytes(message_id="<relay@client.example>"), to="someone@elsewhere.example")
    code, reply = refused.value.recipients["someone@elsewhere.example"]
    assert code == 550 and reply.startswith(b"5.7.1")
    assert len(serve.get_json("/api/v1/items")["items"]) == 1


class WriteLock:
    """Makes the database refuse writes for real, by holding a lock other writers wait on."""

    def __init__(self, database_url: str) -> None:
        url = make_url(database_url)
        self.sqlite_path = url.database if url.get_backend_name() == "sqlite" else None
        self.conninfo = url.set(drivername="postgresql").render_as_string(hide_password=False)

    def __enter__(self) -> None:
        if self.sqlite_path:
            self.connection: sqlite3.Connection | psycopg.Connection = sqlite3.connect(
                self.sqlite_path, isolation_level=None
            )
            self.connection.execute("BEGIN EXCLUSIVE")
        else:
            self.connection = psycopg.connect(self.conninfo)
            self.connection.execute("LOCK TABLE items, inbox IN ACCESS EXCLUSIVE MODE")

    def __exit__(self, *exc: object) -> None:
        self.connection.rollback()
        self.connection.close()


def test_an_unwritable_database_answers_451_and_the_retry_stores_one_item(
    serve: ServeProcess, database_url: str
) -> None:
    raw = email_bytes(message_id="<retry@client.example>", subject="Please call me back")
    with WriteLock(database_url), pytest.raises(smtplib.SMTPDataError) as failed:
        _send(serve, raw)
    assert failed.value.smtp_code == 451
    assert failed.value.smtp_error.startswith(b"4.3.0")
    assert b"locked" not in failed.value.smtp_error and b"Error" not in failed.value.smtp_error
    assert serve.get_json("/api/v1/items")["items"] == []
    _send(serve, raw)
    _send(serve, raw)
    items = serve.get_json("/api/v1/items")["items"]
    assert [i["subject"] for i in items] == ["Please call me back"]


def test_sigterm_stops_cleanly(serve: ServeProcess) -> None:
    _send(serve, email_bytes())
    assert serve.stop() == 0
    output = "".join(serve.output)
    assert "Stopping: finishing the messages in flight." in output
    assert "Traceback" not in output


def test_a_broken_config_stops_start_up_with_one_line(tmp_path: Path) -> None:
    broken = tmp_path / "office.toml"
    broken.write_text(
        OFFICE.read_text().replace('default_department = "front-desk"', 'default_department = "ghosts"')
    )
    result = subprocess.run(
        [sys.executable, "-m", "intake", "--config", str(broken), "serve"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"intake: {broken}: office.default_department: unknown department 'ghosts' "
        "(known: front-desk, sales, billing)"
    ]
