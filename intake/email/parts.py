"""A parsed MIME tree -> the text for the queue, the HTML, and the attachments.

Inline text/plain parts make the text (several are joined: some mail programs split
the body around an inline image); without one, the HTML parts turned into text do.
Everything else is an attachment with a safe file name: images (linked to the HTML by
Content-ID), files, calendar invites, winmail.dat (kept as it came: no TNEF library is
kept up well enough to trust with hostile input), and whole forwarded messages
(message/rfc822, kept as one .eml rather than taken apart). The walk stops at the
configured number of parts and nesting depth, recording what it left in the raw bytes.
"""

from __future__ import annotations

import mimetypes
import re
import unicodedata
from dataclasses import dataclass, field
from email.generator import BytesGenerator
from email.message import Message
from email.policy import compat32
from io import BytesIO

from intake.email.headers import HeaderReader
from intake.email.html_text import html_to_text
from intake.email.text import clean, decode_bytes
from routing.message import Attachment

BODY_TYPES = ("text/plain", "text/html")
# Column widths of the attachment table.
MAX_FILENAME = 200
MAX_FIELD = 255
# Messages inside a message are regenerated with the lenient rules and CRLF line ends.
_REGENERATE = compat32.clone(linesep="\r\n")
_EXTENSIONS = {"message/rfc822": ".eml", "message/delivery-status": ".txt", "application/ms-tnef": ".dat"}


@dataclass(frozen=True)
class PartLimits:
    """How much of a MIME tree is taken apart; the raw message always keeps all of it."""

    max_parts: int
    max_depth: int


@dataclass
class Body:
    """What the walk found, in the order the message gives it."""

    plain: list[str] = field(default_factory=list)
    html: list[str] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)
    parts_seen: int = 0

    @property
    def text(self) -> str:
        """The plain parts, or the HTML parts made readable where the plain ones are blank."""
        plain = "\n\n".join(p.strip() for p in self.plain if p.strip())
        text = plain or "\n\n".join(html_to_text(h) for h in self.html)
        return re.sub(r"\r\n?", "\n", text).strip()


def read_body(message: Message, limits: PartLimits, defects: list[str]) -> Body:
    """Walk the MIME tree of `message` within `limits`."""
    body = Body()
    _walk(message, 0, body, limits, defects)
    return body


def _walk(part: Message, depth: int, body: Body, limits: PartLimits, defects: list[str]) -> None:
    if body.parts_seen >= limits.max_parts:
        defects.append(f"over limit: more than {limits.max_parts} MIME parts; the rest is in the raw message")
        return
    if depth > limits.max_depth:
        defects.append(
            f"over limit: MIME nesting deeper than {limits.max_depth}; the rest is in the raw message"
        )
        return
    body.parts_seen += 1
    defects.extend(describe_defect(defect) for defect in part.defects)
    headers = HeaderReader(part, defects)
    content_type = headers.content_type()
    try:
        children = part.get_payload()
    except Exception as error:  # e.g. ValueError on a NUL in the charset parameter
        defects.append(f"part unreadable ({type(error).__name__}); kept in the raw message")
        return
    if content_type.startswith("multipart/") and isinstance(children, list):
        for child in children:
            if isinstance(child, Message):
                _walk(child, depth + 1, body, limits, defects)
    elif content_type.startswith("multipart/"):
        defects.append(f"{content_type} part without a usable boundary; read as text")
        body.plain.append(_text(part, headers, defects))
    elif _is_body(headers, content_type):
        target = body.plain if content_type == "text/plain" else body.html
        target.append(_text(part, headers, defects))
    else:
        body.attachments.append(_attachment(part, headers, content_type, len(body.attachments) + 1, defects))


def describe_defect(defect: Exception) -> str:
    """One of the email package's defects in words: its name and its explanation."""
    # Some defects carry the offending line, which may be blank or very long.
    explanation = " ".join(str(defect).split())[:200] or " ".join((type(defect).__doc__ or "").split())
    return f"{type(defect).__name__}: {explanation}" if explanation else type(defect).__name__


def _is_body(headers: HeaderReader, content_type: str) -> bool:
    if content_type not in BODY_TYPES:
        return False
    disposition = headers.read("Content-Disposition", lambda p: p.get_content_disposition(), None)
    filename = headers.read("file name", lambda p: p.get_filename(), None)
    return disposition != "attachment" and not filename


def _text(part: Message, headers: HeaderReader, defects: list[str]) -> str:
    charset = headers.read("charset", lambda p: p.get_content_charset(), None)
    return clean(decode_bytes(_content(part, defects), charset or "us-ascii", defects, "body text"))


def _content(part: Message, defects: list[str]) -> bytes:
    """The decoded bytes of a part; a message inside a message as its own raw bytes."""
    payload = part.get_payload()
    if isinstance(payload, list):
        return _regenerated_body(part, defects)
    try:
        data = part.get_payload(decode=True)
    except Exception as error:  # a broken transfer encoding must not lose the part
        defects.append(f"part could not be decoded ({type(error).__name__}); kept as sent")
        data = None
    if isinstance(data, bytes):
        return data
    return str(payload).encode("utf-8", errors="surrogateescape")


def _regenerated_body(part: Message, defects: list[str]) -> bytes:
    out = BytesIO()
    try:
        BytesGenerator(out, mangle_from_=False, policy=_REGENERATE).flatten(part)
    except Exception as error:  # hostile nesting or headers the generator cannot write
        defects.append(f"enclosed message could not be rewritten ({type(error).__name__})")
        return b""
    whole = out.getvalue()
    # The generator writes the part's own headers first; a part without any starts blank.
    if not part.keys():
        return whole.removeprefix(b"\r\n")
    return whole.partition(b"\r\n\r\n")[2]


def _attachment(
    part: Message, headers: HeaderReader, content_type: str, number: int, defects: list[str]
) -> Attachment:
    content_id = headers.text("Content-ID").strip("<> ")[:MAX_FIELD] or None
    disposition = headers.read("Content-Disposition", lambda p: p.get_content_disposition(), None)
    return Attachment(
        filename=safe_filename(_filename(part, headers, content_type), number, content_type),
        content_type=clean(content_type)[:MAX_FIELD],
        content=_content(part, defects),
        content_id=content_id,
        inline=disposition == "inline" or (content_id is not None and disposition != "attachment"),
    )


def _filename(part: Message, headers: HeaderReader, content_type: str) -> str | None:
    """The part's own file name; a forwarded message is named after its subject."""
    name = headers.filename()
    if name is None and content_type == "message/rfc822":
        children = part.get_payload()
        if isinstance(children, list) and children and isinstance(children[0], Message):
            name = HeaderReader(children[0], []).text("Subject") or None
    return name


def safe_filename(name: str | None, number: int, content_type: str = "application/octet-stream") -> str:
    """A file name that is safe to show and to offer for download: no folders, no "../"."""
    base = re.split(r"[\\/]", clean(name or ""))[-1]
    base = re.sub(r'[\x00-\x1f\x7f<>:"|?*]', "", base)
    # Format characters (bidi overrides, zero-width joiners) make "exe.pdf" show as ".pdf".
    base = "".join(c for c in base if unicodedata.category(c) != "Cf").strip().lstrip(". ")
    extension = _EXTENSIONS.get(content_type) or mimetypes.guess_extension(content_type) or ""
    if not base:
        return f"attachment-{number}{extension}"
    if content_type == "message/rfc822" and not base.lower().endswith(".eml"):
        base += ".eml"
    if len(base) > MAX_FILENAME:
        stem, dot, suffix = base.rpartition(".")
        keep = "." + suffix[:16] if dot and stem else ""
        base = base[: MAX_FILENAME - len(keep)] + keep
    return base
