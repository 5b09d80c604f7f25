"""The subject of an email reply: one "Re:" and one [#ID] token, whatever the subject had."""

from __future__ import annotations

import pytest

from intake.email.reply_mail import reply_subject


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("Prices", "Re: Prices [#7]"),
        ("Re: Prices", "Re: Prices [#7]"),
        ("RE: Aw: re[2]: Prices", "Re: Prices [#7]"),
        ("Re: Prices [#7]", "Re: Prices [#7]"),
        ("  Prices\r\n  for chairs ", "Re: Prices for chairs [#7]"),
        ("", "Re: your message [#7]"),
        ("Regarding prices", "Re: Regarding prices [#7]"),
        ("R\u0103sp: Factura 12", "Re: Factura 12 [#7]"),
        ("RASP: VS: Sz\u00e1mla", "Re: Sz\u00e1mla [#7]"),
        ("Prices [#\u200b7]", "Re: Prices [#7]"),
        ("\u202eRe: Prices", "Re: Prices [#7]"),
        ("Prices\x00for\x1bchairs\x7f\x9b", "Re: Prices for chairs [#7]"),
    ],
)
def test_a_reply_subject_has_one_re_and_one_token(subject: str, expected: str) -> None:
    assert reply_subject(subject, 7) == expected
