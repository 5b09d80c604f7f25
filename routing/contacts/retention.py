"""Retention: resolved items older than `[retention] resolved_days`, and spam older than
`spam_days`, are erased (routing.contacts.erasure) in batches of their own short
transactions, so that mail keeps arriving while a large purge runs.

A day's run is claimed by inserting its RetentionRun row: with many processes, one purges.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Select, exists, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased, sessionmaker

from config.settings import RetentionSettings
from routing.contacts.erasure import erase_items, forget, tombstone
from routing.store.database import transaction
from routing.store.models import SYSTEM_ACTOR, Item, Message, RetentionRun, utcnow

# Items per transaction: each batch holds the write lock for a few tens of milliseconds,
# which is what a message arriving during a purge may wait (bench/retention.py).
BATCH = 100


@dataclass
class RetentionReport:
    """What one run erased: items per reason, in how many batches."""

    erased: dict[str, int] = field(default_factory=dict)
    batches: int = 0

    def summary(self) -> str:
        counts = ", ".join(f"{count} {reason}" for reason, count in self.erased.items())
        return f"erased {counts} in {self.batches} batches"


def purge(
    sessions: sessionmaker[Session],
    settings: RetentionSettings,
    now: datetime,
    *,
    batch: int = BATCH,
    between: Callable[[], None] | None = None,
) -> RetentionReport:
    """Erase what retention says is old enough, batch by batch; `between` runs after each."""
    report = RetentionReport()
    for reason, old in (
        ("resolved", _old_resolved(now - timedelta(days=settings.resolved_days))),
        ("spam", _old_spam(now - timedelta(days=settings.spam_days))),
    ):
        report.erased[reason] = 0
        while True:
            with transaction(sessions) as session:
                ids = list(session.scalars(old.limit(batch)))
                if not ids:
                    break
                erased = erase_items(session, ids)
                tombstone(session, SYSTEM_ACTOR, f"retention: {reason}", erased, 0)
            report.erased[reason] += erased
            report.batches += 1
            if between is not None:
                between()
    forget(sessions)
    return report


def claim_day(sessions: sessionmaker[Session], now: datetime) -> str | None:
    """Today's run for this process to do, or None when another process has it already."""
    day = now.date().isoformat()
    try:
        with transaction(sessions) as session:
            if session.get(RetentionRun, day) is not None:
                return None
            session.execute(insert(RetentionRun).values(day=day, started_at=now))
    except IntegrityError:
        return None
    return day


def record(sessions: sessionmaker[Session], day: str, report: RetentionReport) -> None:
    with transaction(sessions) as session:
        session.execute(
            update(RetentionRun)
            .where(RetentionRun.day == day)
            .values(finished_at=utcnow(), erased=asdict(report))
        )


def _old_resolved(before: datetime) -> Select[int]:
    """Resolved items, not spam, resolved before `before` (read from ix_items_resolved)."""
    return select(Item.id).where(Item.status == "resolved", Item.resolved_at < before, Item.spam.is_(False))


def _old_spam(before: datetime) -> Select[int]:
    """Spam, marked by a rule or by a person, whose conversation has been quiet since
    `before`. A spam item stays open (a rule's mark) or is opened again by a reply, so
    its first message's time alone is no measure: a follow-up or an item merged into it
    since then is a conversation still going. An item merged into another is part of
    that one's conversation, and goes only with it (erase_items takes it along)."""
    merged = aliased(Item)
    return select(Item.id).where(
        Item.spam.is_(True),
        Item.received_at < before,
        Item.merged_into_id.is_(None),
        ~exists().where(Message.item_id == Item.id, Message.received_at >= before),
        ~exists().where(merged.merged_into_id == Item.id, merged.received_at >= before),
    )
