"""Two processes (two nodes) claiming from one job queue on PostgreSQL: each job is
claimed by one of them, once, batches included."""

from __future__ import annotations

import multiprocessing
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime

import pytest

from config.loading import load_settings
from intake.cli.runtime import Runtime, open_runtime
from intake.email.parser import parse_email
from routing.store import jobs
from routing.store.database import transaction
from tests.conftest import OFFICE
from tests.support.mail import email_bytes

pytestmark = pytest.mark.postgresql

SINGLE_JOBS = 200
BATCHES, BATCH_SIZE = 10, 5
NODES = 2


def _claim_all(database_url: str) -> list[int]:
    """What one node claims until the queue is empty: the ids of every row it took."""
    runtime = open_runtime(load_settings(OFFICE, {"INTAKE_DATABASE_URL": database_url}))
    taken: list[int] = []
    try:
        while (claim := jobs.claim(runtime.sessions, [jobs.NOTIFICATION], datetime.now(UTC), 3)) is not None:
            taken.extend(job_id for job_id, _ in claim.rows)
            jobs.finish(runtime.sessions, claim, datetime.now(UTC))
    finally:
        runtime.engine.dispose()
    return taken


def _queue_jobs(runtime: Runtime) -> None:
    item_id = runtime.deliverer.deliver(parse_email(email_bytes())).item_id
    due = datetime.now(UTC)
    with transaction(runtime.sessions) as session:
        for number in range(SINGLE_JOBS):
            jobs.add(session, jobs.NOTIFICATION, item_id, f"single-{number}", {}, due=due)
        for batch in range(BATCHES):
            for number in range(BATCH_SIZE):
                key = f"batch-{batch}-{number}"
                jobs.add(session, jobs.NOTIFICATION, item_id, key, {}, due=due, batch=f"digest-{batch}")


def test_two_nodes_claim_every_job_once(postgresql_url: str) -> None:
    runtime = open_runtime(load_settings(OFFICE, {"INTAKE_DATABASE_URL": postgresql_url}))
    try:
        _queue_jobs(runtime)
    finally:
        runtime.engine.dispose()
    with ProcessPoolExecutor(NODES, mp_context=multiprocessing.get_context("spawn")) as nodes:
        taken = list(nodes.map(_claim_all, [postgresql_url] * NODES))
    claimed = Counter(job_id for node in taken for job_id in node)
    assert [job_id for job_id, times in claimed.items() if times > 1] == []
    assert len(claimed) == SINGLE_JOBS + BATCHES * BATCH_SIZE
    assert all(taken), "both nodes took a share of the queue"
