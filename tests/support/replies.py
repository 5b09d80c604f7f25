"""Helpers for the reply tests: the test office with a relay on loopback, the relay
itself (aiosmtpd, which can be stopped and started again on its port), and the worker
driven by a clock the test moves on."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import pytest
from aiosmtpd.controller import Controller
from flask.testing import FlaskClient
from sqlalchemy import func, select

from config.loading import load_settings
from config.settings import Settings
from intake.cli.runtime import Runtime, open_runtime
from intake.jobs.replies import ReplyWorker
from routing.store.database import transaction
from routing.store.models import Job, Reply
from tests.conftest import OFFICE
from tests.support.loopback import serve_each
from tests.support.notifications import Clock, _SinkHandler
from tests.support.people import office_client
from tests.support.serving import free_port

OUTBOUND = 'security = "none"\nmax_attempts = 3\nretry_seconds = 10\ntimeout_seconds = 5\n'


# Billing's acknowledgement in English and German, its outside address and a template.
ANSWERING = """forward_to = "partner@outside.example"
[departments.acknowledgement]
enabled = true
hours = 8
texts = { en = "We have your message #{id}. {department} answers within {hours} hours.", de = "Wir haben Ihre Nachricht #{id}. {department} antwortet binnen {hours} Stunden." }
[[departments.templates]]
name = "Payment received"
text = "Dear {name},\\n\\nwe have received your payment for {subject} (#{id}).\\n\\n{department}"
[[departments.templates]]
name = "Invoice copy"
text = "A copy of the invoice is attached."
"""


def replying_config(tmp_path: Path, relay_port: int | None, billing: str = "") -> Path:
    """The test office, Billing answering from accounts@, with a relay at `relay_port` (or
    none); `billing` adds keys and tables to the Billing department (ANSWERING)."""
    text = OFFICE.read_text().replace(
        'addresses = ["billing@office.test"]\n',
        f'addresses = ["billing@office.test", "accounts@office.test"]\nreply_from = "accounts@office.test"\n{billing}',
    )
    if billing:
        text = text.replace("[office.hours]", 'languages = ["en", "de"]\n\n[office.hours]')
    if relay_port is not None:
        text += f'\n[outbound]\nsmtp = "127.0.0.1:{relay_port}"\n{OUTBOUND}'
    path = tmp_path / "office.toml"
    path.write_text(text)
    return path


def replying_office(tmp_path: Path, database_url: str, relay_port: int | None, billing: str = "") -> Settings:
    return load_settings(
        replying_config(tmp_path, relay_port, billing), {"INTAKE_DATABASE_URL": database_url}
    )


@dataclass
class Relay:
    """The office's smarthost on loopback: what it took, and the answers it gives first."""

    port: int
    handler: _SinkHandler = field(default_factory=_SinkHandler)
    controller: Controller | None = None

    def start(self) -> None:
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


@contextmanager
def relay(*, running: bool = True) -> Iterator[Relay]:
    """A relay on a free port, started unless `running` is False (the relay is down)."""
    found = Relay(free_port())
    if running:
        found.start()
    try:
        yield found
    finally:
        found.stop()


@pytest.fixture
def smarthost() -> Iterator[Relay]:
    """The office's relay on loopback, taking every message, for one test."""
    with relay() as running:
        yield running


@dataclass
class Office:
    """The office's runtime, a receptionist's client, and the reply worker on a test clock."""

    runtime: Runtime
    client: FlaskClient
    worker: ReplyWorker
    clock: Clock

    def drain(self) -> int:
        """Run the worker until nothing is due; how many jobs it did."""
        self.clock.catch_up()
        done = 0
        while self.worker.run_once():
            done += 1
        return done

    def replies(self) -> list[Reply]:
        with transaction(self.runtime.sessions, write=False) as session:
            found = list(session.scalars(select(Reply).order_by(Reply.id)))
            for reply in found:
                _ = reply.job  # loaded while the session is open
            return found

    def stored(self) -> tuple[int, int]:
        """How many replies and reply jobs are stored."""
        with transaction(self.runtime.sessions, write=False) as session:
            replies = session.scalar(select(func.count()).select_from(Reply)) or 0
            jobs = session.scalar(select(func.count()).where(Job.kind == "reply")) or 0
            return replies, jobs


@contextmanager
def open_office(settings: Settings, person: str = "reception") -> Iterator[Office]:
    """The office's runtime, and `person` (a new receptionist) signed in."""
    runtime = open_runtime(settings)
    clock = Clock()
    try:
        app = runtime.web_app()
        client = office_client(app, runtime.sessions, name=person)
        yield Office(runtime, client, ReplyWorker(runtime.sessions, lambda: settings, clock=clock), clock)
    finally:
        runtime.engine.dispose()


# What a ScriptedRelay does at a step instead of answering: close the connection, or say
# nothing until the client gives up.
DROP = "drop"
SILENT = "silent"


class ScriptedRelay:
    """A relay on loopback speaking SMTP by hand, for the answers aiosmtpd will not give (a
    421 greeting, a drop after the data, silence, a QUIT refused): each step answers as
    `answers` says ("greeting", "ehlo", "starttls", "mail", "rcpt", "data", "end", "quit"),
    else as a relay that takes everything does. `taken` holds each message whose end of data
    the relay read, answered 2xx or dropped or silent: delivered, as far as the sender can tell
    only from the final reply."""

    _DEFAULTS: ClassVar[dict[str, str]] = {
        "greeting": "220 relay.test ESMTP",
        "ehlo": "250-relay.test\r\n250 8BITMIME",
        "starttls": "454 4.7.0 TLS not available",
        "mail": "250 2.1.0 OK",
        "rcpt": "250 2.1.5 OK",
        "data": "354 go ahead",
        "end": "250 2.0.0 queued",
        "quit": "221 2.0.0 bye",
    }

    def __init__(self, offers_starttls: bool = False, **answers: str) -> None:
        self.answers = {**self._DEFAULTS, **answers}
        if offers_starttls:
            self.answers["ehlo"] = "250-relay.test\r\n250 STARTTLS"
        self.taken: list[bytes] = []
        self.connections = 0
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.listener.getsockname()[1]
        threading.Thread(target=serve_each, args=(self.listener, self._session), daemon=True).start()

    def close(self) -> None:
        self.listener.close()

    def _session(self, connection: socket.socket) -> None:
        self.connections += 1
        with connection, suppress(OSError), connection.makefile("rb") as lines:
            if not self._say(connection, "greeting"):
                return
            while line := lines.readline():
                verb = line[:8].split(b" ")[0].strip().upper().decode(errors="replace")
                step = {"EHLO": "ehlo", "HELO": "ehlo", "MAIL": "mail", "RCPT": "rcpt", "DATA": "data"}
                step |= {"QUIT": "quit", "STARTTLS": "starttls"}
                if verb not in step:
                    connection.sendall(b"250 2.0.0 OK\r\n")  # RSET, NOOP
                    continue
                if not self._say(connection, step[verb]) or verb == "QUIT":
                    return
                if verb == "DATA" and self.answers["data"].startswith("354"):
                    content = b"".join(iter(lines.readline, b".\r\n"))
                    if self.answers["end"][:1] not in ("4", "5"):
                        self.taken.append(content)
                    if not self._say(connection, "end"):
                        return

    def _say(self, connection: socket.socket, step: str) -> bool:
        """Answer `step`; False when the connection is to end instead."""
        answer = self.answers[step]
        if answer == SILENT:
            while connection.recv(4096):  # until the client gives up and closes
                pass
            return False
        if answer == DROP:
            return False
        connection.sendall(answer.encode() + b"\r\n")
        return True


@contextmanager
def scripted_relay(offers_starttls: bool = False, **answers: str) -> Iterator[ScriptedRelay]:
    found = ScriptedRelay(offers_starttls, **answers)
    try:
        yield found
    finally:
        found.close()
