"""Storing one email through deliver(): parsed when the database takes it, else raw only.

A value the database refuses (DataError: a byte a column cannot hold) fails the same
way on every retry, so the message is stored again with its raw bytes alone, marked,
rather than refused for good. Every email door (SMTP, IMAP, the import) stores here,
parsing where its caller says: in child processes (intake.email.parse_workers) for the
listeners and the import, here in the process for one-off reads and tests. EmailReader
is how the inbox worker reads the mail the SMTP door accepted.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Generator, Iterable
from contextlib import closing
from datetime import UTC, datetime
from typing import TypeAlias

from sqlalchemy.orm import Session

from config.settings import Settings
from intake.email.acknowledgements import acknowledge_new
from intake.email.parser import EmailLimits, Envelope, ParseJob, parse_email, raw_only
from intake.jobs.inbox import Read
from routing.delivery import Delivery
from routing.message import InboundMessage
from routing.store.database import UnstorableMessage
from routing.store.inbox import Arrival

log = logging.getLogger(__name__)

# Raw bytes, envelope, arrival and limits -> the message; never raises on bad mail.
Parse: TypeAlias = Callable[[bytes, Envelope, datetime, EmailLimits], InboundMessage]
# The same for many, each message given as soon as it is parsed (the parser may work
# ahead of the caller); closed early, it drops the rest.
ParseAll: TypeAlias = Callable[[Iterable[ParseJob]], Generator[InboundMessage, None, None]]


def parse_here(raw: bytes, envelope: Envelope, received_at: datetime, limits: EmailLimits) -> InboundMessage:
    """Parse in this process: a runaway parse costs this process its memory and time."""
    try:
        return parse_email(
            raw,
            envelope_sender=envelope.sender,
            envelope_recipients=envelope.recipients,
            delivered_to=envelope.delivered_to,
            received_at=received_at,
            limits=limits,
        )
    except MemoryError:
        return raw_only(raw, envelope, received_at, "over limit: parsing ran out of memory")


def parse_all_here(jobs: Iterable[ParseJob]) -> Generator[InboundMessage, None, None]:
    """parse_here for each job, in turn."""
    for job in jobs:
        yield parse_here(job.raw, job.envelope, job.received_at, job.limits)


def store_email(
    deliver: Callable[[InboundMessage], Delivery],
    raw: bytes,
    envelope: Envelope,
    *,
    limits: EmailLimits,
    received_at: datetime | None = None,
    give_up: str | None = None,
    parse: Parse = parse_here,
) -> Delivery:
    """Deliver `raw` parsed; raw only when the database refuses it or `give_up` says why.

    Raises StorageUnavailable (retry later), and UnstorableMessage only when even the
    raw-only form is refused.
    """
    received_at = received_at or datetime.now(UTC)
    if give_up is not None:
        return deliver(raw_only(raw, envelope, received_at, give_up))
    return store_parsed(deliver, parse(raw, envelope, received_at, limits), envelope)


def store_parsed(
    deliver: Callable[[InboundMessage], Delivery], message: InboundMessage, envelope: Envelope
) -> Delivery:
    """Deliver a parsed `message`; its raw bytes alone when the database refuses it parsed."""
    try:
        return deliver(message)
    except UnstorableMessage as error:
        log.warning("message %s refused parsed (%s); storing it raw only", message.idempotency_key, error)
        return deliver(raw_only(message.raw, envelope, message.received_at, str(error)))


class EmailReader:
    """The inbox worker's reader of mail: parsed within the limits, stored with the
    department's acknowledgement where it asks for one (intake.email.acknowledgements).

    `settings` is called for each message, so a reloaded config's acknowledgements apply.
    """

    def __init__(self, parse_all: ParseAll, limits: EmailLimits, settings: Callable[[], Settings]) -> None:
        self.parse_all, self.limits, self.settings = parse_all, limits, settings

    def read_all(self, arrivals: Iterable[Arrival]) -> Generator[Read, None, None]:
        jobs = [
            ParseJob(arrival.raw, _envelope(arrival), arrival.received_at, self.limits)
            for arrival in arrivals
        ]
        with closing(self.parse_all(jobs)) as messages:
            for message in messages:
                yield self._acknowledged(message)

    def raw_only(self, arrival: Arrival, why: str) -> Read:
        return self._acknowledged(raw_only(arrival.raw, _envelope(arrival), arrival.received_at, why))

    def _acknowledged(self, message: InboundMessage) -> Read:
        def acknowledge(session: Session, delivery: Delivery) -> None:
            acknowledge_new(session, delivery, message, self.settings())

        return Read(message, acknowledge)


def _envelope(arrival: Arrival) -> Envelope:
    return Envelope(arrival.sender, (), arrival.recipients)
