"""Leases: one holder at a time, taken over once expired, given up on a clean stop."""

from __future__ import annotations

import dataclasses
import sqlite3
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

from config.loading import load_settings
from intake.cli.runtime import Runtime, open_runtime
from routing.store import leases
from routing.store.database import transaction
from tests.conftest import OFFICE

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def _holder(runtime: Runtime, name: str, at: datetime) -> str | None:
    with transaction(runtime.sessions, write=False) as session:
        return leases.holders(session, [name, "imap:another"], at).get(name)


def test_a_lease_is_held_by_one_holder_until_it_expires(runtime: Runtime) -> None:
    sessions = runtime.sessions
    assert leases.take(sessions, "imap:sales", "node-a", NOW, 30)
    assert leases.take(sessions, "imap:sales", "node-a", NOW + timedelta(seconds=10), 30)  # renewed
    assert not leases.take(sessions, "imap:sales", "node-b", NOW + timedelta(seconds=39), 30)
    assert _holder(runtime, "imap:sales", NOW + timedelta(seconds=39)) == "node-a"
    # Forty seconds after the last renewal, node-a is taken for dead.
    assert leases.take(sessions, "imap:sales", "node-b", NOW + timedelta(seconds=40), 30)
    assert not leases.take(sessions, "imap:sales", "node-a", NOW + timedelta(seconds=41), 30)
    assert _holder(runtime, "imap:sales", NOW + timedelta(seconds=41)) == "node-b"


def test_a_process_waiting_for_a_held_lease_looks_without_the_write_lock(tmp_path: Path) -> None:
    path = tmp_path / "intake.db"
    settings = load_settings(OFFICE, {"INTAKE_DATABASE_URL": f"sqlite:///{path}"})
    # A look that waited for the write lock would fail after this long.
    database = dataclasses.replace(settings.database, lock_timeout_seconds=0.5)
    runtime = open_runtime(dataclasses.replace(settings, database=database))
    writer = sqlite3.connect(path, isolation_level=None)
    try:
        assert leases.take(runtime.sessions, "imap:sales", "node-a", NOW, 30)
        writer.execute("BEGIN IMMEDIATE")  # a message being stored holds the write lock
        assert not leases.take(runtime.sessions, "imap:sales", "node-b", NOW + timedelta(seconds=5), 30)
    finally:
        writer.close()
        runtime.engine.dispose()


def test_leases_of_different_names_are_apart(runtime: Runtime) -> None:
    assert leases.take(runtime.sessions, "imap:sales", "node-a", NOW, 30)
    assert leases.take(runtime.sessions, "imap:billing", "node-b", NOW, 30)
    assert _holder(runtime, "imap:billing", NOW) == "node-b"


def test_a_released_lease_is_taken_at_once_and_only_its_holder_releases_it(runtime: Runtime) -> None:
    sessions = runtime.sessions
    assert leases.take(sessions, "imap:sales", "node-a", NOW, 30)
    leases.release(sessions, "imap:sales", "node-b")  # not node-b's: nothing happens
    assert not leases.take(sessions, "imap:sales", "node-b", NOW, 30)
    leases.release(sessions, "imap:sales", "node-a")
    assert _holder(runtime, "imap:sales", NOW) is None
    assert leases.take(sessions, "imap:sales", "node-b", NOW, 30)


def test_holders_racing_for_a_new_lease_or_an_expired_one_give_one_winner(runtime: Runtime) -> None:
    for round_number in range(10):
        name = f"imap:race-{round_number % 2}"  # a new lease, then the same lease expired
        at = NOW + timedelta(minutes=round_number)
        won, failed = _race(runtime, name, at, racers=8)
        assert (len(won), failed) == (1, []), (round_number, won)
        assert _holder(runtime, name, at) == won[0]


def _race(runtime: Runtime, name: str, at: datetime, racers: int) -> tuple[list[str], list[Exception]]:
    """`racers` holders taking one lease at the same moment: who won, and what failed."""
    start = threading.Barrier(racers)
    won: list[str] = []
    failed: list[Exception] = []

    def race(holder: str) -> None:
        start.wait()
        try:
            if leases.take(runtime.sessions, name, holder, at, 30):
                won.append(holder)
        except Exception as error:  # a loser must be told no, not fail
            failed.append(error)

    threads = [threading.Thread(target=race, args=(f"node-{n}",)) for n in range(racers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return won, failed


def test_a_process_holder_names_its_host_and_process_and_differs_each_time() -> None:
    first, second = leases.process_holder(), leases.process_holder()
    assert first != second
    host, pid, _ = first.split(":")
    assert host and int(pid) > 0
