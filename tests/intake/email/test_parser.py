"""parse_email: the envelope and headers of real mail, the fallbacks, and the natural key."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from intake.email.budgets import HeaderBudgets
from intake.email.parser import EmailLimits, parse_email
from tests.support.mail import email_bytes, raw_message


def test_a_plain_message_becomes_a_normalized_message() -> None:
    raw = email_bytes()
    at = datetime(2026, 11, 2, 15, 15, tzinfo=UTC)
    message = parse_email(raw, received_at=at)
    assert (message.sender, message.sender_name) == ("ann@client.example", "Ann Example")
    assert message.subject == "A question about prices"
    assert message.text == "Hello,\nwhat does the large one cost?\n\nAnn"
    assert message.recipients == ("sales@office.test",)
    assert message.message_id == "<q1@client.example>"
    assert message.raw == raw and message.received_at == at
    assert message.machine_kind is None and message.parse_defects == ()


def test_recipients_are_to_then_cc_then_envelope_only_addresses() -> None:
    raw = email_bytes(to="Sales <SALES@office.test>, friend@client.example", cc="billing@office.test")
    envelope = ("hello@office.test", "billing@office.test", "sales@office.test")
    message = parse_email(raw, envelope_recipients=envelope)
    assert message.recipients == (
        "sales@office.test",
        "friend@client.example",
        "billing@office.test",
        "hello@office.test",
    )


def test_quoted_and_encoded_commas_do_not_split_an_address() -> None:
    raw = email_bytes(to='"Doe, Jane" <jane@client.example>, =?utf-8?q?Roe=2C_R?= <r@client.example>')
    assert parse_email(raw).recipients == ("jane@client.example", "r@client.example")


@pytest.mark.parametrize(
    ("sender", "name"),
    [
        # The decoded name holds a line break: the modern parser refuses it.
        ("=?utf-8?Q?Ann=0D=0ABcc:_x@y?= <ann@client.example>", "Ann Bcc: x@y"),
        ('"=?utf-8?Q?Ann=0D=0ABcc:_x@y?=" <ann@client.example>', "Ann Bcc: x@y"),
        ("=?utf-8?Q?Doe,_Ann=0A?= <ann@client.example>", "Doe, Ann"),
        ("=?utf-8?Q?Doe,?= =?utf-8?B?QW5uCg==?= <ann@client.example>", "Doe,Ann"),
    ],
)
def test_an_encoded_word_in_a_from_name_is_never_split_into_addresses(sender: str, name: str) -> None:
    message = parse_email(email_bytes(sender=sender), envelope_sender="bounce@lists.example")
    assert (message.sender, message.sender_name) == ("ann@client.example", name)


@pytest.mark.parametrize(
    ("sender", "name"),
    [
        ("root@client.example (Cron Daemon)", "Cron Daemon"),
        ("root@client.example (=?utf-8?q?Ann_=C3=89?=)", "Ann \u00c9"),
        ("Ann <root@client.example> (at work)", "Ann"),
        ("root@client.example", None),
    ],
)
def test_a_name_written_as_a_comment_after_the_address_names_the_sender(
    sender: str, name: str | None
) -> None:
    message = parse_email(email_bytes(sender=sender))
    assert (message.sender, message.sender_name) == ("root@client.example", name)


@pytest.mark.parametrize(
    ("sender", "name"),
    [
        # A mail program splits a long name into encoded words anywhere, even inside a word.
        ("=?utf-8?q?Alexa?= =?utf-8?q?nder_Pop?= <alex@client.example>", "Alexander Pop"),
        ("=?utf-8?b?5bGx55Sw?=\r\n =?utf-8?b?5aSq6YOO?= <alex@client.example>", "\u5c71\u7530\u592a\u90ce"),
        ("=?utf-8?q?Alexander?= Pop <alex@client.example>", "Alexander Pop"),
    ],
)
def test_encoded_words_side_by_side_make_one_name(sender: str, name: str) -> None:
    message = parse_email(email_bytes(sender=sender))
    assert (message.sender, message.sender_name) == ("alex@client.example", name)


def test_an_encoded_word_in_a_to_name_names_no_recipient() -> None:
    raw = email_bytes(to="=?utf-8?Q?x@evil.example,_Sales=0A?= <sales@office.test>, bob@client.example")
    assert parse_email(raw).recipients == ("sales@office.test", "bob@client.example")


@pytest.mark.parametrize(
    ("header", "value"),
    [
        ("Message-ID", "<abc@"),  # IndexError in the modern parser
        ("Message-ID", "<abc@["),  # UnboundLocalError in the modern parser
        ("To", "<"),  # IndexError
        ("To", '"'),  # IndexError
    ],
)
def test_headers_the_modern_parser_raises_on_are_read_and_recorded(header: str, value: str) -> None:
    raw = raw_message("From: ann@client.example", f"{header}: {value}", "Subject: hi", "", "body")
    message = parse_email(raw, envelope_recipients=("sales@office.test",))
    assert message.sender == "ann@client.example"
    assert "sales@office.test" in message.recipients
    assert any(f"header {header} unreadable by the modern parser" in d for d in message.parse_defects)


def test_a_name_star_parameter_that_breaks_the_modern_parser_falls_back_to_compat32() -> None:
    raw = raw_message(
        "From: ann@client.example",
        "Subject: report",
        "Content-Type: multipart/mixed; boundary=b; name*",
        "",
        "--b",
        "Content-Type: text/plain",
        "",
        "the report",
        "--b--",
    )
    message = parse_email(raw)
    assert message.text == "the report"
    assert "modern parser failed (IndexError); read with compat32" in message.parse_defects


@pytest.mark.parametrize(
    "raw",
    [b"", b"\x00\xff\xfe garbage \r\n\r\n\x00", b"no headers at all", b"From: \r\n\r\n", b":\r\n:\r\n\r\n"],
)
def test_garbage_never_raises_and_says_there_is_no_sender(raw: bytes) -> None:
    message = parse_email(raw)
    assert message.raw == raw
    assert message.sender == ""
    assert any("no sender address" in d for d in message.parse_defects)
    assert "\x00" not in message.text + message.subject


def test_without_a_from_header_the_envelope_sender_is_used_and_recorded() -> None:
    raw = raw_message("To: sales@office.test", "Subject: hi", "", "body")
    message = parse_email(raw, envelope_sender="Bob@Client.example")
    assert message.sender == "bob@client.example"
    assert any("envelope sender" in d for d in message.parse_defects)


@pytest.mark.parametrize(
    "sender", ["Ann Example", '"Ann Example" <>', "Ann Example <ann>", "undisclosed-recipients:;", "<@>"]
)
def test_a_from_header_without_an_address_gives_way_to_the_envelope_sender(sender: str) -> None:
    raw = email_bytes(sender=sender)
    message = parse_email(raw, envelope_sender="ann@client.example")
    assert message.sender == "ann@client.example"
    assert any("envelope sender" in d for d in message.parse_defects)


def test_the_first_from_or_sender_header_with_an_address_is_the_sender() -> None:
    raw = raw_message("From: Ann Example", "Sender: Bob <bob@client.example>", "Subject: hi", "", "body")
    message = parse_email(raw, envelope_sender="bounces@lists.example")
    assert (message.sender, message.sender_name) == ("bob@client.example", "Bob")
    quoted = parse_email(
        email_bytes(sender='Ann <"ann example"@client.example>'), envelope_sender="x@y.example"
    )
    assert quoted.sender == '"ann example"@client.example'


def test_without_any_address_the_name_in_from_is_kept() -> None:
    message = parse_email(email_bytes(sender='"Ann Example" <>'))
    assert (message.sender, message.sender_name) == ("", "Ann Example")
    assert any("no sender address" in d for d in message.parse_defects)


def test_overlong_fields_are_cut_to_fit_their_columns() -> None:
    raw = email_bytes(sender=f"{'n' * 400} <{'a' * 400}@client.example>")
    message = parse_email(raw)
    assert len(message.sender) <= 320 and message.sender_name is not None and len(message.sender_name) <= 320


def test_nul_characters_never_reach_the_text() -> None:
    raw = email_bytes(subject="a\x00b", body="x\x00y\r\n")
    message = parse_email(raw)
    assert (message.subject, message.text) == ("ab", "xy")


def test_copies_of_one_message_share_a_key_whatever_their_trace_headers() -> None:
    direct = email_bytes()
    relayed = b"Received: from relay.example by mx.office.test; Mon, 2 Nov 2026\r\n" + direct.replace(
        b"\r\n", b"\n"
    )
    assert parse_email(direct).idempotency_key == parse_email(relayed).idempotency_key


# A mail as relays pass it on: a trace header, names in other cases, folded values, and
# a second From further down, which the key leaves out (the first of each name counts).
FOLDED = (
    b"Received: from relay.example by mx.office.test; Mon, 2 Nov 2026 10:15:00 +0000\r\n"
    b"FROM: Ann Example\r\n <ann@client.example>\r\n"
    b"To: sales@office.test\r\n"
    b"Subject: Invoice 12,\r\n\tfolded once\r\n"
    b"From: someone.else@client.example\r\n"
    b"Date: Mon, 02 Nov 2026 10:15:00 +0000\r\n"
    b"Message-ID: <golden@client.example>\r\n"
    b"\r\n"
    b"Can I pay by card?\r\n"
)


def test_a_message_keeps_the_key_it_was_stored_under() -> None:
    # Stored keys are compared with the keys of copies that come later, after an upgrade
    # too: the key of this mail must never change.
    assert parse_email(FOLDED).idempotency_key == "email:golden@client.example:bb5e2334c1bef00e"


def test_a_copy_folded_otherwise_shares_the_key_and_a_changed_value_does_not() -> None:
    refolded = FOLDED.replace(b"Example\r\n <ann", b"Example <ann").replace(b"\r\n", b"\n")
    second_from = FOLDED.replace(b"someone.else", b"another")
    continued = FOLDED.replace(b"\tfolded once", b"\tfolded twice")
    key = parse_email(FOLDED).idempotency_key
    assert parse_email(refolded).idempotency_key == key
    assert parse_email(second_from).idempotency_key == key
    assert parse_email(continued).idempotency_key != key


@pytest.mark.parametrize(
    "written",
    [
        "<q1@client.example> (sent from my phone)",
        "(see <q0@client.example>) <q1@client.example>",
        "<q1@client.example>(a (nested) comment)",
        '<q1@client.example> (a "quoted" \\) comment)',
    ],
)
def test_a_message_id_is_read_without_its_comments(written: str) -> None:
    assert parse_email(email_bytes(message_id=written)).message_id == "<q1@client.example>"


def test_threading_headers_are_read_without_their_comments() -> None:
    raw = raw_message(
        "From: ann@client.example",
        "In-Reply-To: <r1@office.test> (your answer)",
        "References: <q1@client.example> (my question) (see <x@y.example>) <r1@office.test>",
        "",
        "Thanks",
    )
    message = parse_email(raw)
    assert message.in_reply_to == "<r1@office.test>"
    assert message.references == ("<q1@client.example>", "<r1@office.test>")


def test_a_message_id_with_a_comment_keeps_the_key_it_was_stored_under() -> None:
    # Keys stored before the comment was left out of the Message-ID read it with the comment.
    for written, key in [
        ("<q1@client.example> (sent from my phone)", "email:q1@client.example> (sent from my phone)"),
        (
            "(see <q0@client.example>) <q1@client.example>",
            "email:(see <q0@client.example>) <q1@client.example",
        ),
    ]:
        assert parse_email(email_bytes(message_id=written)).idempotency_key == f"{key}:9b46f4f256c61f3a"


def test_different_messages_reusing_a_message_id_keep_different_keys() -> None:
    first = parse_email(email_bytes(body="first\r\n"))
    second = parse_email(email_bytes(body="second\r\n"))
    assert first.message_id == second.message_id
    assert first.idempotency_key != second.idempotency_key


def test_without_a_message_id_the_raw_bytes_are_the_key() -> None:
    one = parse_email(email_bytes(message_id=None))
    other = parse_email(email_bytes(message_id=None, body="other\r\n"))
    assert one.idempotency_key.startswith("email:sha256:")
    assert one.idempotency_key != other.idempotency_key


def test_a_very_long_message_id_is_hashed_to_fit_the_key_column() -> None:
    message = parse_email(email_bytes(message_id=f"<{'x' * 400}@client.example>"))
    assert len(message.idempotency_key) <= 200


def test_a_message_over_the_size_limit_keeps_its_headers_and_is_marked() -> None:
    raw = email_bytes(body="x" * 5000 + "\r\n")
    message = parse_email(raw, limits=EmailLimits(max_message_size=1024))
    assert message.raw == raw
    assert (message.sender, message.subject, message.text) == (
        "ann@client.example",
        "A question about prices",
        "",
    )
    assert any(d.startswith("over limit: message is") for d in message.parse_defects)


def test_a_from_naming_several_is_read_by_its_first_mailbox_only() -> None:
    message = parse_email(
        email_bytes(sender="postmaster, victim@evil.example"), envelope_sender="ann@client.example"
    )
    assert message.sender == "ann@client.example"


def test_mail_with_bare_cr_line_ends_is_read_and_kept_as_it_came() -> None:
    # Old Mac mail programs end lines with CR alone; this one is larger than a header may be.
    crlf = email_bytes(body="a line of text\r\n" * 20_000)
    raw = crlf.replace(b"\r\n", b"\r")
    message = parse_email(raw)
    assert message.raw == raw
    assert (message.sender, message.subject) == ("ann@client.example", "A question about prices")
    assert message.text == parse_email(crlf).text
    assert message.parse_defects == ()
    assert message.idempotency_key == parse_email(crlf).idempotency_key


def test_the_budgets_hold_for_mail_with_bare_cr_line_ends() -> None:
    raw = raw_message(
        "From: ann@client.example",
        "Subject: parts",
        "Content-Type: multipart/mixed; boundary=b",
        "",
        *[line for n in range(9) for line in ("--b", "Content-Type: text/plain; a=1; b=2", "", f"part {n}")],
        "--b--",
    ).replace(b"\r\n", b"\r")
    cut = parse_email(raw, limits=EmailLimits(max_parts=2))
    assert "over limit: more than 4 MIME boundary lines; the rest is in the raw message" in cut.parse_defects
    parameters = parse_email(raw, limits=EmailLimits(headers=HeaderBudgets(max_parameters=1)))
    assert (parameters.subject, parameters.text, parameters.raw) == ("parts", "", raw)
