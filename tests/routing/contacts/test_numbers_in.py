"""The phone numbers an email's text holds, as the known-number suggestion looks them up."""

from __future__ import annotations

import pytest

from routing.contacts.addresses import CACHED_LINES_MAX, NUMBERS_LOOKED_UP, numbers_in

REPLY = """Hello,

I paid the 1,250.00 RON for November on 12.11.2026, order 4471, but the statement
still shows it as due. Can you check?

Ana Lima
{signature}

On Tue, 3 Nov 2026 at 10:15, Office <office@office.example> wrote:
> Dear Ms Lima, your balance on 31.10.2026 is 1,250.00 RON.
"""


@pytest.mark.parametrize(
    ("signature", "region", "number"),
    [
        ("Tel: +40 722 123 456", "RO", "+40722123456"),
        ("Mobil: 0722-123-456", "RO", "+40722123456"),
        ("tel. (0722) 123.456", "RO", "+40722123456"),
        ("Telefon: +36 30 123 4567", "RO", "+36301234567"),
        ("+43 1234", "RO", "+431234"),  # the shortest numbers there are: Austria's, abroad
    ],
)
def test_a_reply_s_signature_number_in_any_common_writing(signature: str, region: str, number: str) -> None:
    assert numbers_in(REPLY.format(signature=signature), region) == [number]


@pytest.mark.parametrize(
    ("signature", "region", "number"),
    [
        ("07700 900123", "GB", "+447700900123"),
        ("Tel. 0351 / 12 34 56", "DE", "+49351123456"),
        ("Tel 1234", "AT", "+431234"),  # Austria's shortest, at home
    ],
)
def test_a_number_as_written_in_its_own_region(signature: str, region: str, number: str) -> None:
    assert numbers_in(f"Ana Lima\n{signature}\n", region) == [number]


def test_dates_amounts_and_times_are_no_numbers_where_numbers_are_longer() -> None:
    # Romania's numbers have at least six digits, which no line of this reply holds
    # together; where shorter numbers are possible, the matcher reads its dates too.
    assert numbers_in(REPLY.format(signature="Cluj"), "RO") == []


def test_digits_set_far_apart_or_on_two_lines_are_not_one_number() -> None:
    assert numbers_in("Room 0722 ... flat 123 ... code 456", "RO") == []
    assert "+40722123456" not in numbers_in("Tel: 0722\n123 456", "RO")


def test_a_text_without_digits_has_no_numbers() -> None:
    assert numbers_in("Hello, the boiler is broken again.", "RO") == []


def test_each_number_once_and_only_so_many() -> None:
    lines = [f"Tel: 0722 123 {n:03}" for n in range(NUMBERS_LOOKED_UP + 2)]
    found = numbers_in("\n".join([lines[0], *lines]), "RO")
    assert found == [f"+40722123{n:03}" for n in range(NUMBERS_LOOKED_UP)]


def test_a_long_text_is_read_at_its_end_where_the_signature_is() -> None:
    text = "Tel: 0722 123 456\n" + "x " * 20_000 + "\nTel: 0722 123 999"
    assert numbers_in(text, "RO") == ["+40722123999"]


def test_a_signature_read_again_gives_its_numbers_again_whatever_the_first_caller_did() -> None:
    text = REPLY.format(signature="Tel: +40 722 123 456")
    first = numbers_in(text, "RO")
    first.append("+40700000000")
    assert numbers_in(text, "RO") == ["+40722123456"]


def test_many_lines_with_numbers_are_read_as_a_few_are() -> None:
    lines = [f"Tel: 0722 123 {n % 3:03}" for n in range(100)]
    assert len("\n".join(lines)) > CACHED_LINES_MAX  # past what is kept: read each time
    assert numbers_in("\n".join(lines), "RO") == ["+40722123000", "+40722123001", "+40722123002"]
