"""Twilio's messaging webhook (SMS, MMS, WhatsApp): checked into an inbox Arrival at the
door, turned into an InboundMessage by the inbox worker.

Pure functions of the form Twilio posts: no network, no database. The door and the
worker read the form from the same raw body with `fields_of`, so what the door checked
(the signature, then the envelope) is what the worker reads. Media is only named here
(URL and type); the bytes are fetched later by the download worker.
"""

from __future__ import annotations

import mimetypes
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import parse_qsl

from intake.email.text import clean
from routing.message import InboundMessage, content_hash
from routing.store.inbox import Arrival

FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"
WHATSAPP = "whatsapp:"
MAX_MEDIA = 10  # Twilio sends at most ten media per message
# Twilio's SIDs have 34 characters; the longest kept anywhere (a call's) has room for 64.
MAX_SID = 64
# The longest sender any item keeps (an email address's limit).
MAX_ADDRESS = 320
# Senders that are not a person's phone: short codes and alphanumeric sender IDs.
_PERSONAL_NUMBER = re.compile(r"^\+[1-9][0-9]{7,14}$")
_AUTOMATED_WORDS = re.compile(r"\b(do not reply|no-?reply|reply stop|text stop|verification code)\b", re.I)


class BadWebhook(ValueError):
    """A signed webhook that lacks what Intake needs; the message names the field."""


@dataclass(frozen=True)
class MediaRef:
    """A file an MMS names, by its URL; the download keeps it under `filename`."""

    url: str
    content_type: str | None  # as the webhook announced it in MediaContentType{N}; None for none
    filename: str


@dataclass(frozen=True)
class TwilioMessage:
    message: InboundMessage
    media: tuple[MediaRef, ...]


def fields_of(raw: bytes) -> list[tuple[str, str]]:
    """Every name and value of a webhook's body in order, as Flask reads a form (UTF-8,
    blanks kept), with what is not UTF-8 replaced rather than refused."""
    return parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True)


def form_of(raw: bytes) -> dict[str, str]:
    """The form of a webhook's body: the first value of a repeated name."""
    form: dict[str, str] = {}
    for name, value in fields_of(raw):
        form.setdefault(name, value)
    return form


def arrival_of(form: Mapping[str, str], raw: bytes, received_at: datetime) -> Arrival:
    """What the door commits to the inbox for a messaging webhook's body and the form
    read from it; BadWebhook, before anything is stored, when the form lacks what an
    item needs."""
    channel, sender, called, _ = _envelope(storable(form))
    return Arrival(channel, sender, (called,), raw, received_at)


def parse_message(form: Mapping[str, str], raw: bytes, received_at: datetime) -> TwilioMessage:
    """The item a messaging webhook makes, keyed by MessageSid, and the media to fetch."""
    form = storable(form)
    channel, sender, called, sid = _envelope(form)
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


def raw_only(arrival: Arrival, why: str) -> InboundMessage:
    """The text kept as its raw form alone, addressed as the door recorded it, for a
    form the database refused as read; keyed by MessageSid as the door checked it."""
    sid = storable(form_of(arrival.raw)).get("MessageSid", "").strip() or content_hash(arrival.raw)
    sender = clean(arrival.sender or "")[:MAX_ADDRESS]
    return InboundMessage(
        channel=arrival.channel,
        sender=sender,
        recipients=tuple(clean(number)[:MAX_ADDRESS] for number in arrival.recipients),
        subject=_subject(arrival.channel, sender, ""),
        text="",
        idempotency_key=sid,
        received_at=arrival.received_at,
        raw=arrival.raw,
        raw_content_type=FORM_CONTENT_TYPE,
        parse_defects=(clean(f"{why}; stored raw only"),),
    )


def _envelope(form: Mapping[str, str]) -> tuple[str, str, str, str]:
    """The channel, the sender's and the called number, and the MessageSid; BadWebhook
    when one is missing or the SID is longer than any of Twilio's."""
    sid = required(form, "MessageSid")
    if len(sid) > MAX_SID:
        raise BadWebhook(
            f"the webhook's MessageSid has {len(sid)} characters, more than a Twilio SID's {MAX_SID}"
        )
    sender, called = required(form, "From"), required(form, "To")
    channel = "whatsapp" if sender.startswith(WHATSAPP) else "sms"
    return channel, _number(sender), _number(called), sid


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
        announced = form.get(f"MediaContentType{index}", "").strip()
        # None announced is named as plain bytes, as ever: the filename is the download's key.
        extension = mimetypes.guess_extension(announced or "application/octet-stream") or ".bin"
        media.append(MediaRef(url, announced or None, f"{sid}-{index}{extension}"))
    return tuple(media), tuple(defects)


def _looks_personal(sender: str, body: str) -> bool:
    """False for texts a machine sent (short codes, sender IDs, "reply STOP"): never answer those."""
    return bool(_PERSONAL_NUMBER.match(sender)) and not _AUTOMATED_WORDS.search(body)
