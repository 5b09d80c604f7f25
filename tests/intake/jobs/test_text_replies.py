"""Replies by text, dialogue style on SQLite and PostgreSQL: a customer texts the office
through the signed webhook, a person answers through the API, the reply worker hands it
to the fake Messages API on loopback, and Twilio's signed status callbacks move it on.
Then the faults: a crash between Twilio's answer and its record, Twilio's 5xx and 4xx."""

from __future__ import annotations

import base64
import socket
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from routing.store import jobs
from tests.support.texts import TextOffice, open_text_office
from tests.support.twilio import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    CALLER,
    PUBLIC_URL,
    SALES_NUMBER,
    Answer,
    FakeTwilio,
    raw_server,
)


@pytest.fixture
def office(database_url: str, tmp_path: Path, fake_twilio: FakeTwilio) -> Iterator[TextOffice]:
    with open_text_office(database_url, tmp_path, fake_twilio) as opened:
        yield opened


def answered(office: TextOffice, item_id: int, text: str = "Yes, in size 10 too.") -> int:
    response = office.answer(item_id, text=text)
    assert response.status_code == 202, response.get_json()
    reply_id: int = response.get_json()["id"]
    return reply_id


def test_a_text_is_answered_from_the_number_it_came_to_and_callbacks_move_it_to_delivered(
    office: TextOffice,
) -> None:
    item_id = office.text_in("Do you have the blue one?")
    reply_id = answered(office, item_id)
    assert office.drain() == 1

    [posted] = office.fake.posted
    credentials = base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()
    assert posted.path == f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
    assert posted.authorization == f"Basic {credentials}"
    callback = f"{PUBLIC_URL}/twilio/replies/{reply_id}/status"
    assert posted.form == {
        "From": SALES_NUMBER,
        "To": CALLER,
        "Body": "Yes, in size 10 too.",
        "StatusCallback": callback,
    }
    [reply] = office.replies()
    [made] = office.fake.sent
    sid = made["sid"]
    assert (reply.external_id, reply.status) == (sid, "queued")

    assert office.report(callback, sid, "sent").status_code == 200
    assert [r.status for r in office.replies()] == ["sent"]
    assert office.report(callback, sid, "delivered").status_code == 200
    # A late report of an earlier status does not move it back.
    assert office.report(callback, sid, "sent").status_code == 200
    assert [r.status for r in office.replies()] == ["delivered"]
    page = office.phone.client.get(f"/items/{item_id}").get_data(as_text=True)
    assert 'class="message reply reply-delivered"' in page
    assert "Yes, in size 10 too." in page
    assert [e.action for e in office.item(item_id).events] == ["received", "replied", "reply delivered"]


def test_an_unsigned_or_wrongly_signed_callback_is_refused_and_changes_nothing(office: TextOffice) -> None:
    reply_id = answered(office, office.text_in())
    office.drain()
    [reply] = office.replies()
    path = f"/twilio/replies/{reply_id}/status"
    form = {"MessageSid": str(reply.external_id), "MessageStatus": "delivered"}
    assert office.phone.client.post(path, data=form).status_code == 403
    wrong = {"X-Twilio-Signature": "c2lnbmF0dXJl"}
    assert office.phone.client.post(path, data=form, headers=wrong).status_code == 403
    # Signed for another reply's URL: the reply's id is part of what Twilio signs.
    other = office.report(
        f"{PUBLIC_URL}/twilio/replies/{reply_id + 1}/status", str(reply.external_id), "failed"
    )
    assert other.status_code == 400
    assert [r.status for r in office.replies()] == ["queued"]


@pytest.mark.parametrize(
    ("sid", "status", "problem"),
    [
        ("SM" + "9" * 32, "delivered", "is message SM"),
        (None, "arrived", "'arrived' is not a Twilio message status"),
        (None, "", "the webhook has no MessageStatus"),
    ],
)
def test_a_signed_callback_that_names_another_message_or_no_status_is_refused(
    office: TextOffice, sid: str | None, status: str, problem: str
) -> None:
    reply_id = answered(office, office.text_in())
    office.drain()
    [reply] = office.replies()
    response = office.report(
        f"{PUBLIC_URL}/twilio/replies/{reply_id}/status", sid or str(reply.external_id), status
    )
    assert response.status_code == 400
    assert problem in response.get_data(as_text=True)
    assert [r.status for r in office.replies()] == ["queued"]


def test_an_undelivered_text_shows_twilios_error_on_the_item(office: TextOffice) -> None:
    item_id = office.text_in()
    reply_id = answered(office, item_id)
    office.drain()
    [reply] = office.replies()
    callback = f"{PUBLIC_URL}/twilio/replies/{reply_id}/status"
    assert (
        office.report(callback, str(reply.external_id), "undelivered", ErrorCode="30003").status_code == 200
    )
    [reply] = office.replies()
    assert (reply.status, reply.last_error) == ("undelivered", "Twilio error 30003")
    page = office.phone.client.get(f"/items/{item_id}").get_data(as_text=True)
    assert 'class="message reply reply-undelivered"' in page
    assert "(Twilio error 30003)" in page


def test_a_whatsapp_message_is_answered_from_the_whatsapp_sender(office: TextOffice) -> None:
    item_id = office.text_in("Hola", From=f"whatsapp:{CALLER}", To=f"whatsapp:{SALES_NUMBER}")
    answered(office, item_id, "Hello!")
    office.drain()
    [text] = office.fake.texts
    assert (text["From"], text["To"]) == (f"whatsapp:{SALES_NUMBER}", f"whatsapp:{CALLER}")
    assert [r.channel for r in office.replies()] == ["whatsapp"]


def test_a_crash_between_twilios_answer_and_its_record_sends_one_message(office: TextOffice) -> None:
    answered(office, office.text_in())
    office.clock.catch_up()
    claim = jobs.claim(office.phone.runtime.sessions, (jobs.REPLY,), office.clock(), 3)
    assert claim is not None
    office.worker.do(claim)  # Twilio took it; the process dies before the job's end is recorded
    office.clock.advance(jobs.LEASE + timedelta(seconds=1))
    assert office.drain() == 1  # another worker takes the job over once the lease is up

    assert len(office.fake.posted) == 1  # the next try found the message the first one made
    assert len(office.fake.texts) == 1  # one message at Twilio, however many tries
    [reply] = office.replies()
    assert office.fake.sent[0]["sid"] == reply.external_id
    assert reply.status == "queued"


def test_twilio_answering_500_is_tried_again_and_the_text_goes_once(office: TextOffice) -> None:
    office.fake.next_answers.append(
        Answer(500, b'{"status": 500, "message": "Internal error", "code": 20500}')
    )
    answered(office, office.text_in())
    office.drain()
    [waiting] = office.replies()
    assert (waiting.status, waiting.last_error) == (
        "queued",
        "Twilio answered 500: Unable to create record: Internal error",
    )
    assert office.fake.texts == []
    office.clock.advance(timedelta(seconds=11))
    assert office.drain() == 1
    assert len(office.fake.texts) == 1
    assert [r.status for r in office.replies()] == ["queued"]
    assert [r.job.status for r in office.replies() if r.job] == ["done"]


def test_twilio_refusing_the_text_fails_it_for_good_on_the_item_and_in_healthz(office: TextOffice) -> None:
    refusal = b'{"status": 400, "message": "The \'To\' number is not a valid phone number.", "code": 21211}'
    office.fake.next_answers.append(Answer(400, refusal))
    item_id = office.text_in()
    answered(office, item_id)
    office.drain()
    office.clock.advance(timedelta(hours=2))
    assert office.drain() == 0
    [failed] = office.replies()
    assert failed.status == "failed"
    assert "Twilio answered 400" in (failed.last_error or "")
    assert "not a valid phone number" in (failed.last_error or "")
    page = office.phone.client.get(f"/items/{item_id}").get_data(as_text=True)
    assert 'class="message reply reply-failed"' in page
    assert office.phone.client.get("/healthz").get_json()["jobs"]["reply"] == {"pending": 0, "failed": 1}


def test_a_text_waits_while_twilio_cannot_be_reached_and_goes_when_it_can(office: TextOffice) -> None:
    settings = office.phone.settings
    with raw_server(lambda connection: connection.shutdown(socket.SHUT_RDWR)) as down:
        office.worker.settings = lambda: replace(
            settings, twilio=replace(settings.twilio, api_base_url=down.base)
        )
        answered(office, office.text_in())
        office.drain()
        [waiting] = office.replies()
        assert waiting.status == "queued"
        assert (waiting.last_error or "").startswith("Twilio could not be reached")
    office.worker.settings = lambda: settings
    office.clock.advance(timedelta(seconds=11))
    assert office.drain() == 1
    assert len(office.fake.texts) == 1
    assert [r.job.status for r in office.replies() if r.job] == ["done"]


def test_a_first_status_twilio_did_not_document_still_ends_the_job(office: TextOffice) -> None:
    office.fake.next_answers.append(
        Answer(201, b'{"sid": "SM' + b"8" * 32 + b'", "status": "pending-review"}')
    )
    answered(office, office.text_in())
    assert office.drain() == 1
    [reply] = office.replies()
    assert (reply.external_id, reply.status) == ("SM" + "8" * 32, "sent")
