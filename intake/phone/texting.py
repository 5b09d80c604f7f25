"""Answering by text through Twilio's Messages API, with the `twilio` client.

A text reply goes from the office number the text came to (a WhatsApp reply from the
WhatsApp sender, both with their `whatsapp:` prefix) to the person who wrote; a
voicemail's caller is texted from the number they called, when the office lists that
number as one that can send texts ("text back").

Twilio's Messages API takes no idempotency key: every request to create a message makes
one. A try whose answer was lost (Twilio took the text, then the connection timed out or
broke, or its answer could not be read) would text the person twice, so each later try
first looks among the latest messages from the same sender to the same number for one
with the reply's text made since the reply was stored (on a trial account, after the
words Twilio puts before every text), and sends only when there is none. Each send names
a status callback URL that carries the reply's id, so Twilio's reports find their reply
even before its Message SID is recorded. A refusal that may pass (429, 5xx) is tried
again by the job queue, no sooner than the answer's Retry-After asks.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import requests
from sqlalchemy import select
from sqlalchemy.orm import Session
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from config.settings import Settings, TwilioSettings
from intake.jobs.worker import MAX_BACKOFF, JobFailed
from routing.queues import replies
from routing.queues.replies import Addressing, ReplyRefused, reachable_number
from routing.store.models import Item, Reply, VoiceCall

WHATSAPP = "whatsapp:"
STATUS_CALLBACK_PATH = "/twilio/replies/{reply_id}/status"
# How many of the latest messages to a number a retry looks through for its own.
LOOKUP_LIMIT = 20
# How far Twilio's clock may be behind ours when a message is told by the time it was made.
CLOCK_SKEW = timedelta(minutes=1)
# What Twilio puts before the body of every message a trial account sends; the message's
# body keeps it as Twilio's API answers and lists it, "Sent from your Twilio trial account
# - Hello" for "Hello" (Twilio's trial limits: https://help.twilio.com/articles/360036052753).
# Only these words may come before the text, so that no other reply's message is taken for
# this one.
TRIAL_PREFIX = "Sent from your Twilio trial account - "


class TextFailed(JobFailed):
    """Twilio did not take the text; `retry` says whether trying again may help, `wait`
    how long Twilio asked to wait before it (its Retry-After), if it did."""


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
            message_id=f"intake-text-{uuid.uuid4().hex}",  # the reply's name in logs; Twilio takes none
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
    callback: Any = twilio.public_url + STATUS_CALLBACK_PATH.format(reply_id=reply.id)
    http = _AnswerKeepingClient(pool_connections=False, timeout=timeout_seconds)
    try:
        message = _client(twilio, http).messages.create(
            to=reply.recipient,
            from_=reply.sender,
            body=reply.text,
            status_callback=callback if twilio.public_url else None,
        )
    except (TwilioException, requests.RequestException, ValueError) as error:
        raise _failed(error, timeout_seconds, http.last_answer) from None
    if not message.sid:
        raise TextFailed("Twilio's answer named no message SID", retry=True)
    return SentText(message.sid, str(message.status or "queued"))


def find_sent(
    twilio: TwilioSettings, reply: Reply, timeout_seconds: float, others: Collection[str]
) -> SentText | None:
    """The message an earlier try of `reply` made at Twilio, if it made one: among the
    latest from the reply's sender to its recipient, one with its text, made since the
    reply was stored, and not one of `others` (the SIDs other replies have)."""
    http = _AnswerKeepingClient(pool_connections=False, timeout=timeout_seconds)
    try:
        latest = _client(twilio, http).messages.list(
            to=reply.recipient, from_=reply.sender, limit=LOOKUP_LIMIT
        )
    except (TwilioException, requests.RequestException, ValueError) as error:
        # Sending blind could text the person twice: the send waits for a look-up that works.
        raise _failed(error, timeout_seconds, http.last_answer, "looking for an earlier try") from None
    since = reply.created_at - CLOCK_SKEW
    for message in latest:
        made = message.date_created
        if (
            message.sid not in others
            and _same_text(message.body, reply.text)
            and made is not None
            and made >= since
        ):
            return SentText(message.sid, str(message.status or "queued"))
    return None


def _same_text(body: str | None, text: str) -> bool:
    """Whether a listed message's body is `text` as Twilio keeps it: the same, or after a
    trial account's prefix. Twilio is not known to change a body otherwise (it does not
    trim spaces or line ends), so nothing looser passes: two replies may differ by no more."""
    return body in (text, TRIAL_PREFIX + text)


class _AnswerKeepingClient(TwilioHttpClient):  # type: ignore[misc]  # twilio ships no type hints
    """twilio's HTTP client, keeping Twilio's last answer: the TwilioRestException twilio
    raises for a refusal carries no headers, and a 429's Retry-After is one of them."""

    last_answer: Response | None = None

    def request(self, *args: Any, **kwargs: Any) -> Response:
        self.last_answer = None  # a request that gets no answer leaves none from before
        self.last_answer = super().request(*args, **kwargs)
        return self.last_answer


def _client(twilio: TwilioSettings, http: TwilioHttpClient) -> Client:
    client = Client(twilio.account_sid, twilio.auth_token, http_client=http)
    client.api.base_url = twilio.api_base_url  # Twilio itself, or a stand-in on loopback in tests
    return client


def _failed(error: Exception, timeout_seconds: float, answer: Response | None, doing: str = "") -> TextFailed:
    """What a person reads of Twilio's refusal or silence (its `answer`, if it gave one),
    whether to try again, and how long Twilio asked to wait before it."""
    during = f" ({doing})" if doing else ""
    wait = _asked_wait(answer)
    if isinstance(error, TwilioRestException):
        return TextFailed(
            f"Twilio answered {error.status}{during}: {error.msg}", retry=_passing(error.status), wait=wait
        )
    page = error.args[1] if isinstance(error, TwilioException) and len(error.args) > 1 else None
    if isinstance(page, Response):  # a list's page refused: twilio raises it with the bare response
        return TextFailed(
            f"Twilio answered {page.status_code}{during}", retry=_passing(page.status_code), wait=wait
        )
    if isinstance(error, requests.ReadTimeout):  # it may have taken the text: the next try looks
        return TextFailed(f"Twilio did not answer within {timeout_seconds:g} s{during}", retry=True)
    if isinstance(error, requests.RequestException):
        return TextFailed(f"Twilio could not be reached{during}: {error}", retry=True)
    # A 2xx whose body is not JSON (ValueError) or not a message (TwilioException): Twilio
    # may have made the message all the same, which the next try looks for.
    return TextFailed(f"Twilio's answer could not be read{during}: {error}", retry=True)


def _passing(status: int) -> bool:
    """Whether Twilio's refusal may pass: too many requests, or Twilio's own fault."""
    return status == 429 or status >= 500


def _asked_wait(answer: Response | None) -> timedelta | None:
    """The wait Twilio's answer asks for before the next try: its Retry-After, when that
    is a number of seconds (not a date, a fraction or a negative number, which are ignored)."""
    value = str((answer.headers or {}).get("Retry-After", "")).strip() if answer is not None else ""
    if not (value.isascii() and value.isdigit()):
        return None
    # A float takes any number of digits (too many make it inf), a timedelta does not: the
    # job queue waits an hour at most, so no more is kept.
    return timedelta(seconds=min(float(value), MAX_BACKOFF.total_seconds()))
