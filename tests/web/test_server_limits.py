"""The web server's limits, through a running `intake serve`: idle connections do not
take the port down, they are closed when idle too long, and a body larger than any page
accepts is refused with 413 before it is read, with or without a Content-Length."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from config.settings import WebSettings
from tests.conftest import OFFICE
from tests.support.serving import ServeProcess
from web.hand_taken import MAX_REQUEST_BYTES

IDLE_TIMEOUT = 2


@pytest.fixture(scope="module")
def serve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    folder = tmp_path_factory.mktemp("limits")
    config = folder / "office.toml"
    office = OFFICE.read_text(encoding="utf-8")
    config.write_text(office.replace("[web]\n", f"[web]\nidle_timeout_seconds = {IDLE_TIMEOUT}\n"), "utf-8")
    process = ServeProcess(Path(config), f"sqlite:///{folder / 'intake.db'}")
    try:
        process.wait_until_running()
        yield process
    finally:
        process.stop()


def _connect(serve: ServeProcess) -> socket.socket:
    return socket.create_connection(("127.0.0.1", serve.web_port), timeout=5)


def _answer(connection: socket.socket) -> tuple[int, bytes]:
    """The status code and body of the one response on `connection` (closed after it)."""
    received = b""
    while chunk := connection.recv(65536):
        received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


def _get(serve: ServeProcess, path: str) -> tuple[int, bytes]:
    with _connect(serve) as connection:
        connection.sendall(f"GET {path} HTTP/1.1\r\nHost: intake\r\nConnection: close\r\n\r\n".encode())
        return _answer(connection)


def test_150_idle_connections_leave_healthz_answering_within_a_second(serve: ServeProcess) -> None:
    with ExitStack() as idle:
        for _ in range(150):
            idle.enter_context(_connect(serve))
        started = time.monotonic()
        status, body = _get(serve, "/healthz")
        assert time.monotonic() - started < 1.0
    assert status == 200 and json.loads(body)["status"] == "ok"


def test_an_idle_connection_is_closed_after_the_idle_timeout(serve: ServeProcess) -> None:
    with _connect(serve) as connection:
        connection.settimeout(IDLE_TIMEOUT * 3)
        started = time.monotonic()
        assert connection.recv(1) == b""  # closed by the server, not by our timeout
        assert IDLE_TIMEOUT - 0.5 < time.monotonic() - started < IDLE_TIMEOUT * 2 + 0.5


@pytest.mark.parametrize("path", ["/login", "/twilio/sms", "/take"])
def test_a_64_mb_body_is_refused_with_413_before_it_is_sent(serve: ServeProcess, path: str) -> None:
    with _connect(serve) as connection:
        started = time.monotonic()
        connection.sendall(
            f"POST {path} HTTP/1.1\r\nHost: intake\r\nContent-Type: application/x-www-form-urlencoded\r\n"
            f"Content-Length: {64 * 1024 * 1024}\r\n\r\nname=ann&".encode()
        )
        # Nothing more is sent: the answer cannot wait for the body.
        status, _ = _answer(connection)
        assert time.monotonic() - started < 1.0
    assert status == 413


def test_a_chunked_body_is_refused_once_it_passes_the_limit(serve: ServeProcess) -> None:
    chunk = b"x" * (1024 * 1024)
    with _connect(serve) as connection:
        connection.sendall(b"POST /login HTTP/1.1\r\nHost: intake\r\nTransfer-Encoding: chunked\r\n\r\n")
        try:
            for _ in range(64):
                connection.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server stopped reading: its answer is waiting
        status, _ = _answer(connection)
    assert status == 413


def test_a_body_within_the_limit_reaches_the_app(serve: ServeProcess) -> None:
    body = b"name=ann&password=" + b"x" * (2 * 1024 * 1024)
    with _connect(serve) as connection:
        connection.sendall(
            b"POST /login HTTP/1.1\r\nHost: intake\r\nConnection: close\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\n\r\n%s"
            % (len(body), body)
        )
        status, _ = _answer(connection)
    assert status == 400  # the app's answer: the form has no CSRF token


def test_the_default_limit_takes_the_largest_page_body() -> None:
    assert WebSettings.max_request_bytes >= MAX_REQUEST_BYTES
