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
from dataclasses import dataclass
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from types import TracebackType

from config.settings import EmailSettings
from intake.email.parser import EmailLimits, Envelope, parse_email, raw_only
from routing.message import InboundMessage

log = logging.getLogger(__name__)

# How long close() waits for a child to leave of its own accord before killing it.
_CLOSE_SECONDS = 5.0
_MB = 1024 * 1024


@dataclass(frozen=True)
class WorkerLimits:
    """How many children parse, and what one parse may take."""

    workers: int = EmailSettings.parse_workers
    seconds: int = EmailSettings.parse_seconds
    memory_mb: int = EmailSettings.parse_memory_mb

    @classmethod
    def from_settings(cls, email: EmailSettings) -> WorkerLimits:
        return cls(email.parse_workers, email.parse_seconds, email.parse_memory_mb)


@dataclass(frozen=True)
class _Job:
    raw: bytes
    envelope: Envelope
    received_at: datetime
    limits: EmailLimits


class _Stopped(Exception):
    """A child went past a limit or died, and is gone; the message says why."""


class ParseWorkers:
    """A pool of parsing children; `parse` has the signature of email_storing.parse_here."""

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
        child = self._free.get() or self._start()
        kept: _Child | None = child
        try:
            # In UTC: the time zone object of an IMAP client may not survive pickling.
            job = _Job(raw, envelope, received_at.astimezone(UTC), limits)
            message = child.parse(job, self.limits)
        except _Stopped as stopped:
            log.warning("parsing a message of %d bytes: %s; storing it raw only", len(raw), stopped)
            self._forget(child)
            kept = None  # a new child takes the slot when next needed
            return raw_only(raw, envelope, received_at, str(stopped))
        finally:
            self._free.put(kept)
        # The raw bytes stay here rather than travel back.
        return dataclasses.replace(message, raw=raw, received_at=received_at)

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

    def parse(self, job: _Job, limits: WorkerLimits) -> InboundMessage:
        """The parsed message; raises _Stopped, the child gone, past a limit or dead."""
        try:
            self.connection.send(job)
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


def _serve(connection: Connection, memory_bytes: int) -> None:
    """The child's loop: parse each job sent until told to stop (None) or orphaned."""
    # Ctrl-C reaches the whole process group; the parent stops its children itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    while True:
        try:
            job: _Job | None = connection.recv()
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
