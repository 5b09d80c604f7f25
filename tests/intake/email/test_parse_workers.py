"""Parsing children: a parse past the time or memory limit is killed, the message kept raw and marked."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, datetime, timedelta, tzinfo

import pytest

from intake.email.budgets import HeaderBudgets
from intake.email.parse_workers import AHEAD_BYTES, ParseWorkers, WorkerLimits
from intake.email.parser import EmailLimits, Envelope, ParseJob, parse_email
from tests.support.mail import email_bytes, raw_message

ENVELOPE = Envelope("ann@client.example", (), ("sales@office.test",))
# Budgets wide open, so that only the children's limits stand in the way.
UNBOUNDED = EmailLimits(max_message_size=2**30, headers=HeaderBudgets(max_parameters=10**6))


def slow_to_parse() -> bytes:
    """Thousands of RFC 2231 parameters: seconds of the modern parser's time."""
    parameters = "".join(f";\r\n name*{n}*=utf-8''abc%C3%A9" for n in range(8000))
    return raw_message(
        "From: ann@client.example", "Subject: slow", f"Content-Type: text/plain{parameters}", "", "x"
    )


def slow_and_small() -> bytes:
    """Thousands of short RFC 2231 parameters: seconds to parse, in less than AHEAD_BYTES."""
    parameters = "".join(f";n*{n}*=''%C3" for n in range(4000))
    return raw_message(
        "From: ann@client.example", "Subject: slow", f"Content-Type: text/plain{parameters}", "", "x"
    )


def large_to_parse() -> bytes:
    """An attachment of 8 MB: several copies of it while it is decoded."""
    lines = ["QUJDREVGR0hJSktM"] * 600_000
    head = ("From: ann@client.example", "Subject: large", "Content-Type: application/octet-stream")
    return raw_message(*head, "Content-Transfer-Encoding: base64", "", *lines)


@pytest.fixture
def workers() -> Iterator[ParseWorkers]:
    with ParseWorkers(WorkerLimits(workers=1, seconds=1, memory_mb=100)) as pool:
        yield pool


def parse(workers: ParseWorkers, raw: bytes) -> tuple[str, tuple[str, ...]]:
    message = workers.parse(raw, ENVELOPE, datetime.now(UTC), UNBOUNDED)
    assert message.raw == raw
    return message.subject, message.parse_defects


def test_a_plain_mail_is_parsed_in_a_child(workers: ParseWorkers) -> None:
    assert parse(workers, email_bytes(subject="Hello")) == ("Hello", ())


def test_a_parse_past_the_time_limit_is_killed_and_the_next_one_parsed() -> None:
    defects = ("over limit: parsing took longer than 1 s; stored raw only",)
    with ParseWorkers(WorkerLimits(workers=1, seconds=1, memory_mb=1024)) as workers:
        assert parse(workers, slow_to_parse()) == ("", defects)
        assert parse(workers, email_bytes(subject="After")) == ("After", ())


def test_a_parse_past_the_memory_limit_is_stopped_and_the_next_one_parsed(workers: ParseWorkers) -> None:
    defects = ("over limit: parsing needed more than 100 MB; stored raw only",)
    assert parse(workers, large_to_parse()) == ("", defects)
    assert parse(workers, email_bytes(subject="After")) == ("After", ())


class Zone(tzinfo):
    """A time zone as some IMAP clients make them: it does not survive pickling."""

    def __init__(self, minutes: int) -> None:
        self.minutes = minutes

    def utcoffset(self, when: datetime | None) -> timedelta:
        return timedelta(minutes=self.minutes)

    def dst(self, when: datetime | None) -> timedelta:
        return timedelta(0)


def test_an_arrival_time_in_any_time_zone_comes_back_as_given(workers: ParseWorkers) -> None:
    arrived = datetime(2026, 11, 2, 10, 15, tzinfo=Zone(-300))
    message = workers.parse(email_bytes(subject="Zoned"), ENVELOPE, arrived, EmailLimits())
    assert (message.subject, message.received_at, message.parse_defects) == ("Zoned", arrived, ())


def test_closing_stops_every_child() -> None:
    pool = ParseWorkers(WorkerLimits(workers=2))
    pool.parse(email_bytes(), ENVELOPE, datetime.now(UTC), EmailLimits())
    children = [child.process for child in pool._children]
    pool.close()
    assert children and not any(process.is_alive() for process in children)


def parse_all(workers: ParseWorkers, raws: list[bytes]) -> list[tuple[str, tuple[str, ...]]]:
    jobs = [ParseJob(raw, ENVELOPE, datetime.now(UTC), UNBOUNDED) for raw in raws]
    messages = list(workers.parse_all(jobs))
    assert [message.raw for message in messages] == raws
    return [(message.subject, message.parse_defects) for message in messages]


def test_many_mails_come_back_in_order_though_sent_ahead(workers: ParseWorkers) -> None:
    # Past AHEAD_BYTES in all, one of them alone past it: sent in several rounds.
    big = email_bytes(subject="Big", body="x" * (AHEAD_BYTES + 1000))
    raws = [email_bytes(subject=f"Mail {n}", body="y" * 5000) for n in range(30)]
    raws.insert(12, big)
    assert sum(map(len, raws)) > 2 * AHEAD_BYTES
    assert parse_all(workers, raws) == [(parse_email(raw).subject, ()) for raw in raws]


def test_a_mail_past_the_time_limit_among_others_takes_only_itself_along() -> None:
    defects = ("over limit: parsing took longer than 1 s; stored raw only",)
    raws = [
        email_bytes(subject="Before"),
        slow_and_small(),
        email_bytes(subject="After"),
        email_bytes(subject="Last"),
    ]
    assert sum(map(len, raws)) < AHEAD_BYTES  # all sent at once: the two after it go to the next child
    with ParseWorkers(WorkerLimits(workers=1, seconds=1, memory_mb=1024)) as workers:
        assert parse_all(workers, raws) == [("Before", ()), ("", defects), ("After", ()), ("Last", ())]


def test_a_mail_past_the_memory_limit_among_others_takes_only_itself_along(workers: ParseWorkers) -> None:
    defects = ("over limit: parsing needed more than 100 MB; stored raw only",)
    raws = [email_bytes(subject="Before"), large_to_parse(), email_bytes(subject="After")]
    assert parse_all(workers, raws) == [("Before", ()), ("", defects), ("After", ())]


def test_mails_left_unread_when_the_caller_stops_are_never_answered_to_another(workers: ParseWorkers) -> None:
    jobs = [
        ParseJob(email_bytes(subject=f"Left {n}"), ENVELOPE, datetime.now(UTC), UNBOUNDED) for n in range(5)
    ]
    with closing(workers.parse_all(jobs)) as parsed:
        assert next(parsed).subject == "Left 0"
    assert parse(workers, email_bytes(subject="Next")) == ("Next", ())
    assert parse_all(workers, [email_bytes(subject="Then")] * 3) == [("Then", ())] * 3


def test_a_child_gone_while_waiting_is_replaced_and_the_next_mail_parsed(workers: ParseWorkers) -> None:
    assert parse(workers, email_bytes(subject="First")) == ("First", ())
    for child in workers._children:  # as the system's out-of-memory killer would
        child.process.kill()
        child.process.join()
    assert parse(workers, email_bytes(subject="Second")) == ("Second", ())
