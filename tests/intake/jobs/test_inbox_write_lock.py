"""On SQLite the doors and the workers share one write lock: a worker's batch must hold it
for its writes alone, never while its messages are routed."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import make_url
from sqlalchemy.orm import Session

from intake.cli.runtime import Runtime
from routing.engine import RoutingDecision
from routing.message import InboundMessage
from tests.intake.jobs.test_inbox import arrival, counts, queue, worker
from tests.support.databases import SqliteTemplate


@pytest.fixture
def database_url(tmp_path: Path, sqlite_template: SqliteTemplate) -> str:
    """SQLite only, in place of conftest's pair of databases: the lock is SQLite's."""
    return sqlite_template.copy_to(tmp_path / "intake.db")


def test_a_batch_is_routed_while_the_door_can_still_write(runtime: Runtime) -> None:
    door = sqlite3.connect(make_url(runtime.engine.url).database, timeout=0, isolation_level=None)
    free_while_routing: list[bool] = []
    route_all = runtime.deliverer.router.route_all

    def route_and_look(
        messages: Iterable[InboundMessage], session: Session | None = None
    ) -> list[RoutingDecision]:
        def looked() -> Iterator[InboundMessage]:
            for message in messages:
                # What the door does to commit arrivals; it fails at once if a worker holds the lock.
                try:
                    door.execute("BEGIN IMMEDIATE")
                except sqlite3.OperationalError:
                    free_while_routing.append(False)
                else:
                    door.execute("ROLLBACK")
                    free_while_routing.append(True)
                yield message

        return route_all(looked(), session)

    runtime.deliverer.router.route_all = route_and_look  # type: ignore[method-assign]
    queue(runtime, *(arrival(n) for n in range(5)))
    assert worker(runtime).run_once() == 5
    assert counts(runtime) == (0, 5, 0)
    assert free_while_routing == [True] * 5
    door.close()
