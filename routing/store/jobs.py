"""The one queue of work that waits after an item is stored: add, claim, finish, fail, count.

Every kind of waiting work (notifications to send, files to fetch, and whatever comes
next, such as outgoing replies) is a row of one `jobs` table with a kind, the item it is
about and a JSON payload; the work itself is done by a handler per kind in intake/jobs/.
One table rather than one per kind, because the hard part (the claim, the lease, the
give-up, the counts in /healthz) is the same for every kind and is then written once: a
new kind is a name, a payload and a handler, with no table and no migration of its own.

The claim looks first, without the write lock, and claims only when something is due:
on SQLite an idle worker then never takes the office's one write lock, however often it
polls. Claiming is `FOR UPDATE SKIP LOCKED` on PostgreSQL (SQLite has one writer at a
time), so two workers never take the same row. A claim lasts a lease: a worker that dies
mid-job leaves its rows to be claimed again once the lease runs out, and its late
outcome no longer counts. Rows of one kind that share a `batch` are claimed and done as
one (a department's digest email).
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, func, or_, select
from sqlalchemy.orm import Session, sessionmaker

from routing.store.database import transaction
from routing.store.models import SYSTEM_ACTOR, AuditEvent, Job

LEASE = timedelta(minutes=5)
# The kinds of work, each done by its worker in intake/jobs/; /healthz counts each.
NOTIFICATION = "notification"
DOWNLOAD = "download"
REPLY = "reply"
KINDS = (NOTIFICATION, DOWNLOAD, REPLY)


@dataclass(frozen=True)
class Claim:
    """Claimed jobs done as one: one row, or every due row of one batch, the first first."""

    kind: str
    payload: dict[str, Any]
    # (job id, its attempts as claimed), the first row first.
    rows: tuple[tuple[int, int], ...]
    item_ids: tuple[int, ...]

    @property
    def id(self) -> int:
        return self.rows[0][0]

    @property
    def attempts(self) -> int:
        return max(attempts for _, attempts in self.rows)


def add(
    session: Session,
    kind: str,
    item_id: int,
    key: str,
    payload: dict[str, Any],
    *,
    due: datetime,
    batch: str | None = None,
    refused: str | None = None,
) -> bool:
    """Queue a job about an item from `due` on, once per kind, item and key (False when it
    was queued already); a job `refused` for a reason is recorded failed and never done."""
    found = session.scalar(select(Job.id).where(Job.item_id == item_id, Job.kind == kind, Job.key == key))
    if found is not None:
        return False
    session.add(new(kind, item_id, key, payload, due=due, batch=batch, refused=refused))
    return True


def new(
    kind: str,
    item_id: int,
    key: str,
    payload: dict[str, Any],
    *,
    due: datetime,
    batch: str | None = None,
    refused: str | None = None,
) -> Job:
    """A job about an item from `due` on, for the caller to add; `add` is for keys that may
    have one already, this for a key just made (a new row's id), without looking first."""
    return Job(
        kind=kind,
        item_id=item_id,
        key=key,
        batch=batch,
        payload=payload,
        status="failed" if refused else "pending",
        attempts=0,
        due_at=due,
        last_error=refused,
    )


def claim(
    sessions: sessionmaker[Session], kinds: Collection[str], now: datetime, max_attempts: int
) -> Claim | None:
    """Take the next due job of `kinds` (with its batch mates), or None when none is due.

    A due job that has used all its attempts (its worker died mid-job) is marked failed
    on the way, never done again.
    """
    with transaction(sessions, write=False) as session:
        if session.scalar(_due(kinds, now).with_only_columns(Job.id)) is None:
            return None
    with transaction(sessions) as session:
        while (
            row := session.scalars(_due(kinds, now).with_for_update(skip_locked=True)).first()
        ) is not None:
            if row.attempts < max_attempts:
                break
            _give_up(session, row, row.last_error or f"the {row.kind} did not finish", now)
        if row is None:
            return None
        rows = [row, *(_batch_mates(session, row, now, max_attempts) if row.batch else [])]
        for each in rows:
            each.status, each.attempts, each.lease_until = "running", each.attempts + 1, now + LEASE
        return Claim(
            kind=row.kind,
            payload=row.payload,
            rows=tuple((each.id, each.attempts) for each in rows),
            item_ids=tuple(each.item_id for each in rows),
        )


def _due(kinds: Collection[str], now: datetime) -> Select[Job]:
    return select(Job).where(Job.kind.in_(kinds), _claimable(now)).order_by(Job.due_at, Job.id).limit(1)


def _claimable(now: datetime) -> ColumnElement[bool]:
    """Due and waiting, or claimed by a worker whose lease ran out."""
    waiting = and_(Job.status == "pending", Job.due_at <= now)
    lapsed = and_(Job.status == "running", Job.lease_until <= now)
    return or_(waiting, lapsed)


def _batch_mates(session: Session, row: Job, now: datetime, max_attempts: int) -> list[Job]:
    """The other due rows of the same kind and batch, to be done with `row`; those a dead
    worker claimed with it too, so that its batch goes again whole, as the same message."""
    return list(
        session.scalars(
            select(Job)
            .where(
                Job.kind == row.kind,
                Job.batch == row.batch,
                _claimable(now),
                Job.attempts < max_attempts,
                Job.id != row.id,
            )
            .order_by(Job.id)
            .with_for_update(skip_locked=True)
        )
    )


def finish(
    sessions: sessionmaker[Session],
    claim: Claim,
    now: datetime,
    then: Callable[[Session, Job], None] | None = None,
) -> None:
    """Record that the claimed jobs are done; `then` stores, in the same transaction, what
    a job brought (a fetched file) for each row still ours."""
    with transaction(sessions) as session:
        for row in _still_ours(session, claim):
            row.status, row.finished_at, row.lease_until, row.last_error = "done", now, None, None
            if then is not None:
                then(session, row)


def fail(
    sessions: sessionmaker[Session], claim: Claim, error: str, now: datetime, *, retry_at: datetime | None
) -> None:
    """Record a failed attempt: try again at `retry_at`, or give up when it is None."""
    with transaction(sessions) as session:
        for row in _still_ours(session, claim):
            row.last_error = error
            if retry_at is not None:
                row.status, row.due_at, row.lease_until = "pending", retry_at, None
            else:
                _give_up(session, row, error, now)


def counts(session: Session) -> dict[str, dict[str, int]]:
    """Per kind, how many jobs wait ("pending", claimed ones included) and how many gave up
    ("failed"); done ones, which only grow, are not counted (read off ix_jobs_due)."""
    found = {kind: {"pending": 0, "failed": 0} for kind in KINDS}
    rows = session.execute(
        select(Job.kind, Job.status, func.count())
        .where(Job.status.in_(("pending", "running", "failed")))
        .group_by(Job.kind, Job.status)
    )
    for kind, status, count in rows:
        shown = found.setdefault(kind, {"pending": 0, "failed": 0})
        shown["failed" if status == "failed" else "pending"] += count
    return found


def _still_ours(session: Session, claim: Claim) -> list[Job]:
    # A row is still ours only while running with the attempt we claimed; otherwise
    # another worker took it over after our lease ran out, and its outcome counts.
    ours = []
    for job_id, attempts in claim.rows:
        row = session.get(Job, job_id, with_for_update=True)
        if row is not None and row.status == "running" and row.attempts == attempts:
            ours.append(row)
    return ours


def _give_up(session: Session, row: Job, error: str, now: datetime) -> None:
    row.status, row.last_error, row.lease_until, row.finished_at = "failed", error, None, now
    detail = {**row.payload, "error": error, "attempts": row.attempts}
    session.add(
        AuditEvent(item_id=row.item_id, actor=SYSTEM_ACTOR, action=f"{row.kind} failed", detail=detail)
    )
