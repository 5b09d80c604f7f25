"""The normalized message: what every channel adapter hands to deliver().

Adapters turn their wire format (an .eml, a Twilio form) into one InboundMessage;
nothing after that point knows which wire a message came over.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class Attachment:
    """A file that came with a message: a mail part, an MMS photo, a recording."""

    filename: str
    content_type: str
    content: bytes
    content_id: str | None = None
    inline: bool = False

    @property
    def size(self) -> int:
        return len(self.content)


@dataclass(frozen=True)
class Placement:
    """A department a person chose for a message they took down themselves.

    The router puts the message there before any rule runs; rules may still add a
    priority or tags, but not move it.
    """

    department_id: str
    by: str


# Every channel a message can come by: the adapters', then the messages taken by hand
# (intake.desk.hand_taken.KINDS, named here because routing imports nothing from intake).
CHANNELS = ("email", "sms", "whatsapp", "voicemail", "phone-note", "visit", "post")
# The kinds of mail written by a machine, as intake.email.machine_mail tells them.
MACHINE_KINDS = ("bounce", "read-receipt", "complaint", "auto-reply", "auto-generated", "list", "bulk")


@dataclass(frozen=True)
class InboundMessage:
    """One message from outside the office, whatever channel it came over.

    `idempotency_key` is the natural key of the message on its channel (an email's
    Message-ID, Twilio's MessageSid); delivering two messages with the same key makes
    one item. `raw` is the message exactly as it arrived, kept so it can be re-parsed.
    """

    channel: str
    sender: str
    recipients: tuple[str, ...]
    subject: str
    text: str
    idempotency_key: str
    received_at: datetime
    raw: bytes
    raw_content_type: str
    html: str | None = None
    attachments: tuple[Attachment, ...] = ()
    message_id: str | None = None
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()
    sender_name: str | None = None
    # Set for mail written by a machine, not a person: "bounce", "auto-reply", ...
    machine_kind: str | None = None
    # An email's SMTP envelope sender (MAIL FROM): "" for the null sender, None where no
    # envelope is known (IMAP, an import) and on other channels. Automatic answers go there.
    envelope_sender: str | None = None
    # Email headers as (name, value) pairs, in the order they came; empty on other channels.
    headers: tuple[tuple[str, str], ...] = ()
    parse_defects: tuple[str, ...] = field(default=())
    # Set only when a person took the message by hand and chose where it goes.
    placement: Placement | None = None

    def __post_init__(self) -> None:
        if self.received_at.tzinfo is None:
            raise ValueError("received_at must be timezone-aware")
        if not self.idempotency_key:
            raise ValueError("idempotency_key must not be empty")


def content_hash(raw: bytes) -> str:
    """The key used for a message that carries no natural identifier of its own."""
    return hashlib.sha256(raw).hexdigest()
