"""Answering by text from the API and the item page: what is refused (400 with the reason,
nothing stored, nothing sent), a voicemail's caller texted back from the number they
called, and the "called back" action in the voicemail's history."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.texts import TextOffice, open_text_office
from tests.support.twilio import CALLER, SALES_NUMBER, FakeTwilio

TOO_LONG = "a text is at most 1,600 characters as Twilio counts them (an emoji counts as two)"


@pytest.fixture
def office(database_url: str, tmp_path: Path, fake_twilio: FakeTwilio) -> Iterator[TextOffice]:
    with open_text_office(database_url, tmp_path, fake_twilio) as opened:
        yield opened


def refusal(office: TextOffice, item_id: int, **body: object) -> tuple[int, str]:
    response = office.answer(item_id, **body)
    return response.status_code, (response.get_json().get("error") or {}).get("message", "")


def nothing_stored_or_sent(office: TextOffice) -> bool:
    office.drain()
    return office.stored() == (0, 0) and office.fake.posted == []


def page(office: TextOffice, item_id: int) -> str:
    return office.phone.client.get(f"/items/{item_id}").get_data(as_text=True)


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ({"text": " \r\n "}, "a reply needs some text"),
        ({"text": "\u00a0\u200b\ufeff\u200f"}, "a reply needs some text"),
        ({"text": "x" * 1601}, f"{TOO_LONG}; this one has 1,601"),
        # Twilio counts a text with an emoji in UTF-16 code units: two for each emoji.
        ({"text": "\U0001f600" * 800 + "x"}, f"{TOO_LONG}; this one has 1,601"),
        ({"text": "Thanks \U0001f44d" * 178}, f"{TOO_LONG}; this one has 1,602"),
        ({"text": "Hi", "channel": "email"}, "came by sms: it has no email address to answer"),
        ({"text": "Hi", "channel": "whatsapp"}, "came by sms: it has no WhatsApp number to answer"),
    ],
)
def test_a_bad_text_reply_is_refused_with_its_reason_and_nothing_is_stored_or_sent(
    office: TextOffice, body: dict[str, object], problem: str
) -> None:
    item_id = office.text_in()
    status, message = refusal(office, item_id, **body)
    assert (status, message.removeprefix(f"item {item_id} ")) == (400, problem)
    assert nothing_stored_or_sent(office)


@pytest.mark.parametrize(
    "text", ["x" * 1600, "\U0001f600" * 800, "\u0142" * 1600], ids=["gsm", "emoji", "ucs2"]
)
def test_a_text_of_1600_characters_as_twilio_counts_them_goes(office: TextOffice, text: str) -> None:
    item_id = office.text_in()
    assert office.answer(item_id, text=text).status_code == 202
    office.drain()
    assert [text["Body"] for text in office.fake.texts] == [text]


def test_a_text_from_a_short_code_or_a_spam_text_is_not_answered(office: TextOffice) -> None:
    machine = office.text_in("Your code is 1234", From="72345", MessageSid="SM" + "7" * 32)
    assert refusal(office, machine, text="Hi") == (
        400,
        "the number '72345' is withheld or not a phone number: it cannot be texted",
    )
    assert "phone number: it cannot be texted.</p>" in page(office, machine)
    spam = office.text_in()
    assert office.phone.client.post(f"/api/v1/items/{spam}/spam").status_code == 200
    assert refusal(office, spam, text="Hi") == (400, f"item {spam} is marked as spam; reopen it first")
    assert nothing_stored_or_sent(office)


def test_a_voicemails_caller_is_texted_back_from_the_number_they_called(office: TextOffice) -> None:
    item_id = office.voicemail_in()
    assert "Answer by text <kbd>a</kbd>" in page(office, item_id)
    response = office.answer(item_id, text="We called you back, no answer: we open at 9.")
    assert response.status_code == 202
    assert response.get_json()["channel"] == "sms"
    office.drain()
    [text] = office.fake.texts
    assert (text["From"], text["To"]) == (SALES_NUMBER, CALLER)
    shown = page(office, item_id)
    assert 'class="message reply reply-queued"' in shown
    assert "We called you back, no answer: we open at 9." in shown


@pytest.mark.parametrize("caller", ["anonymous", "+266696687"])
def test_a_withheld_caller_is_neither_texted_nor_called_back(office: TextOffice, caller: str) -> None:
    item_id = office.voicemail_in(From=caller)
    assert refusal(office, item_id, text="Hi") == (
        400,
        f"the number '{caller}' is withheld or not a phone number: it cannot be texted",
    )
    shown = page(office, item_id)
    assert 'id="reply-text"' not in shown
    assert "phone number: it cannot be texted.</p>" in shown
    called = office.phone.client.post(f"/api/v1/items/{item_id}/called-back")
    assert called.status_code == 400
    assert called.get_json()["error"]["message"] == (
        f"the caller of item {item_id} withheld their number: it cannot be called back"
    )
    assert nothing_stored_or_sent(office)
    assert [e.action for e in office.item(item_id).events] == ["received"]


def test_a_number_that_cannot_send_texts_offers_no_text_back(
    database_url: str, tmp_path: Path, fake_twilio: FakeTwilio
) -> None:
    with open_text_office(database_url, tmp_path, fake_twilio, keys="") as office:
        item_id = office.voicemail_in()
        problem = f"the number called, {SALES_NUMBER}, cannot send texts (it is not one of [twilio] texting_numbers)"
        assert refusal(office, item_id, text="Hi") == (400, problem)
        assert 'id="reply-text"' not in page(office, item_id)
        assert nothing_stored_or_sent(office)


def test_called_back_records_who_and_when_in_the_voicemails_history(office: TextOffice) -> None:
    item_id = office.voicemail_in()
    assert "Called back <kbd>b</kbd>" in page(office, item_id)
    assert office.phone.client.post(f"/api/v1/items/{item_id}/called-back").status_code == 200
    [received, called] = office.item(item_id).events
    assert (called.action, called.actor, called.detail) == ("called back", "reception", {"to": CALLER})
    assert called.at >= received.at
    assert "called back" in page(office, item_id)
    text_item = office.text_in()
    response = office.phone.client.post(f"/api/v1/items/{text_item}/called-back")
    assert response.status_code == 400
    assert (
        response.get_json()["error"]["message"]
        == f"item {text_item} is not a voicemail: there is no call to return"
    )
    assert "Called back <kbd>b</kbd>" not in page(office, text_item)


def test_the_answer_box_of_a_text_takes_no_more_than_a_text_may_hold(office: TextOffice) -> None:
    # A longer answer would only be refused, and the page shown again without it.
    assert 'id="reply-text" rows="6" required maxlength="1600"' in page(office, office.text_in())
    assert 'id="reply-text" rows="6" required maxlength="1600"' in page(office, office.voicemail_in())


def test_the_answer_box_of_a_text_says_how_much_is_left(office: TextOffice) -> None:
    shown = page(office, office.text_in())
    assert 'aria-describedby="reply-count"' in shown
    assert (
        '<small id="reply-count" class="muted">Characters left (an emoji counts as two):'
        ' <span id="reply-left" data-limit="1600">1600</span></small>'
    ) in shown


def test_the_answer_box_of_a_text_does_not_promise_a_signature(office: TextOffice) -> None:
    # A text goes as written: the one who answers signs it, if it is to be signed.
    for item_id in (office.text_in(), office.voicemail_in()):
        shown = page(office, item_id)
        assert "signed with your name" not in shown
        assert 'placeholder="sent as written, without a signature"' in shown
