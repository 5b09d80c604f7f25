"""The SMTP door's limits, over real sockets: connections per client and in total, long
lines in commands and in DATA, a pause allowed between pieces of DATA, and postmaster."""

from __future__ import annotations

import dataclasses
import hashlib
import smtplib
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from config.loading import load_settings
from intake.cli.runtime import Runtime, open_runtime
from intake.email.smtp import SMTPServer
from intake.email.smtp_connections import client_of
from tests.conftest import OFFICE
from tests.support.mail import email_bytes
from tests.support.smtp import (
    ACCEPTED,
    RawSession,
    client,
    item_count,
    item_with_message_id,
    running,
    send,
)

TOO_MANY = b"421 4.7.0 Too many connections, please try again later"


@pytest.fixture(scope="module")
def office(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    url = f"sqlite:///{tmp_path_factory.mktemp('smtp-limits') / 'intake.db'}"
    opened = open_runtime(load_settings(OFFICE, {"INTAKE_DATABASE_URL": url}))
    yield opened
    opened.engine.dispose()


@contextmanager
def limited(office: Runtime, **smtp: Any) -> Iterator[SMTPServer]:
    """A server on the test office with these [smtp] settings changed."""
    settings = dataclasses.replace(office.settings, smtp=dataclasses.replace(office.settings.smtp, **smtp))
    with running(office, settings) as server:
        yield server


def greeting(server: SMTPServer, source: str = "127.0.0.1") -> bytes:
    """The first line a new connection from `source` hears (b"" if closed without a word)."""
    with RawSession(server.public.port, source) as session:
        return session.reply()


def greeting_soon(server: SMTPServer, source: str = "127.0.0.1") -> bytes:
    """The greeting, allowing the server a moment to count a connection that just closed."""
    deadline = time.monotonic() + 5
    while (heard := greeting(server, source)) == TOO_MANY and time.monotonic() < deadline:
        time.sleep(0.05)
    return heard


def test_one_connection_too_many_from_an_address_hears_421_and_a_closed_one_frees_its_slot(
    office: Runtime,
) -> None:
    with limited(office, max_connections=10, max_connections_per_address=3) as server:
        held = [client(server) for _ in range(3)]
        with RawSession(server.public.port) as refused:
            assert refused.reply() == TOO_MANY
            assert refused.reply() == b""  # and closed
        assert greeting(server, "127.0.0.2").startswith(b"220 ")  # another client is served
        held.pop().close()
        assert greeting_soon(server).startswith(b"220 ")
        for connection in held:
            assert connection.noop()[0] == 250  # the connections held were never disturbed
            connection.close()


def test_past_the_total_limit_any_client_hears_421(office: Runtime) -> None:
    with limited(office, max_connections=3, max_connections_per_address=2) as server:
        held = [client(server), client(server)]
        held.append(
            smtplib.SMTP("127.0.0.1", server.public.port, timeout=30, source_address=("127.0.0.2", 0))
        )
        assert greeting(server, "127.0.0.3") == TOO_MANY
        held.pop(0).close()
        assert greeting_soon(server, "127.0.0.3").startswith(b"220 ")
        for connection in held:
            connection.close()


def test_ipv6_clients_are_counted_by_their_64_network() -> None:
    assert client_of("2001:db8:1:2:aaaa::1") == client_of("2001:db8:1:2:bbbb::2") == "2001:db8:1:2::/64"
    assert client_of("2001:db8:1:3::1") == "2001:db8:1:3::/64"
    assert client_of("::ffff:192.0.2.7") == client_of("192.0.2.7") == "192.0.2.7"


def test_an_overlong_command_line_is_refused_and_the_session_goes_on(office: Runtime) -> None:
    with limited(office) as server, RawSession(server.public.port) as session:
        assert session.reply().startswith(b"220 ")
        assert session.command(b"EHLO " + b"x" * 200_000) == b"500 Command line too long"
        assert session.command(b"EHLO client.example").startswith(b"250 ")


def test_a_200_kb_line_in_an_html_body_is_accepted_and_stored_byte_for_byte(office: Runtime) -> None:
    html = "<html><body>" + "<p>quarterly figures</p>" * 8400 + "</body></html>"
    assert len(html) > 200_000
    raw = email_bytes(message_id="<long-line@client.example>", body=html + "\r\n.and a dot\r\n").replace(
        b"text/plain", b"text/html"
    )
    with limited(office) as server, client(server) as connection:
        assert send(connection, raw) == (250, ACCEPTED)
    assert item_with_message_id(office, "<long-line@client.example>").raw.content == raw


@pytest.mark.parametrize(
    "cuts",
    [
        [b"\r", b"\n.\r\n"],  # the CRLF before the final dot split
        [b"\r\n", b".", b"\r", b"\n"],  # the final dot line in three pieces
        [b"\r\n..hid", b"den\r\n.\r\n"],  # a stuffed dot, then the end together
    ],
)
def test_the_end_of_data_and_a_stuffed_dot_are_found_across_pieces(
    office: Runtime, cuts: list[bytes]
) -> None:
    message_id = f"<cut-{hashlib.sha256(b'|'.join(cuts)).hexdigest()[:12]}@client.example>"
    # Longer than the buffer commands are read with, so that the line is read in pieces.
    head = email_bytes(message_id=message_id, body="a line cut at its end " + "x" * 10_000)
    expected = head + (b"\r\n.hidden\r\n" if b"..hid" in cuts[0] else b"\r\n")
    with limited(office) as server, RawSession(server.public.port) as session:
        session.start_data()
        session.socket.sendall(head + cuts[0])
        for piece in cuts[1:]:
            time.sleep(0.05)
            session.socket.sendall(piece)
        assert session.reply() == b"250 " + ACCEPTED.encode()
    assert item_with_message_id(office, message_id).raw.content == expected


def test_a_slow_sender_is_heard_out_when_each_pause_is_shorter_than_the_timeout(office: Runtime) -> None:
    raw = email_bytes(message_id="<slow@client.example>", body="".join(f"line {n}\r\n" for n in range(400)))
    pieces = [raw[n : n + 1000] for n in range(0, len(raw), 1000)]
    assert len(pieces) >= 5
    started = time.monotonic()
    with limited(office, data_timeout_seconds=1.0) as server, RawSession(server.public.port) as session:
        session.start_data()
        for piece in pieces:
            session.socket.sendall(piece)
            time.sleep(0.5)
        session.socket.sendall(b".\r\n")
        assert session.reply() == b"250 " + ACCEPTED.encode()
    assert time.monotonic() - started > 2.0  # well past one timeout, all in all
    assert item_with_message_id(office, "<slow@client.example>").raw.content == raw


def test_a_sender_silent_mid_data_for_longer_than_the_timeout_is_cut_off_and_nothing_stored(
    office: Runtime,
) -> None:
    raw = email_bytes(message_id="<silent@client.example>")
    before = item_count(office)
    with limited(office, data_timeout_seconds=1.0) as server, RawSession(server.public.port) as session:
        session.start_data()
        session.socket.sendall(raw[:100])
        started = time.monotonic()
        assert session.reply() == b""  # closed without an answer
        assert 0.9 < time.monotonic() - started < 10
    assert item_count(office) == before


@pytest.mark.parametrize("address", ["<postmaster>", "<PostMaster>", "<POSTMASTER@office-two.test>"])
def test_postmaster_is_accepted_bare_or_at_the_offices_domains(office: Runtime, address: str) -> None:
    with limited(office) as server, client(server) as connection:
        connection.mail("ann@client.example")
        assert connection.docmd("RCPT", f"TO:{address}")[0] == 250
        connection.rset()
        connection.mail("ann@client.example")
        assert connection.docmd("RCPT", "TO:<postmaster@elsewhere.example>")[0] == 550


def test_mail_to_bare_postmaster_lands_in_the_default_department(office: Runtime) -> None:
    raw = email_bytes(to="postmaster@office.test", message_id="<postmaster@client.example>")
    with limited(office) as server, client(server) as connection:
        assert send(connection, raw, "<Postmaster>") == (250, ACCEPTED)
    assert item_with_message_id(office, "<postmaster@client.example>").department_id == "front-desk"


def test_a_message_past_the_memory_limit_goes_through_a_file_and_is_stored_whole(office: Runtime) -> None:
    body = "".join(f"line {n:06d} of a long report\r\n" for n in range(20_000))
    raw = email_bytes(message_id="<spooled@client.example>", body=body)
    assert len(raw) > 4 * 4096
    with limited(office, max_memory_per_connection=4096) as server, client(server) as connection:
        assert send(connection, raw) == (250, ACCEPTED)
    assert hashlib.sha256(item_with_message_id(office, "<spooled@client.example>").raw.content).digest() == (
        hashlib.sha256(raw).digest()
    )
