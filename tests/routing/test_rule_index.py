"""The index never changes a decision: routing only the candidates it picks gives the same
result as checking every rule, over many generated rules and messages."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

from routing.engine import Router
from routing.message import Attachment, InboundMessage
from tests.support.routers import office_with

WORDS = [
    "invoice",
    "credit",
    "note",
    "order",
    "broken",
    "lift",
    "urgent",
    "quote",
    "model",
    "x1",
    "e-mail",
    "#vip",
]
MACHINE = ["true", "false", '["bounce"]']
CHANNELS = ["email", "sms", "whatsapp", "voicemail"]
SENDERS = ["ann@client.example", "bob@eu.client.example", "+15555550123", "carl@other.example"]
RECIPIENTS = ["hello@office.test", "sales@office.test", "billing@office.test", "+15555550101"]


def _condition(rng: random.Random, depth: int = 0) -> str:
    if depth < 2 and rng.random() < 0.3:
        first, second = _condition(rng, depth + 1), _condition(rng, depth + 1)
        return rng.choice(
            [
                f"all = [{{ {first} }}, {{ {second} }}]",
                f"any = [{{ {first} }}, {{ {second} }}]",
                f"not = {{ {first} }}",
            ]
        )
    phrase = " ".join(rng.sample(WORDS, rng.choice([1, 1, 2])))
    return rng.choice(
        [
            f'channel = "{rng.choice(CHANNELS)}"',
            f'recipient = ["{rng.choice(RECIPIENTS)}"]',
            f'sender = ["{rng.choice([*SENDERS, "client.example", "@other.example"])}"]',
            f'{rng.choice(["subject", "body", "transcript"])} = ["{phrase}"]',
            f'body = {{ regex = "{rng.choice(WORDS)}\\\\W+\\\\w" }}',
            f"has_attachments = {rng.choice(['true', 'false'])}",
            f"machine = {rng.choice(MACHINE)}",
            f'hours = "{rng.choice(["open", "closed"])}"',
        ]
    )


def _rules(rng: random.Random, count: int) -> str:
    text = ""
    for n in range(count):
        action = rng.choice(
            ['route = "sales"', 'route = "billing"', 'priority = "high"', 'tags = ["t"]', "spam = true"]
        )
        stop = rng.choice(["", "stop = false\n", "stop = true\n"])
        text += f'[[rules]]\nname = "r{n}"\nwhen = {{ {_condition(rng)} }}\n{action}\n{stop}'
    return text


def _message(rng: random.Random, n: int) -> InboundMessage:
    text = " ".join(rng.choices([*WORDS, "the", "a", "E-Mail", "INVOICE"], k=rng.randrange(0, 12)))
    return InboundMessage(
        channel=rng.choice(CHANNELS),
        sender=rng.choice(SENDERS),
        recipients=tuple(rng.sample(RECIPIENTS, rng.randrange(1, 3))),
        subject=" ".join(rng.choices(WORDS, k=rng.randrange(0, 4))),
        text=text,
        idempotency_key=f"index:{n}",
        received_at=datetime(2026, 11, 2, 12, 0, tzinfo=UTC) + timedelta(hours=rng.randrange(0, 96)),
        raw=text.encode(),
        raw_content_type="text/plain",
        attachments=(Attachment("a.txt", "text/plain", b"x"),) if rng.random() < 0.3 else (),
        machine_kind=rng.choice([None, None, "bounce", "auto-reply"]),
    )


def test_indexed_and_full_routing_agree(tmp_path: Path) -> None:
    rng = random.Random(2026)
    router = Router(office_with(tmp_path, _rules(rng, 150)))
    assert router.rules.index and len(router.rules.always) < 150  # the index is in use
    for n in range(400):
        message = _message(rng, n)
        fast, full = router.route(message), router.route(message, explain=True)
        seen = (fast.department_id, fast.priority, fast.tags, fast.spam, fast.machine)
        assert seen == (full.department_id, full.priority, full.tags, full.spam, full.machine), message
        assert [o for o in full.outcomes if o.matched] == [o for o in fast.outcomes if o.matched]


def test_small_offices_given_only_the_atoms_their_rules_index_still_agree(tmp_path: Path) -> None:
    # With a few rules, most shapes of text atoms (a field's words, its pairs) are not in
    # the index and a message is not given them: what is left must pick the same rules.
    rng = random.Random(12)
    shapes_seen = set()
    for office in range(40):
        router = Router(office_with(tmp_path / str(office), _rules(rng, rng.randrange(1, 4))))
        shapes_seen.add(frozenset(router.rules.text_keys))
        for n in range(15):
            message = _message(rng, n)
            fast, full = router.route(message), router.route(message, explain=True)
            assert [o for o in full.outcomes if o.matched] == [o for o in fast.outcomes if o.matched], message
    assert len(shapes_seen) >= 4  # the offices indexed different shapes, none at all among them
