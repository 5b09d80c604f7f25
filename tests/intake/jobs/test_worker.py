"""The workers on the one job queue: an idle worker on SQLite never takes the write lock.

SQLite has one writer at a time; a worker that claimed by writing first would hold the
office's write lock at every poll, once a second, and a message arriving meanwhile would
wait for it. Another connection with no busy timeout at all shows any such lock at once.
"""

from __future__ import annotations

import dataclasses
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from config.loading import load_settings
from intake.cli.runtime import Runtime, open_runtime
from intake.jobs.downloads import DownloadWorker
from intake.jobs.notifications import NotificationWorker
from intake.jobs.worker import JobWorker
from intake.phone.fetch import TwilioFetcher
from tests.conftest import OFFICE

POLLS = 5


@pytest.fixture
def sqlite_office(tmp_path: Path) -> Iterator[tuple[Runtime, Path]]:
    path = tmp_path / "intake.db"
    settings = load_settings(OFFICE, {"INTAKE_DATABASE_URL": f"sqlite:///{path}"})
    # A worker that waits for the lock fails after this long instead of hanging the test.
    database = dataclasses.replace(settings.database, lock_timeout_seconds=0.5)
    runtime = open_runtime(dataclasses.replace(settings, database=database))
    yield runtime, path
    runtime.engine.dispose()


def _workers(runtime: Runtime) -> list[JobWorker]:
    settings = runtime.settings
    fetcher = TwilioFetcher(settings.twilio)
    return [
        NotificationWorker(runtime.sessions, lambda: settings),
        DownloadWorker(runtime.sessions, fetcher, max_attempts=3),
    ]


def _other_connection(path: Path) -> sqlite3.Connection:
    # busy_timeout 0: a write lock held by anyone else fails this connection's write at once.
    connection = sqlite3.connect(path, timeout=0, isolation_level=None)
    connection.execute("PRAGMA busy_timeout = 0")
    return connection


def test_an_idle_worker_polls_while_another_connection_holds_the_write_lock(
    sqlite_office: tuple[Runtime, Path],
) -> None:
    runtime, path = sqlite_office
    other = _other_connection(path)
    try:
        for worker in _workers(runtime):
            other.execute("BEGIN IMMEDIATE")
            for poll in range(POLLS):
                assert not worker.run_once()  # neither waits for the lock nor fails
                other.execute(
                    "INSERT INTO web_secrets (name, value) VALUES (?, 'x')", (f"{worker.name}-{poll}",)
                )
            other.execute("COMMIT")
        count = other.execute("SELECT count(*) FROM web_secrets WHERE value = 'x'").fetchone()
        assert count == (2 * POLLS,)
    finally:
        other.close()


def test_writes_with_no_busy_timeout_never_meet_an_idle_worker(sqlite_office: tuple[Runtime, Path]) -> None:
    runtime, path = sqlite_office
    stop = threading.Event()
    polls: list[bool] = []

    def poll(worker: JobWorker) -> None:
        while not stop.is_set():
            polls.append(worker.run_once())

    pollers = [threading.Thread(target=poll, args=(worker,)) for worker in _workers(runtime)]
    other = _other_connection(path)
    try:
        for poller in pollers:
            poller.start()
        for number in range(200):
            other.execute("INSERT INTO web_secrets (name, value) VALUES (?, 'y')", (f"write-{number}",))
    finally:
        stop.set()
        for poller in pollers:
            poller.join()
        other.close()
    assert len(polls) > 2 and not any(polls)
