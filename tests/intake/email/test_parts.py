"""The MIME walk: which text the queue shows, which parts become attachments, and the limits."""

from __future__ import annotations

import base64

import pytest

from intake.email.parser import EmailLimits, parse_email
from intake.email.parts import safe_filename
from tests.support.mail import raw_message

HEAD = ("From: ann@client.example", "To: sales@office.test", "Subject: parts", "MIME-Version: 1.0")
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(32))


def alternative(plain: str, html: str) -> bytes:
    return raw_message(
        *HEAD,
        "Content-Type: multipart/alternative; boundary=alt",
        "",
        "--alt",
        "Content-Type: text/plain; charset=utf-8",
        "",
        plain,
        "--alt",
        "Content-Type: text/html; charset=utf-8",
        "",
        html,
        "--alt--",
    )


def test_the_plain_part_is_the_text_and_the_html_is_kept() -> None:
    message = parse_email(alternative("Plain words", "<p>HTML <b>words</b></p>"))
    assert message.text == "Plain words"
    assert message.html == "<p>HTML <b>words</b></p>"


def test_without_plain_text_the_html_is_turned_into_readable_text() -> None:
    html = (
        "<html><head><title>t</title><style>p {color: red}</style></head><body>"
        "<p>Dear&nbsp;office,</p><p>please quote:</p><ul><li>two chairs<li>one desk</ul>"
        "<script>alert('x')</script>Thanks<br>Ann &amp; Bob</body></html>"
    )
    message = parse_email(raw_message(*HEAD, "Content-Type: text/html; charset=utf-8", "", html))
    assert message.text == "Dear office,\n\nplease quote:\n\n- two chairs\n- one desk\nThanks\nAnn & Bob"
    assert message.html is not None and message.html.rstrip() == html


@pytest.mark.parametrize(
    "head", ["<head><title>Offer", "<head><link rel=stylesheet href=a.css>", "<head><meta charset=utf-8>"]
)
def test_html_with_an_unclosed_head_still_gives_its_body_text(head: str) -> None:
    html = f"<html>{head}<body><p>Please call me back</p></body></html>"
    message = parse_email(raw_message(*HEAD, "Content-Type: text/html; charset=utf-8", "", html))
    assert message.text == "Please call me back"


def test_a_blank_plain_part_gives_way_to_the_html() -> None:
    message = parse_email(alternative("", "<p>Only here</p>"))
    assert message.text == "Only here"


def test_attachments_get_safe_names_sizes_and_types() -> None:
    raw = raw_message(
        *HEAD,
        "Content-Type: multipart/mixed; boundary=mix",
        "",
        "--mix",
        "Content-Type: text/plain",
        "",
        "two files",
        "--mix",
        'Content-Type: application/pdf; name="../../etc/passwd"',
        'Content-Disposition: attachment; filename="../../etc/passwd"',
        "Content-Transfer-Encoding: base64",
        "",
        base64.b64encode(b"%PDF-1.4 twelve").decode(),
        "--mix",
        "Content-Type: application/octet-stream",
        'Content-Disposition: attachment; filename="C:\\\\Users\\\\ann\\\\..\\\\quote.xlsx"',
        "",
        "data",
        "--mix--",
    )
    message = parse_email(raw)
    assert message.text == "two files"
    first, second = message.attachments
    assert (first.filename, first.content_type, first.size) == ("passwd", "application/pdf", 15)
    assert (second.filename, second.content, second.inline) == ("quote.xlsx", b"data", False)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("../../secret.txt", "secret.txt"),
        ("..", "attachment-3.bin"),
        ("a\x00b\x1f.txt", "ab.txt"),
        ('re<po>rt:"1"|?*.pdf', "report1.pdf"),
        (".hidden", "hidden"),
        (None, "attachment-3.bin"),
        ("x" * 300 + ".pdf", "x" * 196 + ".pdf"),
        # A right-to-left override shows "invoice\u202egpj.exe" as "invoiceexe.jpg".
        ("invoice\u202egpj.exe", "invoicegpj.exe"),
        ("\u200b\u2066a\ufeff.pdf\u2069", "a.pdf"),
    ],
)
def test_safe_file_names(name: str | None, expected: str) -> None:
    assert safe_filename(name, 3, "application/octet-stream") == expected


def test_inline_images_are_linked_by_content_id() -> None:
    raw = raw_message(
        *HEAD,
        "Content-Type: multipart/related; boundary=rel",
        "",
        "--rel",
        "Content-Type: text/html; charset=utf-8",
        "",
        '<p>Our logo: <img src="cid:logo@client.example"></p>',
        "--rel",
        "Content-Type: image/png",
        "Content-ID: <logo@client.example>",
        "Content-Transfer-Encoding: base64",
        "",
        base64.b64encode(PNG).decode(),
        "--rel--",
    )
    message = parse_email(raw)
    (image,) = message.attachments
    assert (image.content_id, image.inline, image.content) == ("logo@client.example", True, PNG)
    assert image.filename == "attachment-1.png"
    assert message.html is not None and "cid:logo@client.example" in message.html


def test_winmail_dat_is_kept_as_it_came() -> None:
    tnef = b"\x78\x9f\x3e\x22" + bytes(40)
    raw = raw_message(
        *HEAD,
        "Content-Type: multipart/mixed; boundary=mix",
        "",
        "--mix",
        "Content-Type: text/plain",
        "",
        "see attached",
        "--mix",
        'Content-Type: application/ms-tnef; name="winmail.dat"',
        'Content-Disposition: attachment; filename="winmail.dat"',
        "Content-Transfer-Encoding: base64",
        "",
        base64.b64encode(tnef).decode(),
        "--mix--",
    )
    (attachment,) = parse_email(raw).attachments
    assert (attachment.filename, attachment.content_type, attachment.content) == (
        "winmail.dat",
        "application/ms-tnef",
        tnef,
    )


def test_a_forwarded_message_is_kept_whole_as_an_eml_attachment() -> None:
    inner = raw_message(
        "From: carol@supplier.example",
        "Subject: Price list",
        "Content-Type: multipart/mixed; boundary=inner",
        "",
        "--inner",
        "Content-Type: text/plain",
        "",
        "inner text",
        "--inner",
        'Content-Type: text/csv; name="prices.csv"',
        "",
        "a,b",
        "--inner--",
    )
    raw = raw_message(
        *HEAD,
        "Content-Type: multipart/mixed; boundary=outer",
        "",
        "--outer",
        "Content-Type: text/plain",
        "",
        "FYI, see below.",
        "--outer",
        "Content-Type: message/rfc822",
        "",
        inner.decode(),
        "--outer--",
    )
    message = parse_email(raw)
    assert message.text == "FYI, see below."
    (forwarded,) = message.attachments
    assert (forwarded.filename, forwarded.content_type) == ("Price list.eml", "message/rfc822")
    assert forwarded.content.rstrip(b"\r\n") == inner.rstrip(b"\r\n")
    assert parse_email(forwarded.content).text == "inner text"


def test_a_multipart_without_a_boundary_is_read_as_text() -> None:
    raw = raw_message(*HEAD, "Content-Type: multipart/alternative", "", "Just words, no parts.")
    message = parse_email(raw)
    assert message.text == "Just words, no parts."
    assert "multipart/alternative part without a usable boundary; read as text" in message.parse_defects


def many_parts(count: int) -> bytes:
    parts = [line for n in range(count) for line in ("--b", "Content-Type: text/plain", "", f"part {n}")]
    return raw_message(*HEAD, "Content-Type: multipart/mixed; boundary=b", "", *parts, "--b--")


def test_past_the_part_limit_the_rest_stays_in_the_raw_message_and_is_marked() -> None:
    raw = many_parts(10)
    message = parse_email(raw, limits=EmailLimits(max_parts=4))
    assert message.text == "part 0\n\npart 1\n\npart 2"  # the container is the first part
    assert message.raw == raw
    assert "over limit: more than 4 MIME parts; the rest is in the raw message" in message.parse_defects
    assert parse_email(raw).text.endswith("part 9")


def nested(depth: int) -> bytes:
    opening = [f"Content-Type: multipart/mixed; boundary=b{n}\r\n\r\n--b{n}" for n in range(depth)]
    closing = [f"--b{n}--" for n in reversed(range(depth))]
    return raw_message(*HEAD, *opening, "Content-Type: text/plain", "", "deep inside", *closing)


def test_past_the_depth_limit_the_rest_stays_in_the_raw_message_and_is_marked() -> None:
    assert parse_email(nested(5), limits=EmailLimits(max_depth=5)).text == "deep inside"
    message = parse_email(nested(5), limits=EmailLimits(max_depth=4))
    assert message.text == ""
    assert "over limit: MIME nesting deeper than 4; the rest is in the raw message" in message.parse_defects


def test_nesting_too_deep_for_the_parser_keeps_the_headers_and_is_marked() -> None:
    message = parse_email(nested(3000))
    assert (message.sender, message.subject) == ("ann@client.example", "parts")
    assert "over limit: MIME nesting too deep to parse; only the headers were read" in message.parse_defects


def test_the_email_packages_defects_are_recorded_in_words() -> None:
    raw = raw_message(*HEAD, "Content-Type: multipart/mixed; boundary=b", "", "--b", "", "cut short")
    message = parse_email(raw)
    assert message.text == "cut short"
    assert (
        "CloseBoundaryNotFoundDefect: A start boundary was found, but not the corresponding close boundary."
        in message.parse_defects
    )
