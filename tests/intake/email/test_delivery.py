"""Parsed email through deliver(): one item for several departments, machine mail shown as such."""

from __future__ import annotations

from sqlalchemy import func, select

from intake.cli.runtime import Runtime
from intake.email.parser import parse_email
from routing.store.models import Item
from tests.intake.email.test_machine_mail import report
from tests.support.mail import email_bytes, raw_message
from tests.support.people import office_client


def item_count(runtime: Runtime) -> int:
    with runtime.sessions() as session:
        return session.scalar(select(func.count()).select_from(Item)) or 0


def test_mail_to_two_departments_is_one_item_routed_by_to_then_cc(runtime: Runtime) -> None:
    raw = email_bytes(to="sales@office.test", cc="billing@office.test")
    # The sending server named billing first at RCPT; the headers decide, not that order.
    first = runtime.deliverer.deliver(
        parse_email(raw, envelope_recipients=("billing@office.test", "sales@office.test"))
    )
    # The same mail again, split per recipient by a relay: the same item.
    again = runtime.deliverer.deliver(parse_email(raw, envelope_recipients=("billing@office.test",)))
    assert (first.department_id, first.created) == ("sales", True)
    assert (again.item_id, again.created) == (first.item_id, False)
    assert item_count(runtime) == 1
    with runtime.sessions() as session:
        item = session.get_one(Item, first.item_id)
        assert item.other_departments == ["billing"]
        assert item.routing_reason == "sent to sales@office.test, which belongs to sales"


def test_a_bcc_copy_goes_to_the_department_the_envelope_names(runtime: Runtime) -> None:
    raw = email_bytes(to="friend@client.example")
    delivery = runtime.deliverer.deliver(parse_email(raw, envelope_recipients=("billing@office.test",)))
    assert delivery.department_id == "billing"


def test_machine_mail_is_stored_and_shown_with_its_kind(runtime: Runtime) -> None:
    raw = report("delivery-status", "message/delivery-status")
    delivery = runtime.deliverer.deliver(parse_email(raw, envelope_sender=""))
    client = office_client(runtime.web_app(), runtime.sessions)
    api = client.get(f"/api/v1/items/{delivery.item_id}")
    assert api.status_code == 200
    assert api.get_json()["machine_kind"] == "bounce"
    page = client.get(f"/items/{delivery.item_id}")
    assert page.status_code == 200
    assert "bounce · never answered automatically" in page.get_data(as_text=True)
    person = runtime.deliverer.deliver(parse_email(email_bytes()))
    assert client.get(f"/api/v1/items/{person.item_id}").get_json()["machine_kind"] is None
    assert "Sent by a machine" not in client.get(f"/items/{person.item_id}").get_data(as_text=True)


def test_a_broken_message_is_stored_whole_with_its_defects(runtime: Runtime) -> None:
    # A NUL character cannot be stored in a PostgreSQL text column: it must not reach one.
    raw = email_bytes(message_id="<abc@", subject="a\x00b", body="caf\xe9\x00\r\n").replace(
        b"utf-8", b"x-unknown"
    )
    delivery = runtime.deliverer.deliver(parse_email(raw))
    with runtime.sessions() as session:
        item = session.get_one(Item, delivery.item_id)
        assert item.raw.content == raw
        assert (item.subject, item.text) == ("ab", "café")
        assert "header Message-ID unreadable by the modern parser (IndexError)" in item.parse_defects
        assert any(d.startswith("unknown charset 'x-unknown'") for d in item.parse_defects)


def test_a_reply_threads_to_a_message_whose_id_has_a_comment(runtime: Runtime) -> None:
    raw = email_bytes(message_id="<q1@client.example> (sent from my phone)")
    first = runtime.deliverer.deliver(parse_email(raw))
    reply = raw_message(
        "From: Ann Example <ann@client.example>",
        "To: sales@office.test",
        "Subject: Re: A question about prices",
        "Message-ID: <q2@client.example>",
        "In-Reply-To: <q1@client.example>",
        "",
        "And the small one?",
    )
    joined = runtime.deliverer.deliver(parse_email(reply))
    assert (joined.item_id, joined.joined) == (first.item_id, True)
    # The same mail again, as stored before the comment was left out: still one item.
    again = runtime.deliverer.deliver(parse_email(raw))
    assert (again.item_id, again.created) == (first.item_id, False)
    assert item_count(runtime) == 1
    with runtime.sessions() as session:
        # The office's answers name the message as replies name it.
        assert session.get_one(Item, first.item_id).message_id == "<q1@client.example>"
