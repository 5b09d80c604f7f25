"""The outgoing relay answering badly, step by step of an SMTP transaction: what send_email
makes of each answer (another try or none, and the reason a person reads), then the reply
worker end to end on SQLite and PostgreSQL for the answers that decide whether a reply
goes twice or is shown as failed when it went. The relay is ScriptedRelay on loopback."""

from __future__ import annotations

import socket
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import default
from pathlib import Path

import pytest

from config.settings import MailServer, Settings
from intake.email.parser import parse_email
from intake.jobs.mail_server import SendFailed, send_email
from tests.support.mail import email_bytes
from tests.support.replies import DROP, SILENT, Office, open_office, replying_office, scripted_relay

TIMEOUT = 0.3  # seconds: how long a silent relay is waited for


def message() -> EmailMessage:
    sent = EmailMessage()
    sent["From"] = "sales@office.test"
    sent["To"] = "ann@client.example"
    sent["Subject"] = "Your quote"
    sent["Message-ID"] = "<reply-1@office.test>"
    sent.set_content("The large one is 40 euros.")
    return sent


def server(port: int, security: str = "none") -> MailServer:
    return MailServer("127.0.0.1", port, security, timeout_seconds=TIMEOUT)


def failure(port: int, security: str = "none") -> SendFailed:
    with pytest.raises(SendFailed) as raised:
        send_email(server(port, security), message(), datetime.now(UTC))
    return raised.value


@pytest.mark.parametrize(
    ("answers", "retry", "reason"),
    [
        ({"greeting": "421 4.3.2 too busy"}, True, "the mail server answered 421 4.3.2 too busy"),
        ({"greeting": "554 5.3.2 go away"}, False, "the mail server answered 554 5.3.2 go away"),
        ({"greeting": DROP}, True, "the mail server closed the connection"),
        ({"mail": "451 4.3.0 try later"}, True, "the mail server answered 451 4.3.0 try later"),
        ({"mail": "421 4.3.2 shutting down"}, True, "the mail server answered 421 4.3.2 shutting down"),
        ({"mail": "550 5.7.1 not allowed"}, False, "the mail server answered 550 5.7.1 not allowed"),
        ({"mail": DROP}, True, "the mail server closed the connection"),
        ({"rcpt": "450 4.2.1 mailbox busy"}, True, "the mail server refused every recipient ([450])"),
        ({"rcpt": "550 5.1.1 no such user"}, False, "the mail server refused every recipient ([550])"),
        ({"data": "451 4.3.0 try later"}, True, "the mail server answered 451 4.3.0 try later"),
        ({"data": "554 5.7.0 no"}, False, "the mail server answered 554 5.7.0 no"),
        ({"end": "452 4.3.1 disk full"}, True, "the mail server answered 452 4.3.1 disk full"),
        ({"end": "554 5.7.1 spam"}, False, "the mail server answered 554 5.7.1 spam"),
    ],
)
def test_each_refusal_is_retried_or_not_by_its_class_with_the_relays_words(
    answers: dict[str, str], retry: bool, reason: str
) -> None:
    with scripted_relay(**answers) as relay:
        failed = failure(relay.port)
        assert failed.retry is retry
        assert str(failed).startswith(reason)
        assert relay.taken == []


def test_a_refused_connection_is_retried() -> None:
    with socket.create_server(("127.0.0.1", 0)) as closed:
        port = closed.getsockname()[1]
    failed = failure(port)
    assert failed.retry
    assert str(failed).startswith("the mail server could not be reached")


@pytest.mark.parametrize("step", ["greeting", "mail", "rcpt", "data"])
def test_a_relay_silent_past_the_timeout_is_retried_and_holds_the_worker_no_longer(step: str) -> None:
    with scripted_relay(**{step: SILENT}) as relay:
        started = time.monotonic()
        failed = failure(relay.port)
        assert time.monotonic() - started < 10 * TIMEOUT
    assert failed.retry
    assert f"did not answer within {TIMEOUT:g} s" in str(failed)
    assert relay.taken == []


@pytest.mark.parametrize("after_data", [DROP, SILENT])
def test_a_relay_that_took_the_data_and_gave_no_answer_may_have_it_and_is_retried(after_data: str) -> None:
    with scripted_relay(end=after_data) as relay:
        failed = failure(relay.port)
    assert failed.retry
    assert len(relay.taken) == 1
    assert "it may have taken the message" in str(failed)


@pytest.mark.parametrize("quit_answer", ["421 4.3.2 closing", "500 5.5.1 what?", DROP, SILENT])
def test_a_message_accepted_stays_sent_whatever_the_answer_to_quit(quit_answer: str) -> None:
    with scripted_relay(quit=quit_answer) as relay:
        assert send_email(server(relay.port), message(), datetime.now(UTC)) == []
    assert len(relay.taken) == 1


@pytest.mark.parametrize(
    ("answers", "reason"),
    [
        ({}, "the mail server offers no STARTTLS"),
        ({"starttls": "454 4.7.0 TLS not available now"}, "the mail server answered 454 4.7.0"),
    ],
)
def test_a_starttls_failure_is_retried_and_nothing_goes_in_the_clear(
    answers: dict[str, str], reason: str
) -> None:
    with scripted_relay(offers_starttls="starttls" in answers, **answers) as relay:
        failed = failure(relay.port, "starttls")
    assert failed.retry
    assert str(failed).startswith(reason)
    assert relay.taken == []


def test_a_tls_handshake_that_fails_is_retried_and_nothing_goes_in_the_clear() -> None:
    with scripted_relay(offers_starttls=True, starttls="220 2.0.0 go ahead") as relay:
        failed = failure(relay.port, "starttls")  # the relay then speaks no TLS at all
    assert failed.retry
    assert relay.taken == []


# The reply worker, end to end.


def quick(settings: Settings) -> Settings:
    return replace(settings, outbound=replace(settings.outbound, timeout_seconds=TIMEOUT))


def reply_to_a_customer(office: Office) -> int:
    item_id = office.runtime.deliverer.deliver(parse_email(email_bytes())).item_id
    response = office.client.post(f"/api/v1/items/{item_id}/reply", json={"text": "40 euros."})
    assert response.status_code == 202, response.get_json()
    return item_id


def test_a_reply_the_relay_took_before_refusing_quit_is_sent_once(database_url: str, tmp_path: Path) -> None:
    with (
        scripted_relay(quit="421 4.3.2 closing") as relay,
        open_office(quick(replying_office(tmp_path, database_url, relay.port))) as office,
    ):
        reply_to_a_customer(office)
        assert office.drain() == 1
        office.clock.advance(timedelta(hours=2))
        assert office.drain() == 0
        assert len(relay.taken) == 1
        [reply] = office.replies()
        assert (reply.status, reply.last_error) == ("sent", None)


def test_a_reply_whose_final_answer_was_lost_goes_again_with_its_message_id_and_the_item_says_why(
    database_url: str, tmp_path: Path
) -> None:
    with (
        scripted_relay(end=DROP) as relay,
        open_office(quick(replying_office(tmp_path, database_url, relay.port))) as office,
    ):
        item_id = reply_to_a_customer(office)
        assert office.drain() == 1
        [waiting] = office.replies()
        assert waiting.status == "queued"
        assert "it may have taken the message" in (waiting.last_error or "")
        page = office.client.get(f"/items/{item_id}").get_data(as_text=True)
        assert "it may have taken the message" in page
        relay.answers["end"] = "250 2.0.0 queued"
        office.clock.advance(timedelta(seconds=11))
        assert office.drain() == 1
        # Sent twice, as SMTP cannot tell; the copy keeps the Message-ID, so the receiver can drop it.
        ids = {BytesParser(policy=default).parsebytes(taken)["Message-ID"] for taken in relay.taken}
        assert (len(relay.taken), ids) == (2, {waiting.message_id})
        assert [r.status for r in office.replies()] == ["sent"]
