"""deliver(): one transaction per message, idempotent, never routed nowhere."""

from __future__ import annotations

import dataclasses
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, insert, select

from config.settings import ConditionSettings, RuleSettings
from intake.cli.runtime import Runtime
from intake.email.parser import parse_email
from routing.conditions.base import Atom, ConditionKind, Facts
from routing.conditions.registry import standard_registry
from routing.delivery import Deliverer, Delivering, KeyWithoutItem
from routing.engine import Router
from routing.store.database import transaction
from routing.store.models import AuditEvent, Blob, DeliveryKey, Item, Message
from tests.support.mail import email_bytes

# A first email tries the conversation matchers before the rules, and none finds an item.
CONVERSATION_MISSES = [
    {"rule": "in-reply-to", "matched": False, "reason": "no In-Reply-To", "kind": "step"},
    {"rule": "references", "matched": False, "reason": "no References", "kind": "step"},
    {"rule": "subject token", "matched": False, "reason": "no [#N] token in the subject", "kind": "step"},
]


def _count(runtime: Runtime, model: type) -> int:
    with runtime.sessions() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def test_a_message_is_stored_with_raw_bytes_routing_and_audit(runtime: Runtime) -> None:
    raw = email_bytes(to="billing@office.test", subject="Invoice 42")
    delivery = runtime.deliverer.deliver(parse_email(raw))
    assert delivery.created and delivery.department_id == "billing"
    with runtime.sessions() as session:
        item = session.get_one(Item, delivery.item_id)
        assert (item.channel, item.status, item.subject) == ("email", "new", "Invoice 42")
        assert item.sender == "ann@client.example" and item.sender_name == "Ann Example"
        assert item.raw.content == raw and item.raw.size == len(raw)
        assert item.routing_reason == "sent to billing@office.test, which belongs to billing"
        assert item.routing_hits == [
            *CONVERSATION_MISSES,
            {"rule": "recipient", "matched": True, "reason": item.routing_reason, "kind": "step"},
        ]
        assert [(e.actor, e.action, e.detail["department"]) for e in item.events] == [
            ("intake", "received", "billing")
        ]
        assert item.received_at.tzinfo is not None


def test_the_same_message_twice_makes_one_item(runtime: Runtime) -> None:
    raw = email_bytes(message_id="<twice@client.example>")
    first = runtime.deliverer.deliver(parse_email(raw))
    again = runtime.deliverer.deliver(parse_email(raw))
    assert again.item_id == first.item_id and not again.created
    assert (_count(runtime, Item), _count(runtime, Blob), _count(runtime, AuditEvent)) == (1, 1, 1)


def test_without_message_id_the_raw_bytes_are_the_key(runtime: Runtime) -> None:
    one = email_bytes(message_id=None, body="first\r\n")
    other = email_bytes(message_id=None, body="second\r\n")
    a = runtime.deliverer.deliver(parse_email(one))
    b = runtime.deliverer.deliver(parse_email(other))
    again = runtime.deliverer.deliver(parse_email(one))
    assert a.item_id != b.item_id and again.item_id == a.item_id
    assert _count(runtime, Item) == 2


def test_an_unknown_address_goes_to_the_front_desk(runtime: Runtime) -> None:
    delivery = runtime.deliverer.deliver(parse_email(email_bytes(to="nobody@office.test")))
    assert delivery.department_id == "front-desk"
    with runtime.sessions() as session:
        item = session.get_one(Item, delivery.item_id)
        assert item.routing_reason == "no rule matched; sent to the default department front-desk"
        assert item.routing_hits == [
            *CONVERSATION_MISSES,
            {
                "rule": "recipient",
                "matched": False,
                "reason": "no recipient belongs to a department",
                "kind": "step",
            },
            {
                "rule": "catch-all",
                "matched": False,
                "reason": "no recipient at a domain with a catch-all department",
                "kind": "step",
            },
            {
                "rule": "learned suggestion",
                "matched": False,
                "reason": "no word the suggestion knows",
                "kind": "step",
            },
        ]


class BrokenCondition:
    def check(self, facts: Facts) -> str | None:
        raise RuntimeError("rule bug")

    def describe(self) -> str:
        return "anything"

    def atoms(self) -> set[Atom] | None:
        return None


def test_a_failing_rule_lands_the_message_in_the_front_desk(runtime: Runtime) -> None:
    rule = RuleSettings(
        "broken", "", ConditionSettings("broken", True, "rules[0].when"), "rules[0]", route="billing"
    )
    settings = dataclasses.replace(runtime.settings, rules=(rule,))
    registry = standard_registry()
    registry.register(ConditionKind("broken", "always fails", lambda argument, settings: BrokenCondition()))
    deliverer = Deliverer(runtime.sessions, Router(settings, registry))
    delivery = deliverer.deliver(parse_email(email_bytes(to="hello@office.test")))
    assert delivery.department_id == "front-desk"
    with runtime.sessions() as session:
        hits = session.get_one(Item, delivery.item_id).routing_hits
        assert hits[len(CONVERSATION_MISSES)] == {
            "rule": "broken",
            "matched": False,
            "reason": "rule failed: RuntimeError('rule bug')",
            "kind": "rule",
        }


def test_addresses_match_whatever_their_case(runtime: Runtime) -> None:
    delivery = runtime.deliverer.deliver(parse_email(email_bytes(to="Sales@Office.TEST")))
    assert delivery.department_id == "sales"


def test_the_same_message_from_many_threads_at_once_makes_one_item(patient_runtime: Runtime) -> None:
    message = parse_email(email_bytes(message_id="<race@client.example>"))
    with ThreadPoolExecutor(max_workers=6) as pool:
        deliveries = list(pool.map(lambda _: patient_runtime.deliverer.deliver(message), range(12)))
    assert len({d.item_id for d in deliveries}) == 1
    assert sum(d.created for d in deliveries) == 1
    assert _count(patient_runtime, Item) == 1


def test_a_copy_arriving_after_its_original_is_answered_cannot_become_a_follow_up_too(
    runtime: Runtime,
) -> None:
    """As when two copies of a reply arrive while its original is being stored: one copy
    became an item before the original existed; the other, now matching the original,
    must not be added to it as a follow-up. Its key is claimed already: it finds the
    first copy's item and stores nothing."""
    reply = parse_email(
        email_bytes(message_id="<reply@client.example>", subject="Re: prices").replace(
            b"MIME-Version", b"In-Reply-To: <original@client.example>\r\nMIME-Version"
        )
    )
    first = runtime.deliverer.deliver(reply)
    runtime.deliverer.deliver(parse_email(email_bytes(message_id="<original@client.example>")))
    with transaction(runtime.sessions) as session:
        [again] = runtime.deliverer.deliver_all(session, [Delivering(reply)])
    assert (again.item_id, again.created, again.joined) == (first.item_id, False, False)
    assert (_count(runtime, Item), _count(runtime, Message)) == (2, 0)


def test_two_copies_in_one_batch_make_one_item_and_the_copy_finds_it(runtime: Runtime) -> None:
    """The first copy's item is inserted with the batch's others; the copy, claimed
    already, finds it as if the first had been stored alone."""
    message = parse_email(email_bytes(message_id="<copies@client.example>"))
    other = parse_email(email_bytes(message_id="<other@client.example>"))
    with transaction(runtime.sessions) as session:
        first, between, again = runtime.deliverer.deliver_all(
            session, [Delivering(message), Delivering(other), Delivering(message)]
        )
    assert (again.item_id, again.created) == (first.item_id, False) and first.created
    assert between.item_id != first.item_id
    assert (_count(runtime, Item), _count(runtime, AuditEvent)) == (2, 2)


def test_a_key_taken_with_no_item_is_refused_not_made_a_second_item(runtime: Runtime) -> None:
    # Keys and items are erased together; a key left alone (a hand edit of the database)
    # must not let its message through as new, nor be read as stored.
    message = parse_email(email_bytes(message_id="<orphan@client.example>"))
    with transaction(runtime.sessions) as session:
        session.execute(insert(DeliveryKey), [{"key": message.idempotency_key}])
    with pytest.raises(KeyWithoutItem, match="taken but no item"):
        runtime.deliverer.deliver(message)
    assert _count(runtime, Item) == 0
