"""The worker's side of the notification outbox: claim due notifications, finish, fail.

deliver() queues them (routing.store.notifications); a background worker claims
due rows (`FOR UPDATE SKIP LOCKED` on PostgreSQL, the single writer lock on SQLite),
sends them, and marks them sent; a claim lasts a lease, so a worker that dies mid-send
leaves its rows to be claimed again once the lease runs out.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session, sessionmaker

from routing.delivery import SYSTEM_ACTOR
from routing.store.database import transaction
from routing.store.models import AuditEvent, Item, Notification

LEASE = timedelta(minutes=5)
STATUSES = ("pending", "sent", "failed")


@dataclass(frozen=True)
class Job:
    """Claimed notifications sent as one: one row, or every due row of one digest."""

    kind: str
    department_id: str
    target: str
    # (notification id, its attempts as claimed), the first row first.
    rows: tuple[tuple[int, int], ...]
    item_ids: tuple[int, ...]

    @property
    def id(self) -> int:
        return self.rows[0][0]

    @property
    def attempts(self) -> int:
        return max(attempts for _, attempts in self.rows)


@dataclass(frozen=True)
class NewItem:
    """What a notification tells of an item."""

    id: int
    department_id: str
    channel: str
    sender: str
    sender_name: str | None
    subject: str
    text: str
    received_at: datetime


def claim(sessions: sessionmaker[Session], now: datetime, max_attempts: int) -> Job | None:
    """Take the next due notification (with its digest mates), or None when none is due.

    A due row that has used all its attempts (its worker died mid-send) is marked
    failed on the way, never sent again.
    """
    # A look without the write lock first: on SQLite an idle worker would otherwise
    # take the office's one write lock every second.
    with transaction(sessions, write=False) as session:
        if session.scalar(_due(now).with_only_columns(Notification.id)) is None:
            return None
    with transaction(sessions) as session:
        while (row := session.scalars(_due(now).with_for_update(skip_locked=True)).first()) is not None:
            if row.attempts < max_attempts:
                break
            _give_up(session, row, row.last_error or "the send did not finish")
        if row is None:
            return None
        rows = [row, *(_digest_mates(session, row, now, max_attempts) if row.kind == "digest" else [])]
        for each in rows:
            each.attempts += 1
            each.next_attempt_at = now + LEASE
        return Job(
            kind=row.kind,
            department_id=row.department_id,
            target=row.target,
            rows=tuple((each.id, each.attempts) for each in rows),
            item_ids=tuple(each.item_id for each in rows),
        )


def _due(now: datetime) -> Select[Notification]:
    return (
        select(Notification)
        .where(Notification.status == "pending", Notification.next_attempt_at <= now)
        .order_by(Notification.next_attempt_at, Notification.id)
        .limit(1)
    )


def _digest_mates(
    session: Session, row: Notification, now: datetime, max_attempts: int
) -> list[Notification]:
    """The other due rows of the same department's digest, to send in the same email."""
    return list(
        session.scalars(
            select(Notification)
            .where(
                Notification.status == "pending",
                Notification.kind == "digest",
                Notification.department_id == row.department_id,
                Notification.next_attempt_at <= now,
                Notification.attempts < max_attempts,
                Notification.id != row.id,
            )
            .order_by(Notification.id)
            .with_for_update(skip_locked=True)
        )
    )


def new_items(sessions: sessionmaker[Session], item_ids: tuple[int, ...]) -> list[NewItem]:
    """The items a job tells of, in the order they arrived."""
    with transaction(sessions, write=False) as session:
        items = session.scalars(select(Item).where(Item.id.in_(item_ids)).order_by(Item.id))
        return [
            NewItem(
                i.id, i.department_id, i.channel, i.sender, i.sender_name, i.subject, i.text, i.received_at
            )
            for i in items
        ]


def mark_sent(sessions: sessionmaker[Session], job: Job, now: datetime) -> None:
    """Record that the job's notifications went out."""
    with transaction(sessions) as session:
        for row in _still_ours(session, job):
            row.status, row.sent_at, row.last_error = "sent", now, None


def fail(sessions: sessionmaker[Session], job: Job, error: str, *, retry_at: datetime | None) -> None:
    """Record a failed attempt: try again at `retry_at`, or give up when it is None."""
    with transaction(sessions) as session:
        for row in _still_ours(session, job):
            row.last_error = error
            if retry_at is not None:
                row.next_attempt_at = retry_at
            else:
                _give_up(session, row, error)


def counts(session: Session, statuses: Collection[str] = STATUSES) -> dict[str, int]:
    """How many notifications have each of `statuses` (by default pending, sent and failed).

    /healthz leaves out "sent", which only grows: the others are read off ix_notifications_due.
    """
    rows = session.execute(
        select(Notification.status, func.count())
        .where(Notification.status.in_(statuses))
        .group_by(Notification.status)
    )
    return dict.fromkeys(statuses, 0) | {status: count for status, count in rows}


def _still_ours(session: Session, job: Job) -> list[Notification]:
    # A row is still ours only while pending with the attempt we claimed; otherwise
    # another worker took it over after our lease ran out, and its result counts.
    ours = []
    for notification_id, attempts in job.rows:
        row = session.get(Notification, notification_id, with_for_update=True)
        if row is not None and row.status == "pending" and row.attempts == attempts:
            ours.append(row)
    return ours


def _give_up(session: Session, row: Notification, error: str) -> None:
    row.status, row.last_error = "failed", error
    detail = {"kind": row.kind, "target": row.target, "error": error, "attempts": row.attempts}
    session.add(
        AuditEvent(item_id=row.item_id, actor=SYSTEM_ACTOR, action="notification failed", detail=detail)
    )
