"""The queue page and the API list at a million items, against the bare SQL behind them.

Fills a fresh SQLite file and a fresh PostgreSQL database (bench/queue_fill.py) with the
sample office's departments and a million items, then times, in the same run, on each:
the SQL that `queues.list_items` issues for a department's first page, replayed on a raw
database connection (the baseline); the same call through the ORM; the queue page and
the API list through the real Flask app, signed in; the front desk's page; and the same
at page 51, reached by following the pages' own cursors; then searches' first pages
(routing.queues.search) against the plain page and list. Run from the project root:

    .venv/bin/python bench/queue_pages.py [--items N] [--repeats N] [--postgresql URL|none] [--explain]
        [--sqlite none] [--search-only]

PostgreSQL: a database `intake_bench_queue_PID` is made on the server of --postgresql
(INTAKE_BENCH_POSTGRESQL_URL; the local server by default) and dropped at the end; an
unreachable server is skipped with a message.
"""

from __future__ import annotations

import argparse
import html
import os
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.queue_fill import fill
from config.holder import SettingsHolder
from config.loading import DEFAULT_CONFIG, load_settings
from routing.delivery import Deliverer
from routing.engine import Router
from routing.normalize import normalizer_for
from routing.people import accounts
from routing.queues import reading
from routing.store.database import make_engine, make_session_factory, transaction
from routing.store.inbox import InboxWriter
from routing.store.schema import prepare, sync_departments
from web.app import create_app

POSTGRESQL = os.environ.get(
    "INTAKE_BENCH_POSTGRESQL_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
# One per run: two runs on one server (two people, two checkouts) must not drop each other's.
BENCH_DATABASE = f"intake_bench_queue_{os.getpid()}"
DEPARTMENT = "support"
DEEP = 50  # pages followed before the deep page
WARM_UP = 20
TARGET_MS = 100.0
# Searches of the support queue: a word in about half the items, two of them, a word
# being typed, and a sender's name in a few dozen (the index answers those by their ids).
SEARCHES = ("invoice", "invoice refund", "invo", "customer4242")
PASSWORD = "a bench password"
_OLDER = re.compile(r'href="([^"]*[?&](?:amp;)?cursor=[^"]*)"')


@dataclass(frozen=True)
class Figure:
    label: str
    p50: float
    p95: float
    sql_p50: float  # the SELECTs this one issued, replayed raw
    selects: int


class StatementLog:
    """The SELECTs (with a WITH clause or without) an engine sends while capturing,
    exactly as the driver gets them."""

    def __init__(self, engine: Engine) -> None:
        self.capturing: list[tuple[str, Any]] | None = None
        event.listen(engine, "before_cursor_execute", self._seen)

    def _seen(self, _conn: Any, _cursor: Any, statement: str, parameters: Any, _ctx: Any, many: bool) -> None:
        if (
            self.capturing is not None
            and not many
            and statement.lstrip().upper().startswith(("SELECT", "WITH"))
        ):
            self.capturing.append((statement, parameters))

    @contextmanager
    def capture(self) -> Iterator[list[tuple[str, Any]]]:
        self.capturing = []
        try:
            yield self.capturing
        finally:
            self.capturing = None


def timings(run: Callable[[], object], repeats: int) -> tuple[float, float]:
    """p50 and p95 in milliseconds, after a warm-up."""
    for _ in range(WARM_UP):
        run()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append((time.perf_counter() - start) * 1000)
    cuts = statistics.quantiles(times, n=20)
    return statistics.median(times), cuts[18]


def replayer(engine: Engine, statements: list[tuple[str, Any]]) -> Callable[[], None]:
    """Run the statements on a raw DBAPI connection and fetch every row: no ORM, no Flask."""
    raw = engine.raw_connection()

    def run() -> None:
        cursor = raw.cursor()
        for statement, parameters in statements:
            cursor.execute(statement, parameters)
            cursor.fetchall()
        cursor.close()
        raw.rollback()

    return run


def explain(engine: Engine, statements: list[tuple[str, Any]]) -> None:
    prefix = "EXPLAIN (ANALYZE, BUFFERS) " if engine.dialect.name == "postgresql" else "EXPLAIN QUERY PLAN "
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        for statement, parameters in statements:
            print("    " + " ".join(statement.split())[:300])
            cursor.execute(prefix + statement, parameters)
            for row in cursor.fetchall():
                print("      " + " | ".join(str(value) for value in row))
        raw.rollback()
    finally:
        raw.close()


def signed_in(app: Flask, sessions: sessionmaker[Session]) -> FlaskClient:
    """A receptionist (every queue), signed in through the login form, with an API token."""
    with transaction(sessions) as session:
        accounts.add_user(session, "bench", "receptionist", PASSWORD)
        token = accounts.create_token(session, "bench")
    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert csrf, "the login page has no CSRF token"
    answer = client.post("/login", data={"csrf_token": csrf[1], "name": "bench", "password": PASSWORD})
    assert answer.status_code == 302, f"signing in answered {answer.status_code}"
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    return client


class Bench:
    """Measures one filled database."""

    def __init__(self, engine: Engine, sessions: sessionmaker[Session], app: Flask, repeats: int) -> None:
        self.engine = engine
        self.sessions = sessions
        self.log = StatementLog(engine)
        self.client = signed_in(app, sessions)
        self.repeats = repeats
        self.depth = 0  # pages followed to the deep page
        self.page_size = load_settings(DEFAULT_CONFIG, {}).web.page_size

    def list_items(self, after: Any = None) -> reading.Page:
        with transaction(self.sessions, write=False) as session:
            return reading.list_items(session, limit=self.page_size, department_id=DEPARTMENT, after=after)

    def get(self, path: str) -> str:
        answer = self.client.get(path)
        if answer.status_code != 200:
            raise SystemExit(f"GET {path} answered {answer.status_code}")
        return answer.get_data(as_text=True)

    def sql_of(self, run: Callable[[], object]) -> list[tuple[str, Any]]:
        with self.log.capture() as statements:
            run()
        return list(statements)

    def figure(self, label: str, run: Callable[[], object]) -> Figure:
        statements = self.sql_of(run)
        sql_p50 = timings(replayer(self.engine, statements), self.repeats)[0]
        return Figure(label, *timings(run, self.repeats), sql_p50, len(statements))

    def bare(self, label: str, after: Any = None) -> Figure:
        statements = self.sql_of(lambda: self.list_items(after))
        p50, p95 = timings(replayer(self.engine, statements), self.repeats)
        return Figure(f"{label}, on a raw connection", p50, p95, p50, len(statements))

    def first_pages(self) -> list[Figure]:
        page, api = f"/departments/{DEPARTMENT}", f"/api/v1/items?department={DEPARTMENT}"
        return [
            self.bare("bare SQL of list_items"),
            self.figure("queues.list_items() (ORM, no Flask)", self.list_items),
            self.figure(f"queue page GET {page}", lambda: self.get(page)),
            self.figure(f"API list GET {api}", lambda: self.get(api)),
            self.figure("front desk GET /", lambda: self.get("/")),
        ]

    def deep_pages(self) -> list[Figure]:
        """Page DEEP + 1 (or the last), reached as a person and a script would: by the pages' own links."""
        cursor, self.depth = None, 0
        while self.depth < DEEP and (following := self.list_items(cursor).next) is not None:
            cursor, self.depth = following, self.depth + 1
        figures = [
            self.bare("bare SQL of list_items", cursor),
            self.figure("queues.list_items() (ORM, no Flask)", lambda: self.list_items(cursor)),
        ]
        page = self.older_page()
        if page is None:
            print("    (the queue page shows no link to older items; its deep page is not measured)")
        else:
            figures.append(self.figure("queue page, by its 'older' links", lambda: self.get(page)))
        api = f"/api/v1/items?department={DEPARTMENT}"
        for _ in range(self.depth):
            api = self.client.get(api).get_json()["next"]
        figures.append(self.figure("API list, by its 'next' links", lambda: self.get(api)))
        return figures

    def older_page(self) -> str | None:
        """The path of the deep page, by the 'older items' link of each page before it."""
        page = f"/departments/{DEPARTMENT}"
        for _ in range(self.depth):
            found = _OLDER.search(self.get(page))
            if found is None:
                return None
            page = html.unescape(found[1])
        return page

    def pages(self, items: int) -> None:
        """The first page and page 51, as a person and a script reach them."""
        first = self.first_pages()
        print_table("first page", first)
        deep = self.deep_pages()
        print_table(f"page {self.depth + 1}", deep)
        worst = max(f.p95 for f in first[2:4])
        verdict = "met" if worst < TARGET_MS else "MISSED"
        print(
            f"  target: first page < {TARGET_MS:.0f} ms at {items:,} items: {verdict} (page and API p95 at most {worst:.1f} ms)"
        )

    def searches(self) -> list[Figure]:
        """The plain queue page and API list, then each search's first page through both."""
        page, api = f"/departments/{DEPARTMENT}", f"/api/v1/items?department={DEPARTMENT}"
        figures = [
            self.figure(f"plain queue page GET {page}", lambda: self.get(page)),
            self.figure(f"plain API list GET {api}", lambda: self.get(api)),
        ]
        for words in SEARCHES:
            q = quote_plus(words)
            figures.append(self.figure(f"queue page, q={words}", lambda q=q: self.get(f"{page}?q={q}")))
            figures.append(self.figure(f"API list, q={words}", lambda q=q: self.get(f"{api}&q={q}")))
        return figures

    def search_plans(self) -> None:
        print("  query plans, queue page q=invoice and q=customer4242:")
        for words in ("invoice", "customer4242"):
            explain(self.engine, self.sql_of(lambda w=words: self.get(f"/departments/{DEPARTMENT}?q={w}")))

    def plans(self) -> None:
        print("  query plans, first page of list_items:")
        explain(self.engine, self.sql_of(self.list_items))
        print("  query plans, front desk GET /:")
        explain(self.engine, self.sql_of(lambda: self.get("/")))


def print_table(title: str, figures: list[Figure], bare: float | None = None) -> None:
    bare = bare or (figures[0].p50 if figures else 1.0)
    if title:
        print(f"  {title}")
    for f in figures:
        print(
            f"    {f.label:<52} {f.p50:8.2f} {f.p95:8.2f} {f.sql_p50:8.2f} {f.selects:7} {f.p50 / bare:7.1f}"
        )


def analyze(engine: Engine) -> str:
    """Statistics for the planner; on PostgreSQL also the visibility map that autovacuum
    keeps in a database that has run a while (a freshly copied table has none, and no
    index-only scan can skip its rows' pages)."""
    if engine.dialect.name != "postgresql":
        with engine.begin() as connection:
            connection.execute(text("ANALYZE"))
        return "ANALYZE"
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM (ANALYZE)"))
    return "VACUUM (ANALYZE)"


def run_database(
    url: str, name: str, items: int, repeats: int, plans: bool, search_only: bool = False
) -> None:
    settings = load_settings(DEFAULT_CONFIG, {"INTAKE_DATABASE_URL": url})
    engine = make_engine(settings.database)
    try:
        prepare(engine)
        sessions = make_session_factory(engine)
        sync_departments(sessions, settings)
        started = time.perf_counter()
        fill(
            engine, sessions, [d.id for d in settings.departments], items, normalizer_for(settings.languages)
        )
        filled = time.perf_counter() - started
        maintenance = analyze(engine)
        analyzed = time.perf_counter() - started - filled
        print(f"\n{name}: {items:,} items filled in {filled:.0f} s, {maintenance} {analyzed:.1f} s")
        bench = Bench(
            engine,
            sessions,
            create_app(
                SettingsHolder(settings),
                engine,
                sessions,
                Deliverer(sessions, Router(settings)),
                InboxWriter(sessions).accept,  # not started: this bench posts no texts
            ),
            repeats,
        )
        with transaction(sessions, write=False) as session:
            queue_size = session.execute(
                text("SELECT count(*) FROM items WHERE department_id = :d"), {"d": DEPARTMENT}
            ).scalar_one()
        print(
            f"  queue {DEPARTMENT!r}: {queue_size:,} items; pages of {bench.page_size}; {repeats} runs each"
        )
        # Other work on the machine moves the figures; the load says how busy it was.
        print(f"  load average of the machine: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
        print(f"    {'':<52} {'p50 ms':>8} {'p95 ms':>8} {'its SQL':>8} {'SELECTs':>7} {'x bare':>7}")
        if not search_only:
            bench.pages(items)
        searches = bench.searches()
        print_table("search, first page ('x bare' here: over the plain page or list of the same kind)", [])
        for plain, found in ((searches[0], searches[2::2]), (searches[1], searches[3::2])):
            print_table("", [plain, *found], plain.p50)
        worst = max(f.p95 for f in searches[2:])
        verdict = "met" if worst < TARGET_MS else "MISSED"
        print(
            f"  target: a search's first page < {TARGET_MS:.0f} ms at {items:,} items: {verdict} (p95 at most {worst:.1f} ms)"
        )
        if plans:
            bench.plans()
            bench.search_plans()
    finally:
        engine.dispose()


@contextmanager
def fresh_postgresql(server: str, name: str = BENCH_DATABASE) -> Iterator[str | None]:
    """A new, empty database on the server, dropped afterwards; None when unreachable.
    Each bench names its own, so that two benches at once never drop each other's."""
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            connection.execute(text(f"CREATE DATABASE {name}"))
    except OperationalError as error:
        print(f"\nPostgreSQL: skipped, {make_url(server).render_as_string()} cannot be reached: {error.orig}")
        admin.dispose()
        yield None
        return
    try:
        yield make_url(server).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--postgresql", default=POSTGRESQL, help="a server URL, or 'none' to skip")
    parser.add_argument("--explain", action="store_true", help="print the query plans too")
    parser.add_argument(
        "--sqlite", default="yes", choices=("yes", "none"), help="'none' measures PostgreSQL only"
    )
    parser.add_argument(
        "--search-only", action="store_true", help="measure only the searches and their plain pages"
    )
    args = parser.parse_args()
    print(
        f"queue bench: {args.items:,} items of the sample office; times in ms, p50/p95 of {args.repeats} runs"
    )
    print("'its SQL' is the p50 of the SELECTs that line issued (counted), replayed on a raw connection;")
    print("'x bare' divides the p50 by that of the bare SQL of list_items for the same page")
    with tempfile.TemporaryDirectory() as folder:
        if args.sqlite != "none":
            database = f"sqlite:///{folder}/bench.db"
            run_database(database, "SQLite", args.items, args.repeats, args.explain, args.search_only)
            print(f"  database file: {os.path.getsize(Path(folder) / 'bench.db') / 1e6:.0f} MB")
    if args.postgresql != "none":
        with fresh_postgresql(args.postgresql) as url:
            if url is not None:
                run_database(url, "PostgreSQL", args.items, args.repeats, args.explain, args.search_only)
    return 0


if __name__ == "__main__":
    sys.exit(main())
