"""Budgets over a message's raw bytes, checked before the parser sees them.

Python's `email` package is quadratic in time and memory in RFC 2047 encoded words,
RFC 2231 parameters, addresses and the length of one header, and it takes every MIME
part apart before any count of parts can stop it: one hostile mail of a megabyte costs
gigabytes. The scans here are linear and cheap. They count what the parser would have
to do and say which budget a message breaks, so that it is stored raw and marked
instead of parsed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from config.settings import EmailSettings

# One header with its folded lines: name, colon, value.
_HEADER = re.compile(rb"^([!-9;-~]+)[ \t]*:(.*(?:\r?\n[ \t].*)*)", re.MULTILINE)
# A MIME part's own headers, wherever they are in the body.
_PART_HEADER = re.compile(rb"^content-[!-9;-~]*[ \t]*:(.*(?:\r?\n[ \t].*)*)", re.MULTILINE | re.IGNORECASE)
# The start of an RFC 2047 encoded word: "=?charset?B?" or "=?charset*lang?q?".
_ENCODED_WORD = re.compile(rb"=\?[^?\s]*\?[bBqQ]\?")
_END_OF_HEADERS = re.compile(rb"\r?\n\r?\n")
# A line that may open or close a MIME part: an upper bound of the parts that follow.
_BOUNDARY_LINE = re.compile(rb"^--", re.MULTILINE)
# The headers read as lists of addresses.
_ADDRESS_HEADERS = frozenset(
    name.encode()
    for name in (
        "from",
        "sender",
        "reply-to",
        "to",
        "cc",
        "bcc",
        "resent-from",
        "resent-sender",
        "resent-to",
        "resent-cc",
        "resent-bcc",
        "disposition-notification-to",
        "return-receipt-to",
    )
)


@dataclass(frozen=True)
class HeaderBudgets:
    """How much header the parser is given; a message past one is stored raw only."""

    max_header_bytes: int = EmailSettings.max_header_bytes
    max_header_size: int = EmailSettings.max_header_size
    max_headers: int = EmailSettings.max_headers
    max_encoded_words: int = EmailSettings.max_encoded_words
    max_parameters: int = EmailSettings.max_parameters
    max_addresses: int = EmailSettings.max_addresses

    @classmethod
    def from_settings(cls, email: EmailSettings) -> HeaderBudgets:
        return cls(
            email.max_header_bytes,
            email.max_header_size,
            email.max_headers,
            email.max_encoded_words,
            email.max_parameters,
            email.max_addresses,
        )


def header_overrun(raw: bytes, budgets: HeaderBudgets) -> str | None:
    """The budget the message's own headers break, said as a defect; None within all."""
    end = _END_OF_HEADERS.search(raw)
    section = raw[: end.start()] if end else raw
    if len(section) > budgets.max_header_bytes:
        return f"over limit: the headers are {len(section)} bytes (limit {budgets.max_header_bytes})"
    for count, match in enumerate(_HEADER.finditer(section), start=1):
        if count > budgets.max_headers:
            return f"over limit: more than {budgets.max_headers} headers"
        name = match.group(1)
        # Parameters are read in the Content-* headers only; elsewhere ";" means nothing.
        has_parameters = name.lower().startswith(b"content-")
        has_addresses = name.lower() in _ADDRESS_HEADERS
        overrun = _one_header_overrun(
            f"header {name.decode('ascii')}", match.group(2), budgets, has_parameters, has_addresses
        )
        if overrun:
            return overrun
    return None


def part_header_overrun(raw: bytes, budgets: HeaderBudgets) -> str | None:
    """The budget a MIME part's header breaks anywhere in the message; None within all.

    The parser reads every part's Content-Type to find its boundary, so these headers
    cost as much as the message's own.
    """
    for match in _PART_HEADER.finditer(raw):
        overrun = _one_header_overrun("a MIME part's Content header", match.group(1), budgets, True, False)
        if overrun:
            return overrun
    return None


def _one_header_overrun(
    what: str, value: bytes, budgets: HeaderBudgets, has_parameters: bool, has_addresses: bool
) -> str | None:
    """Counts are upper bounds: ";" comes before every parameter, "," or "@" with every address."""
    if len(value) > budgets.max_header_size:
        return f"over limit: {what} is {len(value)} bytes (limit {budgets.max_header_size})"
    words = sum(1 for _ in _ENCODED_WORD.finditer(value))
    if words > budgets.max_encoded_words:
        return f"over limit: {what} has {words} encoded words (limit {budgets.max_encoded_words})"
    parameters = value.count(b";") if has_parameters else 0
    if parameters > budgets.max_parameters:
        return f"over limit: {what} has {parameters} parameters (limit {budgets.max_parameters})"
    addresses = max(value.count(b",") + 1, value.count(b"@")) if has_addresses else 0
    if addresses > budgets.max_addresses:
        return f"over limit: {what} has {addresses} addresses (limit {budgets.max_addresses})"
    return None


def cut_at_boundary_lines(raw: bytes, most: int) -> tuple[bytes, str | None]:
    """`raw` up to its `most`+1-th line starting "--", and a defect when it was cut.

    Every MIME part opens with such a line and every multipart closes with one, so the
    bytes kept hold all the parts a walk within the part limit reads.
    """
    for number, match in enumerate(_BOUNDARY_LINE.finditer(raw), start=1):
        if number > most:
            defect = f"over limit: more than {most} MIME boundary lines; the rest is in the raw message"
            return raw[: match.start()], defect
    return raw, None
