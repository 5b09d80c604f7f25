"""Raw email bytes -> InboundMessage: a pure function, no network, no database.

Python's `email` package with the modern policy does the parsing; where it raises on
real-world mail the compat32 policy takes over, and where even that fails (nesting
too deep for the parser) the headers alone are read. Budgets checked on the raw bytes
first (intake.email.budgets) keep hostile mail from costing gigabytes: past one, the
message is stored raw only, or its headers alone are read. Whatever happens, the raw bytes
are kept and the problems met are recorded as parse defects, never raised: should a
bug of ours still raise, the message is kept raw only, with the envelope's addresses.
"""

from __future__ import annotations

import email
import email.policy
import hashlib
import logging
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import Message
from email.parser import BytesHeaderParser

from config.settings import EmailSettings, Settings, SmtpSettings
from intake.email.budgets import HeaderBudgets, cut_at_boundary_lines, header_overrun, part_header_overrun
from intake.email.headers import READING_POLICY, HeaderReader, identifiers
from intake.email.machine_mail import machine_kind
from intake.email.parts import Body, PartLimits, read_body
from intake.email.text import clean
from routing.message import InboundMessage, content_hash

log = logging.getLogger(__name__)

CHANNEL = "email"
# Longer Message-IDs are hashed so that the key fits its column.
MAX_KEY_LENGTH = 200
# Column widths of the item table.
MAX_ADDRESS = 320
# RFC 5322's longest line: a longer subject is cut, so that a list page stays small.
MAX_SUBJECT = 998
# The headers the sender wrote that decide what a message says and how it is read.
_ORIGINATOR_HEADERS = (
    b"from",
    b"to",
    b"cc",
    b"date",
    b"subject",
    b"content-type",
    b"content-transfer-encoding",
    b"resent-message-id",
)
_ORIGINATORS = frozenset(_ORIGINATOR_HEADERS)
# What an address needs to name a mailbox: a local part (quoted, it may hold spaces) and a domain.
_MAILBOX = re.compile(r"[^@]+@[^@\s]+")
# A line end as the parser reads one, and a CR that is one alone.
_LINE_END = re.compile(rb"\r\n|\r|\n")
_BARE_CR = re.compile(rb"\r(?!\n)")


@dataclass(frozen=True)
class Envelope:
    """What the transport says about a message, beside what its headers say."""

    sender: str | None
    delivered_to: tuple[str, ...]
    recipients: tuple[str, ...]


@dataclass(frozen=True)
class EmailLimits:
    """How much of a message is parsed; past a limit it is stored raw and marked."""

    max_message_size: int = SmtpSettings.max_message_size
    max_parts: int = EmailSettings.max_parts
    max_depth: int = EmailSettings.max_depth
    headers: HeaderBudgets = field(default_factory=HeaderBudgets)

    @classmethod
    def from_settings(cls, settings: Settings) -> EmailLimits:
        email = settings.email
        return cls(
            settings.smtp.max_message_size,
            email.max_parts,
            email.max_depth,
            HeaderBudgets.from_settings(email),
        )


@dataclass(frozen=True)
class ParseJob:
    """One message to parse: its bytes, its envelope, when it came, and the limits."""

    raw: bytes
    envelope: Envelope
    received_at: datetime
    limits: EmailLimits


def parse_email(
    raw: bytes,
    *,
    envelope_sender: str | None = None,
    envelope_recipients: tuple[str, ...] = (),
    delivered_to: tuple[str, ...] = (),
    received_at: datetime | None = None,
    limits: EmailLimits | None = None,
) -> InboundMessage:
    """Turn an RFC 5322 message into the normalized form.

    Recipients are listed in the order the router reads them (it takes the first that
    belongs to a department): `delivered_to` (the office's own mapping, such as an IMAP
    mailbox kept for one department), then To, then Cc, then envelope recipients that
    none names (Bcc). A null envelope sender ("", SMTP's MAIL FROM:<>) marks the
    message as machine-written.
    """
    received_at = received_at or datetime.now(UTC)
    envelope = Envelope(envelope_sender, delivered_to, envelope_recipients)
    limits = limits or EmailLimits()
    readable = _with_line_feeds(raw)
    overrun = header_overrun(readable, limits.headers)
    if overrun:
        return raw_only(raw, envelope, received_at, overrun)
    try:
        return _parse_email(raw, readable, envelope, received_at, limits)
    # Running out of memory is not a parser bug: the caller decides (see intake.email.parse_workers).
    except MemoryError:
        raise
    # A parser bug must never lose a message: it is kept raw, to be parsed again later.
    except Exception as error:
        log.exception("parsing a message of %d bytes failed; storing it raw only", len(raw))
        return raw_only(raw, envelope, received_at, f"parser failed ({type(error).__name__})")


def _parse_email(
    raw: bytes, readable: bytes, envelope: Envelope, received_at: datetime, limits: EmailLimits
) -> InboundMessage:
    defects: list[str] = []
    message, complete = _parse(readable, limits, defects)
    headers = HeaderReader(message, defects, _charset_hint(message))
    body = read_body(message, PartLimits(limits.max_parts, limits.max_depth), defects) if complete else Body()
    name, sender = _sender(headers, envelope.sender, defects)
    # Stored keys read the Message-ID with its comments: so does the key, that copies
    # arriving again find their item.
    written_id = headers.text("Message-ID") or None
    return InboundMessage(
        channel=CHANNEL,
        sender=sender,
        sender_name=name,
        recipients=_recipients(headers, envelope),
        subject=_cut(headers.text("Subject"), MAX_SUBJECT, "Subject", defects),
        text=body.text,
        html="\n".join(body.html) or None,
        attachments=tuple(body.attachments),
        idempotency_key=idempotency_key(written_id, raw),
        message_id=identifiers(written_id or "") or None,
        in_reply_to=identifiers(headers.text("In-Reply-To")) or None,
        references=tuple(identifiers(headers.text("References")).split()),
        received_at=received_at,
        raw=raw,
        raw_content_type="message/rfc822",
        machine_kind=machine_kind(message, headers, sender, envelope.sender),
        envelope_sender=envelope.sender,
        headers=headers.all(),
        parse_defects=tuple(dict.fromkeys(clean(d) for d in defects)),
    )


def _with_line_feeds(raw: bytes) -> bytes:
    """`raw` as the budgets and the parser read it: mail whose first line ends with CR
    alone (old Mac mail programs) with each such CR made a line feed, other mail as it came.

    The parser takes a lone CR for a line end, but the budgets would not, and would count
    the whole message as one header. Other mail is left alone, where a lone CR may be a
    byte of a binary part. One byte for one keeps the message's size.
    """
    first = _LINE_END.search(raw)
    if first is None or first.group() != b"\r":
        return raw
    return _BARE_CR.sub(b"\n", raw)


def raw_only(raw: bytes, envelope: Envelope, received_at: datetime, reason: str) -> InboundMessage:
    """The message kept as its raw bytes alone, addressed as the envelope says.

    For mail that could not be parsed or stored parsed: the raw bytes keep all of it,
    to be parsed again once the fault is mended.
    """
    addresses = (clean(a).lower()[:MAX_ADDRESS] for a in (*envelope.delivered_to, *envelope.recipients))
    return InboundMessage(
        channel=CHANNEL,
        sender=clean(envelope.sender or "").lower()[:MAX_ADDRESS],
        sender_name=None,
        recipients=tuple(dict.fromkeys(addresses)),
        subject="",
        text="",
        idempotency_key=idempotency_key(None, raw),
        received_at=received_at,
        raw=raw,
        raw_content_type="message/rfc822",
        envelope_sender=envelope.sender,
        parse_defects=(clean(f"{reason}; stored raw only"),),
    )


def _parse(raw: bytes, limits: EmailLimits, defects: list[str]) -> tuple[Message, bool]:
    """The parsed message, and whether its body was parsed too (not only its headers)."""
    headers_only = BytesHeaderParser(policy=email.policy.compat32)
    if len(raw) > limits.max_message_size:
        size = f"{len(raw)} bytes (limit {limits.max_message_size})"
        defects.append(f"over limit: message is {size}; only its headers were read")
        return headers_only.parsebytes(raw), False
    overrun = part_header_overrun(raw, limits.headers)
    if overrun:
        defects.append(f"{overrun}; only the message's headers were read")
        return headers_only.parsebytes(raw), False
    # Each part may bring its opening line and its multipart's closing line.
    parsed, cut = cut_at_boundary_lines(raw, 2 * limits.max_parts)
    if cut:
        defects.append(cut)
    try:
        message: Message = email.message_from_bytes(parsed, policy=READING_POLICY)
    except RecursionError:
        defects.append("over limit: MIME nesting too deep to parse; only the headers were read")
        return headers_only.parsebytes(raw), False
    except Exception as error:  # the modern parser raises on some real-world mail
        defects.append(f"modern parser failed ({type(error).__name__}); read with compat32")
        message = email.message_from_bytes(parsed, policy=email.policy.compat32)
    return message, True


def _cut(text: str, longest: int, what: str, defects: list[str]) -> str:
    if len(text) <= longest:
        return text
    defects.append(f"{what} cut to {longest} of its {len(text)} characters; the raw message keeps it whole")
    return text[:longest]


def _charset_hint(message: Message) -> str | None:
    try:
        return message.get_content_charset()
    except Exception:  # a hint only: unreadable means no hint
        return None


def _sender(headers: HeaderReader, envelope_sender: str | None, defects: list[str]) -> tuple[str | None, str]:
    # Each header's first mailbox only: a From that names more ("postmaster, victim@...")
    # is no author to answer past its first.
    firsts = [pairs[0] for pairs in (headers.addresses("From"), headers.addresses("Sender")) if pairs]
    for name, address in firsts:
        if _MAILBOX.fullmatch(address):
            return _sender_name(name, defects), address.lower()[:MAX_ADDRESS]
    # A From without an address ("Ann", "<>", an empty group) names no one to answer.
    named = _sender_name(next((name for name, _ in firsts if name), ""), defects)
    if envelope_sender:
        defects.append("no From address; the sender is the SMTP envelope sender")
        return named, clean(envelope_sender).lower()[:MAX_ADDRESS]
    defects.append("no sender address: the message has no usable From header and no envelope sender")
    return named, ""


def _sender_name(name: str, defects: list[str]) -> str | None:
    return _cut(name, MAX_ADDRESS, "sender name", defects) or None


def _recipients(headers: HeaderReader, envelope: Envelope) -> tuple[str, ...]:
    listed = [address for _, address in headers.addresses("To", "Cc")]
    given = (*envelope.delivered_to, *listed, *envelope.recipients)
    ordered = [clean(a).lower() for a in given if _MAILBOX.fullmatch(a)]
    return tuple(dict.fromkeys(ordered))


def idempotency_key(message_id: str | None, raw: bytes) -> str:
    """The natural key of a message: its Message-ID with a fingerprint of its content.

    Copies of one message (a retry, the same mail fetched over IMAP, a second hop)
    share the Message-ID, originator headers and body, and so the key. The fingerprint
    keeps apart different messages that reuse a Message-ID (broken mail programs do),
    so that neither is lost. Without a Message-ID the whole raw message is the key.
    """
    if not message_id:
        return f"{CHANNEL}:sha256:{content_hash(raw)}"
    fingerprint = _fingerprint(raw)
    key = f"{CHANNEL}:{message_id.strip('<>')}:{fingerprint}"
    if len(key) > MAX_KEY_LENGTH:
        digest = hashlib.sha256(message_id.encode("utf-8", errors="surrogateescape")).hexdigest()
        return f"{CHANNEL}:message-id-sha256:{digest}:{fingerprint}"
    return key


def _fingerprint(raw: bytes) -> str:
    """A hash of what a copy of the message keeps on the way: originator headers and body.

    Trace headers (Received, Return-Path, DKIM and spam verdicts) and line endings
    change from hop to hop, so they are left out.
    """
    lines = _LINE_END.split(raw)
    try:
        end = lines.index(b"")
    except ValueError:
        end = len(lines)
    values = _originator_values(lines[:end])
    kept = [b" ".join(b" ".join(values.get(name, ())).split()) for name in _ORIGINATOR_HEADERS]
    digest = hashlib.sha256(b"\n".join([*kept, *lines[end + 1 :]]).rstrip())
    return digest.hexdigest()[:16]


def _originator_values(header_lines: list[bytes]) -> dict[bytes, list[bytes]]:
    """The lines of the first header of each originator name, its own line's value and
    its continuation lines, read in one pass over the header."""
    found: dict[bytes, list[bytes]] = {}
    value: list[bytes] | None = None
    for line in header_lines:
        if line[:1] in (b" ", b"\t"):
            if value is not None:
                value.append(line)
            continue
        name, colon, rest = line.partition(b":")
        name = name.lower()
        if colon and name in _ORIGINATORS and name not in found:
            value = found[name] = [rest]
        else:
            value = None
    return found
