"""Helpers for the Twilio tests: the test account, signing as Twilio does, a fake Twilio API.

Requests are signed with twilio's own RequestValidator over the public URL Intake is
configured with, exactly as Twilio signs its webhooks. The fake API is a real HTTP
server on loopback that serves recordings and media, and records every request. The
phone office's inbox runs as `intake serve` runs it; its worker makes the items of the
texts accepted when a test says so (PhoneOffice.drain), or after each `post`.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from flask.testing import FlaskClient
from sqlalchemy import select
from twilio.request_validator import RequestValidator
from werkzeug.test import TestResponse

from config.loading import load_settings
from config.settings import Settings
from intake.cli.runtime import Runtime, open_runtime
from intake.email.storing import parse_all_here
from intake.jobs.downloads import DownloadWorker
from intake.jobs.inbox import InboxWorker
from intake.phone.fetch import TwilioFetcher
from routing.store import inbox, jobs
from routing.store.database import transaction
from routing.store.downloads import Download, downloads_of
from routing.store.models import Item, Job, Reply, VoiceCall
from tests.support.loopback import serve_each
from tests.support.people import office_client
from web.twilio import TwilioHooks

OFFICE = Path(__file__).parents[1].joinpath("office.toml")
ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
OTHER_ACCOUNT_SID = "AC" + "fedcba9876543210" * 2
AUTH_TOKEN = "test-auth-token-0123456789abcdef"
PUBLIC_URL = "https://intake.office.test"
SALES_NUMBER = "+15555550101"
CALLER = "+15557654321"


def sign(url: str, form: dict[str, str], token: str = AUTH_TOKEN) -> str:
    return str(RequestValidator(token).compute_signature(url, form))


def post_signed(
    client: FlaskClient, path: str, form: dict[str, str], *, signed_url: str | None = None
) -> TestResponse:
    """POST `form` as Twilio would, signed for PUBLIC_URL + path (or `signed_url`)."""
    signature = sign(signed_url or PUBLIC_URL + path, form)
    return client.post(path, data=form, headers={"X-Twilio-Signature": signature})


def api_path(rest: str, account: str = ACCOUNT_SID) -> str:
    return f"/2010-04-01/Accounts/{account}/{rest}"


def sms_form(
    sid: str = "SM" + "1" * 32, body: str = "Hello, I would like a quote", **extra: str
) -> dict[str, str]:
    form = {
        "ToCountry": "US",
        "SmsMessageSid": sid,
        "NumMedia": "0",
        "SmsSid": sid,
        "SmsStatus": "received",
        "Body": body,
        "To": SALES_NUMBER,
        "NumSegments": "1",
        "MessageSid": sid,
        "AccountSid": ACCOUNT_SID,
        "From": CALLER,
        "ApiVersion": "2010-04-01",
    }
    form.update(extra)
    return form


def recording_form(
    base: str, call: str = "CA" + "2" * 32, recording: str = "RE" + "3" * 32, **extra: str
) -> dict[str, str]:
    form = {
        "AccountSid": ACCOUNT_SID,
        "CallSid": call,
        "RecordingSid": recording,
        "RecordingUrl": base + api_path(f"Recordings/{recording}"),
        "RecordingStatus": "completed",
        "RecordingDuration": "42",
        "RecordingChannels": "1",
        "RecordingSource": "RecordVerb",
        "From": CALLER,
        "To": SALES_NUMBER,
    }
    form.update(extra)
    return form


def transcription_form(
    base: str, text: str = "Hi, please call me back about my order.", status: str = "completed", **extra: str
) -> dict[str, str]:
    form = recording_form(base)
    for key in ("RecordingStatus", "RecordingDuration", "RecordingChannels", "RecordingSource"):
        del form[key]
    form.update(
        TranscriptionSid="TR" + "4" * 32,
        TranscriptionText=text,
        TranscriptionStatus=status,
        TranscriptionUrl=form["RecordingUrl"].replace("Recordings", "Transcriptions"),
        CallStatus="completed",
    )
    form.update(extra)
    return form


def office_with_twilio(tmp_path: Path, twilio_toml: str) -> Path:
    path = tmp_path / "office.toml"
    path.write_text(OFFICE.read_text() + "\n[twilio]\n" + twilio_toml)
    return path


@dataclass
class Answer:
    status: int  # 0: no answer at all, the connection closed
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    # The Messages API's: make the message first, as Twilio does before an answer that is lost.
    makes: bool = False
    delay: float = 0.0  # seconds before the answer: past the client's timeout, it is lost


@dataclass
class Seen:
    path: str
    host: str
    authorization: str | None


@dataclass
class Posted:
    """A request to create a message, as the fake Messages API took it."""

    path: str
    form: dict[str, str]
    authorization: str | None


class FakeTwilio:
    """A small Twilio API on loopback: answers per path, in order, and a log of requests.

    Its Messages API makes a message of every request to create one, as Twilio does (it
    takes no idempotency key): `texts` holds the messages it made, `posted` every request
    it was asked, `sent` what it answers of each message, as its list (GET Messages.json,
    filtered by To and From) answers too, newest first; `lookups` counts those lists.
    """

    def __init__(self) -> None:
        self.answers: dict[str, list[Answer]] = {}
        self.seen: list[Seen] = []
        self.posted: list[Posted] = []
        self.texts: list[dict[str, str]] = []
        self.sent: list[dict[str, Any]] = []
        self.lookups = 0
        self.next_answers: list[Answer] = []  # the Messages API's next answers instead of taking one
        self.list_answers: list[Answer] = []  # the list's next answers instead of the messages
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                fake.seen.append(
                    Seen(self.path, self.headers.get("Host", ""), self.headers.get("Authorization"))
                )
                path, _, query = self.path.partition("?")
                if path == api_path("Messages.json"):
                    fake.lookups += 1
                    self._send(fake.list_answers.pop(0) if fake.list_answers else fake.listed(query))
                    return
                queue = fake.answers.get(self.path) or [Answer(404, b"not found")]
                answer = queue.pop(0) if len(queue) > 1 else queue[0]
                self.send_response(answer.status)
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer.body)))
                self.end_headers()
                self.wfile.write(answer.body)

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                form = dict(parse_qsl(body.decode()))
                fake.posted.append(Posted(self.path, form, self.headers.get("Authorization")))
                if fake.next_answers:
                    answer = fake.next_answers.pop(0)
                    if answer.makes:
                        fake.message(form)
                    self._send(answer)
                elif self.path != api_path("Messages.json"):
                    self._send(Answer(404, b'{"status": 404, "message": "not found"}'))
                else:
                    self._send(Answer(201, json.dumps(fake.message(form)).encode()))

            def _send(self, answer: Answer) -> None:
                time.sleep(answer.delay)
                if answer.status == 0:
                    self.close_connection = True
                    return
                self.send_response(answer.status)
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                if "Content-Type" not in answer.headers:
                    self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer.body)))
                self.end_headers()
                self.wfile.write(answer.body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.base = f"http://127.0.0.1:{self.port}"
        # The same server under another name plays Twilio's media content host.
        self.cdn = f"http://localhost:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def message(self, form: dict[str, str]) -> dict[str, Any]:
        """The message a request makes, as Twilio answers it."""
        made = {
            "sid": f"SM{len(self.texts) + 1:032x}",
            "status": "queued",
            "to": form.get("To", ""),
            "from": form.get("From", ""),
            "body": form.get("Body", ""),
            "direction": "outbound-api",
            "date_created": format_datetime(datetime.now(UTC), usegmt=True),
            "date_sent": None,
        }
        self.texts.append(form)
        self.sent.insert(0, made)
        return made

    def listed(self, query: str) -> Answer:
        """The list of messages a GET asks for, as Twilio pages it."""
        wanted = dict(parse_qsl(query))
        found = [
            m
            for m in self.sent
            if wanted.get("To", m["to"]) == m["to"] and wanted.get("From", m["from"]) == m["from"]
        ]
        page = {"messages": found, "next_page_uri": None, "page": 0, "page_size": 50, "uri": ""}
        return Answer(200, json.dumps(page).encode())

    def serve(self, path: str, *answers: Answer) -> None:
        self.answers[path] = list(answers)

    def reset(self) -> None:
        self.answers.clear()
        self.seen.clear()
        self.posted.clear()
        self.texts.clear()
        self.sent.clear()
        self.lookups = 0
        self.next_answers.clear()
        self.list_answers.clear()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def fake_twilio_server() -> Iterator[FakeTwilio]:
    fake = FakeTwilio()
    try:
        yield fake
    finally:
        fake.close()


class RawServer:
    """A loopback HTTP server that answers each request with `reply(connection)`: for the
    broken answers no server library sends (cut short, stalled, trickled, reset)."""

    def __init__(self, reply: Callable[[socket.socket], None]) -> None:
        self.reply = reply
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.base = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        threading.Thread(target=serve_each, args=(self.listener, self._answer), daemon=True).start()

    def _answer(self, connection: socket.socket) -> None:
        # OSError: the client gave up first.
        with connection, suppress(OSError):
            connection.recv(65536)
            self.reply(connection)

    def close(self) -> None:
        self.listener.shutdown(socket.SHUT_RDWR)
        self.listener.close()


@contextmanager
def raw_server(reply: Callable[[socket.socket], None]) -> Iterator[RawServer]:
    server = RawServer(reply)
    try:
        yield server
    finally:
        server.close()


def twilio_toml(fake: FakeTwilio, extra: str = "") -> str:
    return f"""
account_sid = "{ACCOUNT_SID}"
auth_token = "{AUTH_TOKEN}"
public_url = "{PUBLIC_URL}"
api_base_url = "{fake.base}"
redirect_hosts = ["localhost:{fake.port}"]
{extra}
"""


# Monday 2 November 2026: 14:30 UTC is 09:30 in New York (open), 23:00 UTC is closed.
OPEN_TIME = datetime(2026, 11, 2, 14, 30, tzinfo=UTC)
CLOSED_TIME = datetime(2026, 11, 2, 23, 0, tzinfo=UTC)

PHONE_TOML = """
record_max_seconds = 90
download_attempts = 3

[twilio.greetings.default]
open = "Thank you for calling the Test Office."
closed = "The Test Office is closed."

[twilio.greetings."+15555550101"]
open = "You have reached Sales. Please leave a message."
closed = "Sales is closed. Please leave a message after the beep."
"""
# Sales acknowledges new texts by text.
ACKNOWLEDGEMENTS_TOML = """
[twilio.acknowledgements.sales]
open = "Thanks, Sales will reply shortly."
closed = "Thanks, Sales will reply when we open."
"""


class Clock:
    """A hand-moved clock for the webhooks, the texts' reader and the download worker."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


@dataclass
class PhoneOffice:
    """The test office with Twilio configured, its web app, its inbox (the writer running,
    the worker run by `drain`) and its download worker."""

    settings: Settings
    runtime: Runtime
    client: FlaskClient
    hooks: TwilioHooks
    worker: DownloadWorker
    clock: Clock
    fake: FakeTwilio
    inbox_worker: InboxWorker

    def post(self, path: str, form: dict[str, str], **kwargs: Any) -> TestResponse:
        """Post as Twilio does, then let the inbox worker make what was accepted an item."""
        response = self.send(path, form, **kwargs)
        self.drain()
        return response

    def send(self, path: str, form: dict[str, str], **kwargs: Any) -> TestResponse:
        """Post as Twilio does, and no more: a text accepted is then in the inbox only."""
        return post_signed(self.client, path, form, **kwargs)

    def drain(self) -> int:
        """Run the inbox worker until the inbox is empty; how many rows it claimed."""
        claimed = 0
        while made := self.inbox_worker.run_once():
            claimed += made
        return claimed

    def close(self) -> None:
        self.runtime.inbox.stop()
        self.runtime.engine.dispose()

    def items(self) -> list[Item]:
        with transaction(self.runtime.sessions, write=False) as session:
            items = list(session.scalars(select(Item).order_by(Item.id)))
            for item in items:
                _ = (item.events, item.raw, [a.blob for a in item.attachments])
            return items

    def acknowledgements(self) -> list[str]:
        """The texts of the acknowledgements queued, oldest first."""
        with transaction(self.runtime.sessions, write=False) as session:
            found = session.scalars(
                select(Reply.text).where(Reply.kind == "acknowledgement").order_by(Reply.id)
            )
            return list(found)

    def waiting(self) -> int:
        """Texts accepted and not yet made items."""
        with transaction(self.runtime.sessions, write=False) as session:
            return inbox.backlog(session).depth

    def downloads(self) -> list[Download]:
        with transaction(self.runtime.sessions, write=False) as session:
            found = downloads_of(session, session.scalars(select(Item.id)).all())
        return sorted((d for item in found.values() for d in item), key=lambda d: d.id)

    def point_download_at(self, url: str) -> None:
        """Make the one queued download fetch `url` instead."""
        with transaction(self.runtime.sessions) as session:
            row = session.scalars(select(Job).where(Job.kind == jobs.DOWNLOAD)).one()
            row.payload = {**row.payload, "url": url}

    def call(self) -> VoiceCall:
        with transaction(self.runtime.sessions, write=False) as session:
            return session.scalars(select(VoiceCall)).one()


def open_phone_office(
    database_url: str,
    tmp_path: Path,
    fake: FakeTwilio,
    keys: str = "",
    tables: str = "",
    acknowledgements: str = ACKNOWLEDGEMENTS_TOML,
) -> PhoneOffice:
    """The office with PHONE_TOML's Twilio and `acknowledgements`, plus `keys` in [twilio]
    and `tables` after it."""
    fake.reset()
    path = office_with_twilio(tmp_path, twilio_toml(fake, keys + PHONE_TOML + acknowledgements + tables))
    settings = load_settings(path, {"INTAKE_DATABASE_URL": database_url})
    runtime = open_runtime(settings)
    app = runtime.web_app()
    hooks: TwilioHooks = app.extensions["twilio"]
    clock = Clock(OPEN_TIME)
    hooks.clock = clock
    worker = DownloadWorker(
        runtime.sessions,
        TwilioFetcher(settings.twilio),
        max_attempts=3,
        retry_base=timedelta(seconds=10),
        clock=clock,
    )
    client = office_client(app, runtime.sessions)
    runtime.inbox.start()
    inbox_worker = runtime.inbox_worker(parse_all_here, clock)  # a text is as old as the clock says
    return PhoneOffice(settings, runtime, client, hooks, worker, clock, fake, inbox_worker)
