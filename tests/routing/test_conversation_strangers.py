"""Conversations and strangers, as a dialogue: a Message-ID proves nothing, so mail that
quotes another customer's thread joins it only from someone who took part in it.
On SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from intake.cli.runtime import Runtime
from routing.delivery import Delivery
from routing.store.models import Item
from tests.routing.test_conversation import counts, deliver_reply, first_email, reply_bytes

MALLORY = "Mallory <mallory@elsewhere.example>"


def hits(runtime: Runtime, item_id: int) -> list[dict[str, Any]]:
    with runtime.sessions() as session:
        return list(session.get_one(Item, item_id).routing_hits)


def test_a_stranger_replying_with_a_customers_message_id_gets_an_item_of_their_own(runtime: Runtime) -> None:
    # Ann writes to sales@.
    ann = first_email(runtime)

    # Mallory saw Ann's mail (a forward, a leaked quote) and replies to its Message-ID.
    stranger = deliver_reply(
        runtime,
        reply_bytes(message_id="<m1@elsewhere.example>", in_reply_to="<q1@client.example>", sender=MALLORY),
    )
    assert (stranger.created, stranger.joined) == (True, False) and stranger.item_id != ann.item_id
    # The receptionist sees which item the mail referred to, and why it is not in it.
    assert hits(runtime, stranger.item_id)[0] == {
        "rule": "in-reply-to",
        "matched": False,
        "reason": f"In-Reply-To <q1@client.example> is a message of item {ann.item_id}, "
        "but mallory@elsewhere.example took no part in it",
        "kind": "step",
    }
    assert counts(runtime)[:2] == (2, 0)  # Ann's item holds no message of Mallory's

    # Having failed to join, Mallory is no participant: the [#N] token is refused too.
    token = deliver_reply(
        runtime,
        reply_bytes(
            message_id="<m2@elsewhere.example>",
            in_reply_to="<q1@client.example>",
            subject=f"Re: [#{ann.item_id}] A question about prices",
            sender=MALLORY,
        ),
    )
    assert not token.joined and token.item_id not in (ann.item_id, stranger.item_id)
    assert hits(runtime, token.item_id)[2] == {
        "rule": "subject token",
        "matched": False,
        "reason": f"the subject names item {ann.item_id}, but mallory@elsewhere.example is not one of its senders",
        "kind": "step",
    }

    # Ann's own reply still joins her item.
    reply = deliver_reply(
        runtime, reply_bytes(message_id="<r1@client.example>", in_reply_to="<q1@client.example>")
    )
    assert (reply.item_id, reply.joined) == (ann.item_id, True)
    assert counts(runtime)[:2] == (3, 1)


def test_a_stranger_naming_a_customers_message_in_references_gets_an_item_of_their_own(
    runtime: Runtime,
) -> None:
    ann = first_email(runtime)
    references = "<q1@client.example> <unknown@elsewhere.example>"
    stranger = deliver_reply(
        runtime, reply_bytes(message_id="<m1@elsewhere.example>", references=references, sender=MALLORY)
    )
    assert not stranger.joined and stranger.item_id != ann.item_id
    assert hits(runtime, stranger.item_id)[1] == {
        "rule": "references",
        "matched": False,
        "reason": f"References name <q1@client.example>, a message of item {ann.item_id}, "
        "but mallory@elsewhere.example took no part in it",
        "kind": "step",
    }


def test_references_join_the_latest_item_the_sender_took_part_in(runtime: Runtime) -> None:
    # Mallory has an item of her own; Ann's reply names Ann's mail, then Mallory's, last.
    ann = first_email(runtime)
    mallory = deliver_reply(runtime, reply_bytes(message_id="<m1@elsewhere.example>", sender=MALLORY))
    references = "<q1@client.example> <m1@elsewhere.example>"
    reply = deliver_reply(runtime, reply_bytes(message_id="<r1@client.example>", references=references))
    assert (reply.item_id, reply.joined) == (ann.item_id, True) and mallory.item_id != ann.item_id


def _threaded(
    runtime: Runtime, message_id: str, in_reply_to: str, references: str, **sender: str
) -> Delivery:
    """A reply naming its In-Reply-To and References, from Ann unless `sender` says."""
    raw = reply_bytes(message_id=message_id, in_reply_to=in_reply_to, references=references, **sender)
    return deliver_reply(runtime, raw)


def test_the_in_reply_to_is_not_asked_again_among_the_references(runtime: Runtime) -> None:
    ann = first_email(runtime)
    stranger = _threaded(
        runtime, "<m2@elsewhere.example>", "<q1@client.example>", "<q1@client.example>", sender=MALLORY
    )
    assert not stranger.joined and stranger.item_id != ann.item_id
    assert [(hit["rule"], hit["reason"]) for hit in hits(runtime, stranger.item_id)[:2]] == [
        (
            "in-reply-to",
            f"In-Reply-To <q1@client.example> is a message of item {ann.item_id}, "
            "but mallory@elsewhere.example took no part in it",
        ),
        ("references", "the References name only the In-Reply-To"),
    ]


def test_references_besides_the_in_reply_to_are_still_read(runtime: Runtime) -> None:
    ann = first_email(runtime)
    unknown = "<unknown@elsewhere.example>"
    reply = _threaded(runtime, "<r3@client.example>", unknown, f"<q1@client.example> {unknown}")
    assert (reply.item_id, reply.joined) == (ann.item_id, True)
    other = _threaded(
        runtime, "<r4@elsewhere.example>", unknown, f"<lost@elsewhere.example> {unknown}", sender=MALLORY
    )
    assert hits(runtime, other.item_id)[1]["reason"] == (
        "none of the 1 References besides the In-Reply-To is a stored message"
    )
