"""Answering by text through Twilio's Messages API, with the `twilio` client.

A text reply goes from the office number the text came to (a WhatsApp reply from the
WhatsApp sender, both with their `whatsapp:` prefix) to the person who wrote; a
voicemail's caller is texted from the number they called, when the office lists that
number as one that can send texts ("text back").

Each reply carries one idempotency token, made when it is stored and sent with every
try in Twilio's `I-Twilio-Idempotency-Token` header: a process that dies between
Twilio's answer and the record of it tries again with the same token, and Twilio answers
with the message it already has instead of sending a second one. Each send names a
status callback URL that carries the reply's id, so Twilio's reports find their reply
even before its Message SID is recorded.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import requests
from sqlalchemy import select
from sqlalchemy.orm import Session
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from config.settings import Settings, TwilioSettings
from intake.jobs.worker import JobFailed
from routing.queues import replies
from routing.queues.replies import Addressing, ReplyRefused, reachable_number
from routing.store.models import Item, Reply, VoiceCall

WHATSAPP = "whatsapp:"
IDEMPOTENCY_HEADER = "I-Twilio-Idempotency-Token"
STATUS_CALLBACK_PATH = "/twilio/replies/{reply_id}/status"


class TextFailed(JobFailed):
    """Twilio did not take the text; `retry` says whether trying again may help."""


@dataclass(frozen=True)
class SentText:
    """What Twilio answered: the message's SID and its first status ("queued", "accepted")."""

    sid: str
    status: str


def text_addressing(settings: Settings, channel: str) -> replies.Address:
    """How this office addresses a reply by `channel` ("sms" or "whatsapp"); ReplyRefused
    when Twilio is not configured or the item gives no number that can be texted."""

    def address(session: Session, item: Item) -> Addressing:
        twilio = settings.twilio
        if not twilio.configured:
            raise ReplyRefused(
                "replies by text are not configured: the office names no Twilio account"
                " ([twilio] account_sid and auth_token)"
            )
        office_number, person = _numbers(session, item, twilio)
        if not reachable_number(person):
            raise ReplyRefused(
                f"the number {person!r} is withheld or not a phone number: it cannot be texted"
            )
        prefix = WHATSAPP if channel == "whatsapp" else ""
        department = next((d.name for d in settings.departments if d.id == item.department_id), "")
        return Addressing(
            sender=prefix + office_number,
            sender_name=department or item.department_id,
            recipient=prefix + person,
            subject=item.subject,
            message_id=f"intake-text-{uuid.uuid4().hex}",  # the idempotency token of every try
        )

    return address


def _numbers(session: Session, item: Item, twilio: TwilioSettings) -> tuple[str, str]:
    """The office's number the reply goes from, and the person's it goes to."""
    if item.channel != "voicemail":
        if not item.recipients:
            raise ReplyRefused(f"item {item.id} names no office number to answer from")
        return str(item.recipients[0]), item.sender
    call = session.scalars(select(VoiceCall).where(VoiceCall.item_id == item.id)).one_or_none()
    if call is None:
        raise ReplyRefused(f"item {item.id} has no call recorded: there is no number to answer")
    if call.called not in twilio.texting_numbers:
        raise ReplyRefused(
            f"the number called, {call.called}, cannot send texts (it is not one of [twilio] texting_numbers)"
        )
    return call.called, call.caller


def send_text(twilio: TwilioSettings, reply: Reply, timeout_seconds: float) -> SentText:
    """Hand the reply to Twilio's Messages API; raise TextFailed when Twilio does not take it."""
    client = Client(
        twilio.account_sid,
        twilio.auth_token,
        http_client=_TokenHttpClient(reply.message_id, timeout_seconds),
    )
    client.api.base_url = twilio.api_base_url  # Twilio itself, or a stand-in on loopback in tests
    callback: Any = twilio.public_url + STATUS_CALLBACK_PATH.format(reply_id=reply.id)
    try:
        message = client.messages.create(
            to=reply.recipient,
            from_=reply.sender,
            body=reply.text,
            status_callback=callback if twilio.public_url else None,
        )
    except TwilioRestException as error:
        retry = error.status == 429 or error.status >= 500  # too many requests, or Twilio's own fault
        raise TextFailed(f"Twilio answered {error.status}: {error.msg}", retry=retry) from None
    except requests.RequestException as error:
        raise TextFailed(f"Twilio could not be reached: {error}", retry=True) from None
    if not message.sid:
        raise TextFailed("Twilio's answer named no message SID", retry=True)
    return SentText(message.sid, str(message.status or "queued"))


class _TokenHttpClient(TwilioHttpClient):  # type: ignore[misc]  # twilio ships no type hints
    """Twilio's own HTTP client, adding the reply's idempotency token to its request: the
    generated `create` takes no headers of its own."""

    def __init__(self, token: str, timeout_seconds: float) -> None:
        super().__init__(pool_connections=False, timeout=timeout_seconds)
        self.token = token

    def request(
        self, method: str, url: str, headers: dict[str, str] | None = None, **kwargs: Any
    ) -> Response:
        return super().request(
            method, url, headers={**(headers or {}), IDEMPOTENCY_HEADER: self.token}, **kwargs
        )
