"""SMTP ingest end to end: Intake against a do-nothing aiosmtpd server, in one run.

Eight client processes each hold one connection and send 3 KB mails one after
another; a mail counts when its 250 arrives, which for Intake means it is
committed. The do-nothing server measures what SMTP itself costs on this machine,
so the ratio says how much Intake's parsing and storing take away. On SQLite the run
also measures what two promises cost, each against the shipped setup in the same run:
synchronous=FULL (against NORMAL) and parsing in child processes (against parsing in
the serving process).

    .venv/bin/python bench/smtp_ingest.py [--messages 2000] [--connections 8]

SQLite in a temporary folder; set INTAKE_BENCH_DATABASE_URL to a PostgreSQL URL to
measure that too (a fresh database is made there and dropped afterwards).
"""

from __future__ import annotations

import argparse
import dataclasses
import multiprocessing
import multiprocessing.synchronize
import os
import resource
import smtplib
import socket
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlalchemy import create_engine, event, func, select, text
from sqlalchemy.engine import make_url

from config.loading import DEFAULT_CONFIG, load_settings
from config.settings import ListenAddress
from intake.cli.runtime import open_runtime
from intake.email.parse_workers import ParseWorkers, WorkerLimits
from intake.email.smtp import SMTPServer
from intake.email.storing import parse_here
from routing.store.database import transaction
from routing.store.models import Item

TARGET_RATIO = 0.7
TARGET_P99_MS = 50.0
BODY_LINE = "The quick brown fox jumps over the lazy dog, and then asks about the invoice.\r\n"


def mail(number: int, run: str) -> bytes:
    """A plain 3 KB email with its own Message-ID."""
    head = (
        "From: Ann Example <ann@client.example>\r\nTo: sales@office.example\r\n"
        f"Subject: Bench message {number}\r\nDate: Mon, 02 Nov 2026 10:15:00 -0500\r\n"
        f"Message-ID: <{run}.{number}@client.example>\r\nMIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\n"
    )
    body = BODY_LINE * ((3072 - len(head)) // len(BODY_LINE))
    return (head + body).encode()


def client(
    port: int, first: int, count: int, run: str, start: multiprocessing.synchronize.Event
) -> list[float]:
    """One connection sending `count` mails; [start, end, latency...] in seconds."""
    messages = [mail(first + n, run) for n in range(count)]
    latencies = []
    with smtplib.SMTP("127.0.0.1", port, timeout=60) as connection:
        connection.ehlo("bench.client.example")
        start.wait()
        began = time.perf_counter()
        for message in messages:
            sent = time.perf_counter()
            connection.mail("ann@client.example")
            connection.rcpt("sales@office.example")
            code, reply = connection.data(message)
            if code != 250:
                raise RuntimeError(f"refused: {code} {reply!r}")
            latencies.append(time.perf_counter() - sent)
        ended = time.perf_counter()
    return [began, ended, *latencies]


@dataclass
class Result:
    name: str
    rate: float
    p50_ms: float
    p99_ms: float
    # CPU time of the server's process per message: steadier than rates on a busy machine.
    cpu_ms: float

    def __str__(self) -> str:
        return (
            f"{self.name:<22} {self.rate:6.0f} msgs/s   p50 {self.p50_ms:6.2f} ms   "
            f"p99 {self.p99_ms:6.2f} ms   server CPU {self.cpu_ms:5.2f} ms/msg"
        )


def load(name: str, port: int, messages: int, connections: int, run: str) -> Result:
    """Send `messages` over `connections` client processes at once."""
    per_connection = messages // connections
    context = multiprocessing.get_context("spawn")
    start = context.Manager().Event()
    cpu_before = time.process_time()
    with context.Pool(connections) as pool:
        jobs = [
            pool.apply_async(client, (port, n * per_connection, per_connection, run, start))
            for n in range(connections)
        ]
        time.sleep(1.0)  # let every client connect before the clock starts
        start.set()
        results = [job.get(timeout=600) for job in jobs]
    cpu = time.process_time() - cpu_before
    began = min(r[0] for r in results)
    ended = max(r[1] for r in results)
    latencies = sorted(latency for r in results for latency in r[2:])
    cut = statistics.quantiles(latencies, n=100)
    rate = len(latencies) / (ended - began)
    return Result(name, rate, cut[49] * 1000, cut[98] * 1000, cpu / len(latencies) * 1000)


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


def intake(
    name: str, url: str, messages: int, connections: int, *, synchronous: str = "", children: bool = True
) -> Result:
    """Intake as shipped; `synchronous` replaces SQLite's setting, `children=False` parses in-process."""
    settings = load_settings(DEFAULT_CONFIG, {"INTAKE_DATABASE_URL": url})
    runtime = open_runtime(settings)
    if synchronous:
        # Runs after the project's own connect hook, so this setting wins.
        event.listen(
            runtime.engine, "connect", lambda dbapi, _: dbapi.execute(f"PRAGMA synchronous={synchronous}")
        )
        runtime.engine.dispose()
    smtp = dataclasses.replace(settings.smtp, listen=ListenAddress("127.0.0.1", 0))
    run = uuid.uuid4().hex
    with ParseWorkers(WorkerLimits.from_settings(settings.email)) as workers:
        server = SMTPServer(
            dataclasses.replace(settings, smtp=smtp),
            runtime.deliverer.deliver,
            workers.parse if children else parse_here,
        )
        server.start()
        try:
            result = load(name, server.public.port, messages, connections, run)
        finally:
            server.stop()
        reaped = children_cpu()
    # The parsing children's CPU, counted once they have been stopped and reaped.
    result.cpu_ms += (children_cpu() - reaped) / (messages // connections * connections) * 1000
    with transaction(runtime.sessions, write=False) as session:
        stored = session.execute(
            select(func.count(Item.id)).where(Item.idempotency_key.like(f"email:{run}.%"))
        )
        committed = stored.scalar_one()
    runtime.engine.dispose()
    sent = messages // connections * connections
    if committed != sent:
        raise RuntimeError(f"{name}: {sent} mails answered 250 but {committed} stored")
    return result


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


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


def report(base: Result, measured: Result) -> bool:
    ratio = measured.rate / base.rate
    ok = ratio >= TARGET_RATIO and measured.p99_ms < TARGET_P99_MS
    print(f"{measured}   ratio {ratio:.2f}  ({'meets' if ok else 'MISSES'} the target)")
    return ok


def compare(what: str, shipped: Result, other: Result) -> None:
    """What the shipped setup costs against `other`, as ratios: below 1 means slower."""
    print(
        f"{what}: rate x{shipped.rate / other.rate:.2f}, p50 x{shipped.p50_ms / other.p50_ms:.2f}, "
        f"p99 x{shipped.p99_ms / other.p99_ms:.2f}, CPU/msg x{shipped.cpu_ms / other.cpu_ms:.2f}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--connections", type=int, default=8)
    args = parser.parse_args()
    print(
        f"{args.messages} mails of 3 KB over {args.connections} connections; target: ratio >= "
        f"{TARGET_RATIO} of the do-nothing server, p99 < {TARGET_P99_MS:.0f} ms"
    )
    base = baseline(args.messages, args.connections)
    print(base)
    ok = True
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'intake.db'}"
        shipped = intake("Intake, SQLite", url, args.messages, args.connections)
        ok &= report(base, shipped)
        normal = intake("  synchronous=NORMAL", url, args.messages, args.connections, synchronous="NORMAL")
        report(base, normal)
        in_process = intake("  parsing in-process", url, args.messages, args.connections, children=False)
        report(base, in_process)
    compare("synchronous=FULL against NORMAL", shipped, normal)
    compare("parsing in children against in-process", shipped, in_process)
    postgresql = os.environ.get("INTAKE_BENCH_DATABASE_URL")
    if postgresql:
        with fresh_postgresql(postgresql) as url:
            ok &= report(base, intake("Intake, PostgreSQL", url, args.messages, args.connections))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
