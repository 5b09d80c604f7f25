"""Headers read through the modern policy with each kind's class made once: the same
values and defects as the library's own registry gives."""

from __future__ import annotations

from email.policy import default

import pytest

from intake.email.headers import MODERN

HEADERS = [
    ("Subject", "=?utf-8?q?Factur=C4=83_restant=C4=83?= for October"),
    ("Subject", "=?unknown-8bit?q?caf=E9?= and a broken =?utf-8?b?###?= word"),
    ("From", '"Pop, Maria" <maria@client.example>, bob@client.example'),
    ("From", "not an address at all <<>>"),
    ("To", "undisclosed-recipients:;"),
    ("Message-ID", "<2026.11.02.abc@client.example>"),
    ("Message-ID", "no brackets at all"),
    ("In-Reply-To", "<a@b.example> <c@d.example>"),
    ("Date", "Mon, 02 Nov 2026 10:15:00 -0500"),
    ("Date", "yesterday, around noon"),
    ("Content-Type", 'text/plain; charset="utf-8"; format=flowed'),
    ("X-Mailer", "Outlook 16.0"),
]


@pytest.mark.parametrize(("name", "value"), HEADERS)
def test_a_header_reads_as_the_library_reads_it(name: str, value: str) -> None:
    ours, theirs = MODERN.header_fetch_parse(name, value), default.header_fetch_parse(name, value)
    assert str(ours) == str(theirs)
    assert [str(d) for d in ours.defects] == [str(d) for d in theirs.defects]  # type: ignore[attr-defined]
    assert type(ours).__mro__[1:] == type(theirs).__mro__[1:]


def test_each_kind_of_header_has_one_class_whatever_its_name_or_value() -> None:
    first, second = MODERN.header_fetch_parse("Subject", "a"), MODERN.header_fetch_parse("Subject", "b")
    assert type(first) is type(second)
    unknown = [MODERN.header_fetch_parse(f"X-Header-{n}", "value") for n in range(50)]
    assert len({type(header) for header in unknown}) == 1  # hostile names make no more classes
