"""What SMTP costs the serving process in memory: one 25 MB mail, and 500 idle connections.

The SMTP door and its inbox run in a process of their own (as in `intake serve`, without
the web and the workers), on SQLite in a temporary folder or on the database that
INTAKE_BENCH_DATABASE_URL names; this process reads its memory from /proc. Targets: the
25 MB mail raises the door's peak resident memory (VmHWM) by less than three times its
size; 500 connections that sent nothing but EHLO raise its resident memory (VmRSS) by
less than 100 MB.

    .venv/bin/python bench/smtp_memory.py
"""

from __future__ import annotations

import contextlib
import dataclasses
import multiprocessing
import os
import re
import smtplib
import socket
import sqlite3
import sys
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path

from config.loading import DEFAULT_CONFIG, load_settings
from config.settings import ListenAddress
from intake.cli.runtime import open_runtime
from intake.email.smtp import SMTPServer
from routing.store.inbox import InboxWriter

MAIL_BYTES = 25 * 1024 * 1024
IDLE_CONNECTIONS = 500
TARGET_MAIL_FACTOR = 3.0
TARGET_IDLE_MB = 100.0
MB = 1024 * 1024


def serve(url: str, ready: Connection) -> None:
    """The SMTP door and the inbox, on a free port, until the parent closes the pipe."""
    settings = load_settings(DEFAULT_CONFIG, {"INTAKE_DATABASE_URL": url})
    runtime = open_runtime(settings)
    smtp = dataclasses.replace(
        settings.smtp,
        listen=ListenAddress("127.0.0.1", 0),
        max_message_size=MAIL_BYTES + MB,
        max_connections=IDLE_CONNECTIONS + 10,
        max_connections_per_address=IDLE_CONNECTIONS + 10,
    )
    writer = InboxWriter(runtime.sessions)
    writer.start()
    server = SMTPServer(dataclasses.replace(settings, smtp=smtp), writer.submit)
    server.start()
    ready.send(server.public.port)
    with contextlib.suppress(EOFError):  # the parent is gone: stop all the same
        ready.recv()
    server.stop()
    writer.stop()


def memory(pid: int, field: str) -> float:
    """VmRSS or VmHWM of `pid`, in bytes."""
    status = Path(f"/proc/{pid}/status").read_text()
    found = re.search(rf"{field}:\s+(\d+) kB", status)
    assert found is not None
    return int(found.group(1)) * 1024


def big_mail() -> bytes:
    head = (
        b"From: Ann <ann@client.example>\r\nTo: sales@office.example\r\nSubject: The scans\r\n"
        b"Message-ID: <big@client.example>\r\nContent-Type: text/plain\r\n\r\n"
    )
    line = b"x" * 76 + b"\r\n"
    return head + line * ((MAIL_BYTES - len(head)) // len(line))


def without_intake(folder: str, answer: Connection) -> None:
    """The same work with no Intake: a 25 MB file read whole and inserted as one blob with
    sqlite3 (WAL, synchronous=FULL); sends the rise of this process's peak memory."""
    path = Path(folder) / "mail.eml"
    with path.open("wb") as file:
        for _ in range(MAIL_BYTES // MB):
            file.write(b"x" * MB)
    connection = sqlite3.connect(Path(folder) / "bare.db", isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=FULL")
    connection.execute("CREATE TABLE inbox (raw BLOB)")
    before = memory(os.getpid(), "VmHWM")
    raw = path.read_bytes()
    connection.execute("BEGIN IMMEDIATE")
    connection.execute("INSERT INTO inbox VALUES (?)", (raw,))
    connection.execute("COMMIT")
    answer.send(memory(os.getpid(), "VmHWM") - before)


def main() -> int:
    context = multiprocessing.get_context("spawn")
    ok = True
    with tempfile.TemporaryDirectory() as folder:
        url = os.environ.get("INTAKE_BENCH_DATABASE_URL") or f"sqlite:///{Path(folder) / 'intake.db'}"
        ours, theirs = context.Pipe()
        door = context.Process(target=serve, args=(url, theirs))
        door.start()
        port = ours.recv()
        pid = door.pid
        assert pid is not None
        try:
            mail = big_mail()
            time.sleep(1.0)
            before = memory(pid, "VmHWM")
            with smtplib.SMTP("127.0.0.1", port, timeout=120) as client:
                client.sendmail("ann@client.example", ["sales@office.example"], mail)
            cost = memory(pid, "VmHWM") - before
            factor = cost / len(mail)
            ok &= factor < TARGET_MAIL_FACTOR
            print(
                f"a {len(mail) / MB:.0f} MB mail: the door's peak memory rose {cost / MB:.1f} MB, "
                f"{factor:.2f} times its size (target < {TARGET_MAIL_FACTOR:.0f})"
            )
            before = memory(pid, "VmRSS")
            idle = []
            for _ in range(IDLE_CONNECTIONS):
                connection = socket.create_connection(("127.0.0.1", port))
                connection.sendall(b"EHLO idle.client.example\r\n")
                idle.append(connection)
            time.sleep(2.0)
            cost = memory(pid, "VmRSS") - before
            ok &= cost / MB < TARGET_IDLE_MB
            print(
                f"{IDLE_CONNECTIONS} idle connections: {cost / MB:.1f} MB (target < {TARGET_IDLE_MB:.0f} MB)"
            )
            for connection in idle:
                connection.close()
        finally:
            ours.send(None)
            door.join(60)
        ours, theirs = context.Pipe()
        bare = context.Process(target=without_intake, args=(folder, theirs))
        bare.start()
        cost = ours.recv()
        bare.join(60)
        print(
            f"  the same mail read whole and inserted with sqlite3 alone: {cost / MB:.1f} MB, "
            f"{cost / MAIL_BYTES:.2f} times its size"
        )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
