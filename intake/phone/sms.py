"""Twilio's messaging webhook (SMS, MMS, WhatsApp) turned into an InboundMessage.

A pure function of the form Twilio posts: no network, no database. Media is only
named here (URL and type); the bytes are fetched later by the download worker.
"""

from __future__ import annotations

import mimetypes
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from intake.email.text import clean
from routing.message import InboundMessage

FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"
WHATSAPP = "whatsapp:"
MAX_MEDIA = 10  # Twilio sends at most ten media per message
# Senders that are not a person's phone: short codes and alphanumeric sender IDs.
_PERSONAL_NUMBER = re.compile(r"^\+[1-9][0-9]{7,14}$")
_AUTOMATED_WORDS = re.compile(r"\b(do not reply|no-?reply|reply stop|text stop|verification code)\b", re.I)


class BadWebhook(ValueError):
    """A signed webhook that lacks what Intake needs; the message names the field."""


@dataclass(frozen=True)
class MediaRef:
    url: str
    content_type: str
    filename: str


@dataclass(frozen=True)
class TwilioMessage:
    message: InboundMessage
    media: tuple[MediaRef, ...]


def parse_message(form: Mapping[str, str], raw: bytes, received_at: datetime) -> TwilioMessage:
    """The item a messaging webhook makes, keyed by MessageSid, and the media to fetch."""
    form = storable(form)
    sid = required(form, "MessageSid")
    sender, called = required(form, "From"), required(form, "To")
    channel = "whatsapp" if sender.startswith(WHATSAPP) else "sms"
    sender, called = _number(sender), _number(called)
    body = form.get("Body", "")
    media, defects = _media(form, sid)
    message = InboundMessage(
        channel=channel,
        sender=sender,
        recipients=(called,),
        subject=_subject(channel, sender, body),
        text=body,
        idempotency_key=sid,
        received_at=received_at,
        raw=raw,
        raw_content_type=FORM_CONTENT_TYPE,
        machine_kind=None if _looks_personal(sender, body) else "automated",
        parse_defects=defects,
    )
    return TwilioMessage(message, media)


def storable(form: Mapping[str, str]) -> dict[str, str]:
    """The form's values as any database stores them: PostgreSQL refuses NUL in text.
    The raw form keeps them as they came."""
    return {name: clean(value) for name, value in form.items()}


def required(form: Mapping[str, str], name: str) -> str:
    value = form.get(name, "").strip()
    if not value:
        raise BadWebhook(f"the webhook has no {name}")
    return value


def _number(value: str) -> str:
    return value.removeprefix(WHATSAPP)


def _subject(channel: str, sender: str, body: str) -> str:
    kind = "WhatsApp message" if channel == "whatsapp" else "Text message"
    first_line = body.strip().splitlines()[0][:60] if body.strip() else ""
    return f"{kind} from {sender}" + (f": {first_line}" if first_line else "")


def _media(form: Mapping[str, str], sid: str) -> tuple[tuple[MediaRef, ...], tuple[str, ...]]:
    count_text = form.get("NumMedia", "0").strip() or "0"
    if not (count_text.isascii() and count_text.isdigit()) or int(count_text) > MAX_MEDIA:
        return (), (f"NumMedia {count_text!r} is not a number from 0 to {MAX_MEDIA}",)
    media, defects = [], []
    for index in range(int(count_text)):
        url = form.get(f"MediaUrl{index}", "").strip()
        if not url:
            defects.append(f"MediaUrl{index} is missing")
            continue
        content_type = form.get(f"MediaContentType{index}", "").strip() or "application/octet-stream"
        extension = mimetypes.guess_extension(content_type) or ".bin"
        media.append(MediaRef(url, content_type, f"{sid}-{index}{extension}"))
    return tuple(media), tuple(defects)


def _looks_personal(sender: str, body: str) -> bool:
    """False for texts a machine sent (short codes, sender IDs, "reply STOP"): never answer those."""
    return bool(_PERSONAL_NUMBER.match(sender)) and not _AUTOMATED_WORDS.search(body)
