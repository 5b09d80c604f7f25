"""The background worker that fetches pending downloads and stores them on their items.

It runs on a thread of `intake serve`; any number of processes may run one against
the same database, since each download is claimed before it is fetched.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from intake.jobs.worker_thread import Background, backoff
from intake.phone.fetch import FetchFailed, FetchRefused, TwilioFetcher
from routing.store import downloads

log = logging.getLogger(__name__)

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
        self._background = Background("downloads", self.run_once)

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
        self._background.start()

    def stop(self) -> None:
        """Let the download in hand finish, then end the thread."""
        self._background.stop()

    def _retry_at(self, attempts: int) -> datetime | None:
        if attempts >= self.max_attempts:
            return None
        return self.clock() + backoff(attempts, self.retry_base)
