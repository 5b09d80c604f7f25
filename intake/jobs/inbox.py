"""The inbox worker: claims accepted messages in batches, parses and routes each, and
stores its item in the transaction that deletes its inbox row (routing.store.inbox).

It runs as a process of its own (`intake worker`, several started by `intake serve`)
or as a thread of the serving process (`--workers 0`). A message whose processing
failed (its worker died, the parse broke) is tried again under a new claim; past
MAX_ATTEMPTS it is stored raw only, marked, as a message the parser cannot read is.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from intake.email.parser import EmailLimits, Envelope, raw_only
from intake.email.storing import Parse, store_parsed
from routing.delivery import AlsoStore, Deliverer, Delivery
from routing.message import InboundMessage
from routing.store import inbox
from routing.store.database import StorageUnavailable, UnstorableMessage, transaction
from routing.store.inbox import Claimed, LeaseLost

log = logging.getLogger(__name__)

# Rows claimed at once: enough to spare claims under a burst, few enough that a dead
# worker's batch waits for one lease only.
BATCH = 16
MAX_ATTEMPTS = 3
# How often an idle worker looks for work; a thread in the serving process is also woken
# by each of the inbox's commits.
IDLE_SECONDS = 0.05


# What else is stored with a new item from the inbox, in its transaction: the department's
# acknowledgement of new mail.
Acknowledge = Callable[[Session, Delivery, InboundMessage], None]


class InboxWorker:
    """Makes items of the inbox's rows, a batch at a time, on a thread of its own."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        deliverer: Deliverer,
        parse: Parse,
        limits: EmailLimits,
        lease: timedelta,
        clock: Callable[[], datetime] | None = None,
        acknowledge: Acknowledge | None = None,
    ) -> None:
        self.sessions, self.deliverer, self.parse, self.limits = sessions, deliverer, parse, limits
        self.acknowledge = acknowledge
        self.lease = lease
        self.clock = clock or (lambda: datetime.now(UTC))
        self._stop = threading.Event()
        self._work = threading.Event()
        self._thread = threading.Thread(target=self.run, name="inbox-worker", daemon=True)

    def _with_item(self, claimed: Claimed, message: InboundMessage) -> AlsoStore:
        """What is stored with the message's item, in its transaction: the inbox row
        finished, and the department's acknowledgement where it asks for one."""

        def store(session: Session, delivery: Delivery) -> None:
            inbox.finish(session, claimed)
            if self.acknowledge is not None:
                self.acknowledge(session, delivery, message)

        return store

    def run_once(self) -> int:
        """Claim a batch and make its items; how many rows were claimed."""
        claims = inbox.claim(self.sessions, self.clock(), self.lease, BATCH)
        parsed = []
        for claimed in claims:
            if self._stop.is_set():
                break
            parsed.append(self.parsed(claimed))
        try:
            self.store(parsed)
        except StorageUnavailable as error:
            log.warning("the inbox worker paused: %s", error)
            inbox.release(self.sessions, claims)
            return len(claims)
        if len(parsed) < len(claims):
            inbox.release(self.sessions, claims[len(parsed) :])  # stopping: another worker takes them now
        return len(claims)

    def parsed(self, claimed: Claimed) -> tuple[Claimed, InboundMessage]:
        """The row's message parsed, or raw only past MAX_ATTEMPTS (outside any transaction:
        on SQLite, parsing must not hold the door's write lock)."""
        arrival = claimed.arrival
        envelope = Envelope(arrival.sender, (), arrival.recipients)
        if claimed.attempts > MAX_ATTEMPTS:
            why = f"processing failed {MAX_ATTEMPTS} times (a worker died or broke on it)"
            return claimed, raw_only(arrival.raw, envelope, arrival.received_at, why)
        return claimed, self.parse(arrival.raw, envelope, arrival.received_at, self.limits)

    def store(self, parsed: list[tuple[Claimed, InboundMessage]]) -> None:
        """Store each message and delete its row, all in one transaction (one commit, one
        disk flush, for the batch); each message in a savepoint of its own, so that one
        refused or taken over leaves the others be."""
        if not parsed:
            return
        with transaction(self.sessions) as session:
            for claimed, message in parsed:

                def deliver(each: InboundMessage, claimed: Claimed = claimed) -> Delivery:
                    return self.deliverer.deliver_in(session, each, self._with_item(claimed, each))

                envelope = Envelope(claimed.arrival.sender, (), claimed.arrival.recipients)
                try:
                    delivery = store_parsed(deliver, message, envelope)
                except LeaseLost as lost:
                    log.warning("%s; leaving it to that worker", lost)
                except UnstorableMessage:
                    # Even raw only it was refused: it stays in the inbox (and in /healthz's
                    # oldest age) for a person to look at, claimed again after each lease.
                    log.exception("inbox row %s cannot be stored as an item", claimed.id)
                else:
                    log.info("inbox row %s is item %s", claimed.id, delivery.item_id)

    def wake(self) -> None:
        self._work.set()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Finish the message in hand, give the rest of its batch back, then end the thread."""
        self._stop.set()
        self._work.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=60)

    def run(self) -> None:
        """Work until stop(); errors are logged and the loop goes on (the database may come back)."""
        while not self._stop.is_set():
            try:
                busy = self.run_once() > 0
            except SQLAlchemyError as error:
                log.warning("the inbox worker paused: %s", error)
                busy = False
            except Exception:
                log.exception("inbox worker error")
                busy = False
            if not busy:
                self._work.wait(IDLE_SECONDS)
                self._work.clear()
