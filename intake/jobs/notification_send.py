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
import smtplib
import ssl
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any

from config.settings import NotificationSettings
from intake.jobs.worker import JobFailed

# Read at most this much of a webhook's answer: its body means nothing to us.
_MAX_ANSWER_BYTES = 64 * 1024
# A client error that may pass: a timeout at the receiver, or too many requests.
_RETRY_STATUSES = (408, 429)
_EXCERPT_LINES = 12
_EXCERPT_CHARS = 1000


class SendFailed(JobFailed):
    """A notification was not delivered; `retry` says whether trying again may help."""


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
    """The first lines of an item's text, enough to know what it is about."""
    lines = text.strip().splitlines()[:_EXCERPT_LINES]
    short = "\n".join(line.rstrip() for line in lines)
    return short if len(short) <= _EXCERPT_CHARS else short[:_EXCERPT_CHARS].rstrip() + "..."


def title(item: NewItem) -> str:
    """A one-line name for an item: its subject, or the start of a text that has none."""
    first = " ".join(item.subject.split()) or " ".join((item.text.strip().splitlines() or [""])[0].split())
    return (first[:80] + "...") if len(first) > 80 else first or "(nothing written)"


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


def send_email(config: NotificationSettings, message: EmailMessage, sent_at: datetime) -> list[str]:
    """Send through the configured server; the recipients it refused while taking the rest."""
    message["Date"] = format_datetime(sent_at)
    try:
        with _connect(config) as smtp:
            if config.security == "starttls":
                smtp.starttls(context=ssl.create_default_context())
            if config.username:
                smtp.login(config.username, config.password)
            refused = smtp.send_message(message)
    except smtplib.SMTPRecipientsRefused as error:
        codes = [code for code, _ in error.recipients.values()]
        raise SendFailed(
            f"the mail server refused every recipient ({codes})", retry=min(codes) < 500
        ) from None
    except smtplib.SMTPResponseException as error:
        answer = (
            error.smtp_error.decode(errors="replace")
            if isinstance(error.smtp_error, bytes)
            else error.smtp_error
        )
        problem = f"the mail server answered {error.smtp_code} {answer}"
        raise SendFailed(problem, retry=error.smtp_code < 500) from None
    except (smtplib.SMTPException, OSError) as error:
        raise SendFailed(f"the mail server could not be reached: {error}", retry=True) from None
    return sorted(refused)


def _connect(config: NotificationSettings) -> smtplib.SMTP:
    if config.security == "ssl":
        context = ssl.create_default_context()
        return smtplib.SMTP_SSL(
            config.smtp_host, config.smtp_port, timeout=config.timeout_seconds, context=context
        )
    return smtplib.SMTP(config.smtp_host, config.smtp_port, timeout=config.timeout_seconds)
