"""Parsing email in child processes, so that a runaway parse cannot take the listeners with it.

The budgets of intake.email.budgets stop the hostile mail known today before the parser
starts; this is the backstop for what they miss. A few long-lived children, started on
first need, each parse one message at a time under a memory limit (RLIMIT_AS) and a
time limit. A child past either is killed and replaced, and the message is stored raw,
marked with the limit it crossed. SMTP and the web share the serving process: one
message can no longer make it swap or be killed for its memory.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import multiprocessing
import queue
import resource
import signal
import threading
from collections import deque
from collections.abc import Generator, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from types import TracebackType

from config.settings import EmailSettings
from intake.email.parser import EmailLimits, Envelope, ParseJob, parse_email, raw_only
from routing.message import InboundMessage

log = logging.getLogger(__name__)

# How long close() waits for a child to leave of its own accord before killing it.
_CLOSE_SECONDS = 5.0
_MB = 1024 * 1024
# How much mail a child is sent ahead of the message it is parsing: well within the
# buffer of the socket between them (208 KiB on Linux).
AHEAD_BYTES = 64 * 1024


@dataclass(frozen=True)
class WorkerLimits:
    """How many children parse, and what one parse may take."""

    workers: int = EmailSettings.parse_workers
    seconds: int = EmailSettings.parse_seconds
    memory_mb: int = EmailSettings.parse_memory_mb

    @classmethod
    def from_settings(cls, email: EmailSettings) -> WorkerLimits:
        return cls(email.parse_workers, email.parse_seconds, email.parse_memory_mb)


class _Stopped(Exception):
    """A child went past a limit or died, and is gone; the message says why."""


class ParseWorkers:
    """A pool of parsing children; `parse` and `parse_all` have the signatures of
    storing.parse_here and storing.parse_all_here."""

    def __init__(self, limits: WorkerLimits) -> None:
        self.limits = limits
        # "spawn": a fresh interpreter, no copy of the server's threads and sockets.
        self._context = multiprocessing.get_context("spawn")
        # A free slot holds a running child, or None where one is to be started.
        self._free: queue.LifoQueue[_Child | None] = queue.LifoQueue()
        for _ in range(limits.workers):
            self._free.put(None)
        self._children: set[_Child] = set()
        self._lock = threading.Lock()

    def parse(
        self, raw: bytes, envelope: Envelope, received_at: datetime, limits: EmailLimits
    ) -> InboundMessage:
        """`raw` parsed in a child; raw only, marked, when the child crossed a limit."""
        with contextlib.closing(self.parse_all([ParseJob(raw, envelope, received_at, limits)])) as parsed:
            return next(parsed)

    def parse_all(self, jobs: Iterable[ParseJob]) -> Generator[InboundMessage, None, None]:
        """Each job parsed by one child, in turn; raw only, marked, where the child
        crossed a limit.

        The jobs go to the child ahead of their turn, up to AHEAD_BYTES of mail, so that
        it parses them back to back: woken for each message, it spent half as much
        again as the parse. A child past a limit takes only the message it was parsing
        with it; those sent after it go to the next child. Closed before its end, the
        generator kills a child that still holds messages, whose answers nobody would read.
        """
        queued, sent = deque(jobs), deque[ParseJob]()
        child = self._take_slot()
        try:
            while queued or sent:
                if child is None:
                    child = self._start()
                _send_ahead(child, queued, sent)
                job = sent.popleft()
                try:
                    message = child.receive(self.limits)
                except _Stopped as stopped:
                    log.warning(
                        "parsing a message of %d bytes: %s; storing it raw only", len(job.raw), stopped
                    )
                    self._forget(child)
                    child = None  # a new child takes the slot when next needed
                    queued.extendleft(reversed(sent))
                    sent.clear()
                    yield raw_only(job.raw, job.envelope, job.received_at, str(stopped))
                    continue
                # The raw bytes stay here rather than travel back.
                yield dataclasses.replace(message, raw=job.raw, received_at=job.received_at)
        finally:
            if sent and child is not None:
                child.kill()
                self._forget(child)
                child = None
            self._free.put(child)

    def close(self) -> None:
        """Stop every child; messages still being parsed fail (callers stop first)."""
        with self._lock:
            children, self._children = self._children, set()
        for child in children:
            child.stop()

    def __enter__(self) -> ParseWorkers:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()

    def _take_slot(self) -> _Child | None:
        """A free slot's child, or None where one is to be started.

        A child that died while it waited (killed from outside, by the system's
        out-of-memory killer) is let go here: else the next message would be stored raw
        as if it had killed the child.
        """
        child = self._free.get()
        if child is not None and not child.process.is_alive():
            log.warning("a parsing process died while idle (exit code %s)", child.process.exitcode)
            child.kill()
            self._forget(child)
            return None
        return child

    def _start(self) -> _Child:
        child = _Child(self._context, self.limits.memory_mb * _MB)
        with self._lock:
            self._children.add(child)
        return child

    def _forget(self, child: _Child) -> None:
        with self._lock:
            self._children.discard(child)


class _Child:
    """One parsing process and the pipe to it."""

    def __init__(self, context: multiprocessing.context.SpawnContext, memory_bytes: int) -> None:
        self.connection, theirs = context.Pipe()
        self.process = context.Process(
            target=_serve, args=(theirs, memory_bytes), name="intake-parse", daemon=True
        )
        self.process.start()
        theirs.close()

    def send(self, job: ParseJob) -> None:
        """Hand the child a job; a child gone is found by the next receive()."""
        # In UTC: the time zone object of an IMAP client may not survive pickling.
        wire = dataclasses.replace(job, received_at=job.received_at.astimezone(UTC))
        with contextlib.suppress(OSError):
            self.connection.send(wire)

    def receive(self, limits: WorkerLimits) -> InboundMessage:
        """The parsed message of the oldest job sent; raises _Stopped, the child gone,
        past a limit or dead."""
        try:
            if not self.connection.poll(limits.seconds):
                self.kill()
                raise _Stopped(f"over limit: parsing took longer than {limits.seconds} s")
            message: InboundMessage | None = self.connection.recv()
        except (EOFError, OSError):
            self.kill()
            code = self.process.exitcode
            raise _Stopped(
                f"parsing process died (exit code {code}), perhaps past {limits.memory_mb} MB"
            ) from None
        if message is None:  # it ran out of memory and said so
            self.kill()
            raise _Stopped(f"over limit: parsing needed more than {limits.memory_mb} MB")
        return message

    def kill(self) -> None:
        self.process.kill()
        self.process.join()
        self.connection.close()

    def stop(self) -> None:
        with contextlib.suppress(OSError):  # already gone
            self.connection.send(None)
        self.process.join(_CLOSE_SECONDS)
        if self.process.is_alive():
            self.kill()
        self.connection.close()


def _send_ahead(child: _Child, queued: deque[ParseJob], sent: deque[ParseJob]) -> None:
    """Move jobs from `queued` to the child and to `sent` while less than AHEAD_BYTES of
    mail are with it (one job at least, whatever its size). Within that much a send
    never waits for the child to read, so it cannot wait on a child that waits on us to
    read its answer."""
    ahead = sum(len(job.raw) for job in sent)
    while queued and (not sent or ahead + len(queued[0].raw) <= AHEAD_BYTES):
        job = queued.popleft()
        child.send(job)
        sent.append(job)
        ahead += len(job.raw)


def _serve(connection: Connection, memory_bytes: int) -> None:
    """The child's loop: parse each job sent until told to stop (None) or orphaned."""
    # Ctrl-C reaches the whole process group; the parent stops its children itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    while True:
        try:
            job: ParseJob | None = connection.recv()
        except EOFError:
            return  # the parent is gone
        if job is None:
            return
        try:
            message = parse_email(
                job.raw,
                envelope_sender=job.envelope.sender,
                envelope_recipients=job.envelope.recipients,
                delivered_to=job.envelope.delivered_to,
                received_at=job.received_at,
                limits=job.limits,
            )
        except MemoryError:
            # What memory is left is too fragmented to trust: say so, then make way for a fresh child.
            connection.send(None)
            return
        connection.send(dataclasses.replace(message, raw=b""))
