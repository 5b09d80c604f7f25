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

from intake.email.parser import EmailLimits, Envelope
from intake.email.storing import Parse, store_email
from routing.delivery import AlsoStore, Delivery
from routing.message import InboundMessage
from routing.store import inbox
from routing.store.database import StorageUnavailable, UnstorableMessage
from routing.store.inbox import Claimed, LeaseLost

log = logging.getLogger(__name__)

# Rows claimed at once: enough to spare claims under a burst, few enough that a dead
# worker's batch waits for one lease only.
BATCH = 16
MAX_ATTEMPTS = 3
# How often an idle worker of its own process looks for work; a thread in the serving
# process is woken by each commit instead.
IDLE_SECONDS = 0.05

Deliver = Callable[[InboundMessage, AlsoStore], Delivery]


class InboxWorker:
    """Makes items of the inbox's rows, a batch at a time, on a thread of its own."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        deliver: Deliver,
        parse: Parse,
        limits: EmailLimits,
        lease: timedelta,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.sessions, self.deliver, self.parse, self.limits, self.lease = (
            sessions,
            deliver,
            parse,
            limits,
            lease,
        )
        self.clock = clock or (lambda: datetime.now(UTC))
        self._stop = threading.Event()
        self._work = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="inbox-worker", daemon=True)

    def run_once(self) -> int:
        """Claim a batch and make its items; how many rows were claimed."""
        claims = inbox.claim(self.sessions, self.clock(), self.lease, BATCH)
        for done, claimed in enumerate(claims):
            if self._stop.is_set():
                inbox.release(self.sessions, claims[done:])
                break
            try:
                self.process(claimed)
            except StorageUnavailable as error:
                log.warning("the inbox worker paused: %s", error)
                inbox.release(self.sessions, claims[done:])
                break
        return len(claims)

    def process(self, claimed: Claimed) -> None:
        """Store one claimed row's item and delete the row, in one transaction."""
        arrival = claimed.arrival
        envelope = Envelope(arrival.sender, (), arrival.recipients)
        give_up = None
        if claimed.attempts > MAX_ATTEMPTS:
            give_up = f"processing failed {MAX_ATTEMPTS} times (a worker died or broke on it)"

        def finish(session: Session, delivery: Delivery) -> None:
            inbox.finish(session, claimed)

        try:
            delivery = store_email(
                lambda message: self.deliver(message, finish),
                arrival.raw,
                envelope,
                limits=self.limits,
                received_at=arrival.received_at,
                give_up=give_up,
                parse=self.parse,
            )
        except LeaseLost as lost:
            log.warning("%s; leaving it to that worker", lost)
            return
        except UnstorableMessage:
            # Even raw only it was refused: it stays in the inbox (and in /healthz's
            # oldest age) for a person to look at, claimed again after each lease.
            log.exception("inbox row %s cannot be stored as an item", claimed.id)
            return
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

    def run(self, idle_seconds: float = IDLE_SECONDS) -> None:
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
                self._work.wait(idle_seconds)
                self._work.clear()

    def _loop(self) -> None:
        self.run()
