"""Helpers for the SMTP tests: a running server, SMTP by hand, swaks, counting items, locking the database."""

from __future__ import annotations

import dataclasses
import smtplib
import socket
import sqlite3
import subprocess
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from types import TracebackType

import psycopg
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from config.settings import ListenAddress, Settings
from intake.cli.runtime import Runtime, start_inbox
from intake.email.smtp import SMTPServer
from intake.email.storing import parse_all_here
from routing.store.database import transaction
from routing.store.inbox import Accept, Arrival, Submit
from routing.store.models import Item
from tests.conftest import require_program
from tests.support.inbox import wait_until_drained

LOOPBACK = ListenAddress("127.0.0.1", 0)
# The text of the 250 answer to a stored message, as smtplib gives it: it names no item.
ACCEPTED = "2.0.0 OK: message accepted"


def on_a_thread(accept: Accept) -> Submit:
    """The door's way in for a test's own accept(), run on a thread of its own as the
    inbox's writer commits on its own: its future settles as accept() returns or raises."""

    def submit(arrival: Arrival) -> Future[None]:
        committed: Future[None] = Future()

        def run() -> None:
            try:
                accept(arrival)
            except BaseException as error:  # settled either way, as the writer's futures are
                committed.set_exception(error)
            else:
                committed.set_result(None)

        threading.Thread(target=run, name="test-accept", daemon=True).start()
        return committed

    return submit


def on_free_ports(settings: Settings) -> Settings:
    """The settings with every SMTP listener on a free loopback port."""
    smtp = dataclasses.replace(settings.smtp, listen=LOOPBACK)
    if smtp.submission:
        smtp = dataclasses.replace(smtp, submission=dataclasses.replace(smtp.submission, listen=LOOPBACK))
    return dataclasses.replace(settings, smtp=smtp)


@contextmanager
def running(runtime: Runtime, settings: Settings | None = None) -> Iterator[SMTPServer]:
    """The SMTP door on `settings` (the runtime's by default) on free ports, with the inbox
    and an in-process worker making its items, as `intake serve --workers 0` runs them."""
    writer, worker = start_inbox(runtime, 0, parse_all_here)
    server = SMTPServer(on_free_ports(settings or runtime.settings), writer.submit)
    server.start()
    try:
        yield server
        server.stop()
        wait_until_drained(runtime.sessions)  # what was accepted is an item when the test looks
    finally:
        server.stop()
        writer.stop()
        worker.stop()


def client(server: SMTPServer) -> smtplib.SMTP:
    connection = smtplib.SMTP("127.0.0.1", server.public.port, timeout=30)
    connection.ehlo("client.example")
    return connection


def send(
    connection: smtplib.SMTP,
    raw: bytes,
    to: str = "sales@office.test",
    sender: str = "ann@client.example",
    options: tuple[str, ...] | list[str] = (),
) -> tuple[int, str]:
    """One transaction; the final reply (smtplib's sendmail() hides it)."""
    assert connection.mail(sender, list(options))[0] == 250
    assert connection.rcpt(to)[0] == 250
    code, reply = connection.data(raw)
    return code, reply.decode()


class RawSession:
    """SMTP spoken by hand over a socket, for what smtplib will not send (or not in pieces)."""

    def __init__(self, port: int, source: str = "127.0.0.1") -> None:
        self.socket = socket.create_connection(("127.0.0.1", port), timeout=30, source_address=(source, 0))
        # Each sendall() leaves at once, so the server reads the pieces a test chose.
        self.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.lines = self.socket.makefile("rb")

    def reply(self) -> bytes:
        """The last line of the server's next reply, without its CRLF; b"" once it has closed."""
        line = self.lines.readline()
        while line[3:4] == b"-":
            line = self.lines.readline()
        return line.rstrip(b"\r\n")

    def command(self, line: bytes) -> bytes:
        self.socket.sendall(line + b"\r\n")
        return self.reply()

    def start_data(self, to: str = "sales@office.test") -> None:
        """Greeting, EHLO, MAIL, RCPT and DATA, each answered as it should be."""
        assert self.reply().startswith(b"220 ")
        for line, code in ((b"EHLO client.example", b"250"), (b"MAIL FROM:<ann@client.example>", b"250")):
            assert self.command(line).startswith(code)
        assert self.command(f"RCPT TO:<{to}>".encode()).startswith(b"250")
        assert self.command(b"DATA").startswith(b"354")

    def close(self) -> None:
        self.lines.close()
        self.socket.close()

    def __enter__(self) -> RawSession:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def swaks(port: int, *args: str) -> str:
    """Run swaks against the server on `port`; its whole transcript."""
    program = require_program("/usr/bin/swaks", "swaks")
    result = subprocess.run(
        [program, "--server", f"127.0.0.1:{port}", "--from", "ann@client.example", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return result.stdout + result.stderr


def item_count(runtime: Runtime) -> int:
    """The items stored, once every message accepted has been made one."""
    wait_until_drained(runtime.sessions)
    with transaction(runtime.sessions, write=False) as session:
        return session.execute(select(func.count(Item.id))).scalar_one()


def stored_item(runtime: Runtime, item_id: int) -> Item:
    with transaction(runtime.sessions, write=False) as session:
        item = session.get_one(Item, item_id)
        item.raw.content  # noqa: B018 (loaded while the session is open)
        return item


def item_with_message_id(runtime: Runtime, message_id: str) -> Item:
    """The item made from the message with this Message-ID (SMTP's answer names no item)."""
    wait_until_drained(runtime.sessions)
    with transaction(runtime.sessions, write=False) as session:
        item_id = session.execute(select(Item.id).where(Item.message_id == message_id)).scalar_one()
    return stored_item(runtime, item_id)


@contextmanager
def database_locked(url: str) -> Iterator[None]:
    """Hold the database so no one else can write, from another connection, for real."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        connection = sqlite3.connect(parsed.database or "", isolation_level=None)
        connection.execute("BEGIN EXCLUSIVE")
        try:
            yield
        finally:
            connection.execute("ROLLBACK")
            connection.close()
        return
    conninfo = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(conninfo) as holder:
        holder.execute("LOCK TABLE items, inbox IN ACCESS EXCLUSIVE MODE")
        yield
        holder.rollback()
