"""The background worker that fetches pending downloads and stores them on their items.

It runs on a thread of `intake serve`; any number of processes may run one against
the same database, since each download is claimed before it is fetched.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from intake.twilio_fetch import FetchFailed, FetchRefused, TwilioFetcher
from routing import downloads

log = logging.getLogger(__name__)

IDLE_SECONDS = 1.0
RETRY_BASE = timedelta(seconds=10)


class DownloadWorker:
    """Claims one due download at a time, fetches it, and records the outcome."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        fetcher: TwilioFetcher,
        *,
        max_attempts: int,
        retry_base: timedelta = RETRY_BASE,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.sessions = sessions
        self.fetcher = fetcher
        self.max_attempts = max_attempts
        self.retry_base = retry_base
        self.clock = clock
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="downloads", daemon=True)

    def run_once(self) -> bool:
        """Do one due download; False when none was due."""
        job = downloads.claim(self.sessions, self.clock(), self.max_attempts)
        if job is None:
            return False
        try:
            fetched = self.fetcher.fetch(job.url)
        except FetchRefused as error:
            log.warning("download %s for item %s refused: %s", job.id, job.item_id, error)
            downloads.fail(self.sessions, job, str(error), retry_at=None)
        except FetchFailed as error:
            retry_at = self._retry_at(job.attempts) if error.retry else None
            log.warning(
                "download %s for item %s failed (attempt %s): %s", job.id, job.item_id, job.attempts, error
            )
            downloads.fail(self.sessions, job, str(error), retry_at=retry_at)
        except Exception as error:  # a fault of ours must not leave the download claimed until its lease ends
            log.exception("download %s for item %s broke", job.id, job.item_id)
            problem = f"unexpected error: {error!r}"
            downloads.fail(self.sessions, job, problem, retry_at=self._retry_at(job.attempts))
        else:
            downloads.complete(self.sessions, job, fetched.content, fetched.content_type)
            log.info("download %s for item %s stored (%s bytes)", job.id, job.item_id, len(fetched.content))
        return True

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Let the download in hand finish, then end the thread."""
        self._stop.set()
        self._thread.join(timeout=30)

    def _retry_at(self, attempts: int) -> datetime | None:
        if attempts >= self.max_attempts:
            return None
        return self.clock() + downloads.backoff(attempts, self.retry_base)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                busy = self.run_once()
            except SQLAlchemyError as error:
                log.warning("downloads paused: %s", error)
                busy = False
            except Exception:  # the worker must outlive one bad download
                log.exception("download worker error")
                busy = False
            if not busy:
                self._stop.wait(IDLE_SECONDS)
