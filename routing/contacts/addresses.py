"""An email address or a phone number in the one form contacts store it in.

Addresses are kept in lower case; numbers in E.164 (+441632960000), read with the
`phonenumbers` library in the office's region, so that "07700 900123" in an email's
signature is the number "+447700900123" that texted the office.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

import phonenumbers
from phonenumbers.phonemetadata import PhoneMetadata

EMAIL = "email"
PHONE = "phone"
# A signature is at the end of a text: only so much of it is searched for numbers, and
# only so many numbers are looked up, however long the text.
SCANNED_CHARACTERS = 20_000
NUMBERS_LOOKED_UP = 5
# A sender's signature comes back in each of their mails, and the matcher costs far more
# than a look-up: what was found in lines this short is kept, for so many of them.
CACHED_LINES_MAX = 1024
CACHED_LINES = 1024
# Marks people put between a number's digits: spaces, dashes, dots, slashes, brackets.
# Digits with more of them between are not read as one number, nor across lines.
_BETWEEN_DIGITS = r"[\s()\[\].\-/\u2010-\u2015\u2212]{0,3}"
MAX_ADDRESS = 320
# E.164's longest number: the bound of a region the phone numbers library does not know.
_LONGEST_NUMBER = 15


class BadAddress(ValueError):
    """Text that is neither an email address nor a phone number."""


@dataclass(frozen=True)
class Address:
    kind: str  # EMAIL or PHONE
    value: str


def address_of(sender: str, region: str) -> Address | None:
    """The sender of a message as a contact's address; None for anything else
    (an anonymous caller, a name taken down by hand)."""
    try:
        return parse_address(sender, region)
    except BadAddress:
        return None


def parse_address(text: str, region: str) -> Address:
    """An address or a number as a person or a channel wrote it; raises BadAddress."""
    text = text.strip()
    if "@" in text:
        local, _, domain = text.rpartition("@")
        if not local or "." not in domain or len(text) > MAX_ADDRESS or any(c.isspace() for c in text):
            raise BadAddress(f"{text!r} is not an email address")
        return Address(EMAIL, text.lower())
    number = _number(text, region)
    if number is None:
        raise BadAddress(f"{text!r} is neither an email address nor a phone number")
    return Address(PHONE, number)


def numbers_in(text: str, region: str) -> list[str]:
    """The phone numbers written in a text (its signature, most often), in E.164.

    Only the lines holding as many digits together as the shortest number could have
    are searched: the matcher tries every run of digits it finds (a date, an amount, a
    quoted message's times), which costs far more than telling the lines apart."""
    has_number = _digit_run(region)
    lines = [line for line in text[-SCANNED_CHARACTERS:].splitlines() if has_number.search(line)]
    if not lines:
        return []
    scanned = "\n".join(lines)
    if len(scanned) <= CACHED_LINES_MAX:
        return list(_matched_once(scanned, region))
    return list(_matched(scanned, region))


@functools.lru_cache(maxsize=CACHED_LINES)
def _matched_once(lines: str, region: str) -> tuple[str, ...]:
    return _matched(lines, region)


def _matched(lines: str, region: str) -> tuple[str, ...]:
    """The distinct numbers the phone numbers library finds in `lines`, in E.164."""
    found: list[str] = []
    matcher = phonenumbers.PhoneNumberMatcher(lines, region, leniency=phonenumbers.Leniency.POSSIBLE)
    for match in matcher:
        number = phonenumbers.format_number(match.number, phonenumbers.PhoneNumberFormat.E164)
        if number not in found:
            found.append(number)
        if len(found) == NUMBERS_LOOKED_UP:
            break
    return tuple(found)


@functools.lru_cache(maxsize=8)
def _digit_run(region: str) -> re.Pattern[str]:
    """A run of digits as long as the shortest number written in `region`: its own
    numbers as dialled there, or any country's with its calling code (+43 1234)."""
    shortest = min(
        _shortest(code) + len(str(phonenumbers.country_code_for_region(code)))
        for code in phonenumbers.SUPPORTED_REGIONS
    )
    shortest = min(shortest, _shortest(region.upper()))
    return re.compile(rf"\d(?:{_BETWEEN_DIGITS}\d){{{shortest - 1}}}")


def _shortest(region: str) -> int:
    """How many digits the shortest number of `region` has, dialled there."""
    metadata = PhoneMetadata.metadata_for_region(region)
    lengths = metadata.general_desc.possible_length if metadata and metadata.general_desc else ()
    return min(lengths, default=_LONGEST_NUMBER)


def _number(text: str, region: str) -> str | None:
    if not text or len(text) > 64:
        return None
    try:
        parsed = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(parsed):
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
