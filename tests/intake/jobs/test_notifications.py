"""Department notifications: each new item is emailed and posted once, and machine mail never.

Dialogue style, on SQLite and PostgreSQL: a customer writes, the worker runs, the team's
mail server and chat tool (real servers on loopback) each get one notification.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from intake.cli.runtime import Runtime, open_runtime
from intake.email.parser import parse_email
from intake.jobs.notifications import NotificationWorker
from routing.people import accounts
from routing.queues import triage
from routing.store import jobs
from routing.store.database import transaction
from routing.store.models import AuditEvent, Job
from tests.support.mail import email_bytes
from tests.support.notifications import (
    TEAM,
    Clock,
    Receiver,
    _SinkHandler,
    notifying_office,
    smtp_sink,
    webhook_receiver,
)
from tests.support.routers import sms


@dataclass
class Office:
    runtime: Runtime
    sink: _SinkHandler
    hook: Receiver
    clock: Clock
    worker: NotificationWorker

    def deliver(self, raw: bytes) -> int:
        item_id = self.runtime.deliverer.deliver(parse_email(raw)).item_id
        self.clock.catch_up()
        return item_id

    def drain(self) -> int:
        """Run the worker until nothing is due; how many jobs it did."""
        done = 0
        while self.worker.run_once():
            done += 1
        return done

    def rows(self) -> list[Job]:
        return notification_jobs(self.runtime)


def notification_jobs(runtime: Runtime, via: str | None = None) -> list[Job]:
    """The notification jobs (of one way, when given), the first queued first."""
    query = select(Job).where(Job.kind == jobs.NOTIFICATION).order_by(Job.id)
    with transaction(runtime.sessions, write=False) as session:
        return [job for job in session.scalars(query) if via in (None, job.key)]


def _open(
    tmp_path: Path, database_url: str, port: int, hook: Receiver, digest_minutes: int = 0, extra: str = ""
) -> Runtime:
    settings = notifying_office(
        tmp_path,
        database_url,
        smtp_port=port,
        webhook_url=hook.url,
        digest_minutes=digest_minutes,
        extra=extra,
    )
    return open_runtime(settings)


@pytest.fixture
def office(database_url: str, tmp_path: Path) -> Iterator[Office]:
    with smtp_sink() as (port, sink), webhook_receiver() as hook:
        runtime = _open(tmp_path, database_url, port, hook)
        clock = Clock()
        worker = NotificationWorker(runtime.sessions, lambda: runtime.routers.settings, clock=clock)
        yield Office(runtime, sink, hook, clock, worker)
        runtime.engine.dispose()


def test_a_new_item_is_emailed_and_posted_once(office: Office) -> None:
    item_id = office.deliver(email_bytes(body="Hello,\r\nwhat does the large one cost?\r\n"))
    assert office.drain() == 2
    [(recipients, message)] = office.sink.messages
    assert recipients == list(TEAM)
    assert message["Subject"] == "[Intake] New item in Sales: A question about prices"
    assert message["From"] == "Intake <intake@office.test>"
    assert message["Auto-Submitted"] == "auto-generated"
    email_row, hook_row = office.rows()
    assert message["Message-ID"] == f"<intake-notification-{email_row.id}@office.test>"
    body = message.get_content()
    assert "From: Ann Example <ann@client.example>" in body and "Channel: email" in body
    assert "what does the large one cost?" in body
    assert f"Open it: https://intake.office.test/items/{item_id}" in body
    [request] = office.hook.requests
    assert request.signed
    assert request.headers["X-Intake-Delivery"] == str(hook_row.id)
    assert request.json["event"] == "item.created"
    assert request.json["item"] | {"received_at": None} == {
        "id": item_id,
        "department": "sales",
        "department_name": "Sales",
        "channel": "email",
        "sender": "ann@client.example",
        "sender_name": "Ann Example",
        "subject": "A question about prices",
        "excerpt": "Hello,\nwhat does the large one cost?",
        "received_at": None,
        "url": f"https://intake.office.test/items/{item_id}",
    }
    assert [(r.key, r.status, r.attempts) for r in office.rows()] == [
        ("email", "done", 1),
        ("webhook", "done", 1),
    ]
    # A second pass, and a later one, send nothing more.
    office.clock.advance(timedelta(hours=2))
    assert office.drain() == 0
    assert (len(office.sink.messages), len(office.hook.requests)) == (1, 1)


def test_a_repeat_and_a_reply_queue_nothing(office: Office) -> None:
    raw = email_bytes(message_id="<first@client.example>")
    office.deliver(raw)
    office.deliver(raw)
    reply = email_bytes(message_id="<second@client.example>", subject="Re: A question about prices")
    reply = reply.replace(b"MIME-Version", b"In-Reply-To: <first@client.example>\r\nMIME-Version", 1)
    office.deliver(reply)
    assert len(office.rows()) == 2
    assert office.drain() == 2
    assert (len(office.sink.messages), len(office.hook.requests)) == (1, 1)


def test_a_department_without_a_notify_table_hears_nothing(office: Office) -> None:
    office.deliver(email_bytes(to="billing@office.test"))
    assert office.rows() == [] and office.drain() == 0


def test_a_text_is_notified_by_its_first_words(office: Office) -> None:
    office.runtime.deliverer.deliver(sms("Can you send me a price for\nten boxes?", to="+15555550101"))
    assert office.drain() == 2
    [(_, message)] = office.sink.messages
    assert message["Subject"] == "[Intake] New item in Sales: Can you send me a price for"
    assert office.hook.requests[0].json["item"]["channel"] == "sms"


@pytest.mark.parametrize(
    "header",
    [
        "Auto-Submitted: auto-replied",
        "Content-Type: text/plain; charset=utf-8\r\nX-Failed-Recipients: x@y.example",
    ],
)
def test_machine_mail_is_stored_but_not_notified(office: Office, header: str) -> None:
    raw = email_bytes().replace(b"MIME-Version", header.encode() + b"\r\nMIME-Version", 1)
    assert parse_email(raw).machine_kind is not None
    office.deliver(raw)
    assert office.rows() == [] and office.drain() == 0


def test_mail_a_rule_marks_as_machine_or_spam_is_not_notified(database_url: str, tmp_path: Path) -> None:
    rules = (
        '[[rules]]\nname = "robots"\nwhen = { subject = ["report"] }\nmachine = true\n'
        '[[rules]]\nname = "junk"\nwhen = { subject = ["winner"] }\nspam = true\n'
    )
    with smtp_sink() as (port, _), webhook_receiver() as hook:
        runtime = _open(tmp_path, database_url, port, hook, extra=rules)
        try:
            for subject in ("Daily report", "You are a winner"):
                runtime.deliverer.deliver(
                    parse_email(email_bytes(subject=subject, message_id=f"<{subject[:5]}@x.example>"))
                )
            assert notification_jobs(runtime) == []
        finally:
            runtime.engine.dispose()


def test_a_failing_webhook_is_retried_with_backoff_and_arrives_once(office: Office) -> None:
    office.hook.statuses = [500]
    office.deliver(email_bytes())
    assert office.drain() == 2
    hook_row = office.rows()[1]
    assert (hook_row.status, hook_row.attempts, hook_row.last_error) == (
        "pending",
        1,
        "the webhook answered HTTP 500",
    )
    assert office.drain() == 0  # not due before its backoff
    office.clock.advance(timedelta(seconds=11))
    assert office.drain() == 1
    assert [r.status for r in office.rows()] == ["done", "done"]
    first, second = office.hook.requests
    assert first.signed and second.signed
    assert first.headers["X-Intake-Delivery"] == second.headers["X-Intake-Delivery"] == str(hook_row.id)


def test_a_mail_server_that_defers_is_retried_and_one_that_refuses_is_not(office: Office) -> None:
    office.sink.replies = ["451 4.3.0 try again later"]
    office.deliver(email_bytes(message_id="<a@client.example>"))
    office.drain()
    office.clock.advance(timedelta(seconds=11))
    office.drain()
    assert len(office.sink.messages) == 1
    office.sink.replies = ["554 5.7.1 no thanks"]
    office.deliver(email_bytes(message_id="<b@client.example>"))
    office.clock.advance(timedelta(hours=2))
    office.drain()
    refused = office.rows()[2]
    assert (refused.key, refused.status, refused.attempts) == ("email", "failed", 1)
    assert refused.last_error == "the mail server answered 554 5.7.1 no thanks"
    assert len(office.sink.messages) == 1


def test_an_unreachable_webhook_fails_after_its_attempts(database_url: str, tmp_path: Path) -> None:
    with webhook_receiver() as hook:
        pass  # closed: nothing listens on its port any more
    with smtp_sink() as (port, _):
        runtime = _open(tmp_path, database_url, port, hook)
        try:
            clock = Clock()
            worker = NotificationWorker(runtime.sessions, lambda: runtime.routers.settings, clock=clock)
            delivery = runtime.deliverer.deliver(parse_email(email_bytes()))
            clock.catch_up()
            for _ in range(5):
                while worker.run_once():
                    pass
                clock.advance(timedelta(hours=1))
            [row] = notification_jobs(runtime, "webhook")
            assert (row.status, row.attempts) == ("failed", 3)
            assert row.last_error is not None and "could not be reached" in row.last_error
            with runtime.sessions() as session:
                events = session.scalars(select(AuditEvent).where(AuditEvent.item_id == delivery.item_id))
                assert [e.action for e in events] == ["received", "notification failed"]
        finally:
            runtime.engine.dispose()


def test_a_redirecting_webhook_is_not_followed(office: Office) -> None:
    office.hook.statuses = [302]
    office.deliver(email_bytes())
    office.drain()
    hook_row = office.rows()[1]
    assert (hook_row.status, hook_row.attempts) == ("failed", 1)
    assert hook_row.last_error == "the webhook redirects (HTTP 302); configure its final URL"
    assert len(office.hook.requests) == 1


def test_a_digest_gathers_the_period_into_one_email(database_url: str, tmp_path: Path) -> None:
    with smtp_sink() as (port, sink), webhook_receiver() as hook:
        runtime = _open(tmp_path, database_url, port, hook, digest_minutes=15)
        try:
            clock = Clock()
            worker = NotificationWorker(runtime.sessions, lambda: runtime.routers.settings, clock=clock)
            subjects = ["Prices", "Delivery times", "Colours"]
            for number, subject in enumerate(subjects):
                runtime.deliverer.deliver(
                    parse_email(email_bytes(subject=subject, message_id=f"<d{number}@x.example>"))
                )
            clock.catch_up()
            while worker.run_once():
                pass
            assert sink.messages == [] and len(hook.requests) == 3  # webhooks do not wait
            clock.advance(timedelta(minutes=15))
            assert worker.run_once() and not worker.run_once()
            [(recipients, message)] = sink.messages
            assert recipients == list(TEAM)
            assert message["Subject"] == "[Intake] 3 new items in Sales"
            body = message.get_content()
            assert [body.index(f"Subject: {s}") for s in subjects] == sorted(
                body.index(f"Subject: {s}") for s in subjects
            )
            assert message["Message-ID"].startswith("<intake-notification-digest-")
            rows = notification_jobs(runtime, "digest")
            assert [(r.status, r.attempts) for r in rows] == [("done", 1)] * 3
        finally:
            runtime.engine.dispose()


def test_a_digest_whose_worker_died_goes_again_whole_as_the_same_email(
    database_url: str, tmp_path: Path
) -> None:
    with smtp_sink() as (port, sink), webhook_receiver() as hook:
        runtime = _open(tmp_path, database_url, port, hook, digest_minutes=15)
        try:
            clock = Clock()
            worker = NotificationWorker(runtime.sessions, lambda: runtime.routers.settings, clock=clock)
            for number in range(3):
                runtime.deliverer.deliver(parse_email(email_bytes(message_id=f"<died{number}@x.example>")))
            clock.catch_up()
            while worker.run_once():  # the webhooks
                pass
            clock.advance(timedelta(minutes=15))
            # A worker claims the digest, sends it and dies before marking it sent.
            claim = jobs.claim(runtime.sessions, worker.kinds, clock(), worker.retries().max_attempts)
            assert claim is not None and len(claim.rows) == 3
            worker.do(claim)
            clock.advance(jobs.LEASE + timedelta(seconds=1))
            assert worker.run_once() and not worker.run_once()
            [(_, sent), (_, again)] = sink.messages
            assert again["Subject"] == sent["Subject"] == "[Intake] 3 new items in Sales"
            assert again["Message-ID"] == sent["Message-ID"]  # the receiver can drop the copy
            rows = notification_jobs(runtime, "digest")
            assert [(r.status, r.attempts) for r in rows] == [("done", 2)] * 3
        finally:
            runtime.engine.dispose()


def test_an_item_moved_away_before_its_digest_is_left_out_of_it(database_url: str, tmp_path: Path) -> None:
    with smtp_sink() as (port, sink), webhook_receiver() as hook:
        runtime = _open(tmp_path, database_url, port, hook, digest_minutes=15)
        try:
            clock = Clock()
            worker = NotificationWorker(runtime.sessions, lambda: runtime.routers.settings, clock=clock)
            moved, alone = (
                runtime.deliverer.deliver(parse_email(email_bytes(subject=s, message_id=f"<{s}@x.example>")))
                for s in ("Moved", "Alone")
            )
            with transaction(runtime.sessions) as session:  # a receptionist sends one to billing
                rita = accounts.person_of(accounts.add_user(session, "rita", "receptionist", "x" * 12))
                triage.reroute(session, moved.item_id, rita, "billing", "an invoice")
            clock.catch_up()
            clock.advance(timedelta(minutes=15))
            while worker.run_once():
                pass
            [(_, message)] = sink.messages
            assert message["Subject"] == "[Intake] 1 new item in Sales"
            assert "Subject: Alone" in message.get_content() and "Moved" not in message.get_content()
            assert [r.item_id for r in notification_jobs(runtime, "digest")] == [moved.item_id, alone.item_id]
            assert {r.status for r in notification_jobs(runtime)} == {"done"}
            # Nor is it posted: its link would lead Sales to an item they may no longer see.
            assert [r.json["item"]["id"] for r in hook.requests] == [alone.item_id]
        finally:
            runtime.engine.dispose()


def test_healthz_counts_the_notifications_waiting_and_failed(office: Office) -> None:
    health = office.runtime.web_app().test_client()
    office.hook.statuses = [500]  # the webhook is tried again later: pending
    office.sink.replies = ["554 5.7.1 no thanks"]  # the email is refused for good: failed
    office.deliver(email_bytes(message_id="<a@client.example>"))
    office.drain()
    office.deliver(email_bytes(message_id="<b@client.example>"))  # not yet tried: pending
    response = health.get("/healthz")
    assert response.status_code == 200 and response.json is not None
    assert response.json["notifications"] == {"pending": 3, "failed": 1}
    office.clock.advance(timedelta(hours=2))
    office.drain()
    assert [(r.key, r.status) for r in office.rows()] == [
        ("email", "failed"),
        ("webhook", "done"),
        ("email", "done"),
        ("webhook", "done"),
    ]
    assert health.get("/healthz").json == {
        "status": "ok",
        "database": "ok",
        "notifications": {"pending": 0, "failed": 1},  # sent ones are not counted
        "jobs": {
            "notification": {"pending": 0, "failed": 1},
            "download": {"pending": 0, "failed": 0},
            "reply": {"pending": 0, "failed": 0},
        },
        "inbox": {"depth": 0, "oldest_seconds": 0.0},
    }
