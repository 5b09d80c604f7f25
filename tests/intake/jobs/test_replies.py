"""Replies by email, dialogue style on SQLite and PostgreSQL: a customer writes, a person
answers through the API, the worker sends it through the relay (aiosmtpd on loopback),
and the customer's answer to that reply joins the same item. Then the relay's faults."""

from __future__ import annotations

from datetime import timedelta
from email.utils import parseaddr
from pathlib import Path

from sqlalchemy import select

from intake.email.parser import parse_email
from routing.store.database import transaction
from routing.store.models import AuditEvent, Item, Message
from tests.support.mail import email_bytes, raw_message
from tests.support.replies import Office, open_office, relay, replying_office


def customer_writes(office: Office, raw: bytes) -> int:
    return office.runtime.deliverer.deliver(parse_email(raw)).item_id


def answer(office: Office, item_id: int, text: str = "The large one is 40 euros.") -> dict[str, object]:
    response = office.client.post(f"/api/v1/items/{item_id}/reply", json={"text": text})
    assert response.status_code == 202, response.get_json()
    found: dict[str, object] = response.get_json()
    return found


def test_a_reply_goes_through_the_relay_and_the_answer_to_it_joins_the_item(
    database_url: str, tmp_path: Path
) -> None:
    with relay() as smarthost, open_office(replying_office(tmp_path, database_url, smarthost.port)) as office:
        item_id = customer_writes(office, email_bytes(subject="Re: A question about prices"))
        reply = answer(office, item_id)
        assert reply["status"] == "queued"
        assert office.drain() == 1
        [(recipients, sent)] = smarthost.handler.messages
        assert recipients == ["ann@client.example"]
        assert parseaddr(sent["From"]) == ("Sales", "sales@office.test")
        assert sent["To"] == "ann@client.example"
        assert sent["Subject"] == f"Re: A question about prices [#{item_id}]"
        assert sent["In-Reply-To"] == "<q1@client.example>"
        assert sent["References"] == "<q1@client.example>"
        assert sent["Message-ID"] == reply["message_id"]
        assert str(sent["Message-ID"]).endswith("@office.test>")
        body = sent.get_body(("plain",))
        assert body is not None
        assert "The large one is 40 euros." in body.get_content()
        assert "-- \r\nreception\r\nSales" in body.get_content()
        assert sent.get_body(("html",)) is not None
        assert [r.status for r in office.replies()] == ["sent"]

        # The customer answers our reply from her own program: only In-Reply-To links it.
        answer_raw = email_bytes(
            subject="Thanks", message_id="<q2@client.example>", body="I will take two.\r\n"
        ).replace(b"MIME-Version", f"In-Reply-To: {reply['message_id']}\r\nMIME-Version".encode(), 1)
        assert customer_writes(office, answer_raw) == item_id
        with transaction(office.runtime.sessions, write=False) as session:
            assert [m.text for m in session.scalars(select(Message))] == ["I will take two."]
            actions = [e.action for e in session.scalars(select(AuditEvent).order_by(AuditEvent.id))]
        assert actions == ["received", "replied", "reply received"]


def test_a_reply_to_a_reply_to_address_is_answered_there_and_its_owner_may_answer_back(
    database_url: str, tmp_path: Path
) -> None:
    raw = raw_message(
        "From: Ann Example <ann@client.example>",
        "Reply-To: Ann at work <ann.work@corp.example>",
        "To: billing@office.test",
        "Subject: Invoice 12",
        "Message-ID: <inv@client.example>",
        "References: <older@client.example>",
        "",
        "Is invoice 12 paid?",
    )
    with relay() as smarthost, open_office(replying_office(tmp_path, database_url, smarthost.port)) as office:
        item_id = customer_writes(office, raw)
        reply = answer(office, item_id, "Yes, on Monday.")
        office.drain()
        [(recipients, sent)] = smarthost.handler.messages
        assert recipients == ["ann.work@corp.example"]
        assert parseaddr(sent["From"]) == ("Billing", "accounts@office.test")
        assert sent["References"] == "<older@client.example> <inv@client.example>"
        # From the Reply-To address, who took part only as the one we answered.
        back = raw_message(
            "From: ann.work@corp.example",
            "To: accounts@office.test",
            f"Subject: RE: Re: Invoice 12 [#{item_id}]",
            "Message-ID: <back@corp.example>",
            f"References: <inv@client.example> {reply['message_id']}",
            "",
            "Thank you.",
        )
        assert customer_writes(office, back) == item_id


def test_a_stranger_quoting_our_reply_gets_an_item_of_their_own(database_url: str, tmp_path: Path) -> None:
    with relay() as smarthost, open_office(replying_office(tmp_path, database_url, smarthost.port)) as office:
        item_id = customer_writes(office, email_bytes())
        reply = answer(office, item_id)
        stranger = email_bytes(sender="eve@elsewhere.example", message_id="<e@elsewhere.example>").replace(
            b"MIME-Version", f"In-Reply-To: {reply['message_id']}\r\nMIME-Version".encode(), 1
        )
        assert customer_writes(office, stranger) != item_id


def test_a_relay_answering_451_then_250_gets_the_reply_once_with_one_message_id(
    database_url: str, tmp_path: Path
) -> None:
    with relay() as smarthost, open_office(replying_office(tmp_path, database_url, smarthost.port)) as office:
        item_id = customer_writes(office, email_bytes())
        smarthost.handler.replies.append("451 4.3.0 try again later")
        answer(office, item_id)
        office.drain()
        assert smarthost.handler.messages == []
        [waiting] = office.replies()
        assert (waiting.status, waiting.last_error) == (
            "queued",
            "the mail server answered 451 4.3.0 try again later",
        )
        office.clock.advance(timedelta(seconds=11))
        assert office.drain() == 1
        assert [m["Message-ID"] for _, m in smarthost.handler.messages] == [waiting.message_id]
        assert [r.status for r in office.replies()] == ["sent"]
        office.clock.advance(timedelta(hours=2))
        assert office.drain() == 0


def test_a_reply_waits_while_the_relay_is_down_and_goes_when_it_is_back(
    database_url: str, tmp_path: Path
) -> None:
    with (
        relay(running=False) as smarthost,
        open_office(replying_office(tmp_path, database_url, smarthost.port)) as office,
    ):
        item_id = customer_writes(office, email_bytes())
        answer(office, item_id)
        office.drain()
        [waiting] = office.replies()
        assert waiting.status == "queued"
        assert (waiting.last_error or "").startswith("the mail server could not be reached")
        smarthost.start()
        office.clock.advance(timedelta(seconds=11))
        assert office.drain() == 1
        assert len(smarthost.handler.messages) == 1
        assert [r.status for r in office.replies()] == ["sent"]


def test_a_relay_refusing_with_550_fails_the_reply_for_good_on_the_item_and_in_healthz(
    database_url: str, tmp_path: Path
) -> None:
    with relay() as smarthost, open_office(replying_office(tmp_path, database_url, smarthost.port)) as office:
        item_id = customer_writes(office, email_bytes())
        smarthost.handler.replies.append("550 5.7.1 relaying denied")
        answer(office, item_id)
        office.drain()
        office.clock.advance(timedelta(hours=2))
        assert office.drain() == 0
        assert smarthost.handler.messages == []
        [failed] = office.replies()
        assert (failed.status, failed.last_error) == (
            "failed",
            "the mail server answered 550 5.7.1 relaying denied",
        )
        page = office.client.get(f"/items/{item_id}").get_data(as_text=True)
        assert 'class="message reply reply-failed"' in page
        assert "the mail server answered 550 5.7.1 relaying denied" in page
        assert office.client.get("/healthz").get_json()["jobs"]["reply"] == {"pending": 0, "failed": 1}
        with transaction(office.runtime.sessions, write=False) as session:
            assert session.get_one(Item, item_id).status == "new"


def test_after_a_forwards_partner_answers_on_the_item_the_next_reply_still_goes_to_the_customer(
    database_url: str, tmp_path: Path
) -> None:
    with relay() as smarthost, open_office(replying_office(tmp_path, database_url, smarthost.port)) as office:
        item_id = customer_writes(office, email_bytes(to="billing@office.test"))
        forwarded = office.client.post(
            f"/api/v1/items/{item_id}/forward", json={"to": "partner@outside.example", "note": "Yours?"}
        ).get_json()
        # The partner answers the forward: they took part, so it joins the item.
        partner = raw_message(
            "From: Partner <Partner@Outside.example>",
            "To: accounts@office.test",
            f"Subject: Re: Fwd: A question about prices [#{item_id}]",
            "Message-ID: <p1@outside.example>",
            f"In-Reply-To: {forwarded['message_id']}",
            "",
            "We will deliver it on Monday.",
        )
        assert customer_writes(office, partner) == item_id
        reply = answer(office, item_id, "Our partner delivers it on Monday.")
        assert reply["to"] == "ann@client.example"
        office.drain()
        sent = [
            message
            for recipients, message in smarthost.handler.messages
            if recipients == ["ann@client.example"]
        ]
        assert [(m["In-Reply-To"], m["References"]) for m in sent] == [
            ("<q1@client.example>", "<q1@client.example>")
        ]
