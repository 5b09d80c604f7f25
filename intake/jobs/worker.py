"""A worker for jobs of some kinds (routing.store.jobs): it claims one due job at a time,
has its kind's handler do it, and records the outcome, retrying with one backoff.

Each kind's worker (downloads, notifications, replies) is a subclass that says which kinds it
does, how many attempts they get, and how to do one. It runs on a thread of its own,
so a slow webhook never holds up a recording; errors are logged and the loop goes on,
since a worker must outlive one bad job and a database that goes away.
"""

from __future__ import annotations

import logging
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from config.settings import Settings
from routing.store import jobs
from routing.store.jobs import Claim
from routing.store.models import Job

log = logging.getLogger(__name__)

IDLE_SECONDS = 1.0
MAX_BACKOFF = timedelta(hours=1)

# What a handler stores for each finished row, in the transaction that marks it done.
Finish = Callable[[Session, Job], None]


class JobFailed(Exception):
    """A job was not done; `retry` says whether trying again may help, and `wait`, when
    the other side asked for one (an HTTP Retry-After), how long to wait at least."""

    def __init__(self, problem: str, *, retry: bool, wait: timedelta | None = None) -> None:
        super().__init__(problem)
        self.retry = retry
        self.wait = wait


@dataclass(frozen=True)
class Retries:
    """How often a kind of job is tried, and the first wait before trying again."""

    max_attempts: int
    base: timedelta


def backoff(attempts: int, base: timedelta) -> timedelta:
    """The wait before attempt `attempts + 1`: doubling from `base`, at most an hour."""
    wait: timedelta = base * 2 ** max(attempts - 1, 0)
    return min(wait, MAX_BACKOFF)


class JobWorker(ABC):
    """Claims one due job of `kinds` at a time, does it, and records the outcome."""

    name: str
    kinds: tuple[str, ...]

    def __init__(self, sessions: sessionmaker[Session], clock: Callable[[], datetime] | None = None) -> None:
        self.sessions = sessions
        self.clock = clock or (lambda: datetime.now(UTC))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=self.name, daemon=True)

    @abstractmethod
    def retries(self) -> Retries:
        """The attempts and backoff of this worker's jobs (read for each job: a reload applies)."""

    @abstractmethod
    def do(self, claim: Claim) -> Finish | None:
        """Do the claimed job; what to store with it once done, if anything. Raises JobFailed."""

    def run_once(self) -> bool:
        """Do one due job; False when none was due."""
        retries = self.retries()
        claim = jobs.claim(self.sessions, self.kinds, self.clock(), retries.max_attempts)
        if claim is None:
            return False
        try:
            finish = self.do(claim)
        except JobFailed as error:
            retry_at = self._retry_at(claim, retries, error.wait) if error.retry else None
            log.warning(
                "%s job %s for item %s failed (attempt %s%s): %s",
                claim.kind, claim.id, claim.item_ids[0], claim.attempts, "" if retry_at else ", given up", error,
            )  # fmt: skip
            jobs.fail(self.sessions, claim, str(error), self.clock(), retry_at=retry_at)
        except Exception as error:  # a fault of ours must not leave the job claimed until its lease ends
            log.exception("%s job %s broke", claim.kind, claim.id)
            problem = f"unexpected error: {error!r}"
            jobs.fail(self.sessions, claim, problem, self.clock(), retry_at=self._retry_at(claim, retries))
        else:
            jobs.finish(self.sessions, claim, self.clock(), finish)
            log.debug("%s job %s done (%s rows)", claim.kind, claim.id, len(claim.rows))
        return True

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Let the job in hand finish, then end the thread."""
        self._stop.set()
        self._thread.join(timeout=30)

    def _retry_at(self, claim: Claim, retries: Retries, asked: timedelta | None = None) -> datetime | None:
        """When to try again: after the backoff, and no sooner than the failure `asked`,
        though never later than the longest backoff (a broken or hostile Retry-After must
        not park a job for days); None when the attempts are used up."""
        if claim.attempts >= retries.max_attempts:
            return None
        wait = backoff(claim.attempts, retries.base)
        if asked is not None:
            wait = max(wait, min(asked, MAX_BACKOFF))
        return self.clock() + wait

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                busy = self.run_once()
            except SQLAlchemyError as error:
                log.warning("%s paused: %s", self.name, error)
                busy = False
            except Exception:
                log.exception("%s worker error", self.name)
                busy = False
            if not busy:
                self._stop.wait(IDLE_SECONDS)


class ConfiguredJobWorker(JobWorker):
    """A worker whose jobs read the office's settings as they are at each job, so that a
    reloaded config (notify tables, the outbound relay) applies at once."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        settings: Callable[[], Settings],
        *,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        super().__init__(sessions, clock)
        self.settings = settings
