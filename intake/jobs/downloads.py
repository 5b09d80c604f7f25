"""The worker that fetches "download" jobs (recordings, MMS media) and stores them on their items.

It runs on a thread of `intake serve`; any number of processes may run one against
the same database, since each download is claimed before it is fetched. The fetch
itself (the account's API only, redirects checked, a byte cap, the kind of file
expected) is intake.phone.fetch.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from intake.jobs.worker import Finish, JobFailed, JobWorker, Retries
from intake.phone.fetch import (
    RECORDING,
    Expected,
    Fetched,
    FetchFailed,
    FetchRefused,
    TwilioFetcher,
    announced_media,
)
from routing.store import jobs
from routing.store.item_rows import new_blob
from routing.store.jobs import Claim
from routing.store.models import SYSTEM_ACTOR, Attachment, AuditEvent, Job

log = logging.getLogger(__name__)

RETRY_BASE = timedelta(seconds=10)


class DownloadWorker(JobWorker):
    """Claims one due download at a time, fetches it, and stores the file on its item."""

    name = "downloads"
    kinds = (jobs.DOWNLOAD,)

    def __init__(
        self,
        sessions: sessionmaker[Session],
        fetcher: TwilioFetcher,
        *,
        max_attempts: int,
        retry_base: timedelta = RETRY_BASE,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        super().__init__(sessions, clock)
        self.fetcher = fetcher
        self._retries = Retries(max_attempts, retry_base)

    def retries(self) -> Retries:
        return self._retries

    def do(self, claim: Claim) -> Finish:
        try:
            fetched = self.fetcher.fetch(claim.payload["url"], expected_of(claim.payload))
        except FetchRefused as error:
            raise JobFailed(str(error), retry=False) from None
        except FetchFailed as error:
            raise JobFailed(str(error), retry=error.retry) from None
        log.info(
            "download %s for item %s fetched (%s bytes)", claim.id, claim.item_ids[0], len(fetched.content)
        )
        return lambda session, row: store(session, row, fetched)


def expected_of(payload: Mapping[str, Any]) -> Expected:
    """What a download must be: a recording any audio, MMS media the type its text announced.

    A job queued before its payload kept that type has none: it is taken as announcing
    none, so its file is still fetched and kept unless a page answers for it.
    """
    if payload["purpose"] == "recording":
        return RECORDING
    return announced_media(payload.get("content_type"))


def store(session: Session, row: Job, fetched: Fetched) -> None:
    """Keep the fetched bytes as an attachment of the item, with an audit event."""
    content = fetched.content
    attachment = Attachment(
        item_id=row.item_id,
        filename=row.payload["filename"],
        content_type=fetched.content_type,
        size=len(content),
        inline=False,
        blob=new_blob(content),
    )
    session.add(attachment)
    session.flush()
    row.payload = {**row.payload, "attachment_id": attachment.id}
    detail = {"url": row.payload["url"], "size": len(content), "attempts": row.attempts}
    session.add(AuditEvent(item_id=row.item_id, actor=SYSTEM_ACTOR, action="downloaded", detail=detail))
