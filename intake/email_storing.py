"""Storing one email through deliver(): parsed when the database takes it, else raw only.

A value the database refuses (DataError: a byte a column cannot hold) fails the same
way on every retry, so the message is stored again with its raw bytes alone, marked,
rather than refused for good. Every email door (SMTP, IMAP, the import) stores here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime

from intake.email_parser import EmailLimits, Envelope, parse_email, raw_only
from routing.database import UnstorableMessage
from routing.delivery import Delivery
from routing.message import InboundMessage

log = logging.getLogger(__name__)


def store_email(
    deliver: Callable[[InboundMessage], Delivery],
    raw: bytes,
    envelope: Envelope,
    *,
    limits: EmailLimits,
    received_at: datetime | None = None,
    give_up: str | None = None,
) -> Delivery:
    """Deliver `raw` parsed; raw only when the database refuses it or `give_up` says why.

    Raises StorageUnavailable (retry later), and UnstorableMessage only when even the
    raw-only form is refused.
    """
    received_at = received_at or datetime.now(UTC)
    if give_up is None:
        message = parse_email(
            raw,
            envelope_sender=envelope.sender,
            envelope_recipients=envelope.recipients,
            delivered_to=envelope.delivered_to,
            received_at=received_at,
            limits=limits,
        )
        try:
            return deliver(message)
        except UnstorableMessage as error:
            log.warning("message %s refused parsed (%s); storing it raw only", message.idempotency_key, error)
            give_up = str(error)
    return deliver(raw_only(raw, envelope, received_at, give_up))
