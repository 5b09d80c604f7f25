"""Twilio's Messages API answering a text reply badly, on SQLite and PostgreSQL: each status
class and the common statuses, answers that are no message, and a Twilio that took the
text before its answer was lost (a timeout, a closed connection, a body that cannot be
read), which must not text the person twice, on a trial account too (Twilio lists the
message with its words before the text), and a 429's Retry-After, waited for up to an
hour. Twilio is the fake API on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from tests.support.texts import TextOffice, open_text_office
from tests.support.twilio import Answer, FakeTwilio

TIMEOUT = 0.3  # seconds: how long Twilio is waited for
SID = b'"sid": "SM' + b"9" * 32 + b'"'


@pytest.fixture
def office(database_url: str, tmp_path: Path, fake_twilio: FakeTwilio) -> Iterator[TextOffice]:
    with open_text_office(database_url, tmp_path, fake_twilio) as opened:
        settings = opened.phone.settings
        quick = replace(settings, outbound=replace(settings.outbound, timeout_seconds=TIMEOUT))
        opened.worker.settings = lambda: quick
        yield opened


@pytest.fixture
def patient_office(database_url: str, tmp_path: Path, fake_twilio: FakeTwilio) -> Iterator[TextOffice]:
    """The office waiting for Twilio as long as its settings say (20 s): for tests that
    lose no answer to time, which a loaded machine must not make them do."""
    with open_text_office(database_url, tmp_path, fake_twilio) as opened:
        yield opened


def reply_once(office: TextOffice, text: str = "Yes, in size 10 too.") -> int:
    """A text comes in and is answered; the worker's first try. The item's id."""
    item_id = office.text_in()
    response = office.answer(item_id, text=text)
    assert response.status_code == 202, response.get_json()
    assert office.drain() == 1
    return item_id


def try_again(office: TextOffice) -> None:
    office.clock.advance(timedelta(seconds=11))
    assert office.drain() == 1


def error(status: int, message: str, code: int) -> bytes:
    return f'{{"status": {status}, "message": "{message}", "code": {code}}}'.encode()


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        (
            Answer(400, error(400, "The 'To' number is not a valid phone number.", 21211)),
            "Twilio answered 400",
        ),
        (
            Answer(401, error(401, "Authenticate", 20003)),
            "Twilio answered 401: Unable to create record: Authenticate",
        ),
        (Answer(404, error(404, "The requested resource was not found", 20404)), "Twilio answered 404"),
        (Answer(413, b"<html>too large</html>", {"Content-Type": "text/html"}), "Twilio answered 413"),
    ],
)
def test_a_refusal_fails_the_text_for_good_with_twilios_words_on_the_item(
    office: TextOffice, answer: Answer, reason: str
) -> None:
    office.fake.next_answers.append(answer)
    item_id = reply_once(office)
    office.clock.advance(timedelta(hours=2))
    assert office.drain() == 0
    [failed] = office.replies()
    assert failed.status == "failed"
    assert (failed.last_error or "").startswith(reason)
    assert office.fake.texts == []
    assert reason in office.phone.client.get(f"/items/{item_id}").get_data(as_text=True)


@pytest.mark.parametrize(
    "answer",
    [
        Answer(429, error(429, "Too Many Requests", 20429)),
        Answer(429, error(429, "Too Many Requests", 20429), {"Retry-After": "1"}),
        Answer(500, error(500, "Internal error", 20500)),
        Answer(503, b"<html>Service Unavailable</html>", {"Content-Type": "text/html"}),
    ],
)
def test_a_pause_or_twilios_own_fault_is_tried_again_and_the_text_goes_once(
    office: TextOffice, answer: Answer
) -> None:
    office.fake.next_answers.append(answer)
    item_id = reply_once(office)
    [waiting] = office.replies()
    reason = f"Twilio answered {answer.status}"
    assert (waiting.status, (waiting.last_error or "")[: len(reason)]) == ("queued", reason)
    assert reason in office.phone.client.get(f"/items/{item_id}").get_data(as_text=True)
    try_again(office)
    assert len(office.fake.texts) == 1
    assert [r.job.status for r in office.replies() if r.job] == ["done"]


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        (
            Answer(201, b"{" + SID, makes=True, delay=3 * TIMEOUT),
            f"Twilio did not answer within {TIMEOUT:g} s",
        ),
        (Answer(0, makes=True), "Twilio could not be reached"),
        (
            Answer(201, b"<html>OK</html>", {"Content-Type": "text/html"}, makes=True),
            "Twilio's answer could not be read",
        ),
        (Answer(201, b'{"status": "queued"}', makes=True), "Twilio's answer named no message SID"),
    ],
)
def test_a_text_twilio_took_before_its_answer_was_lost_is_not_sent_again(
    office: TextOffice, answer: Answer, reason: str, caplog: pytest.LogCaptureFixture
) -> None:
    office.fake.next_answers.append(answer)
    reply_once(office)
    [waiting] = office.replies()
    assert waiting.status == "queued"
    assert (waiting.last_error or "").startswith(reason)
    try_again(office)
    assert len(office.fake.posted) == 1  # the retry found the message instead of sending another
    [reply] = office.replies()
    [made] = office.fake.sent
    assert (reply.external_id, reply.job and reply.job.status) == (made["sid"], "done")
    assert not [r for r in caplog.records if r.exc_info], "a clear line, not a traceback"


def test_a_text_twilio_never_took_is_sent_on_the_next_try(office: TextOffice) -> None:
    office.fake.next_answers.append(Answer(0))  # the connection closes, no message made
    reply_once(office)
    try_again(office)
    assert office.fake.lookups == 1
    assert len(office.fake.texts) == 1


def test_a_retry_that_cannot_look_first_sends_nothing_and_says_so(office: TextOffice) -> None:
    office.fake.next_answers.append(Answer(0))
    office.fake.list_answers.append(Answer(503, error(503, "Service Unavailable", 20503)))
    item_id = reply_once(office)
    office.clock.advance(timedelta(seconds=11))
    assert office.drain() == 1
    [waiting] = office.replies()
    assert waiting.status == "queued"
    assert (waiting.last_error or "").startswith("Twilio answered 503 (looking for an earlier try)")
    assert office.fake.texts == []
    assert "looking for an earlier try" in office.phone.client.get(f"/items/{item_id}").get_data(as_text=True)
    office.clock.advance(timedelta(seconds=21))  # the backoff doubles
    assert office.drain() == 1
    assert len(office.fake.texts) == 1


def test_the_same_words_sent_by_another_reply_are_not_taken_for_this_ones(office: TextOffice) -> None:
    item_id = reply_once(office, "Thank you!")
    assert office.answer(item_id, text="Thank you!").status_code == 202
    office.fake.next_answers.append(Answer(0))  # the second reply's first try: no message made
    assert office.drain() == 1
    try_again(office)
    assert [form["Body"] for form in office.fake.texts] == ["Thank you!", "Thank you!"]
    first, second = office.replies()
    assert first.external_id != second.external_id
    assert {first.external_id, second.external_id} == {m["sid"] for m in office.fake.sent}


def test_a_trial_accounts_text_twilio_took_is_not_sent_again(patient_office: TextOffice) -> None:
    patient_office.fake.next_answers.append(Answer(0, makes=True))
    reply_once(patient_office, "Yes, in size 10 too.")
    [made] = patient_office.fake.sent
    # A trial account's message, as Twilio lists it: its words before the reply's text.
    made["body"] = "Sent from your Twilio trial account - Yes, in size 10 too."
    try_again(patient_office)
    assert len(patient_office.fake.posted) == 1
    [reply] = patient_office.replies()
    assert (reply.external_id, reply.job and reply.job.status) == (made["sid"], "done")


@pytest.mark.parametrize(
    "listed",
    [
        "Sent from your Twilio account - Yes, in size 10 too.",
        "Note: Yes, in size 10 too.",
        "Sent from your Twilio trial account -Yes, in size 10 too.",
        "Sent from your Twilio trial account - Yes, in size 12 too.",
        "Yes, in size 12 too.",
        "Yes, in size 10 too. ",
    ],
)
def test_a_listed_text_that_is_not_the_replys_own_or_a_trial_accounts_is_not_taken_for_it(
    patient_office: TextOffice, listed: str
) -> None:
    patient_office.fake.next_answers.append(Answer(0, makes=True))
    reply_once(patient_office, "Yes, in size 10 too.")
    [made] = patient_office.fake.sent
    made["body"] = listed
    try_again(patient_office)
    assert [form["Body"] for form in patient_office.fake.texts] == ["Yes, in size 10 too."] * 2
    [reply] = patient_office.replies()
    assert reply.external_id == patient_office.fake.sent[0]["sid"] != made["sid"]


@pytest.mark.parametrize(
    ("retry_after", "wait"),
    [
        ("120", 120),
        (str(10 * 24 * 3600), 3600),  # ten days: no longer than the job queue ever waits
        # Not a number of seconds: the usual backoff, the first wait of [outbound] retry_seconds.
        ("soon", 10),
        ("-120", 10),
        ("120.5", 10),
        ("Wed, 04 Nov 2026 07:28:00 GMT", 10),
    ],
)
def test_twilios_retry_after_holds_the_next_try_back_for_at_most_an_hour(
    patient_office: TextOffice, retry_after: str, wait: int
) -> None:
    patient_office.fake.next_answers.append(
        Answer(429, error(429, "Too Many Requests", 20429), {"Retry-After": retry_after})
    )
    reply_once(patient_office)
    patient_office.clock.advance(timedelta(seconds=wait - 1))
    assert patient_office.drain() == 0
    patient_office.clock.advance(timedelta(seconds=1))
    assert patient_office.drain() == 1
    assert len(patient_office.fake.texts) == 1


def test_a_look_up_answered_429_waits_as_long_as_twilio_asks(patient_office: TextOffice) -> None:
    patient_office.fake.next_answers.append(Answer(0))
    patient_office.fake.list_answers.append(
        Answer(429, error(429, "Too Many Requests", 20429), {"Retry-After": "120"})
    )
    reply_once(patient_office)
    try_again(patient_office)  # its look-up is answered 429
    assert patient_office.fake.texts == []
    patient_office.clock.advance(timedelta(seconds=119))  # past the usual backoff's 20 s
    assert patient_office.drain() == 0
    patient_office.clock.advance(timedelta(seconds=1))
    assert patient_office.drain() == 1
    assert len(patient_office.fake.texts) == 1
