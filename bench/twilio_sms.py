"""Signed SMS webhooks per second, committed to the inbox, against a bare Flask endpoint;
then the time until every text is an item listed.

Both apps run under the same WSGI server (waitress, as `intake serve` runs it) in the
same run, fed the same pre-signed requests by the same clients, so the ratio says what
the signature check, the form check and the inbox's commit cost: Intake's 200 means the
text is committed to the inbox. The bare endpoint is measured before and after the
inbox's run and the ratio taken against both. Three runs:

- accepted: the webhook and the inbox alone, no worker (target: 0.5 of the bare endpoint);
- the backlog that run left, drained by `--workers` `intake worker` processes (default:
  as `intake serve` starts them, one on SQLite and one per core on PostgreSQL): the time
  until every text is an item;
- end to end: as many texts again while the workers run, from the first request until
  every item is listed.

Run from the project root:

    .venv/bin/python bench/twilio_sms.py [--requests N] [--clients N] [--workers N]

INTAKE_BENCH_DATABASE_URL selects an empty database to fill (a temporary SQLite file by
default); give PostgreSQL a database of its own, it is left full of benchmark items.
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import logging
import os
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlencode

from flask import Flask, Response
from sqlalchemy import Engine, event, func, select
from twilio.request_validator import RequestValidator

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from config.loading import load_settings
from config.settings import ListenAddress, WebSettings
from intake.cli.runtime import Runtime, default_workers, open_runtime
from intake.cli.web_server import WebServer
from intake.cli.worker_processes import WorkerProcesses
from routing.store.database import transaction
from routing.store.models import Item

ACCOUNT_SID = "AC" + "0" * 32
AUTH_TOKEN = "bench-token"
PUBLIC_URL = "https://intake.bench.test"
OFFICE = Path(__file__).resolve().parent.parent / "config" / "default.toml"  # the sample office
TARGET_RATIO = 0.5


_SENDERS = itertools.count(1)


def _requests(count: int) -> list[tuple[bytes, str]]:
    """Pre-signed SMS webhook bodies, each with its own MessageSid and its own sender
    (texts from one number would join one conversation instead of making items)."""
    validator = RequestValidator(AUTH_TOKEN)
    signed = []
    for index in range(count):
        sid = "SM" + uuid.uuid4().hex
        form = {"MessageSid": sid, "AccountSid": ACCOUNT_SID, "From": f"+1555{next(_SENDERS):07d}", "To": "+441632960001",
                "Body": f"Benchmark message {index}", "NumMedia": "0"}  # fmt: skip
        signed.append(
            (urlencode(form).encode(), validator.compute_signature(PUBLIC_URL + "/twilio/sms", form))
        )
    return signed


def _bare_app() -> Flask:
    app = Flask("bare")

    @app.post("/twilio/sms")
    def sms() -> Response:
        return Response('<?xml version="1.0" encoding="UTF-8"?><Response />', mimetype="text/xml")

    return app


def _drive(port: int, requests: list[tuple[bytes, str]], clients: int) -> float:
    """Send every request over `clients` keep-alive connections; requests per second."""
    shares = [requests[i::clients] for i in range(clients)]
    failures: list[str] = []

    def client(share: list[tuple[bytes, str]]) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        for body, signature in share:
            headers = {"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": signature}
            connection.request("POST", "/twilio/sms", body, headers)
            response = connection.getresponse()
            response.read()
            if response.status != 200:
                failures.append(f"HTTP {response.status}")
        connection.close()

    threads = [threading.Thread(target=client, args=(share,)) for share in shares]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    if failures:
        raise SystemExit(f"{len(failures)} requests failed, first: {failures[0]}")
    return len(requests) / elapsed


def _measured(port: int, requests: list[tuple[bytes, str]], clients: int) -> tuple[float, float]:
    """Requests per second, and this process's CPU ms per request (the server's and the
    clients' alike: they share the process): a rate well below what the CPU allows is
    bound by waiting (for commits), not by work."""
    cpu = time.process_time()
    rate = _drive(port, requests, clients)
    return rate, (time.process_time() - cpu) / len(requests) * 1000


def _thread_cpu(name: str) -> Callable[[], float]:
    """A clock of the CPU seconds used by the thread called `name` (the inbox's writer):
    what the group commit costs, apart from the request threads."""
    [thread] = [thread for thread in threading.enumerate() if thread.name == name]
    assert thread.ident is not None
    clock = time.pthread_getcpuclockid(thread.ident)
    return lambda: time.clock_gettime(clock)


@contextmanager
def _counting_commits(engine: Engine) -> Iterator[list[None]]:
    """One entry per commit on `engine` within the block: the inbox's groups."""
    commits: list[None] = []

    def count(connection: object) -> None:
        commits.append(None)

    event.listen(engine, "commit", count)
    try:
        yield commits
    finally:
        event.remove(engine, "commit", count)


def _serve(app: Flask, port: int, threads: int) -> WebServer:
    server = WebServer(app, WebSettings(listen=ListenAddress("127.0.0.1", port), threads=threads))
    server.start()
    return server


def _items(runtime: Runtime) -> int:
    with transaction(runtime.sessions, write=False) as session:
        return session.scalar(select(func.count()).select_from(Item)) or 0


def _until_listed(runtime: Runtime, expected: int) -> float:
    """Wait until `expected` items are stored; the time.perf_counter() when they were."""
    deadline = time.monotonic() + 1200
    while (made := _items(runtime)) < expected:
        if time.monotonic() > deadline:
            raise SystemExit(f"only {made} of {expected} texts became items in 20 minutes")
        time.sleep(0.02)
    return time.perf_counter()


def _drive_and_list(
    runtime: Runtime, port: int, requests: list[tuple[bytes, str]], clients: int
) -> tuple[float, float]:
    """Send `requests` while workers run: their rate of 200s, and the rate from the first
    request until every one is an item listed."""
    expected = _items(runtime) + len(requests)
    started = time.perf_counter()
    accepted = _drive(port, requests, clients)
    return accepted, len(requests) / (_until_listed(runtime, expected) - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument(
        "--workers", type=int, help="worker processes (default: as `intake serve` starts them)"
    )
    parser.add_argument(
        "--threads", type=int, default=WebSettings.threads, help="each server's (web.threads)"
    )
    args = parser.parse_args()
    # The workers' line for each batch they store would bury the figures (INTAKE_LOG_LEVEL=info shows them).
    os.environ.setdefault("INTAKE_LOG_LEVEL", "warning")
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)  # a queue is the point of a load test
    with tempfile.TemporaryDirectory() as folder:
        database = os.environ.get("INTAKE_BENCH_DATABASE_URL") or f"sqlite:///{folder}/bench.db"
        # The sample office with the bench's account, for this process and for the workers,
        # as `intake serve` hands its environment on.
        os.environ.update(
            INTAKE_DATABASE_URL=database,
            TWILIO_ACCOUNT_SID=ACCOUNT_SID,
            TWILIO_AUTH_TOKEN=AUTH_TOKEN,
            INTAKE_PUBLIC_URL=PUBLIC_URL,
        )
        settings = load_settings(OFFICE, os.environ)
        if args.workers is None:
            args.workers = default_workers(settings.database)
        runtime = open_runtime(settings)
        runtime.inbox.start()
        intake_server = _serve(runtime.web_app(), 18571, args.threads)
        bare_server = _serve(_bare_app(), 18572, args.threads)
        workers = WorkerProcesses(OFFICE, args.workers)
        try:
            _drive(18572, _requests(100), args.clients)  # warm both up
            _drive(18571, _requests(100), args.clients)
            bare, bare_cpu = _measured(18572, _requests(args.requests), args.clients)
            writer_cpu = _thread_cpu("inbox-writer")
            with _counting_commits(runtime.engine) as commits:
                writer_started = writer_cpu()
                inboxed, inboxed_cpu = _measured(18571, _requests(args.requests), args.clients)
                writer_ms = (writer_cpu() - writer_started) / args.requests * 1000
            # The bare endpoint again: the ratio is taken against it before and after, as
            # a shared machine's speed drifts (twofold within minutes, seen here).
            bare_after, _ = _measured(18572, _requests(args.requests), args.clients)
            backlog = args.requests + 100
            began = time.perf_counter()
            workers.start()
            drained = _until_listed(runtime, backlog) - began
            accepted, end_to_end = _drive_and_list(runtime, 18571, _requests(args.requests), args.clients)
        finally:
            workers.stop()
            intake_server.stop()
            bare_server.stop()
            runtime.inbox.stop()
        count = _items(runtime)
        runtime.engine.dispose()
    ratio = inboxed / ((bare + bare_after) / 2)
    print(
        f"database: {database.split(':', 1)[0]}; {args.clients} clients, {args.threads} threads a server, "
        f"{args.workers} worker processes"
    )
    print(
        f"bare Flask endpoint:      {bare:8.0f} requests/s   process CPU {bare_cpu:.2f} ms/request   "
        f"(after the inbox's run: {bare_after:.0f} requests/s)"
    )
    print(
        f"signed SMS, in the inbox: {inboxed:8.0f} requests/s   process CPU {inboxed_cpu:.2f} ms/request   "
        f"ratio {ratio:.2f} (target >= {TARGET_RATIO})"
    )
    print(
        f"  {len(commits)} inbox commits, {args.requests / max(1, len(commits)):.1f} texts each: "
        f"{len(commits) * inboxed / args.requests:.0f} commits/s; the inbox's writer thread "
        f"{writer_ms:.2f} ms of that CPU a text"
    )
    print(
        f"that backlog of {backlog} made items in {drained:.1f} s ({backlog / drained:.0f} items/s, worker start-up included)"
    )
    print(
        f"with the workers running: {accepted:8.0f} requests/s answered, {end_to_end:.0f} texts/s until every item is listed"
    )
    if count != 2 * args.requests + 100:
        raise SystemExit(f"expected {2 * args.requests + 100} items, found {count}")


if __name__ == "__main__":
    main()
