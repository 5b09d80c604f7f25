"""The queue of files to fetch for items (recordings, MMS media): add, claim, finish, fail.

A webhook only records what to fetch; a background worker claims one row at a time
(`FOR UPDATE SKIP LOCKED` on PostgreSQL, the single writer lock on SQLite), so two
processes never fetch the same file. A claim lasts a lease: a worker that dies mid-fetch
leaves its row to be claimed again once the lease runs out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, sessionmaker

from routing.delivery import SYSTEM_ACTOR, new_blob
from routing.store.database import transaction
from routing.store.models import Attachment, AuditEvent, PendingDownload

LEASE = timedelta(minutes=5)


@dataclass(frozen=True)
class Job:
    """One claimed download."""

    id: int
    item_id: int
    url: str
    filename: str
    purpose: str
    attempts: int


def enqueue(
    session: Session,
    item_id: int,
    url: str,
    filename: str,
    purpose: str,
    *,
    due: datetime,
    refused: str | None = None,
) -> None:
    """Add a file to fetch for an item from `due` on, once per URL and filename; a
    `refused` URL is recorded as failed and never fetched."""
    # The same file may be named by two spellings of its URL (a recording with and without
    # ".wav"); its filename, made from Twilio's SID, is the same for both.
    found = session.scalar(
        select(PendingDownload.id).where(
            PendingDownload.item_id == item_id,
            or_(PendingDownload.url == url, PendingDownload.filename == filename),
        )
    )
    if found is not None:
        return
    session.add(
        PendingDownload(
            item_id=item_id,
            url=url,
            filename=filename,
            purpose=purpose,
            status="failed" if refused else "pending",
            attempts=0,
            next_attempt_at=due,
            last_error=refused,
        )
    )


def claim(sessions: sessionmaker[Session], now: datetime, max_attempts: int) -> Job | None:
    """Take the next due download for this worker, or None when nothing is due.

    A due download that has used all its attempts (its worker died mid-fetch) is marked
    failed on the way, never fetched again.
    """
    with transaction(sessions) as session:
        while (row := _next_due(session, now)) is not None and row.attempts >= max_attempts:
            row.status = "failed"
            error = row.last_error or "the download did not finish"
            _event(
                session, row, "download failed", {"url": row.url, "error": error, "attempts": row.attempts}
            )
        if row is None:
            return None
        row.attempts += 1
        row.next_attempt_at = now + LEASE
        return Job(row.id, row.item_id, row.url, row.filename, row.purpose, row.attempts)


def _next_due(session: Session, now: datetime) -> PendingDownload | None:
    return session.scalars(
        select(PendingDownload)
        .where(PendingDownload.status == "pending", PendingDownload.next_attempt_at <= now)
        .order_by(PendingDownload.next_attempt_at, PendingDownload.id)
        .limit(1)
        .with_for_update(skip_locked=True)
    ).first()


def complete(sessions: sessionmaker[Session], job: Job, content: bytes, content_type: str) -> None:
    """Store the fetched bytes as an attachment of the item, with an audit event."""
    with transaction(sessions) as session:
        row = _pending(session, job)
        if row is None:
            return
        attachment = Attachment(
            item_id=row.item_id,
            filename=row.filename,
            content_type=content_type,
            size=len(content),
            inline=False,
            blob=new_blob(content),
        )
        session.add(attachment)
        session.flush()
        row.status, row.attachment_id, row.last_error = "done", attachment.id, None
        _event(session, row, "downloaded", {"url": row.url, "size": len(content), "attempts": row.attempts})


def fail(sessions: sessionmaker[Session], job: Job, error: str, *, retry_at: datetime | None) -> None:
    """Record a failed attempt: try again at `retry_at`, or give up when it is None."""
    with transaction(sessions) as session:
        row = _pending(session, job)
        if row is None:
            return
        row.last_error = error
        if retry_at is not None:
            row.next_attempt_at = retry_at
            return
        row.status = "failed"
        _event(session, row, "download failed", {"url": row.url, "error": error, "attempts": row.attempts})


def _pending(session: Session, job: Job) -> PendingDownload | None:
    # Still ours only while pending with the attempt we claimed; otherwise another
    # worker took it over after our lease ran out, and its result counts.
    row = session.get(PendingDownload, job.id, with_for_update=True)
    if row is None or row.status != "pending" or row.attempts != job.attempts:
        return None
    return row


def _event(session: Session, row: PendingDownload, action: str, detail: dict[str, object]) -> None:
    session.add(AuditEvent(item_id=row.item_id, actor=SYSTEM_ACTOR, action=action, detail=detail))
