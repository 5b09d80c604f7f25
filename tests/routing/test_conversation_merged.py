"""Conversations of merged items, as a dialogue: Ann writes twice about one request, the
receptionist merges the second item into the first and resolves it, and Ann answers the
second. Her answer joins the item the conversation now lives in, which reopens as it
would for an answer to it. On SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from sqlalchemy import select

from intake.cli.runtime import Runtime
from intake.email.parser import parse_email
from routing.contacts import item_actions
from routing.delivery import Delivery
from routing.queues.triage import claim, reroute, resolve
from routing.store.database import transaction
from routing.store.models import AuditEvent, Item, Message
from tests.routing.test_conversation import (
    MONDAY,
    actions,
    counts,
    deliver_reply,
    deliver_together,
    first_email,
    reply_bytes,
    text_message,
    with_routing,
)
from tests.support.mail import email_bytes
from tests.support.people import new_person

SECOND = "<q2@client.example>"
RACES = 5


def second_email(runtime: Runtime) -> Delivery:
    """Ann's second mail about the same thing, an hour after the first."""
    raw = email_bytes(message_id=SECOND, subject="Prices, again")
    return runtime.deliverer.deliver(parse_email(raw, received_at=MONDAY + timedelta(hours=1)))


def merge(runtime: Runtime, item_id: int, into: int, *, then_resolve: bool = False) -> None:
    """The receptionist merges `item_id` into `into` as the same request, and may resolve that."""
    maria = new_person(runtime.sessions, "maria")
    with transaction(runtime.sessions) as session:
        item_actions.merge(session, item_id, maria, into)
    if then_resolve:
        with transaction(runtime.sessions) as session:
            resolve(session, into, maria)


def merged_and_resolved(runtime: Runtime) -> tuple[int, int]:
    """Ann's two mails, the second merged into the first, which is resolved."""
    first, second = first_email(runtime), second_email(runtime)
    merge(runtime, second.item_id, first.item_id, then_resolve=True)
    return first.item_id, second.item_id


def statuses(runtime: Runtime, *item_ids: int) -> list[str]:
    with runtime.sessions() as session:
        return [session.get_one(Item, item_id).status for item_id in item_ids]


def last_reply_event(runtime: Runtime, item_id: int) -> AuditEvent:
    with runtime.sessions() as session:
        query = select(AuditEvent).where(AuditEvent.item_id == item_id, AuditEvent.action == "reply received")
        return session.scalars(query.order_by(AuditEvent.id.desc()).limit(1)).one()


def test_a_reply_to_a_merged_item_reopens_the_item_it_was_merged_into(runtime: Runtime) -> None:
    target, merged = merged_and_resolved(runtime)

    reply = deliver_reply(runtime, reply_bytes(message_id="<r1@client.example>", in_reply_to=SECOND))

    assert (reply.item_id, reply.department_id, reply.created, reply.joined) == (target, "sales", True, True)
    assert statuses(runtime, target, merged) == ["new", "merged"]
    with runtime.sessions() as session:
        assert session.scalars(select(Message.item_id)).all() == [target]
    assert actions(runtime, target)[-2:] == ["reply received", "reopened"]
    event = last_reply_event(runtime, target)
    assert event.detail["reason"] == (
        f"In-Reply-To {SECOND} is a message of item {merged}; item {merged} is merged into item {target}"
    )
    assert actions(runtime, merged)[-1] == "merged into"  # nothing lands in the merged item
    assert counts(runtime)[:2] == (2, 1)


def test_references_and_a_subject_token_naming_a_merged_item_join_its_target(runtime: Runtime) -> None:
    target, merged = merged_and_resolved(runtime)

    by_references = deliver_reply(
        runtime, reply_bytes(message_id="<r1@client.example>", references=f"<elsewhere@example.com> {SECOND}")
    )
    assert (by_references.item_id, by_references.joined) == (target, True)
    assert last_reply_event(runtime, target).detail["matcher"] == "references"

    bob = new_person(runtime.sessions, "bob")
    with transaction(runtime.sessions) as session:
        resolve(session, target, bob)
    by_token = deliver_reply(
        runtime, reply_bytes(message_id="<r2@client.example>", subject=f"Re: [#{merged}] Prices, again")
    )
    assert (by_token.item_id, by_token.joined) == (target, True)
    assert statuses(runtime, target, merged) == ["new", "merged"]
    assert last_reply_event(runtime, target).detail["reason"] == (
        f"the subject names item {merged} and ann@client.example wrote in it; "
        f"item {merged} is merged into item {target}"
    )


def test_a_reply_to_a_merged_item_joins_its_open_target_where_it_is(runtime: Runtime) -> None:
    first, second = first_email(runtime), second_email(runtime)
    merge(runtime, second.item_id, first.item_id)
    bob = new_person(runtime.sessions, "bob")
    with transaction(runtime.sessions) as session:
        reroute(session, first.item_id, bob, "billing", "an invoice question")
        claim(session, first.item_id, bob)

    reply = deliver_reply(runtime, reply_bytes(message_id="<r1@client.example>", in_reply_to=SECOND))

    assert (reply.item_id, reply.department_id, reply.joined) == (first.item_id, "billing", True)
    assert statuses(runtime, first.item_id, second.item_id) == ["claimed", "merged"]
    assert actions(runtime, first.item_id)[-1] == "reply received"


def test_with_reopening_off_a_reply_to_an_item_merged_into_a_resolved_one_makes_a_new_item(
    runtime: Runtime,
) -> None:
    target, merged = merged_and_resolved(runtime)
    deliverer = with_routing(runtime, reopen_on_reply=False)

    reply = deliver_reply(
        runtime, reply_bytes(message_id="<r1@client.example>", in_reply_to=SECOND), deliverer
    )

    assert (reply.created, reply.joined) == (True, False) and reply.item_id not in (target, merged)
    assert statuses(runtime, target, merged, reply.item_id) == ["resolved", "merged", "new"]
    with runtime.sessions() as session:
        hit = session.get_one(Item, reply.item_id).routing_hits[0]
    assert hit["reason"] == (
        f"In-Reply-To {SECOND} is a message of item {merged}; item {merged} is merged into item {target}, "
        "but it is resolved and replies do not reopen items"
    )


def test_a_reply_to_an_unmerged_item_joins_it_again(runtime: Runtime) -> None:
    target, merged = merged_and_resolved(runtime)
    bob = new_person(runtime.sessions, "bob")
    with transaction(runtime.sessions) as session:
        item_actions.unmerge(session, merged, bob)

    reply = deliver_reply(runtime, reply_bytes(message_id="<r1@client.example>", in_reply_to=SECOND))

    assert (reply.item_id, reply.joined) == (merged, True)
    assert statuses(runtime, target, merged) == ["resolved", "new"]
    assert last_reply_event(runtime, merged).detail["reason"] == (
        f"In-Reply-To {SECOND} is a message of item {merged}"
    )


def test_in_a_batch_replies_to_a_merged_item_join_its_target_once_reopened(runtime: Runtime) -> None:
    target, merged = merged_and_resolved(runtime)

    other, reply, again = deliver_together(
        runtime,
        [
            email_bytes(message_id="<other@client.example>", subject="Something else"),
            reply_bytes(message_id="<r1@client.example>", in_reply_to=SECOND),
            reply_bytes(
                message_id="<r2@client.example>",
                in_reply_to="<r1@client.example>",
                references=f"{SECOND} <r1@client.example>",
            ),
        ],
    )

    assert not other.joined and other.item_id not in (target, merged)
    assert {(reply.item_id, reply.joined), (again.item_id, again.joined)} == {(target, True)}
    assert statuses(runtime, target, merged) == ["new", "merged"]
    assert actions(runtime, target)[-3:] == ["reply received", "reopened", "reply received"]
    assert last_reply_event(runtime, target).detail["reason"] == (
        f"In-Reply-To <r1@client.example> is a message of item {target}"
    )


def test_a_text_from_the_number_of_a_merged_text_joins_the_open_item_it_was_merged_into(
    runtime: Runtime,
) -> None:
    email = first_email(runtime)
    text = runtime.deliverer.deliver(text_message("SM1", "It's about the prices mail", at=MONDAY))
    merge(runtime, text.item_id, email.item_id)

    later = runtime.deliverer.deliver(text_message("SM2", "Any news?", at=MONDAY + timedelta(hours=2)))

    assert (later.item_id, later.joined) == (email.item_id, True)
    assert statuses(runtime, email.item_id, text.item_id) == ["new", "merged"]
    event = last_reply_event(runtime, email.item_id)
    assert (event.detail["matcher"], event.detail["channel"]) == ("same number", "sms")
    assert event.detail["reason"] == (
        f"item {text.item_id} is from +15551234567 to +15555550101, within the window; "
        f"item {text.item_id} is merged into item {email.item_id}"
    )


def test_a_text_from_the_number_of_a_text_merged_into_a_resolved_item_makes_a_new_item(
    runtime: Runtime,
) -> None:
    # As a text to a resolved text item does: a text reopens nothing, it starts anew.
    email = first_email(runtime)
    text = runtime.deliverer.deliver(text_message("SM1", "It's about the prices mail", at=MONDAY))
    merge(runtime, text.item_id, email.item_id, then_resolve=True)

    later = runtime.deliverer.deliver(text_message("SM2", "Any news?", at=MONDAY + timedelta(hours=2)))

    assert (later.created, later.joined) == (True, False)
    assert later.item_id not in (email.item_id, text.item_id)
    assert statuses(runtime, email.item_id, text.item_id, later.item_id) == ["resolved", "merged", "new"]


def at_once(*calls: Callable[[], object]) -> None:
    """Run the calls on threads released together, as people and a door act at one moment."""
    start = threading.Barrier(len(calls))

    def run(call: Callable[[], object]) -> None:
        start.wait(timeout=30)
        call()

    with ThreadPoolExecutor(len(calls)) as pool:
        for future in [pool.submit(run, call) for call in calls]:
            future.result(timeout=60)


def ann_writes(runtime: Runtime, message_id: str) -> int:
    raw = email_bytes(message_id=message_id, body="Twenty chairs, please.\r\n")
    return runtime.deliverer.deliver(parse_email(raw, received_at=MONDAY)).item_id


def ann_answers(runtime: Runtime, message_id: str, answered: str) -> Callable[[], Delivery]:
    """Ann's answer to `answered`, delivered when called."""
    message = parse_email(reply_bytes(message_id=message_id, in_reply_to=answered), received_at=MONDAY)
    return lambda: runtime.deliverer.deliver(message)


def joined_by(runtime: Runtime, message_id: str) -> int:
    with runtime.sessions() as session:
        return session.scalars(select(Message.item_id).where(Message.message_id == message_id)).one()


def test_a_merge_while_the_sender_answers_leaves_the_answer_where_it_is_seen(
    patient_runtime: Runtime,
) -> None:
    maria = new_person(patient_runtime.sessions, "maria")
    for round_ in range(RACES):
        first = ann_writes(patient_runtime, f"<first{round_}@client.example>")
        second = ann_writes(patient_runtime, f"<second{round_}@client.example>")

        def merging(second: int = second, first: int = first) -> None:
            with transaction(patient_runtime.sessions) as session:
                item_actions.merge(session, second, maria, first)

        answer = f"<answer{round_}@client.example>"
        at_once(merging, ann_answers(patient_runtime, answer, f"<second{round_}@client.example>"))
        # Joined before the merge, the answer went along with its item into the first;
        # after it, the answer joined the first itself. Never a merged item afterwards.
        assert statuses(patient_runtime, first, second) == ["new", "merged"]
        if joined_by(patient_runtime, answer) == second:
            assert actions(patient_runtime, second) == ["received", "reply received", "merged into"]
        else:
            assert joined_by(patient_runtime, answer) == first
            assert actions(patient_runtime, first) == ["received", "merged", "reply received"]


def test_a_resolve_while_the_sender_answers_a_merged_item_ends_as_one_then_the_other(
    patient_runtime: Runtime,
) -> None:
    maria = new_person(patient_runtime.sessions, "maria")
    for round_ in range(RACES):
        first = ann_writes(patient_runtime, f"<first{round_}@client.example>")
        second = ann_writes(patient_runtime, f"<second{round_}@client.example>")
        with transaction(patient_runtime.sessions) as session:
            item_actions.merge(session, second, maria, first)

        def resolving(first: int = first) -> None:
            with transaction(patient_runtime.sessions) as session:
                resolve(session, first, maria)

        answer = f"<answer{round_}@client.example>"
        at_once(resolving, ann_answers(patient_runtime, answer, f"<second{round_}@client.example>"))
        assert joined_by(patient_runtime, answer) == first
        # An answer after the resolve reopens the item; one before it is resolved with it.
        done = actions(patient_runtime, first)[2:]
        assert done in (["resolved", "reply received", "reopened"], ["reply received", "resolved"])
        assert statuses(patient_runtime, first)[0] == ("new" if done[-1] == "reopened" else "resolved")
