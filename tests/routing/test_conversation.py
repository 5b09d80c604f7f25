"""Conversations, as a dialogue: the customer writes, the receptionist reroutes, the customer
replies, and the reply joins the item where it now is. On SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import pytest
from sqlalchemy import event, func, select, update
from sqlalchemy.orm import Session

from config.settings import BuiltInStep, RoutingSettings, Settings
from intake.cli.runtime import Runtime
from intake.email.parser import parse_email
from intake.phone.sms import parse_message
from routing import conversation
from routing.conversation import EMAIL_CHANNELS, MATCHERS, Found, KnownMessageIds, Matcher
from routing.delivery import Deliverer, Delivering, Delivery
from routing.engine import Router
from routing.message import InboundMessage
from routing.queues.triage import reroute
from routing.store.database import transaction
from routing.store.models import AuditEvent, Blob, Item, Message, Reply
from tests.support.mail import email_bytes, raw_message
from tests.support.people import new_person
from tests.support.smtp import client, running, send

MONDAY = datetime(2026, 11, 2, 15, 0, tzinfo=UTC)
CUSTOMER = "+15551234567"
SALES_NUMBER = "+15555550101"
FRONT_DESK_NUMBER = "+15555550100"


def reply_bytes(
    *,
    message_id: str,
    in_reply_to: str | None = None,
    references: str | None = None,
    subject: str = "Re: A question about prices",
    sender: str = "Ann Example <ann@client.example>",
    to: str = "sales@office.test",
    body: str = "Thanks, and what about the small one?",
) -> bytes:
    """A reply as a mail client writes it: threading headers, then a short body."""
    return raw_message(
        f"From: {sender}",
        f"To: {to}",
        f"Subject: {subject}",
        "Date: Tue, 03 Nov 2026 09:00:00 -0500",
        f"Message-ID: {message_id}",
        *([f"In-Reply-To: {in_reply_to}"] if in_reply_to else []),
        *([f"References: {references}"] if references else []),
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=utf-8",
        "",
        body,
    )


def text_message(sid: str, body: str, *, to: str = SALES_NUMBER, at: datetime = MONDAY) -> InboundMessage:
    """A text as Twilio's webhook posts it, through the SMS adapter."""
    form = {"MessageSid": sid, "AccountSid": "AC1", "From": CUSTOMER, "To": to, "Body": body, "NumMedia": "0"}
    return parse_message(form, urlencode(form).encode(), at).message


def first_email(runtime: Runtime) -> Delivery:
    return runtime.deliverer.deliver(parse_email(email_bytes(), received_at=MONDAY))


def deliver_reply(runtime: Runtime, raw: bytes, deliverer: Deliverer | None = None) -> Delivery:
    return (deliverer or runtime.deliverer).deliver(parse_email(raw, received_at=MONDAY + timedelta(days=1)))


def counts(runtime: Runtime) -> tuple[int, int, int]:
    with runtime.sessions() as session:
        return (
            session.scalar(select(func.count()).select_from(Item)) or 0,
            session.scalar(select(func.count()).select_from(Message)) or 0,
            session.scalar(select(func.count()).select_from(Blob)) or 0,
        )


def actions(runtime: Runtime, item_id: int) -> list[str]:
    with runtime.sessions() as session:
        return [e.action for e in session.get_one(Item, item_id).events]


def set_status(runtime: Runtime, item_id: int, status: str) -> None:
    with transaction(runtime.sessions) as session:
        session.get_one(Item, item_id).status = status


def with_routing(runtime: Runtime, **changes: object) -> Deliverer:
    routing = dataclasses.replace(runtime.settings.routing, **changes)  # type: ignore[arg-type]
    settings: Settings = dataclasses.replace(runtime.settings, routing=routing)
    return Deliverer(runtime.sessions, Router(settings))


def test_dialogue_reply_joins_the_rerouted_item_and_a_later_text_does_not(runtime: Runtime) -> None:
    # Ann once texted the front desk's number; that item is still open.
    earlier = runtime.deliverer.deliver(text_message("SM0", "Where do I park?", to=FRONT_DESK_NUMBER))

    # Ann writes to sales@ about an invoice.
    first = first_email(runtime)
    assert (first.department_id, first.created, first.joined) == ("sales", True, False)

    # The receptionist sees it is a billing matter and moves it.
    maria = new_person(runtime.sessions, "maria")
    with transaction(runtime.sessions) as session:
        reroute(session, first.item_id, maria, "billing", "asks about an invoice")

    # Ann replies to her own first mail; the reply finds the item in billing.
    reply = deliver_reply(
        runtime, reply_bytes(message_id="<r1@client.example>", in_reply_to="<q1@client.example>")
    )
    assert (reply.item_id, reply.department_id, reply.created, reply.joined) == (
        first.item_id,
        "billing",
        True,
        True,
    )
    with runtime.sessions() as session:
        item = session.get_one(Item, first.item_id)
        assert (item.department_id, item.status) == ("billing", "new")
        assert [(m.sender, m.text.strip()) for m in item.messages] == [
            ("ann@client.example", "Thanks, and what about the small one?")
        ]
        joined = item.events[-1]
        assert (joined.action, joined.detail["matcher"]) == ("reply received", "in-reply-to")
        assert joined.detail["reason"] == f"In-Reply-To <q1@client.example> is a message of item {item.id}"

    # Later Ann texts the sales number: her email item is no text conversation, and her
    # open text item was to another office number.
    text = runtime.deliverer.deliver(
        text_message("SM1", "Are you open on Saturday?", at=MONDAY + timedelta(hours=2))
    )
    assert (text.created, text.joined) == (True, False)
    assert text.item_id not in (first.item_id, earlier.item_id)
    assert counts(runtime)[:2] == (3, 1)


def test_references_are_read_last_to_first(runtime: Runtime) -> None:
    first = first_email(runtime)
    other = runtime.deliverer.deliver(
        parse_email(email_bytes(message_id="<other@client.example>", subject="Other"), received_at=MONDAY)
    )
    references = "<unknown@elsewhere.example> <other@client.example> <q1@client.example>"
    reply = deliver_reply(runtime, reply_bytes(message_id="<r2@client.example>", references=references))
    assert reply.joined and reply.item_id == first.item_id != other.item_id
    with runtime.sessions() as session:
        event = session.get_one(Item, first.item_id).events[-1]
        assert event.detail["matcher"] == "references"
        assert [o["rule"] for o in event.detail["outcomes"]] == ["in-reply-to", "references"]


def test_a_reply_to_a_follow_up_joins_the_same_item(runtime: Runtime) -> None:
    first = first_email(runtime)
    deliver_reply(runtime, reply_bytes(message_id="<r1@client.example>", in_reply_to="<q1@client.example>"))
    second = deliver_reply(
        runtime, reply_bytes(message_id="<r2@client.example>", in_reply_to="<r1@client.example>")
    )
    assert second.joined and second.item_id == first.item_id
    assert counts(runtime)[:2] == (1, 2)


def test_a_message_id_names_the_first_item_with_it_then_follow_up_then_reply(runtime: Runtime) -> None:
    first = first_email(runtime)
    other = runtime.deliverer.deliver(
        parse_email(email_bytes(message_id="<other@client.example>", subject="Other"), received_at=MONDAY)
    )
    deliver_reply(
        runtime, reply_bytes(message_id="<r1@client.example>", in_reply_to="<other@client.example>")
    )
    shared = "<shared@client.example>"

    def named() -> int | None:
        with runtime.sessions() as session:
            return KnownMessageIds(session, ()).item_of(session, shared)

    assert named() is None
    with transaction(runtime.sessions) as session:
        session.add(
            Reply(
                item_id=first.item_id,
                channel="email",
                author="Bob",
                sender="sales@office.test",
                sender_name="Sales",
                recipient="ann@client.example",
                subject="Re: prices",
                text="Hello",
                message_id=shared,
                references=[],
            )
        )
    assert named() == first.item_id
    with transaction(runtime.sessions) as session:
        session.execute(update(Message).values(message_id=shared))
    assert named() == other.item_id  # a follow-up before a reply
    with transaction(runtime.sessions) as session:
        session.execute(update(Item).values(message_id=shared))
    assert named() == first.item_id  # an item before a follow-up, the first of them


def test_a_subject_token_joins_for_a_participant_and_not_for_a_stranger(runtime: Runtime) -> None:
    first = first_email(runtime)
    subject = f"Re: [#{first.item_id}] A question about prices"
    # Ann's colleague writes from another address: no thread headers, a stranger to the item.
    stranger = deliver_reply(
        runtime,
        reply_bytes(message_id="<s1@client.example>", subject=subject, sender="Bob <bob@client.example>"),
    )
    assert (stranger.joined, stranger.created) == (False, True) and stranger.item_id != first.item_id
    with runtime.sessions() as session:
        hits = session.get_one(Item, stranger.item_id).routing_hits
        assert hits[2] == {
            "rule": "subject token",
            "matched": False,
            "reason": f"the subject names item {first.item_id}, but bob@client.example is not one of its senders",
            "kind": "step",
        }
    # Ann herself, from a new mail without threading headers, in capitals.
    ann = deliver_reply(
        runtime,
        reply_bytes(message_id="<s2@client.example>", subject=subject, sender="Ann <ANN@client.example>"),
    )
    assert ann.joined and ann.item_id == first.item_id


def test_a_token_naming_no_item_makes_a_new_item(runtime: Runtime) -> None:
    delivery = deliver_reply(
        runtime, reply_bytes(message_id="<t@client.example>", subject="Re: [#99999] hello")
    )
    assert (delivery.created, delivery.joined) == (True, False)
    with runtime.sessions() as session:
        reason = session.get_one(Item, delivery.item_id).routing_hits[2]["reason"]
        assert reason == "the subject names item 99999, which does not exist"


def test_a_text_joins_the_open_item_of_the_same_number_within_the_window(runtime: Runtime) -> None:
    first = runtime.deliverer.deliver(text_message("SM1", "Do you deliver?"))
    later = runtime.deliverer.deliver(
        text_message("SM2", "To Boston, I mean", at=MONDAY + timedelta(hours=71))
    )
    assert (later.item_id, later.joined) == (first.item_id, True)
    with runtime.sessions() as session:
        item = session.get_one(Item, first.item_id)
        assert [m.text for m in item.messages] == ["To Boston, I mean"]
        assert item.events[-1].detail["matcher"] == "same number"


def test_a_text_outside_the_window_or_to_another_number_makes_a_new_item(runtime: Runtime) -> None:
    first = runtime.deliverer.deliver(text_message("SM1", "Do you deliver?"))
    late = runtime.deliverer.deliver(text_message("SM2", "Hello again", at=MONDAY + timedelta(hours=73)))
    elsewhere = runtime.deliverer.deliver(
        text_message("SM3", "Wrong desk?", to=FRONT_DESK_NUMBER, at=MONDAY + timedelta(hours=1))
    )
    assert not late.joined and not elsewhere.joined
    assert len({first.item_id, late.item_id, elsewhere.item_id}) == 3
    with runtime.sessions() as session:
        hit = session.get_one(Item, late.item_id).routing_hits[0]
        assert hit == {
            "rule": "same number",
            "matched": False,
            "reason": f"no open item from {CUSTOMER} to the same number in the last 72 hours",
            "kind": "step",
        }


def test_a_text_does_not_join_a_resolved_item(runtime: Runtime) -> None:
    first = runtime.deliverer.deliver(text_message("SM1", "Do you deliver?"))
    set_status(runtime, first.item_id, "resolved")
    later = runtime.deliverer.deliver(text_message("SM2", "Another question", at=MONDAY + timedelta(hours=1)))
    assert not later.joined and later.item_id != first.item_id


def test_a_shorter_window_from_the_config_is_kept(runtime: Runtime) -> None:
    deliverer = with_routing(runtime, conversation_window_hours=1.0)
    first = deliverer.deliver(text_message("SM1", "Do you deliver?"))
    later = deliverer.deliver(text_message("SM2", "Hello?", at=MONDAY + timedelta(hours=2)))
    assert later.item_id != first.item_id


def test_a_reply_to_a_resolved_item_reopens_it_in_its_department(runtime: Runtime) -> None:
    first = first_email(runtime)
    maria = new_person(runtime.sessions, "maria")
    with transaction(runtime.sessions) as session:
        reroute(session, first.item_id, maria, "billing", "an invoice question")
    set_status(runtime, first.item_id, "resolved")
    reply = deliver_reply(
        runtime, reply_bytes(message_id="<r1@client.example>", in_reply_to="<q1@client.example>")
    )
    assert (reply.item_id, reply.department_id, reply.joined) == (first.item_id, "billing", True)
    with runtime.sessions() as session:
        item = session.get_one(Item, first.item_id)
        assert (item.status, item.department_id) == ("new", "billing")
        assert [e.action for e in item.events][-2:] == ["reply received", "reopened"]
        assert item.events[-1].detail == {"department": "billing", "reason": "a reply arrived (in-reply-to)"}


def test_with_reopening_off_a_reply_to_a_resolved_item_makes_a_new_item(runtime: Runtime) -> None:
    first = first_email(runtime)
    set_status(runtime, first.item_id, "resolved")
    deliverer = with_routing(runtime, reopen_on_reply=False)
    reply = deliver_reply(
        runtime, reply_bytes(message_id="<r1@client.example>", in_reply_to="<q1@client.example>"), deliverer
    )
    assert (reply.created, reply.joined) == (True, False) and reply.item_id != first.item_id
    with runtime.sessions() as session:
        assert session.get_one(Item, first.item_id).status == "resolved"
        hit = session.get_one(Item, reply.item_id).routing_hits[0]
        assert hit["rule"] == "in-reply-to" and not hit["matched"]
        assert hit["reason"].endswith("but it is resolved and replies do not reopen items")


def test_a_replayed_reply_stores_nothing_new(runtime: Runtime) -> None:
    first = first_email(runtime)
    raw = reply_bytes(message_id="<r1@client.example>", in_reply_to="<q1@client.example>")
    joined = deliver_reply(runtime, raw)
    before = (counts(runtime), actions(runtime, first.item_id))
    again = deliver_reply(runtime, raw)
    assert (again.item_id, again.department_id, again.created, again.joined) == (
        first.item_id,
        "sales",
        False,
        True,
    )
    assert (counts(runtime), actions(runtime, first.item_id)) == before
    assert joined.created and before[0] == (1, 1, 2)


def test_a_replayed_text_follow_up_stores_nothing_new(runtime: Runtime) -> None:
    runtime.deliverer.deliver(text_message("SM1", "Do you deliver?"))
    runtime.deliverer.deliver(text_message("SM2", "To Boston", at=MONDAY + timedelta(minutes=5)))
    before = counts(runtime)
    again = runtime.deliverer.deliver(text_message("SM2", "To Boston", at=MONDAY + timedelta(minutes=6)))
    assert (again.created, again.joined) == (False, True)
    assert counts(runtime) == before == (1, 1, 2)


def test_a_first_email_records_every_conversation_miss(runtime: Runtime) -> None:
    delivery = first_email(runtime)
    with runtime.sessions() as session:
        hits = session.get_one(Item, delivery.item_id).routing_hits
    assert [(h["rule"], h["matched"]) for h in hits[:3]] == [
        ("in-reply-to", False),
        ("references", False),
        ("subject token", False),
    ]


def test_the_reply_event_is_stored_with_the_message(runtime: Runtime) -> None:
    first = first_email(runtime)
    deliver_reply(runtime, reply_bytes(message_id="<r1@client.example>", in_reply_to="<q1@client.example>"))
    with runtime.sessions() as session:
        message = session.scalars(select(Message)).one()
        event = session.scalars(select(AuditEvent).where(AuditEvent.action == "reply received")).one()
        assert (message.item_id, event.item_id, event.detail["message"]) == (
            first.item_id,
            first.item_id,
            message.id,
        )
        assert message.raw.content.startswith(b"From: Ann Example")
        assert message.in_reply_to == "<q1@client.example>" and message.channel == "email"


def test_a_reply_over_smtp_is_stored_as_the_item_it_joins(runtime: Runtime) -> None:
    first = first_email(runtime)
    raw = reply_bytes(message_id="<smtp-reply@client.example>", in_reply_to="<q1@client.example>")
    with running(runtime) as server, client(server) as connection:
        assert send(connection, raw) == (250, "2.0.0 OK: message accepted")
        assert send(connection, raw) == (250, "2.0.0 OK: message accepted")
    assert counts(runtime)[:2] == (1, 1)
    assert actions(runtime, first.item_id) == ["received", "reply received"]
    with runtime.sessions() as session:
        assert (
            session.scalars(select(Message.raw_blob_id)).one()
            != session.get_one(Item, first.item_id).raw_blob_id
        )
        assert session.scalars(select(Message)).one().raw.content == raw


def test_the_same_reply_from_many_threads_at_once_is_stored_once(patient_runtime: Runtime) -> None:
    first = first_email(patient_runtime)
    message = parse_email(reply_bytes(message_id="<race@client.example>", in_reply_to="<q1@client.example>"))
    with ThreadPoolExecutor(max_workers=6) as pool:
        deliveries = list(pool.map(lambda _: patient_runtime.deliverer.deliver(message), range(12)))
    assert {(d.item_id, d.joined) for d in deliveries} == {(first.item_id, True)}
    assert sum(d.created for d in deliveries) == 1
    assert counts(patient_runtime)[:2] == (1, 1)
    assert actions(patient_runtime, first.item_id) == ["received", "reply received"]


def test_a_broken_matcher_is_recorded_and_the_message_still_stored(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(
        session: Session, message: InboundMessage, settings: RoutingSettings, known: KnownMessageIds
    ) -> Found:
        raise RuntimeError("matcher bug")

    first = first_email(runtime)
    broken_first = Matcher(BuiltInStep.SUBJECT_TOKEN, EMAIL_CHANNELS, broken)
    monkeypatch.setattr(conversation, "MATCHERS", (broken_first, *MATCHERS))
    reply = deliver_reply(
        runtime, reply_bytes(message_id="<r1@client.example>", in_reply_to="<q1@client.example>")
    )
    assert (reply.item_id, reply.joined) == (first.item_id, True)
    with runtime.sessions() as session:
        outcome = session.get_one(Item, first.item_id).events[-1].detail["outcomes"][0]
        assert outcome == {
            "rule": "subject token",
            "matched": False,
            "reason": "matcher failed: RuntimeError('matcher bug')",
            "kind": "step",
        }


def deliver_together(runtime: Runtime, raws: list[bytes]) -> list[Delivery]:
    """Deliver the mails as the inbox worker does a batch: in one transaction, together."""
    messages = [parse_email(raw, received_at=MONDAY + timedelta(days=1)) for raw in raws]
    with transaction(runtime.sessions) as session:
        return runtime.deliverer.deliver_all(session, [Delivering(message) for message in messages])


def deliver_together_seen(runtime: Runtime, raws: list[bytes]) -> tuple[list[Delivery], list[str]]:
    """deliver_together(), with the statements it sent."""
    statements: list[str] = []

    def seen(conn: object, cursor: object, statement: str, *args: object) -> None:
        statements.append(statement)

    event.listen(runtime.engine, "before_cursor_execute", seen)
    try:
        return deliver_together(runtime, raws), statements
    finally:
        event.remove(runtime.engine, "before_cursor_execute", seen)


def test_a_reply_finds_the_mail_it_answers_stored_earlier_in_its_own_batch(runtime: Runtime) -> None:
    first, reply, again = deliver_together(
        runtime,
        [
            email_bytes(),
            reply_bytes(message_id="<r1@client.example>", in_reply_to="<q1@client.example>"),
            reply_bytes(
                message_id="<r2@client.example>",
                in_reply_to="<r1@client.example>",
                references="<q1@client.example> <r1@client.example>",
            ),
        ],
    )
    assert (first.created, first.joined) == (True, False)
    assert {(reply.item_id, reply.joined), (again.item_id, again.joined)} == {(first.item_id, True)}
    assert actions(runtime, first.item_id) == ["received", "reply received", "reply received"]
    with runtime.sessions() as session:
        last = session.get_one(Item, first.item_id).events[-1]
        assert (
            last.detail["reason"] == f"In-Reply-To <r1@client.example> is a message of item {first.item_id}"
        )


def test_in_a_batch_as_alone_an_item_with_the_message_id_comes_before_a_follow_up(runtime: Runtime) -> None:
    # A follow-up stored earlier carries <shared@...>; a new mail reusing that Message-ID
    # (a broken mail program) makes an item of its own, and a reply to <shared@...> in the
    # same batch joins that item, as a Message-ID names items before follow-ups.
    first = first_email(runtime)
    deliver_reply(
        runtime, reply_bytes(message_id="<shared@client.example>", in_reply_to="<q1@client.example>")
    )
    reused, reply = deliver_together(
        runtime,
        [
            email_bytes(message_id="<shared@client.example>", subject="Another matter"),
            reply_bytes(message_id="<r9@client.example>", in_reply_to="<shared@client.example>"),
        ],
    )
    assert reused.item_id != first.item_id and not reused.joined
    assert (reply.item_id, reply.joined) == (reused.item_id, True)


def test_a_batch_s_unknown_message_ids_are_looked_up_in_one_statement(runtime: Runtime) -> None:
    raws = [
        reply_bytes(message_id=f"<n{n}@client.example>", in_reply_to=f"<unknown{n}@office.test>")
        for n in range(5)
    ]
    with runtime.sessions() as session:
        session.execute(select(1))  # the connection opened before listening
    deliveries, statements = deliver_together_seen(runtime, raws)
    assert [d.joined for d in deliveries] == [False] * 5
    assert sum("message_id IN" in statement for statement in statements) == 1
    with runtime.sessions() as session:
        misses = [item.routing_hits[0] for item in session.scalars(select(Item).order_by(Item.id))]
    assert misses[0]["reason"] == "In-Reply-To <unknown0@office.test> is no stored message"


def test_a_text_joins_the_item_of_a_text_stored_earlier_in_its_own_batch(runtime: Runtime) -> None:
    with transaction(runtime.sessions) as session:
        first, later = runtime.deliverer.deliver_all(
            session,
            [
                Delivering(text_message("SM1", "Do you deliver?")),
                Delivering(text_message("SM2", "To Boston, I mean", at=MONDAY + timedelta(minutes=2))),
            ],
        )
    assert (first.created, first.joined) == (True, False)
    assert (later.item_id, later.joined) == (first.item_id, True)
    assert actions(runtime, first.item_id) == ["received", "reply received"]


def test_a_batch_s_new_items_are_inserted_in_one_statement(runtime: Runtime) -> None:
    raws = [email_bytes(message_id=f"<new{n}@client.example>", subject=f"Question {n}") for n in range(5)]
    deliveries, statements = deliver_together_seen(runtime, raws)
    assert sum(statement.startswith("INSERT INTO items ") for statement in statements) == 1
    with runtime.sessions() as session:
        stored = [tuple(row) for row in session.execute(select(Item.id, Item.subject).order_by(Item.id))]
    assert stored == [(d.item_id, f"Question {n}") for n, d in enumerate(deliveries)]
    assert [actions(runtime, d.item_id) for d in deliveries] == [["received"]] * 5
