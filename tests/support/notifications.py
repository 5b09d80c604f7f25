"""Helpers for the notification tests: a local SMTP sink, a local webhook receiver, and the
test office with Sales notifying both.

Both are real servers on loopback: the sink is aiosmtpd, the receiver http.server, which
checks every request's signature as a chat tool would.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from config.loading import load_settings
from config.settings import Settings
from tests.conftest import OFFICE
from tests.support.serving import free_port

SECRET = "sales-webhook-secret"
TEAM = ("sales-team@office.test", "sales-lead@office.test")


class _SinkHandler:
    """Keeps every message; answers with the queued replies first, then 250."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], EmailMessage]] = []
        self.replies: list[str] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.replies:
            return self.replies.pop(0)
        content = envelope.original_content or b""
        message = message_from_bytes(content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        self.messages.append((list(envelope.rcpt_tos), message))
        return "250 OK"


@contextmanager
def smtp_sink() -> Iterator[tuple[int, _SinkHandler]]:
    """A mail server on loopback that keeps what it is sent: (its port, its handler)."""
    handler = _SinkHandler()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, handler
    finally:
        controller.stop()


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    signed: bool

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    """A chat tool's webhook on loopback: records requests and answers the queued statuses."""

    url: str
    requests: list[Received] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)


def _signed(headers: dict[str, str], body: bytes) -> bool:
    """The check a receiver makes, as docs/notifications.md shows it."""
    timestamp = headers.get("X-Intake-Timestamp", "")
    expected = hmac.new(SECRET.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest("sha256=" + expected, headers.get("X-Intake-Signature", ""))


@contextmanager
def webhook_receiver() -> Iterator[Receiver]:
    receiver = Receiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            headers = dict(self.headers.items())
            receiver.requests.append(Received(headers, body, _signed(headers, body)))
            status = receiver.statuses.pop(0) if receiver.statuses else 200
            self.send_response(status)
            if 300 <= status < 400:
                self.send_header("Location", receiver.url + "elsewhere")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/sales"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()


def notifying_office(
    tmp_path: Path,
    database_url: str,
    *,
    smtp_port: int,
    webhook_url: str | None,
    digest_minutes: int = 0,
    extra: str = "",
) -> Settings:
    """The test office whose Sales emails its team (and posts to `webhook_url`, if given)."""
    notify = f"email = {json.dumps(list(TEAM))}, digest_minutes = {digest_minutes}"
    if webhook_url:
        notify += f', webhook_url = "{webhook_url}", webhook_secret = "{SECRET}"'
    text = OFFICE.read_text().replace('name = "Sales"\n', f'name = "Sales"\nnotify = {{ {notify} }}\n')
    text = text.replace("[web]\n", '[web]\npublic_url = "https://intake.office.test/"\n')
    text += (
        f'\n[notifications]\nsmtp_host = "127.0.0.1"\nsmtp_port = {smtp_port}\nsecurity = "none"\n'
        'from_address = "intake@office.test"\nmax_attempts = 3\nretry_seconds = 10\ntimeout_seconds = 5\n'
    )
    path = tmp_path / "office.toml"
    path.write_text(text + "\n" + extra)
    return load_settings(path, {"INTAKE_DATABASE_URL": database_url})


class Clock:
    """The worker's clock, moved on by the test; it starts at the real time."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC) + timedelta(seconds=1)

    def catch_up(self) -> None:
        """Move to the real time if the clock is behind it, so that what was delivered
        by now (stamped with the real time) is due however slowly the test ran."""
        self.now = max(self.now, datetime.now(UTC))

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta
