"""An email address or a phone number in the one form contacts store it in.

Addresses are kept in lower case; numbers in E.164 (+441632960000), read with the
`phonenumbers` library in the office's region, so that "07700 900123" in an email's
signature is the number "+447700900123" that texted the office.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import phonenumbers

EMAIL = "email"
PHONE = "phone"
# A signature is at the end of a text: only so much of it is searched for numbers, and
# only so many numbers are looked up, however long the text.
SCANNED_CHARACTERS = 20_000
NUMBERS_LOOKED_UP = 5
# A digit of any script, as the phone number matcher's pattern reads one.
_DIGIT = re.compile(r"\d")
MAX_ADDRESS = 320


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
    """The phone numbers written in a text (its signature, most often), in E.164."""
    found: list[str] = []
    scanned = text[-SCANNED_CHARACTERS:]
    if _DIGIT.search(scanned) is None:
        return found  # the matcher's every candidate holds a digit; its search costs far more
    matcher = phonenumbers.PhoneNumberMatcher(scanned, region, leniency=phonenumbers.Leniency.POSSIBLE)
    for match in matcher:
        number = phonenumbers.format_number(match.number, phonenumbers.PhoneNumberFormat.E164)
        if number not in found:
            found.append(number)
        if len(found) == NUMBERS_LOOKED_UP:
            break
    return found


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
