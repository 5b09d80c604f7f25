"""The daily retention purge: old resolved items and old spam go, in batches, once a day."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update

from intake.cli.runtime import Runtime
from intake.email.parser import parse_email
from intake.jobs.retention import RetentionWorker
from routing.contacts.retention import purge
from routing.contacts.suggestions import merge_items
from routing.queues import triage
from routing.store.database import transaction
from routing.store.models import Erasure, Item, RetentionRun
from tests.support.contacts import RECEPTION
from tests.support.mail import email_bytes, raw_message

NOW = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)


def _item(runtime: Runtime, name: str, days_ago: int, **state: object) -> int:
    raw = email_bytes(
        sender=f"{name}@client.example", message_id=f"<{name}@client.example>", body=f"{name}\r\n"
    )
    at = NOW - timedelta(days=days_ago)
    item_id = runtime.deliverer.deliver(parse_email(raw, received_at=at)).item_id
    if state:
        with transaction(runtime.sessions) as session:
            session.execute(update(Item).where(Item.id == item_id).values(**state))
    return item_id


def _office(runtime: Runtime) -> dict[str, int]:
    old = NOW - timedelta(days=400)
    kept = {
        "recent": _item(runtime, "recent", 10, status="resolved", resolved_at=NOW - timedelta(days=10)),
        "open": _item(runtime, "open", 500),
        "fresh-spam": _item(runtime, "freshspam", 10, spam=True),
    }
    erased = {
        "old": _item(runtime, "old", 400, status="resolved", resolved_at=old),
        "old-spam": _item(
            runtime, "oldspam", 40, spam=True, status="resolved", resolved_at=NOW - timedelta(days=40)
        ),
        "rule-spam": _item(runtime, "rulespam", 31, spam=True),
    }
    erased["merged"] = _item(runtime, "merged", 401, status="merged", merged_into_id=erased["old"])
    return {**{f"kept {k}": v for k, v in kept.items()}, **erased}


def _left(runtime: Runtime) -> set[int]:
    with transaction(runtime.sessions, write=False) as session:
        return set(session.scalars(select(Item.id)))


def test_old_resolved_items_and_old_spam_are_erased_in_batches_with_a_tombstone_each(
    runtime: Runtime,
) -> None:
    items = _office(runtime)
    report = purge(runtime.sessions, runtime.settings.retention, NOW, batch=1)
    assert report.erased == {"resolved": 2, "spam": 2}  # the old item took the one merged into it along
    assert report.batches == 3
    assert _left(runtime) == {v for k, v in items.items() if k.startswith("kept")}
    with transaction(runtime.sessions, write=False) as session:
        stones = [(e.actor, e.reason, e.items) for e in session.scalars(select(Erasure).order_by(Erasure.id))]
    assert stones == [
        ("intake", "retention: resolved", 2),
        ("intake", "retention: spam", 1),
        ("intake", "retention: spam", 1),
    ]


def test_the_worker_purges_once_a_day_and_records_what_it_erased(runtime: Runtime) -> None:
    _office(runtime)
    clock = [NOW]
    worker = RetentionWorker(runtime.sessions, lambda: runtime.settings, clock=lambda: clock[0])
    first = worker.run_once()
    assert first is not None and first.erased == {"resolved": 2, "spam": 2}
    assert worker.run_once() is None  # the day is done, by this process or another
    clock[0] = NOW + timedelta(days=1)
    assert worker.run_once() is not None
    with transaction(runtime.sessions, write=False) as session:
        runs = session.scalars(select(RetentionRun).order_by(RetentionRun.day)).all()
        assert [run.day for run in runs] == ["2026-12-01", "2026-12-02"]
        assert runs[0].erased == {"erased": {"resolved": 2, "spam": 2}, "batches": 2}
        assert runs[0].finished_at is not None


def test_spam_in_a_conversation_still_going_is_kept(runtime: Runtime) -> None:
    # A rule's spam that a person merged into an open item: it is part of that one now.
    target = _item(runtime, "target", 40)
    merged = _item(runtime, "mergedspam", 40, spam=True)
    # A rule's spam that a newer item was merged into: the same request, asked again.
    spam_target = _item(runtime, "spamtarget", 40, spam=True)
    newer = _item(runtime, "newer", 2)
    # Spam a person marked, that its sender's answer of yesterday opened again.
    answered = _item(runtime, "answered", 40)
    with transaction(runtime.sessions) as session:
        merge_items(session, session.get_one(Item, merged), session.get_one(Item, target), RECEPTION)
        merge_items(session, session.get_one(Item, newer), session.get_one(Item, spam_target), RECEPTION)
        triage.mark_spam(session, answered, RECEPTION)
    reply = raw_message(
        "From: answered@client.example", "To: sales@office.test", "Subject: Re: A question about prices",
        "Message-ID: <answer@client.example>", "In-Reply-To: <answered@client.example>", "",
        "It is not spam: please answer.",
    )  # fmt: skip
    joined = runtime.deliverer.deliver(parse_email(reply, received_at=NOW - timedelta(days=1)))
    assert joined.item_id == answered
    report = purge(runtime.sessions, runtime.settings.retention, NOW)
    assert report.erased == {"resolved": 0, "spam": 0}
    assert _left(runtime) == {target, merged, spam_target, newer, answered}
    old_spam = _item(runtime, "oldspam", 40, spam=True)
    assert purge(runtime.sessions, runtime.settings.retention, NOW).erased["spam"] == 1  # quiet spam goes
    assert old_spam not in _left(runtime)
