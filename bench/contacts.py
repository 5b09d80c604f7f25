"""A contact's page and the same-request check on arrival at a million items and a
hundred thousand contacts, against the bare SQL behind them.

Fills a fresh SQLite file (and a PostgreSQL database, as bench/queue_pages.py does) with
the queue bench's filler, each item one of the contacts' (bench/queue_fill.py), then times
in the same run: a contact's page (`/contacts/ID`) and the API's (`/api/v1/contacts/ID`)
through the real Flask app, and the same-request check a worker makes for a batch of new
messages (routing.contacts.suggestions.same_requests, rolled back); each beside the SQL
it issued, replayed on a raw connection (x bare). Run from the project root:

    .venv/bin/python bench/contacts.py [--items N] [--contacts N] [--repeats N] [--postgresql URL|none] [--no-sqlite]
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.queue_fill import fill
from bench.queue_pages import (
    POSTGRESQL,
    StatementLog,
    analyze,
    fresh_postgresql,
    replayer,
    signed_in,
    timings,
)
from config.holder import SettingsHolder
from config.loading import DEFAULT_CONFIG, load_settings
from config.settings import Settings
from intake.jobs.inbox import BATCH
from routing.contacts.suggestions import Arrived, same_requests
from routing.delivery import Deliverer
from routing.engine import Router
from routing.normalize import normalizer_for
from routing.store.database import make_engine, make_session_factory
from routing.store.inbox import InboxWriter
from routing.store.schema import prepare, sync_departments
from web.app import create_app

TARGET_MS = 100.0
BENCH_DATABASE = "intake_bench_contacts"


def measure(label: str, engine: Engine, log: StatementLog, run: Callable[[], object], repeats: int) -> bool:
    with log.capture() as statements:
        run()
    p50, p95 = timings(run, repeats)
    bare50, _ = timings(replayer(engine, list(statements)), repeats)
    within = p95 < TARGET_MS
    print(
        f"    {label:<44} {p50:>8.1f} {p95:>8.1f} {bare50:>8.2f} {len(statements):>7} {p50 / bare50:>7.1f}"
        f"  {'under' if within else 'OVER'} {TARGET_MS:.0f} ms p95"
    )
    return within


def arrival_check(
    sessions: sessionmaker[Session], settings: Settings, items: int, contacts: int
) -> Callable[[], None]:
    """The same-request check of a worker's batch of texts arriving now, each from a
    random contact, in one statement as a batch is stored (each a new item, after every
    item the filler made), rolled back."""
    rng = random.Random(3)

    def run() -> None:
        now = datetime.now(UTC)
        arrived = [Arrived(items + 1 + n, rng.randrange(1, contacts + 1), "sms", now) for n in range(BATCH)]
        with sessions() as session, session.begin():
            same_requests(session, arrived, settings, earlier_only=True)
            session.rollback()

    return run


def run_database(url: str, name: str, items: int, contacts: int, repeats: int) -> bool:
    settings = load_settings(DEFAULT_CONFIG, {"INTAKE_DATABASE_URL": url})
    engine = make_engine(settings.database)
    try:
        prepare(engine)
        sessions = make_session_factory(engine)
        sync_departments(sessions, settings)
        started = time.perf_counter()
        fill(
            engine,
            sessions,
            [d.id for d in settings.departments],
            items,
            normalizer_for(settings.languages),
            contacts,
        )
        filled = time.perf_counter() - started
        maintenance = analyze(engine)
        print(
            f"\n{name}: {items:,} items of {contacts:,} contacts filled in {filled:.0f} s, then {maintenance}"
        )
        print(f"  load average of the machine: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
        print(f"    {'':<44} {'p50 ms':>8} {'p95 ms':>8} {'its SQL':>8} {'SELECTs':>7} {'x bare':>7}")
        deliverer = Deliverer(sessions, Router(settings))
        # The inbox is not started: this bench posts no texts.
        app = create_app(SettingsHolder(settings), engine, sessions, deliverer, InboxWriter(sessions).accept)
        client = signed_in(app, sessions)
        log = StatementLog(engine)
        rng = random.Random(4)

        def get(path: Callable[[], str]) -> Callable[[], None]:
            def run() -> None:
                response = client.get(path())
                assert response.status_code == 200, response.status_code

            return run

        page = get(lambda: f"/contacts/{rng.randrange(1, contacts + 1)}")
        api = get(lambda: f"/api/v1/contacts/{rng.randrange(1, contacts + 1)}")
        results = [
            measure("GET /contacts/ID (a random contact)", engine, log, page, repeats),
            measure("GET /api/v1/contacts/ID", engine, log, api, repeats),
            measure(
                f"same-request check of {BATCH} arrivals",
                engine,
                log,
                arrival_check(sessions, settings, items, contacts),
                repeats,
            ),
        ]
        return all(results)
    finally:
        engine.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--postgresql", default=POSTGRESQL, help="a server URL, or 'none' to skip")
    parser.add_argument("--no-sqlite", action="store_true", help="measure PostgreSQL only")
    args = parser.parse_args()
    print(f"contacts bench: times in ms, p50/p95 of {args.repeats} runs, each on a random contact;")
    print("'its SQL' is the p50 of the SELECTs that line issued, replayed raw; 'x bare' the p50 over it")
    ok = True
    if not args.no_sqlite:
        with tempfile.TemporaryDirectory() as folder:
            ok = run_database(
                f"sqlite:///{folder}/bench.db", "SQLite", args.items, args.contacts, args.repeats
            )
    if args.postgresql != "none":
        with fresh_postgresql(args.postgresql, BENCH_DATABASE) as url:
            if url is not None:
                ok = run_database(url, "PostgreSQL", args.items, args.contacts, args.repeats) and ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
