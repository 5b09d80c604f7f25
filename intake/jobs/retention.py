"""The daily retention purge on a thread of `intake serve`: once a day (UTC), the first
process to claim the day erases what `[retention]` says is old, in batches, and records
and logs what it erased (routing.contacts.retention). Each hour, and at start, it also
compacts the search index when an erasure owes it (routing.contacts.erasure.forget)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from config.settings import Settings
from routing.contacts.erasure import forget
from routing.contacts.retention import RetentionReport, claim_day, purge, record

log = logging.getLogger(__name__)

# How often the thread looks whether today's purge is done: a process started late in
# the day, or one that took over from a stopped one, purges within this.
CHECK_SECONDS = 3600.0
# After each batch of a purge: the mail waiting for the database goes first.
PAUSE_SECONDS = 0.05


class RetentionWorker:
    """Purges once a day, with the settings as they are then (a reload applies)."""

    name = "retention"

    def __init__(
        self,
        sessions: sessionmaker[Session],
        settings: Callable[[], Settings],
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.sessions = sessions
        self.settings = settings
        self.clock = clock or (lambda: datetime.now(UTC))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=self.name, daemon=True)

    def run_once(self) -> RetentionReport | None:
        """Today's purge, if no process has done it yet; None when one has. First, at
        start and every hour, the compaction an erasure owes if its process died before."""
        forget(self.sessions)
        day = claim_day(self.sessions, self.clock())
        if day is None:
            return None
        report = purge(self.sessions, self.settings().retention, self.clock(), between=self._pause)
        record(self.sessions, day, report)
        log.info("retention %s: %s", day, report.summary())
        return report

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _pause(self) -> None:
        # Between batches, the writers of the office's mail get the database first.
        self._stop.wait(PAUSE_SECONDS)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_once()
            except SQLAlchemyError as error:
                log.warning("retention paused: %s", error)
            self._stop.wait(CHECK_SECONDS)
