"""SMTP and storage together, on SQLite and PostgreSQL: 250 only after the commit, 451
while the database cannot write, one item however often a message is sent, and a
graceful stop that still answers the message being stored."""

from __future__ import annotations

import contextlib
import smtplib
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from intake.cli.runtime import Runtime, start_inbox
from intake.email.smtp import SMTPServer
from intake.email.storing import parse_all_here
from routing.store.inbox import Arrival
from tests.support.mail import email_bytes
from tests.support.smtp import (
    client,
    database_locked,
    item_count,
    item_with_message_id,
    on_a_thread,
    on_free_ports,
    running,
    send,
    swaks,
)


def test_451_while_the_database_is_locked_then_the_retry_makes_exactly_one_item(
    runtime: Runtime, database_url: str
) -> None:
    raw = email_bytes(message_id="<retry@client.example>")
    with running(runtime) as server, client(server) as connection:
        with database_locked(database_url):
            code, reply = send(connection, raw)
        assert (code, reply) == (451, "4.3.0 Temporary failure storing the message, please try again later")
        code, reply = send(connection, raw)
        assert code == 250
    assert item_count(runtime) == 1
    assert item_with_message_id(runtime, "<retry@client.example>").raw.content == raw


def test_swaks_is_told_451_while_the_database_is_locked_and_250_on_retry(
    runtime: Runtime, database_url: str, tmp_path: Path
) -> None:
    message = tmp_path / "message.eml"
    message.write_bytes(email_bytes(message_id="<swaks-retry@client.example>"))
    args = ("--to", "sales@office.test", "--data", str(message))
    with running(runtime) as server:
        with database_locked(database_url):
            refused = swaks(server.public.port, *args)
        accepted = swaks(server.public.port, *args)
    assert "<** 451 4.3.0" in refused
    assert "<-  250 2.0.0 OK: message accepted" in accepted
    assert item_count(runtime) == 1


def test_a_message_sent_again_is_the_same_item_keyed_on_message_id_or_the_raw_bytes(
    runtime: Runtime, tmp_path: Path
) -> None:
    with_id = email_bytes(message_id="<once@client.example>")
    without_id = email_bytes(message_id=None, subject="No Message-ID here")
    replies = []
    with running(runtime) as server:
        for raw in (with_id, with_id, without_id, without_id):
            with client(server) as connection:  # a new connection, as a retrying sender makes
                replies.append(send(connection, raw))
        message = tmp_path / "again.eml"
        message.write_bytes(with_id)
        transcript = swaks(server.public.port, "--to", "sales@office.test", "--data", str(message))
    assert all(code == 250 for code, _ in replies)
    assert "<-  250 2.0.0 OK: message accepted" in transcript
    assert item_count(runtime) == 2


def test_a_message_being_stored_when_stop_is_called_still_gets_its_250(runtime: Runtime) -> None:
    storing, release = threading.Event(), threading.Event()

    writer, worker = start_inbox(runtime, 0, parse_all_here)

    def slow_accept(arrival: Arrival) -> None:
        storing.set()
        release.wait(30)
        writer.accept(arrival)

    server = SMTPServer(on_free_ports(runtime.settings), on_a_thread(slow_accept))
    server.start()
    replies: list[tuple[int, str]] = []
    sender = threading.Thread(target=lambda: replies.append(_send_and_leave(server)))
    sender.start()
    assert storing.wait(30)
    stopper = threading.Thread(target=server.stop)
    stopper.start()
    stopper.join(0.5)
    assert stopper.is_alive()  # stop() waits for the message in flight
    release.set()
    stopper.join(60)
    sender.join(60)
    assert not stopper.is_alive()
    assert replies[0][0] == 250
    assert item_count(runtime) == 1
    writer.stop()
    worker.stop()


def _send_and_leave(server: SMTPServer) -> tuple[int, str]:
    connection = client(server)
    reply = send(connection, email_bytes(message_id="<in-flight@client.example>"))
    with contextlib.suppress(smtplib.SMTPServerDisconnected):
        connection.quit()  # the server may already be gone once the reply is written
    return reply


def test_many_senders_at_once_all_get_250_and_each_message_is_one_item(runtime: Runtime) -> None:
    def sender(number: int) -> list[int]:
        with client(server) as connection:
            return [
                send(connection, email_bytes(message_id=f"<busy-{number}-{n}@client.example>"))[0]
                for n in range(10)
            ]

    with running(runtime) as server, ThreadPoolExecutor(8) as pool:
        codes = [code for codes in pool.map(sender, range(8)) for code in codes]
    assert codes == [250] * 80
    assert item_count(runtime) == 80
