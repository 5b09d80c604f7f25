"""The inbox: what a door accepted, committed before the sender is answered, until a worker makes it an item.

A door (SMTP, Twilio's messaging webhook) hands an Arrival to the InboxWriter and answers only once it
returns: the raw bytes and the envelope are then committed. The writer commits
arrivals in groups (group commit): what arrives while one commit is under way, and in
a few milliseconds after the first, shares the next transaction, so a burst costs one
disk flush per group rather than one per message. Each sender still waits for the
commit of its own group.

Workers claim rows in batches under a lease (`FOR UPDATE SKIP LOCKED` on PostgreSQL;
SQLite has one writer at a time), and delete each row in the transaction that stores
its item (finish), so a worker that dies anywhere leaves its rows to be claimed again
when the lease ends: work is repeated, and deliver()'s delivery keys make the repeat
no second item. A claim counts as an attempt; a late worker whose attempt is no
longer the row's has lost it, and its transaction is rolled back (LeaseLost).
"""

from __future__ import annotations

import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Collection
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Integer,
    and_,
    bindparam,
    delete,
    func,
    insert,
    or_,
    select,
    tuple_,
    update,
)
from sqlalchemy.exc import DataError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from routing.store.database import KeptConnection, StorageUnavailable, UnstorableMessage, transaction
from routing.store.models import InboxEntry

log = logging.getLogger(__name__)

# How long the writer waits after a first arrival for others to share its commit: far
# below what a sender notices, and what lets a burst share flushes. Measured in turns
# with eight senders, 1 ms answered faster than 2 ms on both databases, and 0.5 ms
# less steadily, at more CPU a message (docs/benchmarks.md, SMTP ingest).
GATHER_SECONDS = 0.001
MAX_GROUP = 256
# How long a door waits for its group's commit; the database's own timeouts end sooner.
ACCEPT_TIMEOUT_SECONDS = 120.0


class LeaseLost(Exception):
    """Another worker claimed the row after this worker's lease ran out: its work counts."""


@dataclass(frozen=True)
class Arrival:
    """What a door accepted: the bytes as sent and the envelope around them."""

    channel: str
    sender: str | None
    recipients: tuple[str, ...]
    raw: bytes
    received_at: datetime


# A door's way in: returns once the arrival is committed, else raises StorageUnavailable
# (retry later) or UnstorableMessage (refused for good).
Accept = Callable[[Arrival], None]
# The same for a door that waits on an event loop: the future of the arrival's commit,
# settled as accept() returns or raises. Cancelled before the writer takes it, the
# arrival is not committed; once taken, it can no longer be cancelled.
Submit = Callable[[Arrival], Future[None]]


@dataclass(frozen=True)
class Claimed:
    """An inbox row claimed by a worker, with the attempt its claim is."""

    id: int
    attempts: int
    arrival: Arrival


@dataclass(frozen=True)
class Backlog:
    """How many rows wait (claimed ones included) and when the oldest arrived."""

    depth: int
    oldest: datetime | None


@dataclass(frozen=True)
class _Waiting:
    arrival: Arrival
    committed: Future[None]


class InboxWriter:
    """One thread that commits arrivals in groups; `accept` returns once its group is committed."""

    def __init__(self, sessions: sessionmaker[Session], gather_seconds: float = GATHER_SECONDS) -> None:
        self.sessions = sessions
        self._connection = KeptConnection(sessions)
        self.gather_seconds = gather_seconds
        self._queue: queue.SimpleQueue[_Waiting | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._committed: list[Callable[[], None]] = []
        self.running = False

    def on_commit(self, listener: Callable[[], None]) -> None:
        """Call `listener` after each commit (an in-process worker wakes up)."""
        self._committed.append(listener)

    def start(self) -> None:
        """Start committing; a writer stopped may be started again (a thread each time)."""
        self._thread = threading.Thread(target=self._loop, name="inbox-writer", daemon=True)
        self.running = True
        self._thread.start()

    def stop(self) -> None:
        """Commit what was handed in, then end the thread (doors stop first)."""
        if self.running and self._thread is not None:
            self.running = False
            self._queue.put(None)
            self._thread.join()

    def accept(self, arrival: Arrival) -> None:
        """Commit `arrival`; raises StorageUnavailable (retry later) or UnstorableMessage."""
        try:
            self.submit(arrival).result(timeout=ACCEPT_TIMEOUT_SECONDS)
        except TimeoutError:
            # Should the group commit after all, the sender's retry is deduplicated by deliver().
            raise StorageUnavailable("the inbox's commit did not finish in time") from None

    def submit(self, arrival: Arrival) -> Future[None]:
        """Queue `arrival` for the next group's commit: accept() without waiting for it."""
        if not self.running:
            raise StorageUnavailable("the inbox is not taking messages (stopping)")
        waiting = _Waiting(arrival, Future())
        self._queue.put(waiting)
        return waiting.committed

    def _loop(self) -> None:
        try:
            while (first := self._queue.get()) is not None:
                group, stopping = self._gather(first)
                # A door that gave up waiting (and answered 451) cancelled its arrival.
                taken = [waiting for waiting in group if waiting.committed.set_running_or_notify_cancel()]
                if taken:
                    self._commit(taken)
                if stopping:
                    return
        finally:
            self._connection.close()

    def _gather(self, first: _Waiting) -> tuple[list[_Waiting], bool]:
        """`first` and what arrives within the gathering time; True when told to stop."""
        group = [first]
        deadline = time.monotonic() + self.gather_seconds
        while len(group) < MAX_GROUP:
            try:
                waiting = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            if waiting is None:
                return group, True
            group.append(waiting)
        return group, False

    def _commit(self, group: list[_Waiting]) -> None:
        """Commit the group and answer each arrival; nothing raised here may end the
        thread, or every door would wait on it for good."""
        try:
            self._connection.write(lambda connection: add(connection, [waiting.arrival for waiting in group]))
        except (DataError, UnicodeEncodeError) as error:  # a value no database holds: text no codec writes
            if len(group) > 1:
                # One arrival's values were refused: the others must not share its fate.
                for waiting in group:
                    self._commit([waiting])
                return
            log.warning("the inbox refused a message from %r: %s", group[0].arrival.sender, error)
            group[0].committed.set_exception(UnstorableMessage("the database refused a value"))
            return
        except (SQLAlchemyError, StorageUnavailable) as error:
            log.warning("the inbox did not commit %d messages: %s", len(group), error)
            for waiting in group:
                waiting.committed.set_exception(StorageUnavailable("the database is not accepting writes"))
            return
        except Exception:  # a bug: its senders retry later, and the next group is tried
            log.exception("the inbox did not commit %d messages", len(group))
            for waiting in group:
                waiting.committed.set_exception(StorageUnavailable("the inbox could not store the message"))
            return
        for waiting in group:
            waiting.committed.set_result(None)
        for listener in self._committed:
            listener()


# Past this size a message is written into its row in place on SQLite, in pieces of
# IN_PLACE_PIECE: the door's memory then holds the message about once, not three times.
IN_PLACE_BYTES = 1024 * 1024
IN_PLACE_PIECE = 256 * 1024
# Over the table, built once: the ORM's DELETE (which syncs the session) cost more than the rest of a row's finish.
_ENTRIES = InboxEntry.metadata.tables[InboxEntry.__tablename__]
# Through the table too: the ORM's bulk insert cost the door's writer a third of its CPU.
_INSERT = insert(_ENTRIES)
# The ids apart as well as in the pairs: SQLite reads a list of pairs by scanning the
# whole table, a backlog's every row for each batch, and a list of ids by its key.
_FINISH_ALL = delete(_ENTRIES).where(
    _ENTRIES.c.id.in_(bindparam("ids", expanding=True)),
    tuple_(_ENTRIES.c.id, _ENTRIES.c.attempts).in_(bindparam("claims", expanding=True)),
)
_FINISH = delete(_ENTRIES).where(
    _ENTRIES.c.id == bindparam("id"), _ENTRIES.c.attempts == bindparam("attempts")
)
_CLAIMED_COLUMNS = [
    _ENTRIES.c[name] for name in ("id", "attempts", "channel", "sender", "recipients", "raw", "received_at")
]
_INSERT_ZEROS = (
    insert(_ENTRIES).values(raw=func.zeroblob(bindparam("size", type_=Integer))).returning(_ENTRIES.c.id)
)


def add(session: Session | Connection, arrivals: list[Arrival]) -> None:
    """Queue arrivals in the inbox, in the caller's transaction."""
    connection = session.connection() if isinstance(session, Session) else session
    on_sqlite = connection.dialect.name == "sqlite"
    bound: list[Arrival] = []
    big: list[Arrival] = []
    for arrival in arrivals:
        (big if on_sqlite and len(arrival.raw) > IN_PLACE_BYTES else bound).append(arrival)
    if bound:
        connection.execute(_INSERT, [{**_envelope(arrival), "raw": arrival.raw} for arrival in bound])
    for arrival in big:
        _write_in_place(connection, arrival)


def _write_in_place(connection: Connection, arrival: Arrival) -> None:
    """A row of zeros the message's size, then the message written into it a piece at a
    time (SQLite's incremental blob I/O): bound whole, SQLite would copy it, then build
    the row with it, two more copies at once."""
    size = {**_envelope(arrival), "size": len(arrival.raw)}
    entry_id = connection.execute(_INSERT_ZEROS, size).scalar_one()
    driver = connection.connection.driver_connection
    assert isinstance(driver, sqlite3.Connection)  # add() writes in place on SQLite only
    whole = memoryview(arrival.raw)
    with driver.blobopen(_ENTRIES.name, _ENTRIES.c.raw.name, entry_id) as blob:
        for start in range(0, len(whole), IN_PLACE_PIECE):
            blob.write(whole[start : start + IN_PLACE_PIECE])


def _envelope(arrival: Arrival) -> dict[str, Any]:
    return {
        "channel": arrival.channel,
        "sender": arrival.sender,
        "recipients": list(arrival.recipients),
        "received_at": arrival.received_at,
        "attempts": 0,
    }


def _claimable(of_channels: bool) -> ColumnElement[bool]:
    """Rows free at `now` (a bound value), of the bound `channels` if `of_channels`."""
    free = or_(_ENTRIES.c.lease_until.is_(None), _ENTRIES.c.lease_until <= bindparam("now", type_=_LEASE))
    return and_(free, _ENTRIES.c.channel.in_(bindparam("channels", expanding=True))) if of_channels else free


# The claim's two statements, built once, with the channels' list or without: a worker
# claims a batch every few milliseconds, and building them took as long as running them.
_LEASE = _ENTRIES.c.lease_until.type
_ANY_CLAIMABLE = {of: select(_ENTRIES.c.id).where(_claimable(of)).limit(1) for of in (False, True)}
_CLAIM = {
    of: update(_ENTRIES)
    .where(
        _ENTRIES.c.id.in_(
            select(_ENTRIES.c.id)
            .where(_claimable(of))
            .order_by(_ENTRIES.c.id)
            .limit(bindparam("limit"))
            .with_for_update(skip_locked=True)
        )
    )
    .values(attempts=_ENTRIES.c.attempts + 1, lease_until=bindparam("until", type_=_LEASE))
    .returning(*_CLAIMED_COLUMNS)
    for of in (False, True)
}


def claim(
    sessions: sessionmaker[Session],
    now: datetime,
    lease: timedelta,
    limit: int,
    channels: Collection[str] | None = None,
    *,
    look_first: bool = True,
) -> list[Claimed]:
    """Claim up to `limit` rows, the oldest first, until `now + lease`; only rows of
    `channels` when given (a worker leaves alone what it cannot read).

    With `look_first`, looks first without the write lock, so that an idle worker polling
    often never takes SQLite's one write lock from a door that is committing (a worker
    whose last batch was full skips the look: there is more). Then one statement claims
    the rows and returns them, through the table rather than the ORM, whose loading and
    flush of the rows cost more than the statements.
    """
    if look_first:
        values = _claim_values(now, lease, limit, channels)
        with transaction(sessions, write=False) as session:
            if session.scalar(_ANY_CLAIMABLE[channels is not None], values) is None:
                return []
    with transaction(sessions) as session:
        return claim_in(session, now, lease, limit, channels)


def claim_in(
    session: Session, now: datetime, lease: timedelta, limit: int, channels: Collection[str] | None = None
) -> list[Claimed]:
    """claim() in the caller's writing transaction (a worker claims its next batch in the
    one that stores the last: a commit and a turn at SQLite's write lock fewer)."""
    rows = session.execute(_CLAIM[channels is not None], _claim_values(now, lease, limit, channels)).all()
    return [
        Claimed(
            row.id,
            row.attempts,
            Arrival(row.channel, row.sender, tuple(row.recipients), row.raw, row.received_at),
        )
        for row in sorted(rows, key=lambda row: row.id)  # RETURNING keeps no order
    ]


def _claim_values(
    now: datetime, lease: timedelta, limit: int, channels: Collection[str] | None
) -> dict[str, Any]:
    values: dict[str, Any] = {"now": now, "until": now + lease, "limit": limit}
    if channels is not None:
        values["channels"] = list(channels)
    return values


def finish(session: Session, claimed: Claimed) -> None:
    """Delete the claimed row in the caller's transaction (the one storing its item);
    raises LeaseLost when the claim is no longer this worker's."""
    gone = session.execute(_FINISH, {"id": claimed.id, "attempts": claimed.attempts})
    if gone.rowcount != 1:  # type: ignore[attr-defined]
        raise LeaseLost(f"inbox row {claimed.id} was claimed again by another worker")


def finish_all(session: Session, claims: list[Claimed]) -> None:
    """finish() for a batch in one statement; raises LeaseLost when any of the claims is
    no longer this worker's (the caller rolls back and finishes them one by one)."""
    ids = [claimed.id for claimed in claims]
    pairs = [(claimed.id, claimed.attempts) for claimed in claims]
    gone = session.execute(_FINISH_ALL, {"ids": ids, "claims": pairs})
    lost = len(claims) - gone.rowcount  # type: ignore[attr-defined]
    if lost:
        raise LeaseLost(f"{lost} of {len(claims)} inbox rows were claimed again by another worker")


def release(sessions: sessionmaker[Session], claims: list[Claimed]) -> None:
    """Give claimed rows back at once (the database failed mid-batch): no need to wait out the lease."""
    with transaction(sessions) as session:
        for claimed in claims:
            session.execute(
                update(InboxEntry)
                .where(InboxEntry.id == claimed.id, InboxEntry.attempts == claimed.attempts)
                .values(lease_until=None)
            )


def backlog(session: Session) -> Backlog:
    depth, oldest = session.execute(select(func.count(InboxEntry.id), func.min(InboxEntry.received_at))).one()
    return Backlog(depth, oldest)
