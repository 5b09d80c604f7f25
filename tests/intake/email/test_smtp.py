"""The SMTP door over real SMTP clients (smtplib and swaks): every reply it gives, and what it stores."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from config.loading import load_settings
from intake.cli.runtime import Runtime, open_runtime
from intake.email.smtp import IntakeHandler, SMTPServer
from routing.store.inbox import Arrival
from tests.conftest import OFFICE
from tests.support.mail import email_bytes
from tests.support.smtp import (
    ACCEPTED,
    client,
    item_count,
    item_with_message_id,
    on_a_thread,
    on_free_ports,
    running,
    send,
    swaks,
)

CATCH_ALL = (("office-two.test", "sales"),)


@pytest.fixture(scope="module")
def office(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    """The test office on SQLite, with a catch-all for office-two.test, for the checks that store little."""
    url = f"sqlite:///{tmp_path_factory.mktemp('smtp') / 'intake.db'}"
    settings = load_settings(OFFICE, {"INTAKE_DATABASE_URL": url})
    settings = dataclasses.replace(settings, smtp=dataclasses.replace(settings.smtp, catch_all=CATCH_ALL))
    opened = open_runtime(settings)
    yield opened
    opened.engine.dispose()


@pytest.fixture(scope="module")
def shared(office: Runtime) -> Iterator[SMTPServer]:
    with running(office) as server:
        yield server


@pytest.fixture
def server(runtime: Runtime) -> Iterator[SMTPServer]:
    """A server on the test office, on SQLite and on PostgreSQL."""
    with running(runtime) as started:
        yield started


def rcpt(server: SMTPServer, address: str) -> tuple[int, bytes]:
    """RCPT TO with the address exactly as written (smtplib's rcpt() would drop a route)."""
    with client(server) as connection:
        connection.mail("ann@client.example")
        return connection.docmd("RCPT", f"TO:{address if address.startswith('<') else f'<{address}>'}")


@pytest.mark.parametrize(
    ("address", "reply"),
    [
        ("sales@office.test", (250, b"2.1.5")),
        ("SALES@Office.TEST", (250, b"2.1.5")),
        ("orders@OFFICE-TWO.test", (250, b"2.1.5")),
        ("anyone@office-two.test", (250, b"2.1.5")),  # the catch-all domain
        ("sales@elsewhere.example", (550, b"5.7.1")),
        ("sales@office.test.elsewhere.example", (550, b"5.7.1")),
        ("sales@[127.0.0.1]", (550, b"5.7.1")),
        ("<@relay.example,@office.test:victim@elsewhere.example>", (550, b"5.7.1")),
        ("<@relay.example:sales@office.test>", (550, b"5.7.1")),
        ("victim%elsewhere.example@office.test", (550, b"5.7.1")),
        ("elsewhere.example!victim@office.test", (550, b"5.7.1")),
        ('"victim@elsewhere.example"@office.test', (550, b"5.7.1")),
        ("nobody@office.test", (550, b"5.1.1")),
    ],
)
def test_recipients_are_checked_at_rcpt(shared: SMTPServer, address: str, reply: tuple[int, bytes]) -> None:
    code, text = rcpt(shared, address)
    assert (code, text[:5]) == reply


@pytest.mark.parametrize(
    ("address", "reply"),
    [
        ("billing@office.test", "<-  250 2.1.5"),
        ("billing@elsewhere.example", "<** 550 5.7.1"),
        ("@relay.example:billing@office.test", "<** 550 5.7.1"),
        ("billing%elsewhere.example@office.test", "<** 550 5.7.1"),
        ("nobody@office.test", "<** 550 5.1.1"),
    ],
)
def test_swaks_gets_the_same_recipient_replies(shared: SMTPServer, address: str, reply: str) -> None:
    transcript = swaks(shared.public.port, "--to", address, "--quit-after", "RCPT")
    assert reply in transcript


def test_more_than_the_recipient_limit_is_deferred_with_452(shared: SMTPServer) -> None:
    with client(shared) as connection:
        connection.mail("ann@client.example")
        replies = [connection.rcpt(f"person{n}@office-two.test")[0] for n in range(101)]
        assert replies[:100] == [250] * 100
        assert connection.rcpt("sales@office.test") == (452, b"4.5.3 Too many recipients")
        assert replies[100] == 452
    many = ",".join(f"person{n}@office-two.test" for n in range(101))
    assert "<** 452 4.5.3" in swaks(shared.public.port, "--to", many, "--quit-after", "RCPT")


def test_the_size_limit_is_advertised_and_enforced_with_552(shared: SMTPServer, office: Runtime) -> None:
    limit = office.settings.smtp.max_message_size
    before = item_count(office)
    with client(shared) as connection:
        assert connection.esmtp_features["size"] == str(limit)
        assert {"8bitmime", "smtputf8"} <= set(connection.esmtp_features)
        assert connection.mail("ann@client.example", [f"SIZE={limit + 1}"])[0] == 552
        connection.rset()
        # A sender that does not declare the size is stopped at the end of DATA.
        big = email_bytes(message_id="<big@client.example>", body="x" * 900 + "\r\n") * (limit // 900)
        connection.mail("ann@client.example")
        connection.rcpt("sales@office.test")
        assert connection.data(big)[0] == 552
    assert item_count(office) == before


def test_swaks_gets_552_for_a_message_over_the_limit(shared: SMTPServer, tmp_path: Path) -> None:
    big = tmp_path / "big.eml"
    big.write_bytes(email_bytes(body="y" * 998 + "\r\n") * 1200)
    transcript = swaks(shared.public.port, "--to", "sales@office.test", "--data", str(big))
    assert "<** 552" in transcript


def test_a_message_is_answered_250_naming_no_item_and_stored_byte_for_byte(
    server: SMTPServer, runtime: Runtime
) -> None:
    # A line of 5,000 octets, a bare LF and a bare CR inside lines, a leading dot
    # (dot-stuffed on the wire) and 8-bit Latin-1 text: all must survive exactly.
    body = (
        "A long line: " + "z" * 5000 + "\r\n"
        ".a line that starts with a dot\r\n"
        "bare LF here\nand a bare CR here\rend\r\n"
    )
    raw = email_bytes(message_id="<exact@client.example>", body=body).replace(b"utf-8", b"latin-1")
    raw = raw.replace(b"end\r\n", "caf\u00e9 end\r\n".encode("latin-1"))
    with client(server) as connection:
        connection.mail("ann@client.example", ["BODY=8BITMIME"])
        connection.rcpt("sales@office.test")
        code, reply = connection.data(raw)
    assert (code, reply.decode()) == (250, ACCEPTED)
    item = item_with_message_id(runtime, "<exact@client.example>")
    assert hashlib.sha256(item.raw.content).hexdigest() == hashlib.sha256(raw).hexdigest()
    assert item.department_id == "sales"


def test_an_smtputf8_message_is_accepted_and_kept_exactly(server: SMTPServer, runtime: Runtime) -> None:
    raw = email_bytes(
        sender="J\u00fcrgen <j\u00fcrgen@b\u00fccher.example>",
        subject="Gr\u00fc\u00dfe aus M\u00fcnchen",
        message_id="<utf8@b\u00fccher.example>",
        body="\u65e5\u672c\u8a9e\u3082\u5927\u4e08\u592b\u3002\r\n",
    )
    with client(server) as connection:
        code, reply = send(
            connection, raw, "billing@office.test", "j\u00fcrgen@b\u00fccher.example", ["SMTPUTF8"]
        )
    assert (code, reply) == (250, ACCEPTED)
    item = item_with_message_id(runtime, "<utf8@b\u00fccher.example>")
    assert item.raw.content == raw
    assert item.sender == "j\u00fcrgen@b\u00fccher.example"


def test_mail_to_an_unknown_address_at_a_catch_all_domain_lands_in_its_department(
    shared: SMTPServer, office: Runtime
) -> None:
    with client(shared) as connection:
        code, reply = send(
            connection,
            email_bytes(to="whoever@office-two.test", message_id="<catch@client.example>"),
            "whoever@office-two.test",
        )
    assert (code, reply) == (250, ACCEPTED)
    item = item_with_message_id(office, "<catch@client.example>")
    assert item.department_id == "sales"
    assert [hit["rule"] for hit in item.routing_hits if hit["matched"]] == ["catch-all"]


def test_an_unexpected_failure_is_451_and_tells_the_client_nothing_of_it(office: Runtime) -> None:
    def broken(arrival: Arrival) -> None:
        raise RuntimeError("table secret_things exploded")

    server = SMTPServer(on_free_ports(office.settings), on_a_thread(broken))
    server.start()
    try:
        with client(server) as connection:
            code, reply = send(connection, email_bytes(message_id="<broken@client.example>"))
    finally:
        server.stop()
    assert (code, reply[:5]) == (451, "4.3.0")
    assert "secret" not in reply


def test_an_error_outside_data_gets_an_explicit_451_without_its_text(office: Runtime) -> None:
    handler = IntakeHandler(office.settings, on_a_thread(lambda arrival: None), workers=1)
    reply = asyncio.run(handler.handle_exception(ValueError("private detail")))
    handler.executor.shutdown()
    assert reply.startswith("451 4.3.0 ") and "private" not in reply


def test_mail_from_the_null_sender_is_kept_as_a_bounce(server: SMTPServer, runtime: Runtime) -> None:
    # Only delivery reports come from MAIL FROM:<> (RFC 5321 4.5.5), whatever their
    # headers say: this one is marked by nothing else, so the envelope alone tells.
    raw = email_bytes(
        sender="Mail System <mail@relay.example>",
        subject="About your message to sales",
        message_id="<report@relay.example>",
    )
    with client(server) as connection:
        assert send(connection, raw, sender="<>") == (250, ACCEPTED)
    item = item_with_message_id(runtime, "<report@relay.example>")
    assert (item.sender, item.machine_kind) == ("mail@relay.example", "bounce")
