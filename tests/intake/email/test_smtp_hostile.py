"""Hostile SMTP clients against a real `intake serve`: what they cost the process in
memory (its peak RSS, from /proc) and whether another client is still served meanwhile."""

from __future__ import annotations

import smtplib
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.conftest import OFFICE
from tests.support.mail import email_bytes
from tests.support.serving import ServeProcess
from tests.support.smtp import RawSession

CLIENTS = 40
LINE = b"x" * (12 * 1024 * 1024)  # no line end, ever
PEAK_LIMIT_MB = 200
SMTP_LIMITS = "max_message_size = 26214400\nmax_connections = 100\nmax_connections_per_address = 50\n"


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[ServeProcess]:
    """`intake serve` on SQLite, with the default 25 MiB message size and room for 50 clients per address."""
    config = tmp_path / "office.toml"
    config.write_text(OFFICE.read_text().replace("max_message_size = 1048576\n", SMTP_LIMITS))
    process = ServeProcess(config, f"sqlite:///{tmp_path / 'intake.db'}")
    try:
        process.wait_until_running()
        yield process
    finally:
        process.stop()


def peak_rss_mb(process: ServeProcess) -> float:
    """The process's largest resident set so far (VmHWM), in MB."""
    status = Path(f"/proc/{process.process.pid}/status").read_text()
    kilobytes = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:"))
    return kilobytes / 1024


def hold(serve: ServeProcess, opening: Callable[[RawSession], None]) -> list[RawSession]:
    """CLIENTS connections, each brought to a point by `opening`, then sent LINE and left hanging."""

    def one(_: int) -> RawSession:
        session = RawSession(serve.smtp_port)
        opening(session)
        session.socket.sendall(LINE)
        return session

    with ThreadPoolExecutor(CLIENTS) as pool:
        return list(pool.map(one, range(CLIENTS)))


def served_meanwhile(serve: ServeProcess, message_id: str) -> float:
    """Seconds a client from another address takes to have a whole message accepted."""
    started = time.monotonic()
    with smtplib.SMTP("127.0.0.1", serve.smtp_port, timeout=30, source_address=("127.0.0.2", 0)) as client:
        client.ehlo("client.example")
        client.mail("ann@client.example")
        client.rcpt("sales@office.test")
        assert client.data(email_bytes(message_id=message_id))[0] == 250
    return time.monotonic() - started


def greeted(session: RawSession) -> None:
    assert session.reply().startswith(b"220 ")


def in_data(session: RawSession) -> None:
    session.start_data()


@pytest.mark.parametrize("opening", [greeted, in_data], ids=["before HELO", "during DATA"])
def test_forty_unterminated_12_mib_lines_cost_bounded_memory_and_another_client_is_served(
    serve: ServeProcess, opening: Callable[[RawSession], None]
) -> None:
    sessions = hold(serve, opening)
    try:
        assert served_meanwhile(serve, f"<meanwhile-{opening.__name__}@client.example>") < 10
        for session in sessions:  # every hostile connection is still open, and still hanging
            session.socket.setblocking(False)
            with pytest.raises(BlockingIOError):
                session.socket.recv(1)
    finally:
        for session in sessions:
            session.close()
    peak = peak_rss_mb(serve)
    assert peak < PEAK_LIMIT_MB, f"intake serve peaked at {peak:.0f} MB"
