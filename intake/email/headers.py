"""Reading headers and MIME parameters of real mail without ever raising.

The modern policy (email.policy.default) decodes most headers well, but raises
IndexError and friends on some real Message-ID, To and parameter values, and turns
unknown charsets and raw 8-bit bytes into replacement characters without saying so.
Each reader here tries the modern value first and falls back to the raw value read
with compat32 rules, decoded by intake.email.text; every fallback is recorded.
Long headers skip the modern reading: its cost grows with the square of their length.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from email.headerregistry import HeaderRegistry
from email.message import Message
from email.policy import EmailPolicy, compat32, default
from email.utils import getaddresses, unquote
from functools import cached_property, lru_cache
from typing import TypeVar

from intake.email.text import (
    clean,
    decode_bytes,
    decode_header_text,
    fix_raw_8bit,
    needs_redecoding,
    unknown_word_charsets,
)

T = TypeVar("T")

# Past this many characters the modern header parser takes seconds and gigabytes, and
# the lenient reading (linear) gives the same text for real mail.
MODERN_HEADER_MAX = 16 * 1024


# Header values this short are parsed once and kept: a message's Content-Type is read
# four or five times on its way (charset, body, machine mail), and senders, dates and
# content types repeat from one message to the next. Longer ones are parsed each time,
# so that hostile mail cannot fill the cache.
CACHED_HEADER_MAX = 1024
CACHED_HEADERS = 512

# An RFC 2047 encoded word: "=?charset?B?text?=", no space or "?" inside its parts.
_ENCODED_WORD = re.compile(r"=\?[^?\s]+\?[bBqQ]\?[^?\s]*\?=")
_WORDS_SIDE_BY_SIDE = re.compile(_ENCODED_WORD.pattern + r"\s+=\?")
# What an encoded word is set aside as while an address header is split: an atom of
# private-use characters and digits, which no header read from bytes holds (its
# non-ASCII bytes are read as surrogates).
_STAND_IN = "\ue000{}\ue001"
_STAND_INS = re.compile("\ue000[0-9]+\ue001")


class HeaderClasses(HeaderRegistry):
    """The modern policy's header registry, making each kind of header's class once: the
    library's makes it anew, with type(), for every header it parses, which cost more
    than parsing a short Message-ID. One class a kind (address, date, unstructured...),
    however many header names the mail brings."""

    def __init__(self) -> None:
        super().__init__()
        self._made: dict[type, type] = {}

    def __getitem__(self, name: str) -> type:
        kind = self.registry.get(name.lower(), self.default_class)
        made = self._made.get(kind)
        if made is None:
            made = self._made[kind] = super().__getitem__(name)
        return made


MODERN = default.clone(header_factory=HeaderClasses())


@lru_cache(maxsize=CACHED_HEADERS)
def _parsed_header(name: str, value: str) -> str:
    parsed: str = MODERN.header_fetch_parse(name, value)  # a header object, a str subclass
    return parsed


class ParsedOnce(EmailPolicy):
    """The modern policy (email.policy.default), parsing each short header value once.

    Its header objects are immutable, so one parse serves every read of the same
    (name, value); an error is raised again at every read, as without the cache.
    """

    def header_fetch_parse(self, name: str, value: str) -> str:
        if isinstance(value, str) and len(value) <= CACHED_HEADER_MAX:
            return _parsed_header(name, value)
        parsed: str = super().header_fetch_parse(name, value)
        return parsed


READING_POLICY = ParsedOnce(header_factory=MODERN.header_factory)


class HeaderReader:
    """Reads one message part's headers, recording each problem in `defects`.

    `hint` is the charset the message declares for its body: the best guess for raw
    8-bit bytes in its headers.
    """

    def __init__(self, part: Message, defects: list[str], hint: str | None = None) -> None:
        self.part = part
        self.defects = defects
        self.hint = hint

    def text(self, name: str) -> str:
        """The header's value as one line of text, "" when it is absent."""
        raw = self._raw(name)
        if raw is None:
            return ""
        what = f"header {name}"
        if isinstance(self.part.policy, EmailPolicy) and len(raw) <= MODERN_HEADER_MAX:
            try:
                value = str(self.part.policy.header_fetch_parse(name, raw))
            except Exception as error:  # the modern header parser fails on some real headers
                self.defects.append(f"{what} unreadable by the modern parser ({type(error).__name__})")
            else:
                if not needs_redecoding(value) or "\ufffd" in raw:
                    for charset in unknown_word_charsets(raw):
                        self.defects.append(f"unknown charset {charset!r} in {what}; decoded by guessing")
                    return clean(" ".join(value.split()))
        return decode_header_text(raw, self.hint, self.defects, what)

    def all(self) -> tuple[tuple[str, str], ...]:
        """Every header as (name, one line of text), in order, for the routing rules.

        Problems are not recorded again here: the reads above record those that matter.
        """
        return tuple(
            (name, decode_header_text(str(raw), self.hint, [], f"header {name}"))
            for name, raw in self.part.raw_items()
        )

    def addresses(self, *names: str) -> list[tuple[str, str]]:
        """(display name, address) pairs of address headers, in the order given."""
        return [pair for name in names for raw in self._raw_values(name) for pair in self._pairs(name, raw)]

    def filename(self) -> str | None:
        """The part's file name, decoded whatever way the sender's program encoded it."""
        name = self.read("file name", lambda p: p.get_filename(), None)
        if name is not None and needs_redecoding(name):
            name = self._compat32_filename()
        if name is None:
            return None
        # Many mail programs put RFC 2047 encoded words inside parameters.
        return decode_header_text(name, self.hint, self.defects, "attachment file name")

    def _compat32_filename(self) -> str | None:
        """The file name from the raw parameters: RFC 2231 in any charset, or raw 8-bit."""
        what = "attachment file name"
        copy = compat32_headers(self.part)
        for header, param in (("content-disposition", "filename"), ("content-type", "name")):
            value = copy.get_param(param, header=header)
            if isinstance(value, tuple):  # RFC 2231: (charset, language, bytes as latin-1)
                charset, _, text = value
                data = str(text).encode("latin-1", errors="replace")
                return decode_bytes(data, charset or None, self.defects, what)
            if value is not None:
                return unquote(value)
        return None

    def content_type(self) -> str:
        """The part's lower-case content type, text/plain when it cannot be read."""
        return self.read("Content-Type", lambda p: p.get_content_type(), "text/plain")

    def read(self, what: str, reader: Callable[[Message], T], default: T) -> T:
        """Call `reader` on the part; on failure again on a compat32 copy of its headers."""
        try:
            return reader(self.part)
        except Exception as error:  # e.g. IndexError on `name*` parameters
            self.defects.append(f"{what} unreadable by the modern parser ({type(error).__name__})")
        try:
            return reader(compat32_headers(self.part))
        except Exception as error:  # compat32 is lenient, but stay safe on hostile input
            self.defects.append(f"{what} unreadable ({type(error).__name__})")
            return default

    def _raw(self, name: str) -> str | None:
        values = self._raw_values(name)
        return values[0] if values else None

    def _raw_values(self, name: str) -> list[str]:
        return self._by_name.get(name.lower(), [])

    @cached_property
    def _by_name(self) -> dict[str, list[str]]:
        """The part's raw header values by lower-case name, in order: a message's headers
        are read a dozen times over (the parser, machine mail), each once here."""
        found: dict[str, list[str]] = {}
        for key, value in self.part.raw_items():
            found.setdefault(key.lower(), []).append(str(value))
        return found

    def _pairs(self, name: str, raw: str) -> list[tuple[str, str]]:
        what = f"header {name}"
        pairs = []
        try:
            # compat32 gives a plain string here: no addresses, read from the raw value below.
            if len(raw) <= MODERN_HEADER_MAX:
                header: object = self.part.policy.header_fetch_parse(name, raw)
                pairs = [(str(a.display_name), str(a.addr_spec)) for a in getattr(header, "addresses", ())]
        except Exception as error:  # the modern address parser fails on some real headers
            self.defects.append(f"{what} unreadable by the modern parser ({type(error).__name__})")
        if not pairs or any(needs_redecoding(n + a) for n, a in pairs):
            return self._lenient_pairs(raw, what)
        if _names_read_better_leniently(raw, pairs):
            return self._with_lenient_names(pairs, raw, what)
        return [(clean(n), clean(a)) for n, a in pairs]

    def _lenient_pairs(self, raw: str, what: str) -> list[tuple[str, str]]:
        """The pairs read from the raw value by compat32's rules, their encoded words decoded."""
        return [
            (decode_header_text(n, self.hint, self.defects, what), decode_header_text(a, None, [], what))
            for n, a in _split_addresses(raw)
        ]

    def _with_lenient_names(self, pairs: list[tuple[str, str]], raw: str, what: str) -> list[tuple[str, str]]:
        """The modern reading's addresses with the lenient reading's names, where both
        readings find the same addresses."""
        lenient = self._lenient_pairs(raw, what)
        if [a for _, a in lenient] != [a for _, a in pairs]:
            lenient = pairs
        return [(clean(named or n), clean(a)) for (n, a), (named, _) in zip(pairs, lenient, strict=True)]


def _names_read_better_leniently(raw: str, pairs: list[tuple[str, str]]) -> bool:
    """Whether the modern reading misses or mangles names that the lenient one reads: a name
    old mail programs write as a comment after the address ("root@client.example (Cron
    Daemon)"), which it drops, and encoded words side by side, which it joins with the
    space between them (RFC 2047 6.2: none; a long name is split anywhere, even in a word).
    """
    commented = "(" in raw and not all(n for n, _ in pairs)
    return commented or _WORDS_SIDE_BY_SIDE.search(raw) is not None


def _split_addresses(raw: str) -> list[tuple[str, str]]:
    """(display name, address) pairs of a raw address header, by compat32's lenient rules.

    Each encoded word is set aside while the header is split: the text it encodes may
    hold ",", ":", "@" or a line break, none of which separates addresses.
    """
    words: dict[str, str] = {}

    def set_aside(match: re.Match[str]) -> str:
        stand_in = _STAND_IN.format(len(words))
        words[stand_in] = match.group()
        return stand_in

    def put_back(text: str) -> str:
        return _STAND_INS.sub(lambda match: words.get(match.group(), match.group()), text)

    pairs = getaddresses([_ENCODED_WORD.sub(set_aside, raw)])
    return [(put_back(name), put_back(address)) for name, address in pairs if address]


def identifiers(text: str) -> str:
    """A Message-ID, In-Reply-To or References value without its comments, in one line.

    RFC 5322 allows comments around message identifiers ("<a@b> (sent from my phone)");
    a reply names the identifier alone, and must find it.
    """
    return " ".join(_without_comments(text).split())


def _without_comments(text: str) -> str:
    """`text` without its RFC 5322 comments: "(...)", nested, "\\)" escaped, none inside a
    quoted string."""
    if "(" not in text:
        return text
    kept: list[str] = []
    depth = 0
    quoted = escaped = False
    for char in text:
        opens = char == "(" and not (quoted or escaped)
        closes = char == ")" and depth > 0 and not escaped
        if depth == 0 and not opens:
            kept.append(char)
        depth += opens - closes
        quoted = quoted != (char == '"' and depth == 0 and not escaped)
        escaped = char == "\\" and not escaped
    return "".join(kept)


def compat32_headers(part: Message) -> Message:
    """A body-less copy of `part` whose headers are read with the lenient compat32 rules.

    Raw 8-bit bytes are decoded first (UTF-8, else windows-1252): compat32 would turn
    them into replacement characters.
    """
    copy = Message(policy=compat32)
    for name, value in part.raw_items():
        copy[name] = fix_raw_8bit(str(value), None, [], name)
    return copy
