"""Queueing a department's notifications about a new item, in deliver()'s transaction.

Queued with the item, so an item is notified if and only if it was stored; sent later
by a background worker (see routing.store.outbox). Kinds: "email" (one email per item),
"digest" (one email per department and period, holding every item of the period) and
"webhook" (one JSON POST per item).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

from sqlalchemy import insert
from sqlalchemy.orm import Session

from config.settings import Settings
from routing.store.models import Notification

_INSERT = insert(Notification)


def enqueue(session: Session, item_id: int, department_id: str, settings: Settings, now: datetime) -> None:
    """Queue the notifications the department's notify table asks for about a new item."""
    department = next((d for d in settings.departments if d.id == department_id), None)
    if department is None:  # retired by a reload between routing and here
        return
    notify = department.notify
    rows = []
    if notify.email:
        kind = "digest" if notify.digest_minutes else "email"
        due = digest_due(now, notify.digest_minutes) if notify.digest_minutes else now
        rows.append({"kind": kind, "target": ", ".join(notify.email), "next_attempt_at": due})
    if notify.webhook_url:
        rows.append({"kind": "webhook", "target": notify.webhook_url, "next_attempt_at": now})
    if rows:
        common = {"item_id": item_id, "department_id": department_id, "status": "pending", "attempts": 0}
        session.execute(_INSERT, [{**common, **row, "created_at": now} for row in rows])


def digest_due(now: datetime, minutes: int) -> datetime:
    """The end of the digest period `now` falls in: periods of `minutes`, counted from
    the Unix epoch, so that every process agrees on them without sharing any state."""
    period = minutes * 60
    return datetime.fromtimestamp(math.ceil(now.timestamp() / period) * period, UTC)
