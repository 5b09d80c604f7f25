"""A real `intake serve` killed (SIGKILL) after its commit and before its answer reached the
sender: the sender sees the connection lost, retries against a new process on the same
database, and the office holds exactly one item. For SMTP and a signed Twilio text (each
killed once the message is in the inbox; the text's acknowledgement is sent once); and
an inbox worker killed in the middle of a batch."""

from __future__ import annotations

import http.client
import os
import smtplib
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlencode

import pytest
from sqlalchemy import func, select

from intake.cli.runtime import Runtime
from intake.jobs.inbox import BATCH
from routing.store import inbox
from routing.store.database import transaction
from routing.store.inbox import Arrival
from routing.store.models import InboxEntry, Item, Message, Reply
from tests.conftest import OFFICE
from tests.support.dovecot import wait_for
from tests.support.inbox import wait_until_drained
from tests.support.mail import email_bytes
from tests.support.serving import ServeProcess
from tests.support.tcp_proxy import BlackHoleProxy
from tests.support.twilio import (
    ACKNOWLEDGEMENTS_TOML,
    PUBLIC_URL,
    FakeTwilio,
    office_with_twilio,
    sign,
    sms_form,
    twilio_toml,
)


@contextmanager
def serving(config: Path, database_url: str) -> Iterator[ServeProcess]:
    process = ServeProcess(config, database_url)
    try:
        process.wait_until_running()
        yield process
    finally:
        process.stop()


@contextmanager
def replies_withheld(port: int) -> Iterator[BlackHoleProxy]:
    proxy = BlackHoleProxy(port)
    try:
        yield proxy
    finally:
        proxy.close()


def items(runtime: Runtime) -> int:
    with runtime.sessions() as session:
        return session.scalar(select(func.count()).select_from(Item)) or 0


def follow_ups(runtime: Runtime) -> int:
    """Messages stored on an item after its first: a retry must not become one either."""
    with runtime.sessions() as session:
        return session.scalar(select(func.count()).select_from(Message)) or 0


def acknowledgements(runtime: Runtime) -> list[str]:
    """The texts of the acknowledgements stored."""
    with runtime.sessions() as session:
        return list(session.scalars(select(Reply.text).where(Reply.kind == "acknowledgement")))


def accepted(runtime: Runtime) -> int:
    """Messages committed: in the inbox, or already items."""
    with runtime.sessions() as session:
        return inbox.backlog(session).depth + items(runtime)


def kill_once_committed(runtime: Runtime, process: ServeProcess) -> None:
    """Wait until the message is committed, then kill the process before it can answer."""
    wait_for(lambda: accepted(runtime) == 1, "the message committed")
    process.process.kill()
    process.process.wait()


def test_smtp_killed_between_commit_and_250_then_the_retry_makes_one_item(runtime: Runtime) -> None:
    url = runtime.settings.database.url
    raw = email_bytes(message_id="<killed@client.example>", subject="Sent as the server died")
    assert not any(line.startswith(b".") for line in raw.split(b"\r\n"))  # nothing to dot-stuff
    with serving(OFFICE, url) as first, replies_withheld(first.smtp_port) as proxy:
        sender = smtplib.SMTP("127.0.0.1", proxy.port, timeout=30)
        try:
            sender.ehlo()
            sender.mail("ann@client.example")
            sender.rcpt("sales@office.test")
            assert sender.docmd("DATA")[0] == 354
            proxy.withhold_replies()  # the 250 for the message below never arrives
            sender.send(raw + b".\r\n")
            kill_once_committed(runtime, first)
            with pytest.raises(smtplib.SMTPServerDisconnected):
                sender.getreply()
        finally:
            sender.close()

    # The sending server retries the same bytes against the office's next process.
    with serving(OFFICE, url) as second, smtplib.SMTP("127.0.0.1", second.smtp_port, timeout=30) as retry:
        assert retry.sendmail("ann@client.example", ["sales@office.test"], raw) == {}
        second.wait_until_drained()
    assert (items(runtime), follow_ups(runtime)) == (1, 0)


def test_twilio_killed_between_commit_and_200_then_the_retry_makes_one_item(
    runtime: Runtime, fake_twilio: FakeTwilio, tmp_path: Path
) -> None:
    url = runtime.settings.database.url
    fake_twilio.reset()
    config = office_with_twilio(tmp_path, twilio_toml(fake_twilio, ACKNOWLEDGEMENTS_TOML))
    form = sms_form(sid="SM" + "9" * 32, body="Are you open on Saturday?")
    body = urlencode(form)
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Twilio-Signature": sign(PUBLIC_URL + "/twilio/sms", form),
    }
    with serving(config, url) as first, replies_withheld(first.web_port) as proxy:
        proxy.withhold_replies()  # the 200 never arrives
        twilio = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=30)
        try:
            twilio.request("POST", "/twilio/sms", body=body, headers=headers)
            kill_once_committed(runtime, first)
            with pytest.raises(ConnectionError):
                twilio.getresponse()
        finally:
            twilio.close()

    # Twilio retries the same signed request, with the same MessageSid.
    with serving(config, url) as second:
        retry = http.client.HTTPConnection("127.0.0.1", second.web_port, timeout=30)
        try:
            retry.request("POST", "/twilio/sms", body=body, headers=headers)
            assert retry.getresponse().status == 200
        finally:
            retry.close()
        second.wait_until_drained()
        wait_for(lambda: len(fake_twilio.posted) > 0, "the acknowledgement sent")
    assert (items(runtime), follow_ups(runtime)) == (1, 0)
    # The open or the closed text, by the hour the test runs: one, and sent once.
    [acknowledgement] = acknowledgements(runtime)
    assert [text["Body"] for text in fake_twilio.texts] == [acknowledgement]


BATCHES = 3 * BATCH


def worker_process(config: Path, database_url: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "INTAKE_DATABASE_URL": database_url}
    return subprocess.Popen([sys.executable, "-m", "intake", "--config", str(config), "worker"], env=env)


def leased(runtime: Runtime) -> int:
    """Inbox rows claimed by a worker and not yet made items."""
    with runtime.sessions() as session:
        return session.scalar(select(func.count()).where(InboxEntry.lease_until.is_not(None))) or 0


def test_a_worker_killed_mid_batch_leaves_its_rows_to_the_next_and_nothing_is_lost_or_doubled(
    runtime: Runtime, tmp_path: Path
) -> None:
    config = tmp_path / "office.toml"
    config.write_text(OFFICE.read_text().replace("[database]\n", "[database]\ninbox_lease_seconds = 2\n"))
    now = datetime.now(UTC)
    # The batches after the first are long mails, each read for a while: the worker holds
    # their claim long enough to be seen holding it (short ones are all made in a blink).
    long_body = "A line of a long mail, read for a while.\r\n" * 50_000
    arrivals = [
        Arrival(
            "email",
            "ann@client.example",
            ("sales@office.test",),
            email_bytes(message_id=f"<b{n}@c.example>", **({"body": long_body} if n >= BATCH else {})),
            now,
        )
        for n in range(BATCHES)
    ]
    with transaction(runtime.sessions) as session:
        inbox.add(session, arrivals)
    url = runtime.settings.database.url
    first = worker_process(config, url)
    try:
        # A batch commits its items all at once: kill once one has, and the next batch is claimed.
        wait_for(
            lambda: items(runtime) >= 1 and leased(runtime) > 0, "an item made and the next batch claimed"
        )
    finally:
        first.kill()
        first.wait()
    assert leased(runtime) > 0  # killed with claimed rows in hand, not between batches
    assert items(runtime) < BATCHES

    second = worker_process(config, url)
    try:
        wait_until_drained(runtime.sessions, timeout=60)
    finally:
        second.terminate()
        second.wait(30)
    assert (items(runtime), follow_ups(runtime)) == (BATCHES, 0)
