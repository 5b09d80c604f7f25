"""Charsets of real mail: encoded headers and parameters, legacy code pages, lying labels."""

from __future__ import annotations

import base64

import pytest

from intake.email.parser import parse_email
from tests.support.mail import raw_message


def plain(body: bytes, charset: str, *headers: str | bytes) -> bytes:
    return raw_message(
        "From: ann@client.example",
        "To: sales@office.test",
        *headers,
        "MIME-Version: 1.0",
        f"Content-Type: text/plain; charset={charset}",
        "Content-Transfer-Encoding: 8bit",
        "",
        body,
    )


@pytest.mark.parametrize(
    ("charset", "text"),
    [
        ("windows-1250", "Příliš žluťoučký kůň"),
        ("windows-1251", "Привет, мир"),
        ("windows-1252", "Café “quoted” \u2013 5 €"),
        ("iso-8859-1", "Grüße aus Köln"),
        ("iso-8859-2", "Zażółć gęślą jaźń"),
        ("iso-8859-15", "Prix : 5 €"),
        ("iso-2022-jp", "こんにちは、世界"),
        ("shift_jis", "日本語のメール"),
        ("gb2312", "你好\uff0c世界"),
        ("big5", "繁體中文郵件"),
        ("utf-7", "Hi Mom -☺-!"),
        ("koi8-r", "Здравствуйте"),
        ("euc-kr", "안녕하세요"),
        ("euc-jp", "日本語のメール"),
        ("iso-8859-9", "Türkçe İçerik"),
    ],
)
def test_bodies_in_each_charset_decode_without_defects(charset: str, text: str) -> None:
    message = parse_email(plain(text.encode(charset), charset))
    assert message.text == text
    assert message.parse_defects == ()


def test_text_labelled_gb2312_but_written_in_gbk_decodes() -> None:
    text = "镕"  # in GBK (and GB18030), not in GB2312
    assert parse_email(plain(text.encode("gbk"), "gb2312")).text == text


def test_text_labelled_iso_8859_1_but_written_in_windows_1252_decodes() -> None:
    text = "“smart quotes” and €"
    assert parse_email(plain(text.encode("cp1252"), "iso-8859-1")).text == text


def test_iso_2022_jp_with_microsoft_extensions_decodes() -> None:
    # "①" and "№" are NEC extensions (code page 50220) that Python's iso2022_jp refuses.
    body = b"\x1b$B-!-b\x1b(B 1"
    message = parse_email(plain(body, "iso-2022-jp"))
    assert message.text == "①№ 1"
    assert message.parse_defects == ()


@pytest.mark.parametrize("charset", ["x-unknown", "invalid-charset", "unknown-8bit"])
def test_an_unknown_charset_is_decoded_by_guessing_and_recorded(charset: str) -> None:
    message = parse_email(plain("naïve café".encode(), charset))
    assert message.text == "naïve café"
    assert f"unknown charset {charset!r} in body text; decoded as utf-8" in message.parse_defects


def test_mac_charset_names_with_an_x_prefix_are_understood() -> None:
    message = parse_email(plain("Привет".encode("mac_cyrillic"), "x-mac-cyrillic"))
    assert (message.text, message.parse_defects) == ("Привет", ())


def test_a_lying_utf8_label_falls_back_to_windows_1252_and_is_recorded() -> None:
    message = parse_email(plain("Grüße".encode("cp1252"), "utf-8"))
    assert message.text == "Grüße"
    assert "body text is not valid utf-8; decoded as windows-1252" in message.parse_defects


def test_8bit_text_without_a_charset_is_read_as_utf8_and_recorded() -> None:
    raw = raw_message("From: ann@client.example", "Subject: x", "", "Grüße".encode())
    message = parse_email(raw)
    assert message.text == "Grüße"
    assert "body text is not valid us-ascii; decoded as utf-8" in message.parse_defects


@pytest.mark.parametrize(
    ("encoded", "decoded"),
    [
        ("=?utf-8?B?" + base64.b64encode("Grüße aus Köln".encode()).decode() + "?=", "Grüße aus Köln"),
        ("=?iso-8859-1?Q?Gr=FC=DFe?= aus =?iso-8859-1?Q?K=F6ln?=", "Grüße aus Köln"),
        ("=?windows-1251?B?" + base64.b64encode("Счёт".encode("cp1251")).decode() + "?=", "Счёт"),
        ("=?iso-2022-jp?B?" + base64.b64encode("請求書".encode("iso2022_jp")).decode() + "?=", "請求書"),
        ("=?utf-8?q?part_one?= =?utf-8?q?_part_two?=", "part one part two"),
    ],
)
def test_rfc2047_subjects_decode(encoded: str, decoded: str) -> None:
    message = parse_email(plain(b"x", "us-ascii", f"Subject: {encoded}"))
    assert message.subject == decoded


def test_an_encoded_word_in_an_unknown_charset_is_guessed_and_recorded() -> None:
    message = parse_email(plain(b"x", "us-ascii", "Subject: =?x-unknown?Q?caf=C3=A9?= menu"))
    assert message.subject == "café menu"
    assert any(d.startswith("unknown charset 'x-unknown' in header Subject") for d in message.parse_defects)


def test_raw_8bit_headers_are_read_as_utf8_or_in_the_body_charset() -> None:
    utf8 = parse_email(plain(b"x", "us-ascii", "Subject: Grüße".encode()))
    assert utf8.subject == "Grüße"
    latin = parse_email(plain("ü".encode("latin-1"), "iso-8859-1", "Subject: Grüße".encode("latin-1")))
    assert latin.subject == "Grüße"
    assert "header Subject has raw 8-bit bytes that are not UTF-8" in latin.parse_defects


def test_an_8bit_display_name_is_decoded() -> None:
    raw = raw_message("From: Jürgen <j@client.example>".encode("latin-1"), "Subject: x", "", "x")
    message = parse_email(raw)
    assert (message.sender_name, message.sender) == ("Jürgen", "j@client.example")


@pytest.mark.parametrize(
    "disposition",
    [
        "attachment; filename*=utf-8''R%C3%A9sum%C3%A9.pdf",
        "attachment; filename*0*=utf-8''R%C3%A9su; filename*1*=m%C3%A9.pdf",
        "attachment; filename*=iso-8859-1''R%E9sum%E9.pdf",
        'attachment; filename="=?utf-8?B?' + base64.b64encode("Résumé.pdf".encode()).decode() + '?="',
        b"attachment; filename*=x-unknown''R%E9sum%E9.pdf",
        'attachment; filename="Résumé.pdf"'.encode("latin-1"),
        'attachment; filename="Résumé.pdf"'.encode(),
    ],
)
def test_rfc2231_and_encoded_file_names_decode(disposition: str | bytes) -> None:
    raw = raw_message(
        "From: ann@client.example",
        "Content-Type: multipart/mixed; boundary=b",
        "",
        "--b",
        "Content-Type: text/plain",
        "",
        "see attached",
        "--b",
        "Content-Type: application/pdf",
        b"Content-Disposition: " + (disposition if isinstance(disposition, bytes) else disposition.encode()),
        "Content-Transfer-Encoding: base64",
        "",
        base64.b64encode(b"%PDF-1.4").decode(),
        "--b--",
    )
    (attachment,) = parse_email(raw).attachments
    assert attachment.filename == "Résumé.pdf"
    assert attachment.content == b"%PDF-1.4"
