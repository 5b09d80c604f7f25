"""Files to fetch for items (recordings, MMS media), as "download" jobs of routing.store.jobs.

A webhook only queues what to fetch, here; intake.jobs.downloads fetches it later and
stores it on the item. The queue view reads an item's downloads back as `Download`s.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from routing.store import jobs
from routing.store.models import Job


@dataclass(frozen=True)
class Download:
    """A file to fetch for an item, as the queue and the API show it."""

    id: int
    item_id: int
    url: str
    filename: str
    purpose: str  # "recording" or "media"
    status: str  # "pending" (waiting or being fetched), "done" or "failed"
    attempts: int
    due_at: datetime
    last_error: str | None
    attachment_id: int | None


def enqueue(
    session: Session,
    item_id: int,
    url: str,
    filename: str,
    purpose: str,
    *,
    due: datetime,
    content_type: str | None = None,
    refused: str | None = None,
) -> None:
    """Add a file to fetch for an item from `due` on, once per filename; a `refused` URL is
    recorded as failed and never fetched.

    `content_type` is the type announced for the file (MMS media), which the download
    must then be; None for a recording, or when none was announced.
    """
    # The same file may be named by two spellings of its URL (a recording with and without
    # ".wav"); its filename, made from Twilio's SID, is the same for both: it is the key.
    payload = {"url": url, "filename": filename, "purpose": purpose, "content_type": content_type}
    jobs.add(session, jobs.DOWNLOAD, item_id, filename, payload, due=due, refused=refused)


def downloads_of(session: Session, item_ids: Collection[int]) -> dict[int, list[Download]]:
    """The downloads of each item, in the order they were queued, in one query."""
    found: dict[int, list[Download]] = {item_id: [] for item_id in item_ids}
    rows = session.scalars(
        select(Job).where(Job.kind == jobs.DOWNLOAD, Job.item_id.in_(found)).order_by(Job.id)
    )
    for row in rows:
        found[row.item_id].append(_download(row))
    return found


def _download(row: Job) -> Download:
    payload = row.payload
    return Download(
        id=row.id,
        item_id=row.item_id,
        url=payload["url"],
        filename=payload["filename"],
        purpose=payload["purpose"],
        # One being fetched is still waiting, as far as a reader of the item can tell.
        status="pending" if row.status == "running" else row.status,
        attempts=row.attempts,
        due_at=row.due_at,
        last_error=row.last_error,
        attachment_id=payload.get("attachment_id"),
    )
