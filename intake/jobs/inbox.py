"""The inbox worker: claims accepted messages in batches, reads and routes each, and
stores its item in the transaction that deletes its inbox row (routing.store.inbox).

It runs as a process of its own (`intake worker`, several started by `intake serve`)
or as a thread of the serving process (`--workers 0`). Each channel's rows are read by
that channel's Reader (an email parsed, a text's form read again) on a parsing thread,
outside any transaction, ahead of the routing; each is routed as it is read,
in the batch's reading transaction, so that the writing one (on SQLite, the write lock
the doors wait for) holds the writes alone. The next batch, claimed in that writing
transaction, is read while it stores the batch before. A message whose
processing failed (its worker died, the parse broke) is tried again under a new claim;
past MAX_ATTEMPTS it is stored raw only, marked, as a message the parser cannot read is;
so is a message the database refuses as read.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import groupby
from typing import Protocol

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from routing.delivery import AlsoStore, Deliverer, Delivering, Delivery, Routed
from routing.message import InboundMessage
from routing.store import inbox
from routing.store.database import StorageUnavailable, UnstorableMessage, transaction
from routing.store.inbox import Arrival, Claimed, LeaseLost

log = logging.getLogger(__name__)

# Rows claimed at once: enough to spare claims under a burst, few enough that a dead
# worker's batch waits for one lease only.
BATCH = 16
MAX_ATTEMPTS = 3
# How often an idle worker looks for work; a thread in the serving process is also woken
# by each of the inbox's commits.
IDLE_SECONDS = 0.05
# The next batch is parsed while one is stored when its mail is no larger than this:
# parsed, a batch of big mail would be held twice over, its raw bytes and its parts.
READ_AHEAD_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class Read:
    """An inbox row made ready for deliver(): its message, and what else is stored with
    its item in the same transaction (an acknowledgement, downloads to make)."""

    message: InboundMessage
    also: AlsoStore | None = None


@dataclass
class _ReadAhead:
    """A batch's claims read on the parsing thread once started (InboxWorker._read_into),
    each into its future; once `abandoned` is set, those not yet read are left out."""

    claims: list[Claimed]
    reads: list[Future[tuple[Claimed, Read] | None]] = field(init=False)
    abandoned: threading.Event = field(default_factory=threading.Event)
    started: bool = False

    def __post_init__(self) -> None:
        self.reads = [Future() for _ in self.claims]

    def each(self) -> Iterator[tuple[Claimed, Read]]:
        """Each claim with its read, as soon as it is read; when the worker is told to
        stop, or the caller ends early, those not yet read are left out."""
        try:
            for future in self.reads:
                read = future.result()
                if read is None:
                    return
                yield read
        finally:
            self.abandoned.set()


class Reader(Protocol):
    """How one channel's inbox rows become messages; neither may raise on bad input."""

    def read_all(self, arrivals: Iterable[Arrival]) -> Generator[Read, None, None]:
        """Each arrival read, in turn, as soon as it is."""
        ...

    def raw_only(self, arrival: Arrival, why: str) -> Read:
        """The arrival kept as its raw bytes alone, marked with `why`."""
        ...


class InboxWorker:
    """Makes items of the inbox's rows, a batch at a time, on a thread of its own."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        deliverer: Deliverer,
        readers: Mapping[str, Reader],
        lease: timedelta,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.sessions, self.deliverer, self.readers = sessions, deliverer, readers
        self.lease = lease
        self.clock = clock or (lambda: datetime.now(UTC))
        self._stop = threading.Event()
        self._full = False  # the last batch claimed was a whole one: more are waiting
        # The next batch, claimed in the transaction that stored a whole one, being read.
        self._next: _ReadAhead | None = None
        # One thread parses ahead of the routing: one message at a time, as the worker
        # process has one parsing child.
        self._parsing = ThreadPoolExecutor(max_workers=1, thread_name_prefix="inbox-parsing")
        self._work = threading.Event()
        self._thread = threading.Thread(target=self.run, name="inbox-worker", daemon=True)

    @staticmethod
    def _with_item(claimed: Claimed, also: AlsoStore | None) -> AlsoStore:
        """What is stored with the message's item, in its transaction: the inbox row
        finished, and what its channel's reader stores with it."""

        def store(session: Session, delivery: Delivery) -> None:
            inbox.finish(session, claimed)
            if also is not None:
                also(session, delivery)

        return store

    def run_once(self) -> int:
        """Claim a batch (unless the last one's transaction did) and make its items; how
        many rows were claimed."""
        ahead, self._next = self._next, None
        if ahead is None:
            claims = inbox.claim(
                self.sessions, self.clock(), self.lease, BATCH, tuple(self.readers), look_first=not self._full
            )
            if not claims:
                self._full = False
                return 0
            ahead = _ReadAhead(claims)
        self._start_reading(ahead)
        claims = ahead.claims
        self._full = len(claims) == BATCH
        try:
            stored = self.store(ahead.each(), claim_next=self._full)
        except StorageUnavailable as error:
            log.warning("the inbox worker paused: %s", error)
            inbox.release(self.sessions, claims)
            return len(claims)
        if stored < len(claims):
            inbox.release(self.sessions, claims[stored:])  # stopping: another worker takes them now
        return len(claims)

    def _start_reading(self, ahead: _ReadAhead) -> None:
        """Start reading the claims, in order, on the parsing thread, unless started: an
        email waits on its parsing child, not on this thread, which routes each as soon
        as it is read, or stores the batch before (the next batch is read while one is
        stored)."""
        if not ahead.started:
            ahead.started = True
            self._parsing.submit(self._read_into, ahead.claims, ahead.reads, ahead.abandoned)

    def _read_into(
        self,
        claims: list[Claimed],
        reads: list[Future[tuple[Claimed, Read] | None]],
        abandoned: threading.Event,
    ) -> None:
        """On the parsing thread: each claim's read into its future, in order; None into
        the rest once the worker stops or the routing has ended."""
        try:
            with closing(self.read_all(claims)) as each:
                for future in reads:
                    if self._stop.is_set() or abandoned.is_set():
                        break
                    future.set_result(next(each))
        except Exception as error:  # the routing thread raises it as the reads' failure
            for future in reads:
                if not future.done():
                    future.set_exception(error)
        for future in reads:
            if not future.done():
                future.set_result(None)

    def read_all(self, claims: Iterable[Claimed]) -> Generator[tuple[Claimed, Read], None, None]:
        """Each row read by its channel's reader, a run of one channel's rows at once (an
        email's parsing child works through the run), or raw only past MAX_ATTEMPTS;
        outside any transaction: on SQLite, parsing must not hold the door's write lock."""
        for (channel, given_up), run in groupby(
            claims, key=lambda c: (c.arrival.channel, c.attempts > MAX_ATTEMPTS)
        ):
            reader, rows = self.readers[channel], list(run)
            if given_up:
                why = f"processing failed {MAX_ATTEMPTS} times (a worker died or broke on it)"
                yield from ((claimed, reader.raw_only(claimed.arrival, why)) for claimed in rows)
                continue
            with closing(reader.read_all(claimed.arrival for claimed in rows)) as read:
                yield from zip(rows, read, strict=True)

    def store(self, reads: Iterable[tuple[Claimed, Read]], claim_next: bool = False) -> int:
        """Route each message as it comes, in a reading transaction, then store each and
        delete its row, all in one transaction (one commit, one disk flush, for the
        batch); returns how many were taken from `reads`. With `claim_next` (the batch
        was a whole one: more are waiting), the next batch is claimed first in that
        transaction, a turn at SQLite's write lock fewer, and read while this one is
        stored (rolled back, the claim is void and its reading stopped). Stored first together
        (Deliverer.deliver_all: no savepoint per message, which cost two statements
        each, and a statement per table for what the messages store alike); when
        anything fails, the batch is rolled back and stored again with each message in a
        savepoint of its own, so that one refused or taken over leaves the others be."""
        parsed, routed = self._route_ahead(reads)
        if not parsed:
            return 0
        batch = [
            Delivering(read.message, read.also, ahead)
            for (_, read), ahead in zip(parsed, routed, strict=True)
        ]
        next_batch: _ReadAhead | None = None
        try:
            with transaction(self.sessions) as session:
                if claim_next and not self._stop.is_set():
                    # First, so that the next batch is read while this one is stored.
                    following = inbox.claim_in(session, self.clock(), self.lease, BATCH, tuple(self.readers))
                    if following:
                        next_batch = _ReadAhead(following)
                        if sum(len(c.arrival.raw) for c in following) <= READ_AHEAD_BYTES:
                            self._start_reading(next_batch)
                deliveries = self.deliverer.deliver_all(session, batch)
                inbox.finish_all(session, [claimed for claimed, _ in parsed])
        except (SQLAlchemyError, LeaseLost, StorageUnavailable, UnstorableMessage) as error:
            if next_batch is not None:
                next_batch.abandoned.set()  # its claim was rolled back too
            log.info("a batch of %d was rolled back (%s); storing its messages apart", len(parsed), error)
            self._store_apart(parsed, routed)
            return len(parsed)
        self._next = next_batch
        # One line for the batch, not one a row: a line costs a worker about 25 us of CPU.
        pairs = ", ".join(f"{claimed.id}->{d}" for (claimed, _), d in zip(parsed, deliveries, strict=True))
        log.info("inbox rows stored as items: %s", pairs)
        return len(parsed)

    def _store_apart(self, parsed: list[tuple[Claimed, Read]], routed: list[Routed]) -> None:
        """Store the batch in one transaction, each message in a savepoint of its own."""
        with transaction(self.sessions) as session:
            for (claimed, read), ahead in zip(parsed, routed, strict=True):
                try:
                    delivery = self._deliver(session, claimed, read, ahead)
                except LeaseLost as lost:
                    log.warning("%s; leaving it to that worker", lost)
                except UnstorableMessage:
                    # Even raw only it was refused: it stays in the inbox (and in /healthz's
                    # oldest age) for a person to look at, claimed again after each lease.
                    log.exception("inbox row %s cannot be stored as an item", claimed.id)
                else:
                    log.info("inbox row %s is %s", claimed.id, delivery)

    def _route_ahead(
        self, reads: Iterable[tuple[Claimed, Read]]
    ) -> tuple[list[tuple[Claimed, Read]], list[Routed]]:
        """Route the batch in a reading transaction, so that the writing one, which on
        SQLite holds the door's write lock, is spent on the writes alone."""
        parsed: list[tuple[Claimed, Read]] = []

        def messages() -> Iterator[InboundMessage]:
            for claimed, read in reads:
                parsed.append((claimed, read))
                yield read.message

        try:
            with transaction(self.sessions, write=False) as session:
                routed = self.deliverer.route_all_ahead(session, messages())
        except SQLAlchemyError as error:
            raise StorageUnavailable("the database could not be read for routing") from error
        return parsed, routed

    def _deliver(self, session: Session, claimed: Claimed, read: Read, routed: Routed) -> Delivery:
        """Deliver the message as read and routed; raw only (routed again) when the
        database refuses its values (a DataError fails the same way at every try)."""
        try:
            return self.deliverer.deliver_in(
                session, read.message, self._with_item(claimed, read.also), routed
            )
        except UnstorableMessage as error:
            key = read.message.idempotency_key
            log.warning("message %s refused as read (%s); storing it raw only", key, error)
            raw = self.readers[claimed.arrival.channel].raw_only(claimed.arrival, str(error))
            return self.deliverer.deliver_in(session, raw.message, self._with_item(claimed, raw.also))

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
        if self._next is not None:
            self._next.abandoned.set()
            try:
                inbox.release(self.sessions, self._next.claims)  # another worker takes them now
            except (SQLAlchemyError, StorageUnavailable) as error:
                log.warning("the next batch stays claimed until its lease ends: %s", error)
        self._parsing.shutdown(wait=False, cancel_futures=True)
