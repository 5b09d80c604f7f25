"""Raw email bytes -> InboundMessage: a pure function, no network, no database.

Python's `email` package with the modern policy does the parsing; where it raises on
real-world mail the compat32 policy takes over. Whatever happens, the raw bytes are
kept and the problems met are recorded as parse defects, never raised.
"""

from __future__ import annotations

import email
import email.policy
import hashlib
import html as html_lib
import re
from datetime import UTC, datetime
from email.message import Message
from email.utils import getaddresses, parseaddr

from routing.message import Attachment, InboundMessage, content_hash

CHANNEL = "email"
# Longer Message-IDs are hashed so that the key fits its column.
MAX_KEY_LENGTH = 200


def parse_email(
    raw: bytes,
    *,
    envelope_sender: str | None = None,
    envelope_recipients: tuple[str, ...] = (),
    received_at: datetime | None = None,
) -> InboundMessage:
    """Turn an RFC 5322 message into the normalized form.

    The envelope (from SMTP or an IMAP mailbox's configuration), when given, says who
    the message was really for; otherwise the To and Cc headers do.
    """
    defects: list[str] = []
    message = _parse(raw, defects)
    message_id = _header(message, "Message-ID", defects).strip() or None
    text, html, attachments = _body(message, defects)
    name, sender = parseaddr(_header(message, "From", defects))
    recipients = envelope_recipients or _header_recipients(message, defects)
    return InboundMessage(
        channel=CHANNEL,
        sender=sender or envelope_sender or "",
        sender_name=name or None,
        recipients=tuple(r.lower() for r in recipients),
        subject=_header(message, "Subject", defects).strip(),
        text=text,
        html=html,
        attachments=tuple(attachments),
        idempotency_key=_idempotency_key(message_id, raw),
        message_id=message_id,
        in_reply_to=_header(message, "In-Reply-To", defects).strip() or None,
        references=tuple(_header(message, "References", defects).split()),
        received_at=received_at or datetime.now(UTC),
        raw=raw,
        raw_content_type="message/rfc822",
        headers=_all_headers(message),
        parse_defects=tuple(dict.fromkeys(defects)),
    )


def _all_headers(message: Message) -> tuple[tuple[str, str], ...]:
    """Every header, decoded for routing rules; as raw text when the policy cannot decode one."""
    try:
        return tuple((name, str(value)) for name, value in message.items())
    except Exception:  # the modern policy raises on some malformed headers
        return tuple((name, str(value)) for name, value in message.raw_items())


def _parse(raw: bytes, defects: list[str]) -> Message:
    try:
        message: Message = email.message_from_bytes(raw, policy=email.policy.default)
    except Exception as error:  # the modern parser raises on some real-world mail
        defects.append(f"modern parser failed ({type(error).__name__}); read with compat32")
        message = email.message_from_bytes(raw, policy=email.policy.compat32)
    defects.extend(type(defect).__name__ for defect in message.defects)
    return message


def _header(message: Message, name: str, defects: list[str]) -> str:
    try:
        value = message.get(name)
    except Exception as error:  # header folding bugs in the modern policy
        defects.append(f"header {name} unreadable ({type(error).__name__})")
        value = Message.get(message, name)
    if value is None:
        return ""
    try:
        return str(value)
    except Exception:
        defects.append(f"header {name} could not be decoded")
        return str(Message.get(message, name, ""))


def _header_recipients(message: Message, defects: list[str]) -> list[str]:
    fields = [_header(message, "To", defects), _header(message, "Cc", defects)]
    return [address for _, address in getaddresses(fields) if "@" in address]


def _idempotency_key(message_id: str | None, raw: bytes) -> str:
    if not message_id:
        return f"{CHANNEL}:sha256:{content_hash(raw)}"
    key = f"{CHANNEL}:{message_id.strip('<>')}"
    if len(key) > MAX_KEY_LENGTH:
        return f"{CHANNEL}:message-id-sha256:{hashlib.sha256(message_id.encode()).hexdigest()}"
    return key


def _body(message: Message, defects: list[str]) -> tuple[str, str | None, list[Attachment]]:
    plain: str | None = None
    html: str | None = None
    attachments: list[Attachment] = []
    for part in message.walk():
        if part.is_multipart():
            continue
        disposition = part.get_content_disposition()
        content_type = part.get_content_type()
        if disposition != "attachment" and content_type == "text/plain" and plain is None:
            plain = _decoded_text(part, defects)
        elif disposition != "attachment" and content_type == "text/html" and html is None:
            html = _decoded_text(part, defects)
        else:
            attachments.append(_attachment(part, len(attachments) + 1))
    text = plain if plain is not None else html_to_text(html or "")
    return text.strip(), html, attachments


def _decoded_text(part: Message, defects: list[str]) -> str:
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    charset = part.get_content_charset() or "us-ascii"
    try:
        return payload.decode(charset)
    except LookupError:
        defects.append(f"unknown charset {charset!r}; decoded as UTF-8 with replacement")
    except UnicodeDecodeError:
        defects.append(f"text not valid {charset}; decoded with replacement")
    return payload.decode("utf-8", errors="replace")


def _attachment(part: Message, number: int) -> Attachment:
    payload = part.get_payload(decode=True)
    content = payload if isinstance(payload, bytes) else str(part.get_payload()).encode()
    content_id = part.get("Content-ID")
    return Attachment(
        filename=safe_filename(part.get_filename(), number),
        content_type=part.get_content_type(),
        content=content,
        content_id=str(content_id).strip("<> ") if content_id else None,
        inline=part.get_content_disposition() == "inline",
    )


def safe_filename(name: str | None, number: int) -> str:
    """A file name that is safe to show and to offer for download."""
    base = re.split(r"[\\/]", name or "")[-1]
    base = re.sub(r"[\x00-\x1f\x7f]", "", base).strip().lstrip(".")
    return base[:200] or f"attachment-{number}"


_BLOCKS = re.compile(r"<\s*(br|/p|/div|/li|/tr|/h[1-6])\b[^>]*>", re.IGNORECASE)
_HIDDEN = re.compile(r"<(script|style|head)\b.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
_TAGS = re.compile(r"<[^>]+>")


def html_to_text(markup: str) -> str:
    """Readable text from an HTML body, for the queue list and search."""
    text = _HIDDEN.sub("", markup)
    text = _BLOCKS.sub("\n", text)
    text = html_lib.unescape(_TAGS.sub("", text))
    lines = (re.sub(r"[ \t\xa0]+", " ", line).strip() for line in text.splitlines())
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
