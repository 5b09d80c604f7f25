"""SMTP ingest end to end: Intake against a do-nothing aiosmtpd server, in one run.

Eight client processes each hold one connection and send 3 KB mails (a customer's
reply: new lines, a signature, the office's message quoted) one after another; the clock
starts once all have connected, and a mail counts when its 250 arrives, which for Intake
means it is committed to the inbox. The do-nothing server measures what SMTP itself costs on this machine,
so the ratio says how much Intake's door takes away; it is measured again after each
phase, and a phase's ratio taken against the runs just before and after it (a shared
machine's speed drifts). Then, per database, three kinds of run:

- acknowledgements: the door and the inbox alone, no worker (target: at least 0.7 of
  the do-nothing server, p99 under 50 ms); beside them the same door without Intake
  (aiosmtpd and a group commit of the bytes through the database's driver, bench/bare_door.py);
- end to end with 1, 2 and 4 inbox worker processes, started and warmed up (two batches
  each made items) before the clock: from the first mail sent until every item is
  listed, and the time from each 250 to its item (p50, p99); the default (as `intake
  serve` starts them: one worker on SQLite, one per core on PostgreSQL) must reach 0.3
  of the do-nothing server. On PostgreSQL the database server's CPU is shown too.

    .venv/bin/python bench/smtp_ingest.py [--messages 2000] [--connections 8] [--workers 1,2,4]

SQLite in a temporary folder; set INTAKE_BENCH_DATABASE_URL to a PostgreSQL URL to
measure that too (a fresh database is made there and dropped afterwards).
"""

from __future__ import annotations

import argparse
import dataclasses
import email
import email.message
import email.policy
import multiprocessing
import os
import smtplib
import socket
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

import psycopg
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.bare_door import BareDoor
from config.loading import DEFAULT_CONFIG, load_settings
from config.settings import DatabaseSettings, ListenAddress
from intake.cli.runtime import Runtime, default_workers, open_runtime
from intake.cli.worker_processes import WorkerProcesses
from intake.email.parse_workers import ParseWorkers, WorkerLimits
from intake.email.smtp import SMTPServer
from intake.jobs.inbox import BATCH
from routing.store import inbox
from routing.store.database import transaction
from routing.store.inbox import GATHER_SECONDS, Arrival, InboxWriter
from routing.store.models import Item

TARGET_RATIO = 0.7
TARGET_P99_MS = 50.0
TARGET_END_TO_END = 0.3
# A customer's reply as a mail program sends it: a few new lines with dates, amounts and a
# question, a signature with a phone number, and the office's message quoted under its
# header. Routing reads all of it (quote, signature, numbers), as it does real mail.
NEW_TEXT = """Hello,

Thank you for the quick answer. I looked at the invoice again this morning and the
heating is still much higher than in September: 412.50 lei instead of 268.00 lei. Could
you tell me how it was calculated, and whether the meter was read on 30 October or only
estimated? The radiator in the bedroom was switched off for most of the month.

I can send a photo of the meter if that helps. I am at home after 17:30 on weekdays,
or you can call me at the number below.

Best regards,
Ann Example
Apartment 12, 4 Horea Street
Tel: +40 722 123 456
"""
QUOTED = """Dear Ms Example,

Thank you for your message. The invoice for October is attached again; it covers the
rent, the building's monthly fee and the heating, as every month. The heating is shared
between the flats by the meters on each radiator, read by the heating company at the end
of the month. Where a meter could not be read, the company estimates from the flat's
last three months.

If you think a reading is wrong, please send us a photo of each meter with its number
and the date, and we will ask the company to check it. A correction, if any, appears on
the next month's invoice. Payment is due by the 15th; a payment made on time is not
charged a late fee even while a reading is being checked.

Kind regards,
Maria Pop
Accounting, Office Example
"""


def mail(number: int, run: str) -> bytes:
    """A 3 KB reply with its own Message-ID: new text, a signature, a quoted message."""
    head = (
        "From: Ann Example <ann@client.example>\r\nTo: sales@office.example\r\n"
        f"Subject: Re: Your invoice for October, bench message {number}\r\n"
        f"Date: Mon, 02 Nov 2026 10:15:00 -0500\r\nMessage-ID: <{run}.{number}@client.example>\r\n"
        f"In-Reply-To: <{run}.{number}.invoice@office.example>\r\nMIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\n"
    )
    header = "On Mon, 2 Nov 2026 at 09:02, Office Example <sales@office.example> wrote:\n"
    lines = [f"> {line}".rstrip() for line in (QUOTED * 3).splitlines()]
    body = f"{NEW_TEXT}\n{header}".splitlines() + lines
    # Whole lines, as many as fit in 3 KB with CRLF line ends.
    room = 3072 - len(head)
    kept = []
    for line in body:
        room -= len(line.encode()) + 2
        if room < 0:
            break
        kept.append(line)
    return (head + "\r\n".join(kept) + "\r\n").encode()


def client(
    port: int, first: int, count: int, run: str, start: threading.Barrier
) -> tuple[float, float, list[float], dict[int, float], float]:
    """One connection sending `count` mails: start, end, latencies (perf counter, seconds),
    the wall-clock time of each 250 by mail number, and the CPU time the sending took."""
    messages = [(first + n, mail(first + n, run)) for n in range(count)]
    latencies, answered = [], {}
    with smtplib.SMTP("127.0.0.1", port, timeout=60) as connection:
        connection.ehlo("bench.client.example")
        start.wait(timeout=120)
        began, cpu = time.perf_counter(), time.process_time()
        for number, message in messages:
            sent = time.perf_counter()
            connection.mail("ann@client.example")
            connection.rcpt("sales@office.example")
            code, reply = connection.data(message)
            if code != 250:
                raise RuntimeError(f"refused: {code} {reply!r}")
            latencies.append(time.perf_counter() - sent)
            answered[number] = time.time()
        ended, cpu = time.perf_counter(), time.process_time() - cpu
    return began, ended, latencies, answered, cpu


@dataclass
class Result:
    name: str
    rate: float
    p50_ms: float
    p99_ms: float
    # CPU time of the serving process per message: steadier than rates on a busy machine.
    cpu_ms: float
    # CPU time of the client processes per message: they share the machine's cores.
    clients_ms: float = 0.0
    answered: dict[int, float] = dataclasses.field(default_factory=dict, repr=False)
    began_at: float = 0.0

    def __str__(self) -> str:
        return (
            f"{self.name:<26} {self.rate:6.0f} msgs/s   p50 {self.p50_ms:6.2f} ms   "
            f"p99 {self.p99_ms:6.2f} ms   server CPU {self.cpu_ms:5.2f} ms/msg"
        )


def load(name: str, port: int, messages: int, connections: int, run: str) -> Result:
    """Send `messages` over `connections` client processes at once."""
    per_connection = messages // connections
    context = multiprocessing.get_context("spawn")
    # The clock starts once every client has started (a spawned interpreter's imports
    # take seconds on a busy machine) and connected: this process is the last to arrive.
    start = context.Manager().Barrier(connections + 1)
    cpu_before = time.process_time()
    with context.Pool(connections) as pool:
        jobs = [
            pool.apply_async(client, (port, n * per_connection, per_connection, run, start))
            for n in range(connections)
        ]
        start.wait(timeout=120)
        began_at = time.time()
        results = [job.get(timeout=600) for job in jobs]
    cpu, clients = time.process_time() - cpu_before, sum(r[4] for r in results)
    began = min(r[0] for r in results)
    ended = max(r[1] for r in results)
    latencies = sorted(latency for r in results for latency in r[2])
    answered = {number: at for r in results for number, at in r[3].items()}
    cut = statistics.quantiles(latencies, n=100)
    rate = len(latencies) / (ended - began)
    cpu_ms, clients_ms = (spent / len(latencies) * 1000 for spent in (cpu, clients))
    return Result(name, rate, cut[49] * 1000, cut[98] * 1000, cpu_ms, clients_ms, answered, began_at)


class DoNothing:
    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        return "250 2.0.0 OK"


def baseline(messages: int, connections: int) -> Result:
    controller = Controller(DoNothing(), hostname="127.0.0.1", port=free_port(), enable_SMTPUTF8=True)
    controller.start()
    try:
        return load("do-nothing aiosmtpd", controller.port, messages, connections, "baseline")
    finally:
        controller.stop()


def bare_door(url: str, gather_seconds: float, messages: int, connections: int) -> Result:
    """The door without Intake: aiosmtpd and a group commit of each mail's bytes through
    the database's own driver, gathering for `gather_seconds` as Intake's inbox does."""
    with bare_database(url) as (connection, insert):
        handler = BareDoor(connection, insert, gather_seconds)
        controller = Controller(handler, hostname="127.0.0.1", port=free_port(), enable_SMTPUTF8=True)
        controller.start()
        try:
            name = f"  door without Intake, {gather_seconds * 1000:.0f} ms"
            return load(name, controller.port, messages, connections, uuid.uuid4().hex)
        finally:
            controller.stop()
            handler.stop()


@dataclass
class EndToEnd:
    """From the first mail sent to the last item listed, and from each 250 to its item."""

    workers: int
    rate: float
    p50_ms: float
    p99_ms: float
    # CPU time of the worker processes and their parsing children per message, from the
    # clock's start until every item is listed (their start-up and warm-up left out).
    cpu_ms: float
    # The same for the PostgreSQL server's processes, when they run on this machine: their
    # work for the door and the workers shares the same cores (None on SQLite, or elsewhere).
    database_ms: float | None = None

    def __str__(self) -> str:
        server = (
            "" if self.database_ms is None else f"   database server's CPU {self.database_ms:5.2f} ms/msg"
        )
        return (
            f"  end to end, {self.workers} worker{'s' if self.workers > 1 else ' '}   {self.rate:6.0f} msgs/s   "
            f"250 to item listed: p50 {self.p50_ms:7.1f} ms   p99 {self.p99_ms:7.1f} ms   "
            f"workers' CPU {self.cpu_ms:5.2f} ms/msg{server}"
        )


@contextmanager
def intake_door(url: str) -> Iterator[tuple[Runtime, SMTPServer]]:
    """Intake's SMTP door and inbox on `url`, as `intake serve` starts them."""
    settings = load_settings(DEFAULT_CONFIG, {"INTAKE_DATABASE_URL": url})
    runtime = open_runtime(settings)
    smtp = dataclasses.replace(settings.smtp, listen=ListenAddress("127.0.0.1", 0))
    writer = InboxWriter(runtime.sessions)
    writer.start()
    server = SMTPServer(dataclasses.replace(settings, smtp=smtp), writer.submit)
    server.start()
    try:
        yield runtime, server
    finally:
        server.stop()
        writer.stop()
        runtime.engine.dispose()


def acknowledgements(name: str, url: str, messages: int, connections: int) -> Result:
    """The door and the inbox alone: every 250 is a commit to the inbox."""
    run = uuid.uuid4().hex
    with intake_door(url) as (_, server):
        return load(name, server.public.port, messages, connections, run)


def end_to_end(url: str, workers: int, messages: int, connections: int) -> tuple[Result, EndToEnd]:
    """The door with `workers` worker processes, until every mail sent is a listed item."""
    run = uuid.uuid4().hex
    os.environ["INTAKE_DATABASE_URL"] = url  # the workers' database, as `intake serve` hands it on
    with intake_door(url) as (runtime, server):
        processes = WorkerProcesses(DEFAULT_CONFIG, workers)
        processes.start()
        try:
            warm_up(runtime, workers)
            # The workers and their parsing children, before the clients are started: their
            # CPU while the mail is taken and made items, without their start-up.
            working = descendants()
            before, database_before = tree_cpu(working), database_server_cpu(url)
            acks = load(f"  acks with {workers} workers", server.public.port, messages, connections, run)
            made = wait_for_items(runtime, run, len(acks.answered))
            workers_cpu = tree_cpu(working) - before
            database_after = database_server_cpu(url)
        finally:
            processes.stop()
    last = max(made.values())
    delays = sorted((made[number] - acks.answered[number]) * 1000 for number in acks.answered)
    cut = statistics.quantiles(delays, n=100)
    cpu_ms = workers_cpu / len(made) * 1000
    database_ms = None
    if database_before is not None and database_after is not None:
        database_ms = (database_after - database_before) / len(made) * 1000
    return acks, EndToEnd(workers, len(made) / (last - acks.began_at), cut[49], cut[98], cpu_ms, database_ms)


def warm_up(runtime: Runtime, workers: int) -> None:
    """Two batches a worker, made items before the clock starts: a worker's start (its
    imports, its parsing child, what its first batch loads) is not the rate that the
    workers `intake serve` keeps running hold."""
    run, now = uuid.uuid4().hex, datetime.now(UTC)
    count = 2 * BATCH * workers
    arrivals = [
        Arrival("email", "ann@client.example", ("sales@office.example",), mail(n, run), now)
        for n in range(count)
    ]
    with transaction(runtime.sessions) as session:
        inbox.add(session, arrivals)
    wait_for_items(runtime, run, count)


def process_table() -> dict[int, tuple[int, float]]:
    """Each live process's parent and CPU seconds so far (theirs, not their children's),
    from /proc."""
    ticks, table = os.sysconf("SC_CLK_TCK"), {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            # After the command's closing parenthesis: state, ppid, ... utime (12th), stime (13th).
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone meanwhile
        table[int(stat.parent.name)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / ticks)
    return table


def live_children_cpu() -> float:
    """CPU seconds of this process's live children so far: a parsing child's work
    between two points, without its start-up."""
    return sum(cpu for parent, cpu in process_table().values() if parent == os.getpid())


def descendants() -> set[int]:
    """This process's live children, theirs, and so on."""
    table, found = process_table(), {os.getpid()}
    while grown := {pid for pid, (parent, _) in table.items() if parent in found} - found:
        found |= grown
    return found - {os.getpid()}


def database_server_cpu(url: str) -> float | None:
    """CPU seconds so far of the PostgreSQL server's processes, when `url` is PostgreSQL
    and its server runs on this machine (its processes are named `postgres`); else None.
    Connections that close meanwhile take their CPU with them: the pools keep theirs."""
    if make_url(url).get_backend_name() != "postgresql":
        return None
    found = []
    for pid, (_, cpu) in process_table().items():
        try:
            name = Path(f"/proc/{pid}/comm").read_text().strip()
        except OSError:
            continue  # gone meanwhile
        if name == "postgres":
            found.append(cpu)
    return sum(found) if found else None


def tree_cpu(pids: set[int]) -> float:
    """CPU seconds so far of those of `pids` still alive."""
    return sum(cpu for pid, (_, cpu) in process_table().items() if pid in pids)


def processing_cpu(url: str, messages: int) -> float:
    """CPU ms per message of an inbox worker's steady work (parse in its parsing child,
    route, store a batch), in this process and its parsing child, without a worker
    process's start-up: what bounds the end-to-end rate."""
    runtime = open_runtime(load_settings(DEFAULT_CONFIG, {"INTAKE_DATABASE_URL": url}))
    # As `intake worker` parses: one child, under the configured limits.
    limits = dataclasses.replace(WorkerLimits.from_settings(runtime.settings.email), workers=1)
    with ParseWorkers(limits) as parsers:
        worker = runtime.inbox_worker(parsers.parse_all)
        # A first batch untimed: it loads what a worker loads once (the lemmatizer's
        # dictionary, compiled statements and patterns, the parsing child), a start-up cost.
        for count in (BATCH, messages):
            run, now = uuid.uuid4().hex, datetime.now(UTC)
            arrivals = [
                Arrival("email", "ann@client.example", ("sales@office.example",), mail(n, run), now)
                for n in range(count)
            ]
            with transaction(runtime.sessions) as session:
                inbox.add(session, arrivals)
            began, child = time.process_time(), live_children_cpu()
            while worker.run_once():
                pass
            cpu = time.process_time() - began + live_children_cpu() - child
    runtime.engine.dispose()
    return cpu / messages * 1000


@contextmanager
def bare_database(url: str) -> Iterator[tuple[Any, str]]:
    """A connection of the database's own driver to a table of one row per message, and
    its INSERT: what storing costs without Intake (SQLite beside Intake's file, in WAL
    with synchronous=FULL as Intake's; PostgreSQL in the bench's fresh database)."""
    columns = "(sender TEXT, subject TEXT, body TEXT, raw {blob})"
    if make_url(url).get_backend_name() == "sqlite":
        connection = sqlite3.connect(f"{make_url(url).database}.bare", check_same_thread=False)
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=FULL")
        connection.execute(f"CREATE TABLE IF NOT EXISTS bare {columns.format(blob='BLOB')}")
        try:
            yield connection, "INSERT INTO bare VALUES (?, ?, ?, ?)"
        finally:
            connection.close()
        return
    libpq = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(libpq) as connection:
        connection.execute(f"CREATE TABLE IF NOT EXISTS bare {columns.format(blob='BYTEA')}")
        connection.commit()
        yield connection, "INSERT INTO bare VALUES (%s, %s, %s, %s)"


def bare_cpu(url: str, messages: int) -> float:
    """CPU ms per message of the same work without Intake: the standard library's parse of
    each mail (sender, subject, text) and one INSERT of it, a commit per worker's batch."""
    raws = [mail(n, "bare") for n in range(messages)]
    with bare_database(url) as (connection, insert):
        began = time.process_time()
        for start in range(0, messages, BATCH):
            for raw in raws[start : start + BATCH]:
                parsed = email.message_from_bytes(raw, policy=email.policy.default)
                body = parsed.get_body(("plain", "html"))
                text = body.get_content() if isinstance(body, email.message.EmailMessage) else ""
                connection.execute(insert, (str(parsed["From"]), str(parsed["Subject"]), text, raw))
            connection.commit()
        return (time.process_time() - began) / messages * 1000


def wait_for_items(runtime: Runtime, run: str, expected: int) -> dict[int, float]:
    """When each mail of `run` became an item (its created_at), once all `expected` are."""
    deadline, of_run = time.monotonic() + 600, Item.idempotency_key.like(f"email:{run}.%")
    # Counted while the workers work, read once at the end: the bench's own watching
    # shares the cores, and reading every row twenty times a second cost more.
    while True:
        with transaction(runtime.sessions, write=False) as session:
            made = session.scalar(select(func.count()).select_from(Item).where(of_run)) or 0
        if made >= expected:
            break
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {made} of {expected} mails became items in 10 minutes")
        time.sleep(0.05)
    with transaction(runtime.sessions, write=False) as session:
        rows = session.execute(select(Item.subject, Item.created_at).where(of_run)).all()
    return {int(subject.rsplit(" ", 1)[1]): created.timestamp() for subject, created in rows}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def fresh_postgresql(url: str) -> Iterator[str]:
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    name = f"intake_bench_{uuid.uuid4().hex[:12]}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


class Beside:
    """The do-nothing server, measured again after each phase: a phase's ratio is taken
    against the mean of the runs just before and just after it. A shared machine's speed
    drifts (twofold within minutes, seen here), and one baseline at the start would
    compare a phase with another moment of the machine."""

    def __init__(self, messages: int, connections: int) -> None:
        self.messages, self.connections = messages, connections
        self.last = baseline(messages, connections)

    def ratio(self, rate: float) -> Ratio:
        """`rate`, of the phase just run, against the do-nothing server around it."""
        before, self.last = self.last, baseline(self.messages, self.connections)
        return Ratio(rate / ((before.rate + self.last.rate) / 2), before.rate, self.last.rate)


class Ratio(NamedTuple):
    value: float
    before: float  # the do-nothing server's rate just before the phase, msgs/s
    after: float  # and just after it

    def __str__(self) -> str:
        return f"ratio {self.value:.2f} (do-nothing {self.before:.0f}, then {self.after:.0f})"


def report(beside: Beside, measured: Result) -> bool:
    ratio = beside.ratio(measured.rate)
    ok = ratio.value >= TARGET_RATIO and measured.p99_ms < TARGET_P99_MS
    print(f"{measured}   {ratio}  ({'meets' if ok else 'MISSES'} the target)")
    return ok


def measure(name: str, url: str, beside: Beside, args: argparse.Namespace) -> bool:
    """Acknowledgements, then end to end with each number of workers, on one database."""
    acks = acknowledgements(f"Intake acks, {name}", url, args.messages, args.connections)
    ok = report(beside, acks)
    # What a durable 250 costs here without Intake, with Intake's gathering time and none.
    for gather in (GATHER_SECONDS, 0.0):
        bare = bare_door(url, gather, args.messages, args.connections)
        print(f"{bare}   {beside.ratio(bare.rate)}")
    base = beside.last
    worker_ms = processing_cpu(url, args.messages)
    cores = os.cpu_count() or 1
    bound = cores * 1000 / (worker_ms + acks.cpu_ms)
    print(
        f"  a worker's steady CPU {worker_ms:5.2f} ms/msg: on {cores} cores, end to end is at most "
        f"{bound:.0f} msgs/s ({bound / base.rate:.2f} of the do-nothing server), the door's CPU included"
    )
    # The eight clients run on the same cores: what the machine can give end to end.
    shared = cores * 1000 / (worker_ms + acks.cpu_ms + base.clients_ms)
    print(
        f"  with the clients' CPU ({base.clients_ms:.2f} ms/msg, on the same cores) too: at most {shared:.0f} "
        f"msgs/s ({shared / base.rate:.2f} of the do-nothing server)"
    )
    bare_ms = bare_cpu(url, args.messages)
    bare_bound = cores * 1000 / (bare_ms + base.cpu_ms)
    print(
        f"  the same work without Intake {bare_ms:5.2f} ms/msg (stdlib parse, one INSERT, a commit per "
        f"{BATCH}): with the do-nothing server's CPU, at most {bare_bound:.0f} msgs/s "
        f"({bare_bound / base.rate:.2f} of it); Intake's worker is {worker_ms / bare_ms:.1f} times it"
    )
    for workers in args.workers:
        acks, whole = end_to_end(url, workers, args.messages, args.connections)
        print(acks)
        ratio = beside.ratio(whole.rate)
        met = ratio.value >= TARGET_END_TO_END
        default = workers == default_workers(DatabaseSettings(url))
        verdict = f"  ({'meets' if met else 'MISSES'} the target)" if default else ""
        print(f"{whole}   {ratio}{verdict}")
        if default:
            ok &= met
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--workers", default="1,2,4", type=lambda text: [int(n) for n in text.split(",")])
    args = parser.parse_args()
    # The workers' line for each batch they store would bury the figures (INTAKE_LOG_LEVEL=info shows them).
    os.environ.setdefault("INTAKE_LOG_LEVEL", "warning")
    print(
        f"{args.messages} mails of 3 KB over {args.connections} connections; targets: acks >= "
        f"{TARGET_RATIO} of the do-nothing server with p99 < {TARGET_P99_MS:.0f} ms; end to end with "
        f"the default workers (SQLite {default_workers(DatabaseSettings('sqlite://'))}, PostgreSQL "
        f"{default_workers(DatabaseSettings('postgresql://'))}) >= {TARGET_END_TO_END} of it"
    )
    beside = Beside(args.messages, args.connections)
    print(beside.last)
    ok = True
    with tempfile.TemporaryDirectory() as folder:
        ok &= measure("SQLite", f"sqlite:///{Path(folder) / 'intake.db'}", beside, args)
    postgresql = os.environ.get("INTAKE_BENCH_DATABASE_URL")
    if postgresql:
        with fresh_postgresql(postgresql) as url:
            ok &= measure("PostgreSQL", url, beside, args)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
