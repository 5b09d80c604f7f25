"""Forwarding an item and the department's templates: the forward reaches the relay with
the original message attached whole; bad forwards get 400 and store nothing; templates
come filled in from the item, in the API and in the page's reply form."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import urlencode

import pytest
from sqlalchemy import select

from intake.email.parser import parse_email
from intake.phone.sms import parse_message
from routing.message import Attachment, InboundMessage, Placement
from routing.store.database import transaction
from routing.store.models import AuditEvent
from tests.support.mail import email_bytes
from tests.support.people import csrf_token
from tests.support.replies import ANSWERING, Office, Relay, open_office, replying_office
from tests.support.twilio import ACCOUNT_SID, sms_form

ORIGINAL = email_bytes(
    to="billing@office.test", body="Hello,\r\nmy invoice is wrong: caf\u00e9 \u20ac12.\r\n"
)


@pytest.fixture
def office(database_url: str, tmp_path: Path, smarthost: Relay) -> Iterator[Office]:
    answering = ANSWERING.replace("enabled = true", "enabled = false")  # only the forward at the relay
    with open_office(replying_office(tmp_path, database_url, smarthost.port, answering)) as opened:
        yield opened


def item(office: Office) -> int:
    return office.runtime.deliver_email(parse_email(ORIGINAL)).item_id


def forward(office: Office, item_id: int, body: object) -> tuple[int, dict]:  # type: ignore[type-arg]
    response = office.client.post(f"/api/v1/items/{item_id}/forward", json=body)
    return response.status_code, response.get_json()


def test_a_forward_reaches_the_relay_with_the_original_attached_and_is_in_the_history(
    office: Office, smarthost: Relay
) -> None:
    item_id = item(office)
    status, shown = forward(office, item_id, {"to": "Lawyer@Outside.example", "note": "Please look at this."})
    assert (status, shown["kind"], shown["to"], shown["status"]) == (
        202,
        "forward",
        "lawyer@outside.example",
        "queued",
    )
    office.drain()
    [(recipients, sent)] = smarthost.handler.messages
    assert recipients == ["lawyer@outside.example"]
    assert sent["From"] == "Billing <accounts@office.test>"
    assert sent["Subject"] == f"Fwd: A question about prices [#{item_id}]"
    assert sent["Auto-Submitted"] is None
    note = sent.get_body(("plain",))
    assert note is not None and note.get_content().splitlines()[:4] == [
        "Please look at this.",
        "",
        "-- ",
        "reception",
    ]
    [attached] = list(sent.iter_attachments())
    assert attached.get_content_type() == "message/rfc822"
    original = attached.get_content()
    assert isinstance(original, EmailMessage)
    assert original["Message-ID"] == "<q1@client.example>"
    assert original.get_content().splitlines() == ["Hello,", "my invoice is wrong: caf\u00e9 \u20ac12."]
    with transaction(office.runtime.sessions, write=False) as session:
        history = session.scalars(select(AuditEvent.detail).where(AuditEvent.action == "forwarded")).all()
    assert history == [{"to": "lawyer@outside.example", "reply": shown["id"], "note": "Please look at this."}]


def forwarded_original(office: Office, smarthost: Relay, message: InboundMessage) -> EmailMessage:
    """The message attached to the forward of the item `message` makes in Billing."""
    placed = replace(message, placement=Placement("billing", "reception"))
    item_id = office.runtime.deliverer.deliver(placed).item_id
    assert forward(office, item_id, {"to": "lawyer@outside.example", "note": "See below."})[0] == 202
    office.drain()
    [(_, sent)] = smarthost.handler.messages
    [attached] = list(sent.iter_attachments())
    assert attached.get_content_type() == "message/rfc822"
    original = attached.get_content()
    assert isinstance(original, EmailMessage)
    return original


def test_a_forwarded_text_carries_its_words_not_twilios_form(office: Office, smarthost: Relay) -> None:
    form = sms_form(body="Is the blue one in stock?")
    text = parse_message(form, urlencode(form).encode(), datetime(2026, 11, 2, 15, 15, tzinfo=UTC)).message
    original = forwarded_original(office, smarthost, text)
    assert original["Subject"] == "Text message from +15557654321: Is the blue one in stock?"
    assert original["Date"] == "Mon, 02 Nov 2026 15:15:00 +0000"
    assert original.get_content().strip() == "Is the blue one in stock?"
    assert ACCOUNT_SID not in original.as_string()  # the office's Twilio account is its own


def test_a_forwarded_letter_carries_its_scan(office: Office, smarthost: Relay) -> None:
    scan = Attachment("letter.pdf", "application/pdf", b"%PDF-1.4 the letter")
    letter = InboundMessage(
        channel="post",
        sender="",
        recipients=(),
        subject="Letter from Cy Writer",
        text="Asks for the invoice of May again.",
        idempotency_key="hand:letter-for-the-forward",
        received_at=datetime(2026, 11, 2, 9, 0, tzinfo=UTC),
        raw=b'{"kind": "post", "name": "Cy Writer"}',
        raw_content_type="application/json",
        attachments=(scan,),
    )
    original = forwarded_original(office, smarthost, letter)
    body, attached = list(original.iter_parts())
    assert body.get_content().strip() == "Asks for the invoice of May again."
    assert (attached.get_filename(), attached.get_content()) == ("letter.pdf", b"%PDF-1.4 the letter")


def test_a_department_id_forwards_to_its_outside_address(office: Office, smarthost: Relay) -> None:
    status, shown = forward(office, item(office), {"to": "billing"})
    assert (status, shown["to"], shown["text"]) == (202, "partner@outside.example", "")
    office.drain()
    assert [recipients for recipients, _ in smarthost.handler.messages] == [["partner@outside.example"]]


def test_a_departments_outside_address_goes_to_the_relay_in_ascii(
    database_url: str, tmp_path: Path, smarthost: Relay
) -> None:
    """A forward_to at an international domain goes in its xn-- form, as a typed address
    does: the relay need not take SMTPUTF8."""
    answering = ANSWERING.replace("enabled = true", "enabled = false").replace(
        "partner@outside.example", "kasse@b\u00fccher.example"
    )
    with open_office(replying_office(tmp_path, database_url, smarthost.port, answering)) as office:
        status, shown = forward(office, item(office), {"to": "billing"})
        assert (status, shown["to"]) == (202, "kasse@xn--bcher-kva.example")
        office.drain()
    assert [recipients for recipients, _ in smarthost.handler.messages] == [["kasse@xn--bcher-kva.example"]]


def test_a_forward_sent_twice_with_its_key_goes_once(office: Office, smarthost: Relay) -> None:
    """A double click, or a request sent again after its answer was lost: the partner gets
    one forward. Another address or note under the same key is another forward."""
    item_id = item(office)
    body = {"to": "lawyer@outside.example", "note": "Please look at this.", "key": "form-key-1234"}
    first, again = forward(office, item_id, body), forward(office, item_id, body)
    assert (first[0], again[0], again[1]["id"]) == (202, 202, first[1]["id"])
    other = forward(office, item_id, {**body, "to": "notary@outside.example"})
    assert other[1]["id"] != first[1]["id"]
    assert forward(office, item_id, {**body, "key": 5})[1]["error"]["message"] == (
        "key must be 8 to 64 letters, digits, '-' or '_'"
    )
    page = office.client.get(f"/items/{item_id}").get_data(as_text=True)
    form = {"csrf_token": csrf_token(page), "to": "partner@outside.example", "note": "FYI"}
    form["key"] = page.split('name="key" value="')[-1].split('"')[0]  # the forward form's, shown last
    for _ in range(2):
        office.client.post(f"/items/{item_id}/forward", data=form)
    assert office.stored() == (3, 3)
    office.drain()
    assert [recipients for recipients, _ in smarthost.handler.messages] == [
        ["lawyer@outside.example"],
        ["notary@outside.example"],
        ["partner@outside.example"],
    ]


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ({}, "to is required: an email address, or a department with a forward_to address"),
        ({"to": ""}, "to is required: an email address, or a department with a forward_to address"),
        (
            {"to": ["a@b.example"]},
            "to is required: an email address, or a department with a forward_to address",
        ),
        ({"to": "a@b.example", "note": 5}, "note must be text"),
        ({"to": "not an address@"}, "'not an address@' is not an email address"),
        ({"to": "sales"}, "department 'sales' has no outside address to forward to (forward_to)"),
        ({"to": "nobody"}, "'nobody' is neither an email address nor a department"),
        (
            {"to": "sales@office.test"},
            "sales@office.test is the office's own address: reroute the item instead",
        ),
        ({"to": "a@b.example", "note": "x" * 20_001}, "a note is at most 20,000 characters"),
        ("a@b.example", 'send the forward as a JSON object: {"to": "...", "note": "..."}'),
    ],
)
def test_bad_forwards_get_400_with_the_reason_and_store_nothing(
    office: Office, body: object, problem: str
) -> None:
    status, answer = forward(office, item(office), body)
    assert (status, answer["error"]["message"]) == (400, problem)
    assert office.stored() == (0, 0)


def test_a_resolved_item_is_reopened_before_forwarding_and_a_missing_one_is_404(office: Office) -> None:
    item_id = item(office)
    assert office.client.post(f"/api/v1/items/{item_id}/resolve").status_code == 200
    status, answer = forward(office, item_id, {"to": "a@b.example"})
    assert (status, answer["error"]["message"]) == (400, f"item {item_id} is resolved; reopen it first")
    assert forward(office, 999, {"to": "a@b.example"})[0] == 404
    assert office.stored() == (0, 0)


def test_without_a_relay_nothing_is_forwarded_and_the_page_offers_no_dialog(
    database_url: str, tmp_path: Path
) -> None:
    with open_office(replying_office(tmp_path, database_url, None, ANSWERING)) as office:
        item_id = item(office)
        status, answer = forward(office, item_id, {"to": "a@b.example"})
        assert (status, office.stored()) == (400, (0, 0))
        assert answer["error"]["message"].startswith("replies by email are not configured")
        assert 'id="forward-box"' not in office.client.get(f"/items/{item_id}").get_data(as_text=True)


def test_a_merged_items_page_offers_no_forward(office: Office) -> None:
    """Its forward would be refused (unmerge it first): the page does not offer one."""
    first = item(office)
    second = office.runtime.deliver_email(
        parse_email(email_bytes(to="billing@office.test", message_id="<q9@client.example>"))
    ).item_id
    assert office.client.post(f"/api/v1/items/{first}/merge", json={"into": str(second)}).status_code == 200
    assert 'id="forward-box"' not in office.client.get(f"/items/{first}").get_data(as_text=True)
    assert 'id="forward-box"' in office.client.get(f"/items/{second}").get_data(as_text=True)


def test_the_pages_forward_form_works_without_javascript(office: Office) -> None:
    item_id = item(office)
    page = office.client.get(f"/items/{item_id}").get_data(as_text=True)
    assert 'id="forward-box"' in page and '<option value="partner@outside.example">Billing</option>' in page
    form = {"csrf_token": csrf_token(page), "to": "partner@outside.example", "note": "FYI"}
    response = office.client.post(f"/items/{item_id}/forward", data=form, follow_redirects=True)
    shown = response.get_data(as_text=True)
    assert f"Item {item_id} is being forwarded to partner@outside.example." in shown
    assert "Forward by" in shown
    refused = office.client.post(
        f"/items/{item_id}/forward", data={**form, "to": "me@office.test"}, follow_redirects=True
    )
    assert "me@office.test is the office&#39;s own address" in refused.get_data(as_text=True)
    assert office.stored() == (1, 1)


def test_templates_come_filled_in_from_the_item(office: Office) -> None:
    item_id = item(office)
    found = office.client.get(f"/api/v1/items/{item_id}/templates").get_json()["templates"]
    assert found == [
        {
            "name": "Payment received",
            "text": f"Dear Ann Example,\n\nwe have received your payment for A question about prices (#{item_id}).\n\nBilling",
        },
        {"name": "Invoice copy", "text": "A copy of the invoice is attached."},
    ]
    page = office.client.get(f"/items/{item_id}").get_data(as_text=True)
    assert 'id="reply-template"' in page and ">Payment received</option>" in page
    assert office.client.get("/api/v1/items/999/templates").status_code == 404


def test_a_department_without_templates_offers_none(office: Office) -> None:
    item_id = office.runtime.deliver_email(parse_email(email_bytes(to="sales@office.test"))).item_id
    assert office.client.get(f"/api/v1/items/{item_id}/templates").get_json() == {"templates": []}
    assert 'id="reply-template"' not in office.client.get(f"/items/{item_id}").get_data(as_text=True)
