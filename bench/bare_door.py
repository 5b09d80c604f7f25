"""The SMTP door without Intake, for bench/smtp_ingest.py: aiosmtpd answering 250 once a
group commit through the database's own driver holds each mail's bytes, and nothing else
(no recipient checks, no limits, no spooling, no SQLAlchemy). What a durable answer costs
on this machine, measured beside Intake's door in the same run."""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session

_Waiting = tuple[Envelope, asyncio.AbstractEventLoop, "asyncio.Future[None]"]


class BareDoor:
    """An aiosmtpd handler and its writer thread: what arrives within `gather_seconds` of
    a first mail shares its commit, as in Intake's inbox."""

    def __init__(self, connection: Any, insert: str, gather_seconds: float) -> None:
        self.connection, self.insert, self.gather_seconds = connection, insert, gather_seconds
        self._queue: queue.SimpleQueue[_Waiting | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._loop, name="bare-writer", daemon=True)
        self._thread.start()

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        loop = asyncio.get_running_loop()
        committed: asyncio.Future[None] = loop.create_future()
        self._queue.put((envelope, loop, committed))
        await committed
        return "250 2.0.0 OK"

    def stop(self) -> None:
        self._queue.put(None)
        self._thread.join()

    def _loop(self) -> None:
        while (first := self._queue.get()) is not None:
            group = [first]
            deadline = time.monotonic() + self.gather_seconds
            while (left := deadline - time.monotonic()) > 0:
                try:
                    waiting = self._queue.get(timeout=left)
                except queue.Empty:
                    break
                if waiting is None:
                    self._queue.put(None)  # seen again by the loop, once this group is committed
                    break
                group.append(waiting)
            rows = [
                (envelope.mail_from, ",".join(envelope.rcpt_tos), "", envelope.original_content)
                for envelope, _, _ in group
            ]
            self.connection.cursor().executemany(self.insert, rows)
            self.connection.commit()
            for _, loop, committed in group:
                loop.call_soon_threadsafe(committed.set_result, None)
