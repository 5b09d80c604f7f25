"""Answering from the API and the item page: what is refused (400, nothing stored), the
page's form without JavaScript, and the reply shown in the conversation with its status."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from intake.email.parser import parse_email
from routing.message import InboundMessage
from routing.store.database import transaction
from routing.store.models import AuditEvent
from tests.support.mail import email_bytes, raw_message
from tests.support.people import csrf_token, office_client
from tests.support.replies import Office, open_office, replying_office
from tests.support.routers import sms

# No relay listens here: these tests only store replies, the worker never runs.
UNUSED_PORT = 9
# The key the answer form was shown with (the page has other forms, with keys of their own).
_FORM_KEY = re.compile(r'id="action-reply">.*?name="key" value="([^"]+)"', re.DOTALL)


@pytest.fixture
def office(database_url: str, tmp_path: Path) -> Iterator[Office]:
    with open_office(replying_office(tmp_path, database_url, UNUSED_PORT)) as opened:
        yield opened


def deliver(office: Office, message: InboundMessage) -> int:
    return office.runtime.deliverer.deliver(message).item_id


def email_item(office: Office) -> int:
    return deliver(office, parse_email(email_bytes()))


def reply(client: FlaskClient, item_id: int, body: object) -> tuple[int, str]:
    response = client.post(f"/api/v1/items/{item_id}/reply", json=body)
    return response.status_code, (response.get_json().get("error") or {}).get("message", "")


def act(office: Office, item_id: int, action: str) -> None:
    assert office.client.post(f"/api/v1/items/{item_id}/{action}").status_code == 200


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ({"text": "   "}, "a reply needs some text"),
        # Only characters that show nothing: zero-width ones, a BOM, bidi marks, no-break spaces.
        ({"text": "\u200b\ufeff \u200e\u200f\u2066\u00a0\u202f\u2060\r\n\u200c"}, "a reply needs some text"),
        ({}, "text is required: the words of the reply"),
        ({"text": 5}, "text is required: the words of the reply"),
        ({"text": "x" * 20_001}, "a reply is at most 20,000 characters"),
        ({"text": "Hi", "channel": "pigeon"}, "channel must be one of email, sms, whatsapp, not 'pigeon'"),
        ({"text": "Hi", "channel": ["email"]}, "channel must be one of email, sms, whatsapp"),
        ("Hi", 'send the reply as a JSON object: {"text": "...", "channel": "email"}'),
    ],
)
def test_a_bad_reply_is_refused_with_its_reason_and_nothing_is_stored(
    office: Office, body: object, problem: str
) -> None:
    item_id = email_item(office)
    assert reply(office.client, item_id, body) == (400, problem)
    assert office.stored() == (0, 0)


def test_an_item_with_no_address_to_answer_is_refused(office: Office) -> None:
    text_item = deliver(office, sms("Is the shop open on Sunday?"))
    visit = dataclasses.replace(sms("Came by about the order"), channel="visit", idempotency_key="visit-1")
    visit_item = deliver(office, visit)
    assert reply(office.client, text_item, {"text": "Yes"}) == (
        400,
        "replies by text are not configured: the office names no Twilio account ([twilio] account_sid and auth_token)",
    )
    assert reply(office.client, text_item, {"text": "Yes", "channel": "email"}) == (
        400,
        f"item {text_item} came by sms: it has no email address to answer",
    )
    assert reply(office.client, visit_item, {"text": "Hi"}) == (
        400,
        f"item {visit_item} was taken by hand (visit): there is no address or number to answer it by",
    )
    assert office.stored() == (0, 0)


def test_a_spam_or_resolved_item_is_answered_only_after_it_is_reopened(office: Office) -> None:
    spam, done = (
        email_item(office),
        deliver(office, parse_email(email_bytes(message_id="<q9@client.example>"))),
    )
    act(office, spam, "spam")
    act(office, done, "resolve")
    assert reply(office.client, spam, {"text": "Hi"}) == (
        400,
        f"item {spam} is marked as spam; reopen it first",
    )
    assert reply(office.client, done, {"text": "Hi"}) == (400, f"item {done} is resolved; reopen it first")
    assert office.stored() == (0, 0)
    act(office, done, "reopen")
    assert reply(office.client, done, {"text": "Hi"}) == (202, "")
    assert office.stored() == (1, 1)


def test_without_a_relay_nothing_can_be_answered_by_email(database_url: str, tmp_path: Path) -> None:
    with open_office(replying_office(tmp_path, database_url, None)) as office:
        item_id = email_item(office)
        assert reply(office.client, item_id, {"text": "Hi"}) == (
            400,
            "replies by email are not configured: the office names no [outbound] smtp relay",
        )
        assert office.stored() == (0, 0)
        page = office.client.get(f"/items/{item_id}").get_data(as_text=True)
        assert 'id="reply-text"' not in page
        assert "Replies by email are not configured" in page


def test_staff_of_another_department_cannot_answer_and_learn_nothing(office: Office) -> None:
    item_id = email_item(office)  # to Sales
    app = office.client.application
    other = office_client(app, office.runtime.sessions, name="bea", role="staff", departments=["billing"])
    assert reply(other, item_id, {"text": "Hi"}) == (404, f"there is no item {item_id}")
    assert office.stored() == (0, 0)


def test_the_page_form_answers_without_javascript_and_shows_the_reply_queued(office: Office) -> None:
    item_id = email_item(office)
    page = office.client.get(f"/items/{item_id}").get_data(as_text=True)
    assert 'id="reply-text"' in page
    assert "Answer by email <kbd>a</kbd>" in page
    assert 'id="reply-count"' not in page  # an email's length is not counted as a text's
    form = {"csrf_token": csrf_token(page), "channel": "email", "text": "It is 40 euros.\r\n\r\nAnn"}
    response = office.client.post(f"/items/{item_id}/reply", data=form)
    assert (response.status_code, response.headers["Location"]) == (303, f"/items/{item_id}")
    shown = office.client.get(f"/items/{item_id}").get_data(as_text=True)
    assert "stored; it is being sent to ann@client.example" in shown
    assert 'class="message reply reply-queued"' in shown
    assert "Reply by reception for Sales, to <bdi>ann@client.example</bdi>" in shown
    assert "It is 40 euros." in shown
    listed = office.client.get(f"/api/v1/items/{item_id}/replies").get_json()["replies"]
    assert [(r["status"], r["to"], r["text"]) for r in listed] == [
        ("queued", "ann@client.example", "It is 40 euros.\n\nAnn")
    ]


def test_the_page_form_without_a_csrf_token_is_refused_and_stores_nothing(office: Office) -> None:
    item_id = email_item(office)
    response = office.client.post(f"/items/{item_id}/reply", data={"text": "Hi"})
    assert response.status_code == 400
    assert office.stored() == (0, 0)


def test_a_refused_page_form_says_why_on_the_page(office: Office) -> None:
    item_id = email_item(office)
    page = office.client.get(f"/items/{item_id}").get_data(as_text=True)
    response = office.client.post(
        f"/items/{item_id}/reply", data={"csrf_token": csrf_token(page), "text": " "}
    )
    assert response.status_code == 303
    assert "a reply needs some text" in office.client.get(response.headers["Location"]).get_data(as_text=True)
    assert office.stored() == (0, 0)


def answer_form(page: str, text: str) -> dict[str, str]:
    """The page's answer form filled in, as the browser sends it."""
    key = _FORM_KEY.search(page)
    assert key, "the answer form has no key"
    return {"csrf_token": csrf_token(page), "key": key[1], "channel": "email", "text": text}


def test_an_answer_form_sent_twice_stores_and_sends_one_reply(office: Office) -> None:
    item_id = email_item(office)
    form = answer_form(office.client.get(f"/items/{item_id}").get_data(as_text=True), "It is 40 euros.")
    # A double click, or the browser sending the form again after a lost answer.
    for _ in range(2):
        response = office.client.post(f"/items/{item_id}/reply", data=form)
        # The page is told that what was typed in that form is stored (item.js lets it go).
        assert (response.status_code, response.headers["Location"]) == (
            303,
            f"/items/{item_id}?sent={form['key']}",
        )
    assert office.stored() == (1, 1)
    with transaction(office.runtime.sessions, write=False) as session:
        replied = session.scalars(select(AuditEvent).where(AuditEvent.action == "replied")).all()
    assert len(replied) == 1
    # Back to the page as it was, and another answer written in the same form: that one goes too.
    assert (
        office.client.post(f"/items/{item_id}/reply", data={**form, "text": "Or 35 in blue."}).status_code
        == 303
    )
    assert [r.text for r in office.replies()] == ["It is 40 euros.", "Or 35 in blue."]
    # Each showing of the page has a key of its own.
    assert (
        answer_form(office.client.get(f"/items/{item_id}").get_data(as_text=True), "")["key"] != form["key"]
    )


def test_a_script_sending_its_request_again_with_its_key_gets_the_same_reply(office: Office) -> None:
    item_id = email_item(office)
    body = {"text": "It is 40 euros.", "key": "order-7-answer-1"}
    first = office.client.post(f"/api/v1/items/{item_id}/reply", json=body)
    again = office.client.post(f"/api/v1/items/{item_id}/reply", json=body)
    assert (first.status_code, again.status_code) == (202, 202)
    assert again.get_json() == first.get_json()
    assert office.stored() == (1, 1)
    assert reply(office.client, item_id, {"text": "Hi", "key": "no spaces please"}) == (
        400,
        "key must be 8 to 64 letters, digits, '-' or '_'",
    )
    assert reply(office.client, item_id, {"text": "Hi", "key": 7}) == (
        400,
        "key must be 8 to 64 letters, digits, '-' or '_'",
    )
    assert office.stored() == (1, 1)


def test_a_merged_items_page_offers_no_answer_and_says_where_to_answer(office: Office) -> None:
    first = email_item(office)
    second = deliver(office, parse_email(email_bytes(message_id="<q9@client.example>")))
    merged = office.client.post(f"/api/v1/items/{first}/merge", json={"into": str(second)})
    assert merged.status_code == 200
    page = office.client.get(f"/items/{first}").get_data(as_text=True)
    assert 'id="reply-text"' not in page
    assert f"Merged into item {second}: answer it there." in page
    assert reply(office.client, first, {"text": "Hi"}) == (
        400,
        f"item {first} is merged into item {second}; unmerge it first",
    )
    assert 'id="reply-text"' in office.client.get(f"/items/{second}").get_data(as_text=True)


def test_a_message_with_no_sender_address_says_so_and_stores_nothing(office: Office) -> None:
    raw = raw_message("From: Ann", "To: sales@office.test", "Subject: Prices", "", "How much?")
    item_id = deliver(office, parse_email(raw))
    assert reply(office.client, item_id, {"text": "Hi"}) == (400, "the message names no address to answer")
    assert office.stored() == (0, 0)
    page = office.client.get(f"/items/{item_id}").get_data(as_text=True)
    assert "The message names no address to answer." in page


@pytest.mark.parametrize(
    "address",
    [
        "noreply@parcels.example",
        "no-reply@parcels.example",
        "DoNotReply@parcels.example",
        "do_not_reply@parcels.example",
        "no.reply-billing+7@parcels.example",
        "MAILER-DAEMON@mx.parcels.example",
    ],
)
def test_answering_an_address_that_reads_no_replies_is_warned_of_but_not_refused(
    office: Office, address: str
) -> None:
    item_id = deliver(office, parse_email(email_bytes(sender=f"Parcels <{address}>")))
    page = office.client.get(f"/items/{item_id}").get_data(as_text=True)
    warning = re.search(r'<p class="reply-warning">(.*?)</p>', page)
    assert warning is not None
    assert warning[1] == (
        f"The address <bdi>{address.lower()}</bdi> says it reads no replies: your answer may go unread."
    )
    assert page.index('class="reply-warning"') < page.index('id="reply-text"')
    assert reply(office.client, item_id, {"text": "Your parcel: we have it."}) == (202, "")
    assert office.stored() == (1, 1)


def test_an_address_that_reads_replies_gets_no_warning(office: Office) -> None:
    person = email_item(office)
    # From a no-reply address, but answered at the Reply-To it names.
    raw = raw_message(
        "From: Shop <noreply@shop.example>",
        "Reply-To: orders@shop.example",
        "To: sales@office.test",
        "Subject: Order 12",
        "",
        "Where is it?",
    )
    answered_elsewhere = deliver(office, parse_email(raw))
    desk = deliver(
        office, parse_email(email_bytes(sender="<reply-desk@shop.example>", message_id="<r2@shop.example>"))
    )
    for item_id in (person, answered_elsewhere, desk):
        page = office.client.get(f"/items/{item_id}").get_data(as_text=True)
        assert 'id="reply-text"' in page
        assert "reply-warning" not in page
