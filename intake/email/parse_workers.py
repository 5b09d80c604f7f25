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
from intake.email.parser import EmailLimits, Envelope, Parsed, ParseJob, parse_email, raw_only
from routing.message import InboundMessage
from routing.normalize import normalizer_for
from routing.reading import Reading, ReadingSettings, read

log = logging.getLogger(__name__)

# How long close() waits for a child to leave of its own accord before killing it.
_CLOSE_SECONDS = 5.0
_MB = 1024 * 1024
# What a child says before and after it loads what reading words needs for a job's
# settings (a normalizer's dictionaries: seconds for some languages), and how long that
# may take: that time is not the parse's, which the parse limit bounds.
_LOADING, _LOADED = "loading", "loaded"
LOAD_SECONDS = 300
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
            return next(parsed).message

    def parse_all(self, jobs: Iterable[ParseJob]) -> Generator[Parsed, None, None]:
        """Each job parsed by one child, in turn, and its words read there when it asks
        (ParseJob.reading); raw only, marked, where the child crossed a limit.

        The jobs go to the child ahead of their turn, up to AHEAD_BYTES of mail, so that
        it parses them back to back: woken for each message, it spent half as much
        again as the parse. A child past a limit takes only the message it was parsing
        with it; those sent after it go to the next child. Closed before its end, the
        generator kills a child that still holds messages, whose answers nobody would read.
        """
        queued, sent = deque(jobs), deque[ParseJob]()
        child = self._free.get()
        try:
            while queued or sent:
                if child is None:
                    child = self._start()
                _send_ahead(child, queued, sent)
                job = sent.popleft()
                try:
                    parsed = child.receive(self.limits)
                except _Stopped as stopped:
                    log.warning(
                        "parsing a message of %d bytes: %s; storing it raw only", len(job.raw), stopped
                    )
                    self._forget(child)
                    child = None  # a new child takes the slot when next needed
                    queued.extendleft(reversed(sent))
                    sent.clear()
                    yield Parsed(raw_only(job.raw, job.envelope, job.received_at, str(stopped)))
                    continue
                # The raw bytes stay here rather than travel back.
                message = dataclasses.replace(parsed.message, raw=job.raw, received_at=job.received_at)
                yield Parsed(message, parsed.reading)
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

    def receive(self, limits: WorkerLimits) -> Parsed:
        """What the child made of the oldest job sent; raises _Stopped, the child gone,
        past a limit or dead. The time the child spends loading what reading words needs
        is not the parse's (_LOADING)."""
        try:
            answer = self._answer(limits.seconds, f"over limit: parsing took longer than {limits.seconds} s")
            if answer == _LOADING:
                self._answer(LOAD_SECONDS, f"loading the words' dictionaries took longer than {LOAD_SECONDS} s")
                answer = self._answer(limits.seconds, f"over limit: parsing took longer than {limits.seconds} s")
        except (EOFError, OSError):
            self.kill()
            code = self.process.exitcode
            raise _Stopped(
                f"parsing process died (exit code {code}), perhaps past {limits.memory_mb} MB"
            ) from None
        if not isinstance(answer, Parsed):  # it ran out of memory and said so
            self.kill()
            raise _Stopped(f"over limit: parsing needed more than {limits.memory_mb} MB")
        return answer

    def _answer(self, seconds: float, over: str) -> Parsed | str | None:
        """The child's next answer within `seconds`; killed past them, raising _Stopped(over)."""
        if not self.connection.poll(seconds):
            self.kill()
            raise _Stopped(over)
        answer: Parsed | str | None = self.connection.recv()
        return answer

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
    """The child's loop: parse each job sent, and read its words where it asks, until
    told to stop (None) or orphaned."""
    # Ctrl-C reaches the whole process group; the parent stops its children itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # The reading settings last loaded for (their jobs are read), or that could not be (not read).
    tried: ReadingSettings | None = None
    usable: ReadingSettings | None = None
    while True:
        try:
            job: ParseJob | None = connection.recv()
        except EOFError:
            return  # the parent is gone
        if job is None:
            return
        try:
            if job.reading is not None and job.reading != tried:
                connection.send(_LOADING)
                tried, usable = job.reading, _load(job.reading)
                connection.send(_LOADED)
            reading = usable if job.reading is not None else None
            _limit_address_space(memory_bytes)
            message = parse_email(
                job.raw,
                envelope_sender=job.envelope.sender,
                envelope_recipients=job.envelope.recipients,
                delivered_to=job.envelope.delivered_to,
                received_at=job.received_at,
                limits=job.limits,
            )
            read_words = _read(message, reading)
        except MemoryError:
            # What memory is left is too fragmented to trust: say so, then make way for a fresh child.
            connection.send(None)
            return
        connection.send(Parsed(dataclasses.replace(message, raw=b""), read_words))


def _limit_address_space(memory_bytes: int) -> None:
    """Allow the next parse `memory_bytes` of address space beyond what the child holds."""
    with open("/proc/self/statm") as statm:
        held = int(statm.read().split()[0]) * resource.getpagesize()
    resource.setrlimit(resource.RLIMIT_AS, (held + memory_bytes, resource.RLIM_INFINITY))


def _load(settings: ReadingSettings) -> ReadingSettings | None:
    """`settings`, what reading words under them needs loaded, with no memory limit: a
    normalizer's dictionaries take from 20 MB (English) to over 300 MB (Hungarian and
    German together), which are not a parse's to pay for. None where they cannot be
    loaded: the routing reads the words then."""
    resource.setrlimit(resource.RLIMIT_AS, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    normalizer_for.cache_clear()  # those of settings used before: a config reloaded since
    try:
        normalizer_for(settings.languages)
    except Exception:
        log.exception("loading the normalizer of %s; the routing reads the words", settings.languages)
        return None
    return settings


def _read(message: InboundMessage, settings: ReadingSettings | None) -> Reading | None:
    """The message's reading under `settings`, when asked; None, left to the routing,
    where reading it failed: a fault of the reading must not cost the message its parse."""
    if settings is None:
        return None
    try:
        return read(message, settings)
    except MemoryError:
        raise
    except Exception:
        log.exception("reading the words of message %s; the routing reads them", message.idempotency_key)
        return None
