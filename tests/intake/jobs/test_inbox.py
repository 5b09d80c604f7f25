"""The inbox on SQLite and PostgreSQL: group commit at the door, and workers that claim in
batches under a lease and make each row one item, never two, whatever comes in between."""

from __future__ import annotations

import threading
from collections.abc import Generator, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event, func, insert, select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from intake.cli.runtime import Runtime
from intake.email.parser import ParseJob, parse_email
from intake.email.storing import EmailReader, parse_all_here
from intake.jobs.inbox import BATCH, MAX_ATTEMPTS, InboxWorker
from routing.delivery import Delivering, Delivery
from routing.message import InboundMessage
from routing.store import inbox
from routing.store.database import StorageUnavailable, UnstorableMessage, transaction
from routing.store.inbox import Arrival, InboxWriter
from routing.store.models import DeliveryKey, InboxEntry, Item, Message
from tests.intake.email.test_storing import only_on_postgresql, refusing_values
from tests.support.mail import email_bytes
from tests.support.smtp import stored_item

NOW = datetime(2026, 11, 2, 15, 0, tzinfo=UTC)
LEASE = timedelta(seconds=60)


def arrival(number: int, sender: str = "ann@client.example") -> Arrival:
    raw = email_bytes(
        sender=sender, message_id=f"<inbox.{number}@client.example>", subject=f"Number {number}"
    )
    return Arrival("email", sender, ("sales@office.test",), raw, NOW)


def queue(runtime: Runtime, *arrivals: Arrival) -> None:
    with transaction(runtime.sessions) as session:
        inbox.add(session, list(arrivals))


def worker(runtime: Runtime, at: datetime = NOW) -> InboxWorker:
    """The test office's inbox worker, its clock stopped at `at`."""
    made = runtime.inbox_worker(parse_all_here)
    made.clock = lambda: at
    return made


def finish(runtime: Runtime, claimed: inbox.Claimed) -> None:
    """What a worker does with a row it claimed: parse it, store its item, delete the row."""
    made = worker(runtime)
    made.store(made.read_all([claimed]))


def counts(runtime: Runtime) -> tuple[int, int, int]:
    """(inbox rows, items, follow-ups)."""
    with transaction(runtime.sessions, write=False) as session:
        waiting = inbox.backlog(session).depth
        items = session.scalar(select(func.count(Item.id))) or 0
        follow_ups = session.scalar(select(func.count(Message.id))) or 0
    return waiting, items, follow_ups


@pytest.fixture
def writer(runtime: Runtime) -> Iterator[InboxWriter]:
    started = InboxWriter(runtime.sessions, gather_seconds=0.05)
    started.start()
    yield started
    started.stop()


def test_arrivals_at_once_share_commits_and_each_is_answered_after_its_own(
    runtime: Runtime, writer: InboxWriter
) -> None:
    commits = []
    event.listen(runtime.engine, "commit", lambda connection: commits.append(1))
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda n: writer.accept(arrival(n)), range(32)))
    # Every accept returned, so every arrival is committed: all 32 rows are there.
    assert counts(runtime)[0] == 32
    assert len(commits) < 16


def test_an_arrival_after_stop_is_refused_for_a_retry(runtime: Runtime, writer: InboxWriter) -> None:
    writer.stop()
    with pytest.raises(StorageUnavailable):
        writer.accept(arrival(1))


def test_an_arrival_no_database_can_hold_is_refused_alone_and_the_writer_goes_on(
    runtime: Runtime, writer: InboxWriter
) -> None:
    # A sender read with surrogate escapes (bytes that are not UTF-8) encodes in no codec.
    unreadable = Arrival("email", "\udce9ric@client.example", ("sales@office.test",), email_bytes(), NOW)
    with ThreadPoolExecutor(4) as pool:
        refused = pool.submit(writer.accept, unreadable)
        accepted = list(pool.map(lambda n: writer.accept(arrival(n)), range(3)))
        with pytest.raises(UnstorableMessage):
            refused.result()
    assert accepted == [None, None, None]
    writer.accept(arrival(3))
    assert counts(runtime)[0] == 4


def test_a_big_message_among_small_ones_is_kept_byte_for_byte(runtime: Runtime) -> None:
    # On SQLite a message past IN_PLACE_BYTES is written into its row in pieces.
    body = "".join(f"line {n} of the scans\r\n" for n in range(inbox.IN_PLACE_BYTES // 16))
    big = Arrival("email", "ann@client.example", ("sales@office.test",), email_bytes(body=body), NOW)
    assert len(big.raw) > inbox.IN_PLACE_BYTES + inbox.IN_PLACE_PIECE
    queue(runtime, arrival(1), big, arrival(2))
    claimed = inbox.claim(runtime.sessions, NOW, LEASE, 10)
    assert sorted(c.arrival.raw for c in claimed) == sorted([arrival(1).raw, big.raw, arrival(2).raw])
    assert {c.arrival.sender for c in claimed} == {"ann@client.example"}


def test_a_worker_makes_each_row_an_item_and_empties_the_inbox(runtime: Runtime) -> None:
    queue(runtime, *(arrival(n) for n in range(20)))
    made = worker(runtime)
    assert made.run_once() == 16  # one batch
    assert made.run_once() == 4
    assert made.run_once() == 0
    assert counts(runtime) == (0, 20, 0)


def test_a_claim_takes_the_oldest_free_rows_of_its_channels_with_or_without_a_first_look(
    runtime: Runtime,
) -> None:
    text = Arrival("sms", "+447700900123", ("+441632960001",), b"Body=Hello", NOW)
    queue(runtime, arrival(1), text, arrival(2), arrival(3))
    [first] = inbox.claim(runtime.sessions, NOW, LEASE, 1, ("email",))
    leased = inbox.claim(runtime.sessions, NOW, LEASE, 16, ("email",), look_first=False)
    assert [c.arrival.raw for c in (first, *leased)] == [arrival(n).raw for n in (1, 2, 3)]
    assert inbox.claim(runtime.sessions, NOW, LEASE, 16, ("email",), look_first=False) == []
    [texted] = inbox.claim(runtime.sessions, NOW, LEASE, 16, ("sms", "email"))
    assert (texted.arrival.channel, texted.attempts) == ("sms", 1)
    again = inbox.claim(runtime.sessions, NOW + LEASE, LEASE, 16, look_first=False)
    assert sorted(c.attempts for c in again) == [2, 2, 2, 2]


def test_the_same_message_twice_in_the_inbox_is_one_item(runtime: Runtime) -> None:
    # A sender that lost the 250 sends again: the copy is in the inbox beside the first.
    queue(runtime, arrival(1), arrival(1))
    worker(runtime).run_once()
    assert counts(runtime) == (0, 1, 0)


def test_rows_claimed_by_a_worker_that_died_are_claimed_again_after_the_lease(runtime: Runtime) -> None:
    queue(runtime, arrival(1), arrival(2))
    dead = inbox.claim(runtime.sessions, NOW, LEASE, 16)
    assert len(dead) == 2
    assert worker(runtime, NOW + LEASE / 2).run_once() == 0  # still leased
    assert worker(runtime, NOW + LEASE).run_once() == 2
    assert counts(runtime) == (0, 2, 0)


def test_a_worker_whose_lease_ran_out_stores_nothing_once_another_took_over(runtime: Runtime) -> None:
    queue(runtime, arrival(1))
    [late] = inbox.claim(runtime.sessions, NOW, LEASE, 16)
    [current] = inbox.claim(runtime.sessions, NOW + LEASE, LEASE, 16)
    finish(runtime, late)  # the first worker wakes up and finishes its claim
    assert counts(runtime) == (1, 0, 0)
    finish(runtime, current)
    assert counts(runtime) == (0, 1, 0)


def test_a_row_taken_over_in_a_batch_leaves_the_batch_s_other_rows_stored(runtime: Runtime) -> None:
    queue(runtime, arrival(1), arrival(2), arrival(3))
    late = inbox.claim(runtime.sessions, NOW, LEASE, 16)
    [current] = inbox.claim(runtime.sessions, NOW + LEASE, LEASE, 1)
    made = worker(runtime)
    made.store(made.read_all(late))  # the late worker wakes up
    assert counts(runtime) == (1, 2, 0)
    finish(runtime, current)
    assert counts(runtime) == (0, 3, 0)


def test_a_row_whose_key_is_taken_without_an_item_is_kept_raw_and_its_batch_goes_on(runtime: Runtime) -> None:
    # A key left behind by a hand edit of the database: the message is refused as read,
    # so it is kept as its raw bytes under a key of its own, marked, and the others go on.
    queue(runtime, arrival(1), arrival(2), arrival(3))
    with transaction(runtime.sessions) as session:
        session.execute(insert(DeliveryKey), [{"key": parse_email(arrival(2).raw).idempotency_key}])
    assert worker(runtime).run_once() == 3
    assert counts(runtime) == (0, 3, 0)
    with transaction(runtime.sessions, write=False) as session:
        kept = session.scalars(select(Item).where(Item.subject == "")).one()
        assert "is taken but no item or follow-up has it" in kept.parse_defects[0]
        assert stored_item(runtime, kept.id).raw.content == arrival(2).raw


def test_a_batch_where_nothing_fails_is_stored_without_a_savepoint_per_message(runtime: Runtime) -> None:
    savepoints: list[str] = []

    def look(_connection: object, _cursor: object, statement: str, *_: object) -> None:
        if statement.startswith("SAVEPOINT"):
            savepoints.append(statement)

    queue(runtime, *(arrival(n) for n in range(5)))
    event.listen(runtime.engine, "before_cursor_execute", look)
    try:
        assert worker(runtime).run_once() == 5
    finally:
        event.remove(runtime.engine, "before_cursor_execute", look)
    assert counts(runtime) == (0, 5, 0)
    assert savepoints == []


def test_a_row_that_failed_too_often_is_stored_raw_only_and_marked(runtime: Runtime) -> None:
    queue(runtime, arrival(1))
    for attempt in range(MAX_ATTEMPTS):
        assert len(inbox.claim(runtime.sessions, NOW + LEASE * attempt, LEASE, 16)) == 1
    assert worker(runtime, NOW + LEASE * MAX_ATTEMPTS).run_once() == 1
    with transaction(runtime.sessions, write=False) as session:
        item = stored_item(runtime, session.scalars(select(Item.id)).one())
    assert item.subject == ""
    assert item.parse_defects[0].startswith(f"processing failed {MAX_ATTEMPTS} times")
    assert item.raw.content == arrival(1).raw


def test_a_row_the_database_refuses_even_raw_stays_in_the_inbox(runtime: Runtime) -> None:
    only_on_postgresql(runtime)
    queue(runtime, arrival(1), arrival(2, sender="bad@client.example"))
    with refusing_values(runtime.engine, "sender", "bad@client.example"):
        assert worker(runtime).run_once() == 2
    assert counts(runtime) == (1, 1, 0)


def test_a_worker_stopped_mid_batch_gives_the_rest_back_at_once(runtime: Runtime) -> None:
    queue(runtime, *(arrival(n) for n in range(3)))
    made = worker(runtime)
    reader = made.readers["email"]
    assert isinstance(reader, EmailReader)
    parse_all = reader.parse_all

    def stop_after_the_first(jobs: Iterable[ParseJob]) -> Generator[InboundMessage, None, None]:
        for message in parse_all(jobs):
            made.stop()
            yield message

    reader.parse_all = stop_after_the_first
    assert made.run_once() == 3
    assert counts(runtime) == (2, 1, 0)
    # Given back, not leased: another worker takes them now, not a lease later.
    assert worker(runtime).run_once() == 2
    assert counts(runtime) == (0, 3, 0)


def test_the_backlog_counts_rows_and_knows_the_oldest(runtime: Runtime) -> None:
    older = Arrival("email", None, ("sales@office.test",), b"x", NOW - timedelta(minutes=5))
    queue(runtime, arrival(1), older)
    with transaction(runtime.sessions, write=False) as session:
        assert inbox.backlog(session) == inbox.Backlog(2, NOW - timedelta(minutes=5))


def test_the_writer_replaces_its_connection_when_the_server_ended_it(
    runtime: Runtime, writer: InboxWriter
) -> None:
    if runtime.engine.dialect.name != "postgresql":
        pytest.skip("a SQLite connection is a file, which no server ends")
    writer.accept(arrival(1))
    # The server ends every other connection, the writer's kept one among them, as a
    # restart or an administrator would (the pool replaces its own on their next use).
    with runtime.engine.connect() as other:
        ended = other.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        ).all()
    assert (True,) in ended
    writer.accept(arrival(2))  # run again on a new connection, not refused
    assert counts(runtime)[0] == 2


def test_an_arrival_its_door_gave_up_on_before_the_commit_is_not_committed(runtime: Runtime) -> None:
    slow = InboxWriter(runtime.sessions, gather_seconds=0.5)
    slow.start()
    try:
        kept = slow.submit(arrival(1))
        given_up = slow.submit(arrival(2))  # gathered with the first, for half a second
        assert given_up.cancel()  # as a door's timeout does, before the writer takes it
        kept.result(timeout=30)
    finally:
        slow.stop()
    assert counts(runtime)[0] == 1


def leased(runtime: Runtime) -> int:
    """How many inbox rows are claimed at NOW."""
    with transaction(runtime.sessions, write=False) as session:
        return session.scalar(select(func.count(InboxEntry.id)).where(InboxEntry.lease_until > NOW)) or 0


def test_a_whole_batch_claims_the_next_in_the_transaction_that_stores_it(runtime: Runtime) -> None:
    queue(runtime, *(arrival(n) for n in range(BATCH + 3)))
    made = worker(runtime)
    assert made.run_once() == BATCH
    assert counts(runtime) == (3, BATCH, 0)
    assert leased(runtime) == 3  # claimed with the first batch's commit
    assert made.run_once() == 3
    assert counts(runtime) == (0, BATCH + 3, 0)
    assert made.run_once() == 0


def test_a_worker_stopping_gives_back_the_batch_it_claimed_ahead_at_once(runtime: Runtime) -> None:
    queue(runtime, *(arrival(n) for n in range(BATCH + 3)))
    made = worker(runtime)
    assert made.run_once() == BATCH
    made.stop()  # its thread never started: run() only gives back what it holds
    made.run()
    assert leased(runtime) == 0
    assert worker(runtime).run_once() == 3  # at once, not a lease later
    assert counts(runtime) == (0, BATCH + 3, 0)


def _noting_when_the_next_batch_is_read(
    made: InboxWorker, wait_seconds: float
) -> tuple[threading.Event, list[bool]]:
    """Makes the worker's store of a whole batch wait up to `wait_seconds` for the next
    batch's first parse; the event is set at that parse, the list says for each whole
    batch stored whether it came during the store."""
    reader = made.readers["email"]
    assert isinstance(reader, EmailReader)
    parse_all, deliver_all = reader.parse_all, made.deliverer.deliver_all
    next_read, during_the_store = threading.Event(), []

    def parse_noting_the_next(jobs: Iterable[ParseJob]) -> Generator[InboundMessage, None, None]:
        for job in jobs:
            if f"Number {BATCH}".encode() in job.raw:  # the first of the next batch
                next_read.set()
            yield from parse_all([job])

    def store_waiting_for_the_next(session: Session, batch: Sequence[Delivering]) -> list[Delivery]:
        if len(batch) == BATCH:
            during_the_store.append(next_read.wait(timeout=wait_seconds))
        return deliver_all(session, batch)

    reader.parse_all = parse_noting_the_next
    made.deliverer.deliver_all = store_waiting_for_the_next  # type: ignore[method-assign]
    return next_read, during_the_store


def test_the_next_batch_is_read_while_a_whole_one_is_stored(runtime: Runtime) -> None:
    queue(runtime, *(arrival(n) for n in range(BATCH + 3)))
    made = worker(runtime)
    _, during_the_store = _noting_when_the_next_batch_is_read(made, wait_seconds=30)
    assert made.run_once() == BATCH
    assert made.run_once() == 3
    assert counts(runtime) == (0, BATCH + 3, 0)
    assert during_the_store == [True]


def test_a_next_batch_of_big_mail_is_read_only_in_its_turn(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("intake.jobs.inbox.READ_AHEAD_BYTES", len(arrival(BATCH).raw) * 3 - 1)
    queue(runtime, *(arrival(n) for n in range(BATCH + 3)))
    made = worker(runtime)
    next_read, during_the_store = _noting_when_the_next_batch_is_read(made, wait_seconds=0.5)
    assert made.run_once() == BATCH
    assert during_the_store == [False]  # its three mails held parsed beside the batch: too many bytes
    assert not next_read.is_set() and leased(runtime) == 3
    assert made.run_once() == 3
    assert counts(runtime) == (0, BATCH + 3, 0)


def test_a_batch_rolled_back_voids_the_claim_of_the_next(runtime: Runtime) -> None:
    queue(runtime, *(arrival(n) for n in range(BATCH + 3)))
    made = worker(runtime)
    deliver_all = made.deliverer.deliver_all
    tries: list[int] = []

    def fail_once(session: Session, batch: Sequence[Delivering]) -> list[Delivery]:
        tries.append(len(batch))
        if len(tries) == 1:
            raise OperationalError("INSERT", {}, Exception("the disk is full"))
        return deliver_all(session, batch)

    made.deliverer.deliver_all = fail_once  # type: ignore[method-assign]
    assert made.run_once() == BATCH  # stored again apart, each message on its own
    assert counts(runtime) == (3, BATCH, 0)
    assert leased(runtime) == 0  # the next batch's claim went with the rollback
    assert made.run_once() == 3
    assert counts(runtime) == (0, BATCH + 3, 0)
