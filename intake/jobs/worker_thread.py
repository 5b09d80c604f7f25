"""A worker's thread: do one job after another until stopped, resting when none is due,
and the wait before a failed job is tried again.

The download and notification workers each run on one; errors are logged and the
loop goes on, since a worker must outlive one bad job and a database that goes away.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy.exc import SQLAlchemyError

log = logging.getLogger(__name__)

IDLE_SECONDS = 1.0
MAX_BACKOFF = timedelta(hours=1)


def backoff(attempts: int, base: timedelta) -> timedelta:
    """The wait before attempt `attempts + 1`: doubling from `base`, at most an hour."""
    wait: timedelta = base * 2 ** max(attempts - 1, 0)
    return min(wait, MAX_BACKOFF)


class Background:
    """Calls `run_once` (True when it did a job) on a thread of its own."""

    def __init__(self, name: str, run_once: Callable[[], bool]) -> None:
        self.name = name
        self.run_once = run_once
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Let the job in hand finish, then end the thread."""
        self._stop.set()
        self._thread.join(timeout=30)

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
