"""Sending one department notification: an email through the office's mail server, or a
signed JSON POST to a chat tool's webhook.

Webhook signature: the body is signed with HMAC-SHA256 under the department's secret,
over "<timestamp>.<body>", where <timestamp> is the X-Intake-Timestamp header (Unix
seconds); the hex digest goes in X-Intake-Signature as "sha256=<hex>". X-Intake-Delivery
carries the notification's id, the same on every retry, so a receiver can drop a copy.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from typing import Any

from config.settings import NotificationSettings
from intake.jobs.mail_server import SendFailed
from routing.shown_text import unhidden

# Read at most this much of a webhook's answer: its body means nothing to us.
_MAX_ANSWER_BYTES = 64 * 1024
# A client error that may pass: a timeout at the receiver, or too many requests.
_RETRY_STATUSES = (408, 429)
_EXCERPT_LINES = 12
_EXCERPT_CHARS = 1000


@dataclass(frozen=True)
class NewItem:
    """What a notification tells of an item."""

    id: int
    department_id: str
    channel: str
    sender: str
    sender_name: str | None
    subject: str
    text: str
    received_at: datetime


def excerpt(text: str) -> str:
    """The first lines of an item's text, enough to know what it is about, as unhidden
    text: a person reads it in an email or a chat tool."""
    lines = text.strip().splitlines()[:_EXCERPT_LINES]
    short = "\n".join(line.rstrip() for line in lines)
    short = short if len(short) <= _EXCERPT_CHARS else short[:_EXCERPT_CHARS].rstrip() + "..."
    return unhidden(short)


def title(item: NewItem) -> str:
    """A one-line name for an item: its subject, or the start of a text that has none."""
    first = " ".join(item.subject.split()) or " ".join((item.text.strip().splitlines() or [""])[0].split())
    return unhidden(first[:80] + "..." if len(first) > 80 else first) or "(nothing written)"


def webhook_body(item: NewItem, department_name: str, url: str) -> bytes:
    """The JSON a chat tool receives about a new item."""
    document: dict[str, Any] = {
        "event": "item.created",
        "item": {
            "id": item.id,
            "department": item.department_id,
            "department_name": department_name,
            "channel": item.channel,
            "sender": item.sender,
            "sender_name": item.sender_name,
            "subject": item.subject,
            "excerpt": excerpt(item.text),
            "received_at": item.received_at.isoformat(),
            "url": url or None,
        },
    }
    return json.dumps(document, ensure_ascii=False).encode()


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """The X-Intake-Signature value of a body sent at `timestamp`."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A signed POST goes to the configured URL only; a redirect is an answer, not a hop."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirects)


def post_webhook(
    url: str, secret: str, body: bytes, delivery: int, sent_at: datetime, timeout: float
) -> None:
    """POST the body, signed; raise SendFailed unless the receiver answers 2xx."""
    timestamp = str(int(sent_at.timestamp()))
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Intake-Notifications",
        "X-Intake-Delivery": str(delivery),
        "X-Intake-Timestamp": timestamp,
        "X-Intake-Signature": signature(secret, timestamp, body),
    }
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with _OPENER.open(request, timeout=timeout) as answer:
            answer.read(_MAX_ANSWER_BYTES)
    except urllib.error.HTTPError as error:
        retry = error.code >= 500 or error.code in _RETRY_STATUSES
        if 300 <= error.code < 400:
            problem = f"the webhook redirects (HTTP {error.code}); configure its final URL"
            raise SendFailed(problem, retry=False) from None
        raise SendFailed(f"the webhook answered HTTP {error.code}", retry=retry) from None
    except (urllib.error.URLError, http.client.HTTPException, OSError) as error:
        reason = error.reason if isinstance(error, urllib.error.URLError) else error
        raise SendFailed(f"the webhook could not be reached: {reason}", retry=True) from None


def new_email(
    config: NotificationSettings, to: str, subject: str, body: str, message_id: str
) -> EmailMessage:
    """A plain-text notification email, marked as machine-written (RFC 3834), so that no
    auto-responder answers it and Intake itself does not notify anyone of it again."""
    message = EmailMessage()
    message["From"] = f"Intake <{config.from_address}>"
    message["To"] = to
    message["Subject"] = subject
    message["Message-ID"] = message_id
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(body)
    return message


def message_id(config: NotificationSettings, token: str) -> str:
    """A Message-ID that stays the same across retries, so a receiver can drop a copy."""
    domain = config.from_address.rpartition("@")[2]
    return f"<intake-notification-{token}@{domain}>"
