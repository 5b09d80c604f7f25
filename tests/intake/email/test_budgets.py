"""Each budget checked before parsing: at its limit a message is parsed, one past it is kept raw and marked."""

from __future__ import annotations

import dataclasses

import pytest

from intake.email.budgets import HeaderBudgets
from intake.email.parser import EmailLimits, parse_email
from routing.message import InboundMessage
from tests.support.mail import raw_message

HEAD = ("From: Ann <ann@client.example>", "To: sales@office.test", "Message-ID: <b@client.example>")


def with_subject(subject: str) -> bytes:
    return raw_message(*HEAD, f"Subject: {subject}", "", "The body.")


def with_header(line: str) -> bytes:
    return raw_message(*HEAD, "Subject: budgets", line, "", "The body.")


def parsed(raw: bytes, **budget: int) -> InboundMessage:
    return parse_email(raw, limits=EmailLimits(headers=HeaderBudgets(**budget)))


def assert_parsed(message: InboundMessage) -> None:
    assert message.text == "The body."
    assert not any(d.startswith("over limit") for d in message.parse_defects), message.parse_defects


def assert_raw_only(message: InboundMessage, raw: bytes, defect: str) -> None:
    assert message.raw == raw
    assert (message.subject, message.text) == ("", "")
    assert message.parse_defects == (f"{defect}; stored raw only",)


def test_the_header_section_may_be_as_large_as_its_budget() -> None:
    raw = with_subject("x" * 500)
    size = raw.index(b"\r\n\r\n")
    assert_parsed(parsed(raw, max_header_bytes=size))
    message = parsed(raw, max_header_bytes=size - 1)
    assert_raw_only(message, raw, f"over limit: the headers are {size} bytes (limit {size - 1})")


def test_one_header_may_be_as_large_as_its_budget() -> None:
    raw = with_subject("x" * 2000)
    size = len(" " + "x" * 2000)  # what follows the colon
    assert_parsed(parsed(raw, max_header_size=size))
    message = parsed(raw, max_header_size=size - 1)
    assert_raw_only(message, raw, f"over limit: header Subject is {size} bytes (limit {size - 1})")


def test_a_message_may_have_as_many_headers_as_its_budget() -> None:
    raw = raw_message(*HEAD, "Subject: many", *(f"X-Note-{n}: {n}" for n in range(46)), "", "The body.")
    assert_parsed(parsed(raw, max_headers=50))
    assert_raw_only(parsed(raw, max_headers=49), raw, "over limit: more than 49 headers")


def test_a_header_may_have_as_many_encoded_words_as_its_budget() -> None:
    raw = with_subject(" ".join(["=?UTF-8?B?w6lsw6lwaGFudA==?="] * 40))
    assert parsed(raw, max_encoded_words=40).subject == "éléphant" * 40
    message = parsed(raw, max_encoded_words=39)
    assert_raw_only(message, raw, "over limit: header Subject has 40 encoded words (limit 39)")


def test_a_content_header_may_have_as_many_parameters_as_its_budget() -> None:
    raw = with_header("Content-Type: text/plain; charset=utf-8; format=flowed; delsp=no")
    assert_parsed(parsed(raw, max_parameters=3))
    message = parsed(raw, max_parameters=2)
    assert_raw_only(message, raw, "over limit: header Content-Type has 3 parameters (limit 2)")


def test_a_part_header_past_the_parameter_budget_leaves_only_the_headers_read() -> None:
    raw = raw_message(
        *HEAD,
        "Subject: parts",
        "Content-Type: multipart/mixed; boundary=b",
        "",
        "--b",
        "Content-Type: text/plain; charset=utf-8; format=flowed; delsp=no",
        "",
        "The body.",
        "--b--",
    )
    assert_parsed(parsed(raw, max_parameters=3))
    message = parsed(raw, max_parameters=2)
    assert (message.subject, message.text, message.raw) == ("parts", "", raw)
    defect = "over limit: a MIME part's Content header has 3 parameters (limit 2); only the message's headers were read"
    assert defect in message.parse_defects


def test_an_address_header_may_list_as_many_addresses_as_its_budget() -> None:
    to = ", ".join(f"person{n}@office.test" for n in range(30))
    raw = raw_message(HEAD[0], f"To: {to}", "Subject: all of you", "", "The body.")
    assert len(parsed(raw, max_addresses=30).recipients) == 30
    message = parsed(raw, max_addresses=29)
    assert_raw_only(message, raw, "over limit: header To has 30 addresses (limit 29)")


def many_parts(count: int) -> bytes:
    parts = [line for n in range(count) for line in ("--b", "Content-Type: text/plain", "", f"part {n}")]
    return raw_message(
        *HEAD, "Subject: parts", "Content-Type: multipart/mixed; boundary=b", "", *parts, "--b--"
    )


def test_past_twice_the_part_limit_in_boundary_lines_the_rest_is_not_parsed() -> None:
    raw = many_parts(9)  # nine opening lines and one closing line
    message = parse_email(raw, limits=EmailLimits(max_parts=5))
    assert not any("boundary lines" in d for d in message.parse_defects)
    assert message.text.endswith("part 3")
    message = parse_email(many_parts(10), limits=EmailLimits(max_parts=5))
    assert (
        "over limit: more than 10 MIME boundary lines; the rest is in the raw message"
        in message.parse_defects
    )
    assert "over limit: more than 5 MIME parts; the rest is in the raw message" in message.parse_defects
    assert message.text.endswith("part 3")


@pytest.mark.parametrize(("length", "cut"), [(998, False), (999, True)])
def test_a_subject_longer_than_a_mail_line_is_cut_and_marked(length: int, cut: bool) -> None:
    message = parse_email(with_subject("s" * length))
    assert message.subject == "s" * 998
    marked = f"Subject cut to 998 of its {length} characters; the raw message keeps it whole"
    assert (marked in message.parse_defects) is cut


def test_a_long_sender_name_is_cut_and_marked() -> None:
    raw = raw_message(f"From: {'n' * 400} <ann@client.example>", *HEAD[1:], "Subject: hi", "", "The body.")
    message = parse_email(raw)
    assert (message.sender_name, message.sender) == ("n" * 320, "ann@client.example")
    assert (
        "sender name cut to 320 of its 400 characters; the raw message keeps it whole"
        in message.parse_defects
    )


def test_a_long_header_read_the_linear_way_gives_the_same_text() -> None:
    words = ["=?utf-8?q?Die_hei=C3=9Fe_Zypernsonne?=", "=?utf-8?q?_qu=C3=A4lte_Max?="] * 400
    message = parse_email(raw_message(*HEAD, "Subject: " + "\r\n ".join(words), "", "The body."))
    short = parse_email(raw_message(*HEAD, "Subject: " + "\r\n ".join(words[:2]), "", "The body."))
    assert message.subject == (short.subject * 400)[:998]


def test_the_default_budgets_are_those_of_the_settings() -> None:
    assert dataclasses.asdict(HeaderBudgets()) == {
        "max_header_bytes": 524288,
        "max_header_size": 262144,
        "max_headers": 1000,
        "max_encoded_words": 5000,
        "max_parameters": 100,
        "max_addresses": 1000,
    }
