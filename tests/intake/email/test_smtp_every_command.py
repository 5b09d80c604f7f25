"""Every SMTP command with bad input, over a real socket: each is answered with the right
class of reply, nothing half-sent is stored, the door logs no error, and a good message
on the same connection afterwards is accepted and stored once."""

from __future__ import annotations

import dataclasses
import logging
import uuid
from collections.abc import Iterator

import pytest

from config.loading import load_settings
from intake.cli.runtime import Runtime, open_runtime
from intake.email.smtp import SMTPServer
from tests.conftest import BACKENDS, OFFICE
from tests.support.databases import PostgreSQLServer, SqliteTemplate
from tests.support.mail import email_bytes
from tests.support.smtp import ACCEPTED, RawSession, item_count, item_with_message_id, running

# Small, so that the one size case stays small; every other message is far below it.
MAX_SIZE = 4096
MAX_RECIPIENTS = 3
GOOD_MAIL = b"MAIL FROM:<ann@client.example>"
GOOD_RCPT = b"RCPT TO:<sales@office.test>"
STORED = b"250 " + ACCEPTED.encode()


@pytest.fixture(scope="module", params=BACKENDS)
def office(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, sqlite_template: SqliteTemplate
) -> Iterator[Runtime]:
    """The test office with a small size and recipient limit, on each database."""
    if request.param == "sqlite":
        url = sqlite_template.copy_to(tmp_path_factory.mktemp("every-command") / "intake.db")
    else:
        server: PostgreSQLServer = request.getfixturevalue("postgresql_server")
        url = server.migrated()
        request.addfinalizer(lambda: server.drop_later(url))
    settings = load_settings(OFFICE, {"INTAKE_DATABASE_URL": url})
    smtp = dataclasses.replace(settings.smtp, max_message_size=MAX_SIZE, max_recipients=MAX_RECIPIENTS)
    opened = open_runtime(dataclasses.replace(settings, smtp=smtp))
    yield opened
    opened.engine.dispose()


@pytest.fixture(scope="module")
def door(office: Runtime) -> Iterator[SMTPServer]:
    with running(office) as server:
        yield server


@pytest.fixture(autouse=True)
def _no_error_logged(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Bad input is the client's problem: the door logs no error and no traceback for it."""
    yield
    bad = [r for r in caplog.get_records("call") if r.levelno >= logging.ERROR or r.exc_info]
    assert not bad, [r.getMessage() for r in bad]


def session(door: SMTPServer, ehlo: bool = True) -> RawSession:
    """A new connection, greeted, and (by default) past EHLO."""
    opened = RawSession(door.public.port)
    assert opened.reply().startswith(b"220 ")
    if ehlo:
        assert opened.command(b"EHLO client.example").startswith(b"250 ")
    return opened


def good_message(opened: RawSession) -> str:
    """A whole good transaction on `opened`, from EHLO on, answered 250; its Message-ID."""
    message_id = f"<{uuid.uuid4().hex}@client.example>"
    for line, code in (
        (b"EHLO client.example", b"250 "),
        (GOOD_MAIL, b"250 "),
        (GOOD_RCPT, b"250 "),
        (b"DATA", b"354 "),
    ):
        assert opened.command(line).startswith(code), line
    opened.socket.sendall(email_bytes(message_id=message_id) + b".\r\n")
    assert opened.reply() == STORED
    return message_id


def dialogue(opened: RawSession, steps: list[tuple[bytes, bytes]]) -> None:
    """Send each line and check its reply's code (or its first digit)."""
    for line, code in steps:
        reply = opened.command(line)
        assert reply[: len(code)] == code, (line[:80], reply)


def then_one_good_message(office: Runtime, opened: RawSession, before: int) -> None:
    """A good message after the bad input is stored once, and nothing else was."""
    message_id = good_message(opened)
    assert item_count(office) == before + 1
    assert item_with_message_id(office, message_id).department_id == "sales"


AFTER_EHLO: list[tuple[bytes, bytes]] = []
AFTER_MAIL = [(GOOD_MAIL, b"250")]
AFTER_RCPT = [(GOOD_MAIL, b"250"), (GOOD_RCPT, b"250")]

CASES = {
    # EHLO and HELO
    "ehlo-without-name": (AFTER_EHLO, b"EHLO", b"501"),
    "helo-without-name": (AFTER_EHLO, b"HELO", b"501"),
    "ehlo-lower-case": (AFTER_EHLO, b"ehlo client.example", b"250"),
    "ehlo-extra-spaces": (AFTER_EHLO, b"EHLO    client.example   ", b"250"),
    "ehlo-not-utf8": (AFTER_EHLO, b"EHLO \xff\xfe.example", b"250"),
    "ehlo-with-nul": (AFTER_EHLO, b"EHLO client\x00.example", b"250"),
    "helo-then-mail-parameters": ([(b"HELO client.example", b"250")], GOOD_MAIL + b" SIZE=10", b"501"),
    "ehlo-in-a-transaction-resets-it": ([*AFTER_RCPT, (b"EHLO client.example", b"250")], b"DATA", b"503"),
    # MAIL FROM and its parameters
    "mail-size": (AFTER_EHLO, GOOD_MAIL + b" SIZE=100", b"250"),
    "mail-size-huge": (AFTER_EHLO, GOOD_MAIL + b" SIZE=" + b"9" * 40, b"552"),
    "mail-size-letters": (AFTER_EHLO, GOOD_MAIL + b" SIZE=ten", b"501"),
    "mail-size-negative": (AFTER_EHLO, GOOD_MAIL + b" SIZE=-1", b"501"),
    "mail-size-empty": (AFTER_EHLO, GOOD_MAIL + b" SIZE=", b"501"),
    "mail-size-no-value": (AFTER_EHLO, GOOD_MAIL + b" SIZE", b"501"),
    "mail-size-superscript-digit": (AFTER_EHLO, GOOD_MAIL + " SIZE=\u00b2".encode(), b"501"),
    "mail-size-twice": (AFTER_EHLO, GOOD_MAIL + b" SIZE=10 SIZE=20", b"250"),
    "mail-body-7bit": (AFTER_EHLO, GOOD_MAIL + b" BODY=7BIT", b"250"),
    "mail-body-8bitmime": (AFTER_EHLO, GOOD_MAIL + b" body=8bitmime", b"250"),
    "mail-body-binarymime": (AFTER_EHLO, GOOD_MAIL + b" BODY=BINARYMIME", b"501"),
    "mail-body-garbage": (AFTER_EHLO, GOOD_MAIL + b" BODY=SOMETHING", b"501"),
    "mail-body-no-value": (AFTER_EHLO, GOOD_MAIL + b" BODY", b"501"),
    "mail-smtputf8": (AFTER_EHLO, GOOD_MAIL + b" SMTPUTF8", b"250"),
    "mail-smtputf8-with-value": (AFTER_EHLO, GOOD_MAIL + b" SMTPUTF8=YES", b"501"),
    "mail-ret": (AFTER_EHLO, GOOD_MAIL + b" RET=HDRS", b"555"),
    "mail-envid": (AFTER_EHLO, GOOD_MAIL + b" ENVID=QQ314159", b"555"),
    "mail-unknown-parameter": (AFTER_EHLO, GOOD_MAIL + b" XFOO=BAR", b"555"),
    "mail-malformed-parameter": (AFTER_EHLO, GOOD_MAIL + b" X-FOO=", b"501"),
    "mail-huge-parameter": (AFTER_EHLO, GOOD_MAIL + b" XFOO=" + b"x" * 1000, b"500"),
    "mail-parameter-with-nul": (AFTER_EHLO, GOOD_MAIL + b" SIZE=1\x00", b"501"),
    "mail-without-from": (AFTER_EHLO, b"MAIL <ann@client.example>", b"501"),
    "mail-alone": (AFTER_EHLO, b"MAIL", b"501"),
    "mail-nul-in-address": (AFTER_EHLO, b"MAIL FROM:<a\x00nn@client.example>", b"5"),
    "mail-bare-cr-in-address": (AFTER_EHLO, b"MAIL FROM:<a\rnn@client.example>", b"5"),
    "mail-control-in-address": (AFTER_EHLO, b"MAIL FROM:<a\x1bnn@client.example>", b"5"),
    "mail-not-utf8-address": (AFTER_EHLO, b"MAIL FROM:<\xe9ric@client.example>", b"5"),
    "mail-no-domain": (AFTER_EHLO, b"MAIL FROM:<not an address>", b"553"),
    "mail-postmaster-alone": (AFTER_EHLO, b"MAIL FROM:<postmaster>", b"553"),
    "mail-quoted-no-domain": (AFTER_EHLO, b'MAIL FROM:<"ann"@>', b"553"),
    "mail-nested": (AFTER_MAIL, GOOD_MAIL, b"503"),
    # RCPT TO
    "rcpt-before-mail": (AFTER_EHLO, GOOD_RCPT, b"503"),
    "rcpt-parameter": (AFTER_MAIL, GOOD_RCPT + b" NOTIFY=NEVER", b"555"),
    "rcpt-orcpt": (AFTER_MAIL, GOOD_RCPT + b" ORCPT=rfc822;sales@office.test", b"555"),
    "rcpt-bare-parameter": (AFTER_MAIL, GOOD_RCPT + b" FOO", b"555"),
    "rcpt-alone": (AFTER_MAIL, b"RCPT", b"501"),
    "rcpt-empty-path": (AFTER_MAIL, b"RCPT TO:<>", b"5"),
    "rcpt-no-department": (AFTER_MAIL, b"RCPT TO:<nobody@office.test>", b"550"),
    "rcpt-cyrillic-lookalike-domain": (AFTER_MAIL, "RCPT TO:<sales@\u043effice.test>".encode(), b"550"),
    "rcpt-fullwidth-local-part": (AFTER_MAIL, "RCPT TO:<\uff53ales@office.test>".encode(), b"550"),
    "rcpt-idn-punycode-elsewhere": (AFTER_MAIL, b"RCPT TO:<sales@xn--bcher-kva.example>", b"550"),
    "rcpt-trailing-dot-domain": (AFTER_MAIL, b"RCPT TO:<sales@office.test.>", b"5"),
    "rcpt-nul-in-address": (AFTER_MAIL, b"RCPT TO:<sa\x00les@office.test>", b"5"),
    "rcpt-not-utf8-address": (AFTER_MAIL, b"RCPT TO:<postmaster\xff@office.test>", b"5"),
    "rcpt-bare-cr-in-address": (AFTER_MAIL, b"RCPT TO:<sales\r@office.test>", b"5"),
    "rcpt-line-past-the-buffer": (AFTER_RCPT, b"RCPT TO:<" + b"x" * 5000 + b"@office.test>", b"500"),
    # DATA out of turn
    "data-before-mail": (AFTER_EHLO, b"DATA", b"503"),
    "data-before-rcpt": (AFTER_MAIL, b"DATA", b"503"),
    "data-after-refused-rcpt": ([*AFTER_MAIL, (b"RCPT TO:<nobody@office.test>", b"550")], b"DATA", b"503"),
    "data-with-argument": (AFTER_RCPT, b"DATA now", b"501"),
    "bdat-not-offered": (AFTER_RCPT, b"BDAT 10 LAST", b"500"),
    # RSET in every state
    "rset-after-ehlo": (AFTER_EHLO, b"RSET", b"250"),
    "rset-after-mail": (AFTER_MAIL, b"RSET", b"250"),
    "rset-after-rcpt": (AFTER_RCPT, b"RSET", b"250"),
    "rset-with-argument": (AFTER_RCPT, b"RSET now", b"501"),
    "data-after-rset": ([*AFTER_RCPT, (b"RSET", b"250")], b"DATA", b"503"),
    # The others, with arguments
    "noop-with-argument": (AFTER_RCPT, b"NOOP anything at all", b"250"),
    "vrfy-department": (AFTER_EHLO, b"VRFY sales@office.test", b"252"),
    "vrfy-alone": (AFTER_EHLO, b"VRFY", b"501"),
    "vrfy-not-an-address": (AFTER_EHLO, b"VRFY <<>", b"502"),
    "vrfy-not-utf8": (AFTER_EHLO, b"VRFY <\xe9ric@client.example>", b"502"),
    "vrfy-unreadable-not-utf8": (AFTER_EHLO, b"VRFY <<\xe9>", b"502"),
    "expn-list": (AFTER_EHLO, b"EXPN staff", b"502"),
    "help": (AFTER_EHLO, b"HELP", b"250"),
    "help-command": (AFTER_EHLO, b"HELP mail", b"250"),
    "help-unknown": (AFTER_EHLO, b"HELP XYZZY", b"501"),
    "unknown-command": (AFTER_RCPT, b"XYZZY", b"500"),
    "empty-line": (AFTER_RCPT, b"", b"500"),
    "leading-space": (AFTER_EHLO, b" NOOP", b"500"),
    "command-not-ascii": (AFTER_EHLO, b"N\xd6OP", b"500"),
    "quit-with-argument": (AFTER_RCPT, b"QUIT now", b"501"),
    "starttls-not-offered": (AFTER_EHLO, b"STARTTLS", b"5"),
    "starttls-with-argument": (AFTER_EHLO, b"STARTTLS now", b"501"),
    "auth-on-the-public-port": (AFTER_EHLO, b"AUTH PLAIN AGFubgBzZWNyZXQ=", b"5"),
    "auth-after-helo": ([(b"HELO client.example", b"250")], b"AUTH PLAIN", b"500"),
}


@pytest.mark.parametrize(("before", "line", "code"), list(CASES.values()), ids=list(CASES))
def test_a_bad_command_is_refused_and_a_good_message_follows(
    door: SMTPServer, office: Runtime, before: list[tuple[bytes, bytes]], line: bytes, code: bytes
) -> None:
    count = item_count(office)
    with session(door) as opened:
        dialogue(opened, [*before, (line, code)])
        then_one_good_message(office, opened, count)


@pytest.mark.parametrize(
    ("line", "code"),
    [
        (GOOD_MAIL, b"503"),
        (GOOD_RCPT, b"503"),
        (b"DATA", b"503"),
        (b"AUTH PLAIN", b"503"),
        (b"RSET", b"250"),
        (b"HELP", b"250"),
        (b"VRFY sales@office.test", b"252"),
    ],
)
def test_before_ehlo_a_transaction_is_refused_503_and_the_rest_answered(
    door: SMTPServer, office: Runtime, line: bytes, code: bytes
) -> None:
    count = item_count(office)
    with session(door, ehlo=False) as opened:
        dialogue(opened, [(line, code)])
        then_one_good_message(office, opened, count)


def test_the_public_port_offers_no_tls_auth_chunking_or_pipelining(door: SMTPServer) -> None:
    with session(door, ehlo=False) as opened:
        opened.socket.sendall(b"EHLO client.example\r\n")
        lines = [opened.lines.readline().rstrip(b"\r\n")]
        while lines[-1][3:4] == b"-":
            lines.append(opened.lines.readline().rstrip(b"\r\n"))
    assert [line[4:].split(b" ")[0] for line in lines[1:]] == [b"SIZE", b"8BITMIME", b"SMTPUTF8", b"HELP"]


def test_commands_in_lower_case_with_extra_spaces_make_one_message(door: SMTPServer, office: Runtime) -> None:
    count = item_count(office)
    message_id = f"<{uuid.uuid4().hex}@client.example>"
    with session(door, ehlo=False) as opened:
        dialogue(
            opened,
            [
                (b"ehlo   client.example", b"250"),
                (b"mail from: <ann@client.example>   size=300", b"250"),
                (b"rcpt to:  <SALES@Office.Test> ", b"250"),
                (b"rcpt To:<sales@office.test>", b"250"),  # the same recipient again
                (b"data", b"354"),
            ],
        )
        opened.socket.sendall(email_bytes(message_id=message_id) + b".\r\n")
        assert opened.reply() == STORED
    assert item_count(office) == count + 1
    assert item_with_message_id(office, message_id).department_id == "sales"


def test_the_null_sender_and_a_sender_without_brackets_are_accepted(
    door: SMTPServer, office: Runtime
) -> None:
    count = item_count(office)
    ids = []
    with session(door) as opened:
        for sender in (b"<>", b"ann@client.example"):
            message_id = f"<{uuid.uuid4().hex}@client.example>"
            dialogue(opened, [(b"MAIL FROM:" + sender, b"250"), (GOOD_RCPT, b"250"), (b"DATA", b"354")])
            opened.socket.sendall(email_bytes(message_id=message_id) + b".\r\n")
            assert opened.reply() == STORED
            ids.append(message_id)
    assert item_count(office) == count + 2
    assert [bool(item_with_message_id(office, message_id)) for message_id in ids] == [True, True]


def test_a_utf8_sender_without_smtputf8_is_accepted_and_kept(door: SMTPServer, office: Runtime) -> None:
    count = item_count(office)
    message_id = f"<{uuid.uuid4().hex}@client.example>"
    with session(door) as opened:
        dialogue(
            opened, [("MAIL FROM:<j\u00fcrgen@b\u00fccher.example>".encode(), b"250"), (GOOD_RCPT, b"250")]
        )
        dialogue(opened, [(b"DATA", b"354")])
        opened.socket.sendall(email_bytes(message_id=message_id) + b".\r\n")
        assert opened.reply() == STORED
    assert item_count(office) == count + 1
    assert item_with_message_id(office, message_id).raw.content == email_bytes(message_id=message_id)


def test_past_the_recipient_limit_452_and_the_message_goes_to_those_accepted(
    door: SMTPServer, office: Runtime
) -> None:
    count = item_count(office)
    message_id = f"<{uuid.uuid4().hex}@client.example>"
    with session(door) as opened:
        dialogue(opened, [(GOOD_MAIL, b"250")])
        for address in (b"sales", b"billing", b"hello"):
            dialogue(opened, [(b"RCPT TO:<" + address + b"@office.test>", b"250")])
        dialogue(opened, [(b"RCPT TO:<orders@office-two.test>", b"452"), (b"DATA", b"354")])
        opened.socket.sendall(email_bytes(message_id=message_id) + b".\r\n")
        assert opened.reply() == STORED
        then_one_good_message(office, opened, count + 1)
    assert item_with_message_id(office, message_id).department_id == "sales"


@pytest.mark.parametrize(
    ("sent", "stored"),
    [
        pytest.param(b".\r\n", b"", id="lone-dot-only"),
        pytest.param(
            b"bare LF\nline endings\nthroughout\n.\n\r\n.\r\n",
            b"bare LF\nline endings\nthroughout\n.\n\r\n",
            id="bare-lf",
        ),
        pytest.param(b"a NUL \x00 byte\r\n.\r\n", b"a NUL \x00 byte\r\n", id="nul"),
        pytest.param(
            b"long " + b"y" * 3000 + b"\r\n.\r\n", b"long " + b"y" * 3000 + b"\r\n", id="line-over-998"
        ),
        pytest.param(
            "caf\u00e9\r\n.\r\n".encode("latin-1"),
            "caf\u00e9\r\n".encode("latin-1"),
            id="8-bit-without-8bitmime",
        ),
        pytest.param(b"..a stuffed dot\r\n.\r\nXYZZY\r\n", b".a stuffed dot\r\n", id="lone-dot-ends-it"),
    ],
)
def test_odd_data_is_stored_as_sent_once(
    door: SMTPServer, office: Runtime, sent: bytes, stored: bytes
) -> None:
    """Whatever the body holds, it is stored as sent (less dot-stuffing) up to the lone dot."""
    count = item_count(office)
    message_id = f"<{uuid.uuid4().hex}@client.example>"
    head = email_bytes(message_id=message_id, body="") if stored else b""
    with session(door) as opened:
        dialogue(opened, [*AFTER_RCPT, (b"DATA", b"354")])
        opened.socket.sendall(head + sent)
        assert opened.reply() == STORED
        if sent.endswith(b"XYZZY\r\n"):  # what came after the lone dot is a command again
            assert opened.reply().startswith(b"500 ")
        then_one_good_message(office, opened, count + 1)
    if stored:
        assert item_with_message_id(office, message_id).raw.content == head + stored


def test_a_message_at_the_size_limit_is_stored_and_one_byte_over_is_552(
    door: SMTPServer, office: Runtime
) -> None:
    count = item_count(office)
    message_id = f"<{uuid.uuid4().hex}@client.example>"
    head = email_bytes(message_id=message_id, body="")
    body = b"".join(b"z" * 70 + b"\r\n" for _ in range(MAX_SIZE // 72))
    at_limit = head + body[: MAX_SIZE - len(head) - 2] + b"\r\n"
    assert len(at_limit) == MAX_SIZE
    with session(door) as opened:
        dialogue(opened, [(GOOD_MAIL + f" SIZE={MAX_SIZE}".encode(), b"250"), (GOOD_RCPT, b"250")])
        dialogue(opened, [(b"DATA", b"354")])
        opened.socket.sendall(at_limit + b".\r\n")
        assert opened.reply() == STORED
        dialogue(opened, [(GOOD_MAIL + f" SIZE={MAX_SIZE + 1}".encode(), b"552")])
        over = at_limit[:-2] + b"z\r\n"  # one byte more
        assert len(over) == MAX_SIZE + 1
        dialogue(opened, [*AFTER_RCPT, (b"DATA", b"354")])
        opened.socket.sendall(over + b".\r\n")
        assert opened.reply().startswith(b"552 ")
        then_one_good_message(office, opened, count + 1)
    assert item_with_message_id(office, message_id).raw.content == at_limit


def test_pipelined_commands_in_one_write_are_answered_in_order(door: SMTPServer, office: Runtime) -> None:
    count = item_count(office)
    message_id = f"<{uuid.uuid4().hex}@client.example>"
    with session(door, ehlo=False) as opened:
        opened.socket.sendall(
            b"EHLO client.example\r\nMAIL FROM:<ann@client.example>\r\nRCPT TO:<nobody@office.test>\r\n"
            b"RCPT TO:<sales@office.test>\r\nXYZZY\r\nDATA\r\n"
        )
        assert [opened.reply()[:3] for _ in range(6)] == [b"250", b"250", b"550", b"250", b"500", b"354"]
        opened.socket.sendall(
            email_bytes(message_id=message_id) + b".\r\nMAIL FROM:<ann@client.example>\r\nRSET\r\nNOOP\r\n"
        )
        assert [opened.reply()[:3] for _ in range(4)] == [b"250", b"250", b"250", b"250"]
        assert item_count(office) == count + 1
        then_one_good_message(office, opened, count + 1)
    assert item_with_message_id(office, message_id)


def test_four_unknown_commands_are_500_and_a_fifth_ends_the_session_with_a_reply(
    door: SMTPServer, office: Runtime
) -> None:
    count = item_count(office)
    with session(door) as opened:
        dialogue(opened, [(b"XYZZY", b"500")] * 4)
        then_one_good_message(office, opened, count)
        assert opened.command(b"XYZZY")[:3] == b"502"
        assert opened.reply() == b""  # closed, after its answer


def test_a_client_gone_mid_data_stores_nothing_and_the_door_goes_on(
    door: SMTPServer, office: Runtime
) -> None:
    count = item_count(office)
    with session(door) as opened:
        dialogue(opened, [*AFTER_RCPT, (b"DATA", b"354")])
        opened.socket.sendall(email_bytes(message_id="<gone@client.example>")[:200])
    with session(door) as opened:
        then_one_good_message(office, opened, count)


def test_quit_is_answered_221_and_closes(door: SMTPServer) -> None:
    with session(door) as opened:
        dialogue(opened, [*AFTER_RCPT, (b"QUIT", b"221")])
        assert opened.reply() == b""
