"""Replying through the web app: 8 people answering at once, and a slow relay.

`intake serve`'s parts as it runs them by default: the sample office on a fresh SQLite
file (and a fresh PostgreSQL database with --postgresql), the real web server (waitress)
on loopback in this process, and the reply worker in an `intake worker` process of its
own, sending through a relay on loopback (aiosmtpd, in a third process, as it would be
on a machine of its own). Eight people, each on a keep-alive HTTP connection with an API
token, in a process of their own, each answer their own items at once with
POST /api/v1/items/ID/reply. Measured in the same run, on the same connections:

- the baseline: GET /api/v1/items/ID of the same items (a read through the same app);
- replies with the relay answering at once;
- replies with the relay taking SLOW_RELAY_SECONDS per mail, so that the worker is
  sending all the time: if sending ever held a request, these would be that much slower.

Target: a reply's p95 under 50 ms, and the slow relay's p95 within 1.5 times the fast
relay's. The server CPU shown is this process's, the web server's alone. Run from the
project root:

    .venv/bin/python bench/replies.py [--replies N] [--postgresql URL]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import http.client
import json
import logging
import multiprocessing
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from multiprocessing.sharedctypes import Synchronized
from multiprocessing.synchronize import Event as EventType
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.smtp_ingest import free_port, fresh_postgresql
from config.loading import DEFAULT_CONFIG, load_settings
from config.settings import ListenAddress, Settings
from intake.cli.runtime import Runtime, open_runtime
from intake.cli.web_server import WebServer
from intake.cli.worker_processes import WorkerProcesses
from intake.email.parser import parse_email
from routing.people import accounts
from routing.store.database import transaction

PEOPLE = 8
TARGET_P95_MS = 50.0
TARGET_SLOW_RATIO = 1.5
SLOW_RELAY_SECONDS = 0.5
WARM_UP = 5


class RelayHandler:
    """The office's smarthost: counts what it takes, after `delay` seconds each."""

    def __init__(self, delay: Synchronized[float], taken: Synchronized[int]) -> None:
        self.delay = delay
        self.taken = taken

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        await asyncio.sleep(self.delay.value)
        with self.taken.get_lock():
            self.taken.value += 1
        return "250 OK"


def run_relay(port: int, handler: RelayHandler, ready: EventType, stop: EventType) -> None:
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    ready.set()
    stop.wait()
    controller.stop()


class Relay:
    """The relay in a process of its own; `delay` and `taken` are shared with it."""

    def __init__(self) -> None:
        context = multiprocessing.get_context("spawn")
        self.port = free_port()
        self.delay = context.Value("d", 0.0)
        self.taken = context.Value("i", 0)
        self._ready, self._stop = context.Event(), context.Event()
        handler = RelayHandler(self.delay, self.taken)
        self._process = context.Process(target=run_relay, args=(self.port, handler, self._ready, self._stop))

    def start(self) -> None:
        self._process.start()
        if not self._ready.wait(30):
            raise SystemExit("the relay did not start")

    def stop(self) -> None:
        self._stop.set()
        self._process.join(30)


@contextmanager
def stderr_to(path: Path) -> Iterator[None]:
    """Send this process's standard error (and that of the children it starts) to `path`."""
    saved = os.dup(2)
    with path.open("a") as log:
        os.dup2(log.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def office(folder: Path, database_url: str, relay_port: int, web_port: int) -> Settings:
    """The sample office relaying through `relay_port`, as a file that the worker process
    reads too (it gets the database as `intake serve` hands it on, in the environment)."""
    config = folder / "office.toml"
    (folder / "samples").symlink_to(DEFAULT_CONFIG.with_name("samples"))  # its rule tests' mails
    config.write_text(
        DEFAULT_CONFIG.read_text() + f'\n[outbound]\nsmtp = "127.0.0.1:{relay_port}"\nsecurity = "none"\n'
    )
    os.environ["INTAKE_DATABASE_URL"] = database_url
    settings = load_settings(config)
    return dataclasses.replace(
        settings,
        web=dataclasses.replace(settings.web, listen=ListenAddress("127.0.0.1", web_port), threads=PEOPLE),
    )


def mail(number: int) -> bytes:
    lines = [
        f"From: Customer {number} <customer{number}@client.example>",
        "To: sales@office.example",
        f"Subject: A question about order {number}",
        f"Message-ID: <bench-{number}@client.example>",
        "Date: Fri, 04 Dec 2026 10:00:00 +0000",
        "",
        "Hello, what does the large one cost?",
    ]
    return ("\r\n".join(lines) + "\r\n").encode()


class Person:
    """One receptionist on a keep-alive connection with an API token, with their items."""

    def __init__(self, port: int, token: str, items: list[int]) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        self.items = items

    def request(self, method: str, path: str, body: dict[str, str] | None = None) -> float:
        """Milliseconds from sending the request to having read the whole answer."""
        start = time.perf_counter()
        self.connection.request(method, path, json.dumps(body) if body else None, self.headers)
        answer = self.connection.getresponse()
        answer.read()
        took = (time.perf_counter() - start) * 1000
        wanted = 202 if method == "POST" else 200
        if answer.status != wanted:
            raise SystemExit(f"{method} {path} answered {answer.status}")
        return took

    def turn(self, what: str, number: int) -> float:
        """GET the item numbered `number` of this person's ("read"), or answer it ("reply")."""
        item = self.items[number]
        if what == "read":
            return self.request("GET", f"/api/v1/items/{item}")
        return self.request("POST", f"/api/v1/items/{item}/reply", {"text": "The large one is 40 euros."})


def people_at_once(
    port: int, people: list[tuple[str, list[int]]], what: str, first: int, rounds: int
) -> list[float]:
    """In a process of their own (their client work must not take the server's CPU and
    lock): every person does `rounds` turns from item `first` on, all at once; the times."""
    persons = [Person(port, token, items) for token, items in people]
    times: list[list[float]] = [[] for _ in persons]
    start = threading.Barrier(len(persons))

    def run(index: int) -> None:
        start.wait()
        for number in range(first, first + rounds):
            times[index].append(persons[index].turn(what, number))

    threads = [threading.Thread(target=run, args=(index,)) for index in range(len(persons))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return [took for person in times for took in person]


def together(
    port: int, people: list[tuple[str, list[int]]], what: str, first: int, rounds: int
) -> tuple[list[float], float]:
    """The times of a phase run by the people's process, and this process's CPU
    milliseconds per request meanwhile (the web server's and the reply worker's)."""
    cpu = time.process_time()
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        times = pool.submit(people_at_once, port, people, what, first, rounds).result()
    return times, (time.process_time() - cpu) * 1000 / len(times)


def figures(label: str, phase: tuple[list[float], float]) -> float:
    times, cpu = phase
    p95 = statistics.quantiles(times, n=20)[18]
    print(
        f"  {label:<34} p50 {statistics.median(times):6.1f} ms   p95 {p95:6.1f} ms   "
        f"server CPU {cpu:4.1f} ms a request   ({len(times)})"
    )
    return p95


def people_of(runtime: Runtime, items: list[int]) -> list[tuple[str, list[int]]]:
    """Each person's API token and items."""
    found = []
    for index in range(PEOPLE):
        with transaction(runtime.sessions) as session:
            accounts.add_user(session, f"person-{index}", "receptionist", "a bench password")
            found.append((accounts.create_token(session, f"person-{index}"), items[index::PEOPLE]))
    return found


def bench(folder: Path, database_url: str, replies: int) -> bool:
    relay = Relay()
    relay.start()
    settings = office(folder, database_url, relay.port, free_port())
    runtime = open_runtime(settings)
    server = WebServer(runtime.web_app(), settings.web)
    server.start()
    worker = WorkerProcesses(settings.source, 1)
    with stderr_to(folder / "worker.log"):  # a line for every reply sent
        worker.start()
    try:
        rounds = replies // PEOPLE
        count = PEOPLE * (2 * rounds + WARM_UP)
        items = [runtime.deliverer.deliver(parse_email(mail(n))).item_id for n in range(count)]
        people = people_of(runtime, items)
        port = settings.web.listen.port
        together(port, people, "reply", 2 * rounds, WARM_UP)
        baseline = figures("baseline: GET the item", together(port, people, "read", 0, rounds))
        fast = figures("reply, relay answering at once", together(port, people, "reply", 0, rounds))
        relay.delay.value = SLOW_RELAY_SECONDS
        before, slow_started = relay.taken.value, time.perf_counter()
        slow = figures(
            f"reply, relay {SLOW_RELAY_SECONDS:.1f} s a mail", together(port, people, "reply", rounds, rounds)
        )
        print(
            f"  while the slow relay took {relay.taken.value - before} mails in "
            f"{time.perf_counter() - slow_started:.1f} s, {rounds * PEOPLE} replies were stored and answered"
        )
        print(
            f"  reply p95 / baseline p95: x{fast / baseline:.2f}; slow relay / fast relay: x{slow / fast:.2f}"
        )
        ok = fast < TARGET_P95_MS and slow < TARGET_P95_MS and slow / fast < TARGET_SLOW_RATIO
        print(
            f"  {'meets' if ok else 'MISSES'} the target (p95 < {TARGET_P95_MS:.0f} ms; slow/fast < {TARGET_SLOW_RATIO})"
        )
        return ok
    finally:
        worker.stop()
        server.stop()
        relay.stop()
        runtime.engine.dispose()


def main() -> int:
    # waitress warns at every request that waits for a thread: eight people at once make it talk.
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replies", type=int, default=400, help="replies per phase, over all people")
    parser.add_argument("--postgresql", help="also on a fresh database on this server (a SQLAlchemy URL)")
    args = parser.parse_args()
    # The workers' line for each batch they store would bury the figures (INTAKE_LOG_LEVEL=info shows them).
    os.environ.setdefault("INTAKE_LOG_LEVEL", "warning")
    load = ", ".join(f"{figure:.1f}" for figure in os.getloadavg())
    print(f"{PEOPLE} people replying at once, {args.replies} replies per phase; load average {load}")
    ok = True
    with tempfile.TemporaryDirectory() as folder:
        print("SQLite")
        ok &= bench(Path(folder), f"sqlite:///{Path(folder) / 'intake.db'}", args.replies)
    if args.postgresql:
        with fresh_postgresql(args.postgresql) as url, tempfile.TemporaryDirectory() as folder:
            print("PostgreSQL")
            ok &= bench(Path(folder), url, args.replies)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
