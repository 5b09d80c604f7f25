"""Queueing a department's notifications about a new item, in deliver()'s transaction.

Queued with the item, so an item is notified if and only if it was stored; sent later
as "notification" jobs (routing.store.jobs) by intake.jobs.notifications. Ways ("via"):
"email" (one email per item), "digest" (one email per department and period, holding
every item of the period: the period's jobs share a batch) and "webhook" (one JSON POST
per item).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

from sqlalchemy.orm import Session

from config.settings import Settings
from routing.store import jobs


def enqueue(session: Session, item_id: int, department_id: str, settings: Settings, now: datetime) -> None:
    """Queue the notifications the department's notify table asks for about a new item."""
    department = next((d for d in settings.departments if d.id == department_id), None)
    if department is None:  # retired by a reload between routing and here
        return
    notify = department.notify
    if notify.email:
        target = ", ".join(notify.email)
        if notify.digest_minutes:
            due = digest_due(now, notify.digest_minutes)
            _add(session, item_id, department_id, "digest", target, due, batch=f"digest {department_id}")
        else:
            _add(session, item_id, department_id, "email", target, now)
    if notify.webhook_url:
        _add(session, item_id, department_id, "webhook", notify.webhook_url, now)


def _add(
    session: Session,
    item_id: int,
    department_id: str,
    via: str,
    target: str,
    due: datetime,
    batch: str | None = None,
) -> None:
    # The target (addresses or URL) is kept as configured when the item arrived.
    payload = {"via": via, "department_id": department_id, "target": target}
    jobs.add(session, jobs.NOTIFICATION, item_id, via, payload, due=due, batch=batch)


def digest_due(now: datetime, minutes: int) -> datetime:
    """The end of the digest period `now` falls in: periods of `minutes`, counted from
    the Unix epoch, so that every process agrees on them without sharing any state."""
    period = minutes * 60
    return datetime.fromtimestamp(math.ceil(now.timestamp() / period) * period, UTC)
