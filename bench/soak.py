"""Soak: mail over SMTP into two `intake serve` nodes on one PostgreSQL, one node killed
with SIGKILL every few seconds and restarted, then every mail counted.

Senders behave as a mail server with two MX records does: each keeps a connection to
one node and sends 3 KB mails one after another; when its node dies mid-mail (no 250)
or refuses the connection, it sends the same mail to the other node, until a 250. At
the end every Message-ID sent must be in the items once: "lost" counts those missing,
"doubled" the extra items. It also prints the largest resident memory (peak RSS) of any
of the nodes' processes (a node, its parsing children), the time from the last 250 until
every mail is an item (the backlog's drain), and how fast the mail went in, against a
calm baseline measured first in the same run (a tenth as many mails, no kills).

    .venv/bin/python bench/soak.py [--mails 100000] [--senders 8] [--kill-every 5]
                                   [--postgresql URL]

The database is made fresh on the PostgreSQL server named by --postgresql (default
INTAKE_BENCH_DATABASE_URL) and dropped afterwards.
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import os
import signal
import smtplib
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import create_engine, func, select

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.smtp_ingest import free_port, fresh_postgresql, mail
from config.loading import DEFAULT_CONFIG
from routing.store.models import InboxEntry, Item

ROOT = Path(__file__).resolve().parent.parent
# The drain waits while items keep coming; it gives up once none came for this long.
DRAIN_STALL_SECONDS = 120.0


class Node:
    """One `intake serve` process, restarted on the same ports after each kill."""

    def __init__(self, name: str, database_url: str, folder: Path) -> None:
        self.name, self.database_url = name, database_url
        self.smtp_port, self.web_port = free_port(), free_port()
        self.log = (folder / f"{name}.log").open("a")
        self.process: subprocess.Popen[bytes] | None = None
        self.kills = 0

    def start(self) -> None:
        command = [
            sys.executable, "-m", "intake", "--config", str(DEFAULT_CONFIG), "serve",
            "--smtp", f"127.0.0.1:{self.smtp_port}", "--web", f"127.0.0.1:{self.web_port}",
        ]  # fmt: skip
        environment = {**os.environ, "INTAKE_DATABASE_URL": self.database_url}
        self.process = subprocess.Popen(command, env=environment, cwd=ROOT, stdout=self.log, stderr=self.log)

    def listening(self) -> bool:
        try:
            socket.create_connection(("127.0.0.1", self.smtp_port), timeout=1).close()
        except OSError:
            return False
        return True

    def wait_listening(self, seconds: float = 120.0) -> None:
        deadline = time.monotonic() + seconds
        while not self.listening():
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.name} did not listen within {seconds:.0f} s; see {self.log.name}")
            time.sleep(0.1)

    def kill(self) -> None:
        """SIGKILL the node (its parsing children leave once their pipe closes); restart it."""
        assert self.process is not None
        self.process.kill()
        self.process.wait()
        self.kills += 1
        self.start()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(60)


class PeakMemory:
    """The largest peak RSS (VmHWM) seen of any process descending from the given roots."""

    def __init__(self) -> None:
        self.largest_kb = 0
        self.where = ""

    def sample(self, roots: list[int]) -> None:
        parents = _parents()
        for pid in parents:
            if _descends(pid, parents, set(roots)):
                peak = _peak_kb(pid)
                if peak > self.largest_kb:
                    self.largest_kb, self.where = peak, "a node" if pid in roots else "a node's child"


def _parents() -> dict[int, int]:
    found = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            found[int(entry)] = int(stat.rpartition(")")[2].split()[1])
    return found


def _descends(pid: int, parents: dict[int, int], roots: set[int]) -> bool:
    while pid > 1:
        if pid in roots:
            return True
        pid = parents.get(pid, 0)
    return False


def _peak_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def sender(ports: tuple[int, int], first: int, count: int, run: str, index: int) -> tuple[int, int, float]:
    """Send mails first..first+count-1, each until a 250: (retries, refused for good, last 250 time)."""
    node, connection, retries, refused = index % 2, None, 0, 0
    for number in range(first, first + count):
        message = mail(number, run)
        while True:
            try:
                if connection is None:
                    connection = smtplib.SMTP("127.0.0.1", ports[node], timeout=60)
                connection.sendmail("ann@client.example", ["sales@office.example"], message)
                break
            except smtplib.SMTPResponseException as error:
                if error.smtp_code >= 500:
                    refused += 1
                    break
            except smtplib.SMTPRecipientsRefused:
                refused += 1
                break
            except (OSError, smtplib.SMTPException):
                pass
            # No 250: as a mail server would, try the other MX with the same mail.
            _dropped(connection)
            retries, node, connection = retries + 1, 1 - node, None
            time.sleep(0.05)
    _dropped(connection)
    return retries, refused, time.time()


def _dropped(connection: smtplib.SMTP | None) -> None:
    if connection is not None:
        with contextlib.suppress(OSError):
            connection.close()


def killer(
    nodes: list[Node], every: float, stop: threading.Event, memory: PeakMemory, progress: Callable[[], None]
) -> None:
    """Kill the nodes in turn, one every `every` seconds but only while the others listen
    (a node restarting takes seconds: killing faster would leave no node up), sampling
    memory in between and saying how far the mail has got after every tenth kill."""
    turn = 0
    while True:
        if turn % 10 == 9:
            progress()
        deadline = time.monotonic() + every
        others = [node for node in nodes if node is not nodes[turn % len(nodes)]]
        while time.monotonic() < deadline or not all(node.listening() for node in others):
            memory.sample([node.process.pid for node in nodes if node.process is not None])
            if stop.wait(0.5):
                return
        nodes[turn % len(nodes)].kill()
        turn += 1


def items_found(database_url: str, run: str) -> Counter[str]:
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                select(Item.message_id, func.count())
                .where(Item.message_id.like(f"%{run}.%"))
                .group_by(Item.message_id)
            )
            return Counter({message_id: count for message_id, count in rows if message_id})
    finally:
        engine.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mails", type=int, default=100_000)
    parser.add_argument("--senders", type=int, default=8)
    parser.add_argument("--kill-every", type=float, default=5.0, help="seconds between kills")
    parser.add_argument("--postgresql", default=os.environ.get("INTAKE_BENCH_DATABASE_URL"))
    args = parser.parse_args()
    if not args.postgresql:
        parser.error("a PostgreSQL server is needed: --postgresql URL or INTAKE_BENCH_DATABASE_URL")
    print(
        f"{args.mails} mails of 3 KB from {args.senders} senders into two nodes, one killed every {args.kill_every:g} s"
    )
    with fresh_postgresql(args.postgresql) as url, tempfile.TemporaryDirectory() as folder:
        subprocess.run([sys.executable, "-m", "intake", "db", "upgrade"], cwd=ROOT, check=True,
                       env={**os.environ, "INTAKE_DATABASE_URL": url}, capture_output=True)  # fmt: skip
        return soak(args, url, Path(folder))


@dataclass(frozen=True)
class Sent:
    """How a batch of mail went in: when it began, when its last 250 came, what it took."""

    mails: int
    began: float
    acked: float
    retries: int
    refused: int

    @property
    def rate(self) -> float:
        return self.mails / (self.acked - self.began)


def send_all(ports: tuple[int, int], mails: int, senders: int, run: str) -> Sent:
    """Send `mails` mails from `senders` processes, each mail until a 250."""
    share = -(-mails // senders)
    slices = [(n * share, min(share, mails - n * share)) for n in range(senders)]
    began = time.time()
    with multiprocessing.get_context("spawn").Pool(senders) as pool:
        results = pool.starmap(
            sender, [(ports, first, count, run, n) for n, (first, count) in enumerate(slices)]
        )
    return Sent(
        mails=mails,
        began=began,
        acked=max(last for _, _, last in results),
        retries=sum(retries for retries, _, _ in results),
        refused=sum(refused for _, refused, _ in results),
    )


def soak(args: argparse.Namespace, url: str, folder: Path) -> int:
    """A calm baseline first (a tenth of the mails, no kills), then the mails under kills."""
    nodes = [Node("node-a", url, folder), Node("node-b", url, folder)]
    memory, stop = PeakMemory(), threading.Event()
    for node in nodes:
        node.start()
    for node in nodes:
        node.wait_listening()
    ports = (nodes[0].smtp_port, nodes[1].smtp_port)
    warm_run, calm_run, run = (uuid.uuid4().hex[:8] for _ in range(3))
    began = time.time()

    def progress() -> None:
        print(f"  {time.time() - began:.0f} s: {len(items_found(url, run))} items", flush=True)

    killing = threading.Thread(
        target=killer, args=(nodes, args.kill_every, stop, memory, progress), daemon=True
    )
    try:
        # The first mails of a node start its parsing children: not part of the calm rate.
        warm = send_all(ports, args.senders * 5, args.senders, warm_run)
        calm = send_all(ports, max(args.mails // 10, args.senders), args.senders, calm_run)
        earlier = [(warm, drain(url, warm_run, warm.mails)), (calm, drain(url, calm_run, calm.mails))]
        began = time.time()
        killing.start()
        sent = send_all(ports, args.mails, args.senders, run)
        stop.set()
        killing.join()
        found = drain(url, run, args.mails)
        drained = time.time() - sent.acked
        waiting = inbox_waiting(url)
        memory.sample([node.process.pid for node in nodes if node.process is not None])
    finally:
        stop.set()
        for node in nodes:
            node.stop()
    counted = [*earlier, (sent, found)]
    # A mail still in the inbox was accepted and kept: it is waiting, not lost.
    lost = sum(batch.mails - len(items) for batch, items in counted) - waiting
    doubled = sum(sum(items.values()) - len(items) for _, items in counted)
    refused = sum(batch.refused for batch, _ in counted)
    kills = sum(node.kills for node in nodes)
    print(f"without kills: {calm.mails} mails acknowledged at {calm.rate:.0f} mails/s")
    print(
        f"with kills: {args.mails} mails acknowledged at {sent.rate:.0f} mails/s in {sent.acked - sent.began:.0f} s, "
        f"ratio {sent.rate / calm.rate:.2f} of the calm rate"
    )
    print(
        f"kills: {kills} (one every {(sent.acked - sent.began) / max(kills, 1):.1f} s on average: a kill waits for "
        f"the other node to listen again); mails sent again to the other node: {sent.retries}; "
        f"refused for good: {refused}"
    )
    print(
        f"lost {lost}, doubled {doubled}, still in the inbox {waiting} "
        f"(of all {sum(batch.mails for batch, _ in counted)} mails sent)"
    )
    print(f"largest RSS of any process: {memory.largest_kb / 1024:.0f} MB ({memory.where})")
    if waiting:
        print(f"backlog not drained: {waiting} mails left in the inbox {drained:.1f} s after the last 250")
    else:
        print(f"backlog drained {drained:.1f} s after the last 250")
    return 0 if lost == doubled == refused == waiting == 0 else 1


def drain(url: str, run: str, mails: int) -> Counter[str]:
    """Wait until every mail is an item, or until no new item came for DRAIN_STALL_SECONDS
    (a backlog of accepted mail takes the workers' time; a stall means they stopped)."""
    found = items_found(url, run)
    last_new = time.monotonic()
    while len(found) < mails and time.monotonic() - last_new < DRAIN_STALL_SECONDS:
        time.sleep(0.5)
        now = items_found(url, run)
        if len(now) > len(found):
            last_new = time.monotonic()
        found = now
    return found


def inbox_waiting(database_url: str) -> int:
    """Rows still in the inbox: accepted and committed, not yet made items."""
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            return int(connection.scalar(select(func.count()).select_from(InboxEntry)) or 0)
    finally:
        engine.dispose()


if __name__ == "__main__":
    sys.exit(main())
