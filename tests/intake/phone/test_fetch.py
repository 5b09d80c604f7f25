"""Fetching from a Twilio API that answers badly: every broken answer is a clear failure."""

from __future__ import annotations

import socket
import struct
import threading

import pytest

from config.settings import TwilioSettings
from intake.phone.fetch import RECORDING, FetchFailed, FetchRefused, TwilioFetcher, check_addresses
from tests.support.twilio import ACCOUNT_SID, api_path, raw_server

HEADERS = b"HTTP/1.1 200 OK\r\nContent-Type: audio/x-wav\r\n"


def _fetch(base: str, path: str = api_path("Recordings/RE1"), timeout: float = 5.0) -> None:
    settings = TwilioSettings(
        account_sid=ACCOUNT_SID, auth_token="t", api_base_url=base, download_timeout_seconds=timeout
    )
    TwilioFetcher(settings).fetch(base + path, RECORDING)


def _failure(reply: object, *, timeout: float = 5.0) -> FetchFailed:
    with raw_server(reply) as server, pytest.raises(FetchFailed) as failed:  # type: ignore[arg-type]
        _fetch(server.base, timeout=timeout)
    return failed.value


def test_a_body_shorter_than_its_content_length_is_retried() -> None:
    def reply(connection: socket.socket) -> None:
        connection.sendall(HEADERS + b"Content-Length: 100000\r\n\r\nRIFF")

    failure = _failure(reply)
    assert (str(failure), failure.retry) == ("the download ended after 4 of 100000 bytes", True)


def test_a_chunked_body_cut_off_is_retried() -> None:
    def reply(connection: socket.socket) -> None:
        connection.sendall(HEADERS + b"Transfer-Encoding: chunked\r\n\r\n100\r\nRIFF")

    failure = _failure(reply)
    assert failure.retry and "IncompleteRead" in str(failure)


def test_a_connection_reset_mid_body_is_retried() -> None:
    def reply(connection: socket.socket) -> None:
        connection.sendall(HEADERS + b"Content-Length: 100000\r\n\r\n" + b"x" * 1000)
        # Close with a reset instead of a clean end.
        connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

    assert _failure(reply).retry


def test_a_stalled_body_times_out_and_is_retried() -> None:
    def reply(connection: socket.socket) -> None:
        connection.sendall(HEADERS + b"Content-Length: 10\r\n\r\nab")
        connection.recv(1)  # until the client gives up

    failure = _failure(reply, timeout=0.2)
    assert failure.retry and "TimeoutError" in str(failure)


def test_a_trickling_body_stops_at_the_deadline() -> None:
    stop = threading.Event()

    def reply(connection: socket.socket) -> None:
        connection.sendall(HEADERS + b"Content-Length: 1000\r\n\r\n")
        for _ in range(1000):
            if stop.wait(0.01):
                return
            connection.sendall(b"x")

    try:
        failure = _failure(reply, timeout=0.3)
    finally:
        stop.set()
    assert (str(failure), failure.retry) == ("the download took too long", True)


@pytest.mark.parametrize("status", [b"300 Multiple Choices", b"302 Found", b"304 Not Modified"])
def test_a_redirect_without_a_location_fails_for_good(status: bytes) -> None:
    def reply(connection: socket.socket) -> None:
        connection.sendall(b"HTTP/1.1 " + status + b"\r\nContent-Length: 7\r\n\r\nchoices")

    failure = _failure(reply)
    assert not failure.retry and str(failure).startswith(f"HTTP {int(status[:3])} without a Location")


@pytest.mark.parametrize("name", ["RE\u00e91", "RE 1", "RE\t1"])
def test_a_url_http_cannot_send_is_refused(name: str) -> None:
    with pytest.raises(FetchRefused, match="is not a plain URL"):
        _fetch("http://127.0.0.1:9", api_path(f"Recordings/{name}"))


API = TwilioSettings(account_sid=ACCOUNT_SID, auth_token="t", api_base_url="https://8.8.8.8")


@pytest.mark.parametrize(
    "url",
    [
        "https://10.1.2.3/media",
        "https://192.168.0.1/media",
        "https://[::ffff:169.254.169.254]/latest/meta-data/",
        "https://[::ffff:10.0.0.1]/media",
        "https://[fe80::1]/media",
        "https://0.0.0.0/media",
        "https://localhost/media",
        "https://127.0.0.1/media",
        "https://[::1]/media",
    ],
)
def test_redirect_hosts_that_resolve_to_non_public_addresses_are_refused(url: str) -> None:
    with pytest.raises(FetchRefused, match="resolves to a non-public address"):
        check_addresses(API, url)


def test_public_addresses_pass_and_loopback_only_while_the_api_is_on_loopback() -> None:
    check_addresses(API, "https://8.8.4.4/media")
    loopback = TwilioSettings(account_sid=ACCOUNT_SID, auth_token="t", api_base_url="http://127.0.0.1:9")
    check_addresses(loopback, "http://localhost:9/media")
    with pytest.raises(FetchRefused):
        check_addresses(loopback, "http://10.0.0.1/media")
