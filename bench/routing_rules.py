"""How routing time grows with the number of rules: 100, 1k and 10k generated rules.

Routes the same fixed set of messages through each rule set and prints the median time
per message and the 10k/1k ratio. The rules are a mix office owners write: recipient
addresses, sender domains, subject keywords, channel-and-body pairs, and a fixed ten
that the index cannot read (regular expressions, a header, opening hours), which are
checked for every message.

    .venv/bin/python bench/routing_rules.py
"""

from __future__ import annotations

import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from config.loading import DEFAULT_CONFIG, load_settings
from routing.engine import Router
from routing.message import InboundMessage

SIZES = (100, 1_000, 10_000)
MESSAGES = 300
REPEATS = 5
DEPARTMENTS = ("sales", "billing", "support")
UNINDEXED = [
    'body = { regex = "order\\\\s+#?\\\\d{7}" }',
    'subject = { regex = "^\\\\[ticket-\\\\d+\\\\]" }',
    'header = { name = "X-Campaign", regex = "spring" }',
    'hours = "closed", not = { channel = "email" }',
    'body = { regex = "case\\\\s+\\\\d{6}" }',
    'not = { sender = ["office.example"] }, body = { regex = "unsubscribe now" }',
    'subject = { regex = "re:\\\\s*re:\\\\s*re:" }',
    'header = { name = "X-Priority", regex = "^1" }',
    'transcript = { regex = "call me on \\\\d+" }',
    'body = { regex = "(?:IBAN|sort code)\\\\W+\\\\d" }',
]


def rule_conditions(count: int) -> list[str]:
    conditions = list(UNINDEXED)
    for i in range(count - len(UNINDEXED)):
        kind = i % 4
        if kind == 0:
            conditions.append(f'recipient = ["desk{i}@office.example"]')
        elif kind == 1:
            conditions.append(f'sender = ["client{i}.example"]')
        elif kind == 2:
            conditions.append(f'subject = ["product{i}", "model {i}"]')
        else:
            conditions.append(f'channel = "sms", body = ["serial{i}", "unit{i}"]')
    return conditions


def config_text(count: int) -> str:
    base = DEFAULT_CONFIG.read_text().split("[[rules]]")[0]
    rules = "".join(
        f'[[rules]]\nname = "r{i}"\nwhen = {{ {when} }}\nroute = "{DEPARTMENTS[i % 3]}"\n'
        for i, when in enumerate(rule_conditions(count))
    )
    return base + "\n" + rules + "\n[smtp]\n[web]\n[database]\n"


def messages(rng: random.Random) -> list[InboundMessage]:
    words = [
        "please",
        "could",
        "you",
        "look",
        "at",
        "the",
        "attached",
        "and",
        "let",
        "me",
        "know",
        "about",
        "delivery",
        "price",
        "and",
        "the",
        "invoice",
    ]
    found = []
    for n in range(MESSAGES):
        # Numbers below 100 exist in every rule set, so each set routes some messages by rule.
        i = rng.randrange(0, 120)
        text = " ".join(rng.choices(words, k=40)) + f" product{i} serial{i + 3}"
        found.append(
            InboundMessage(
                channel="sms" if n % 3 == 0 else "email",
                sender=f"someone@client{rng.randrange(0, 4000)}.example",
                recipients=(f"desk{rng.randrange(0, 4000)}@office.example", "hello@office.example"),
                subject=" ".join(rng.choices(words, k=6)) + f" model {rng.randrange(0, 200)}",
                text=text,
                idempotency_key=f"bench:{n}",
                received_at=datetime(2026, 11, 3, 10, 0, tzinfo=UTC),
                raw=text.encode(),
                raw_content_type="text/plain",
            )
        )
    return found


def measure(router: Router, batch: list[InboundMessage]) -> float:
    """The median over messages of each message's median routing time, in microseconds."""
    per_message = []
    for message in batch:
        times = []
        for _ in range(REPEATS):
            start = time.perf_counter()
            router.route(message)
            times.append(time.perf_counter() - start)
        per_message.append(statistics.median(times))
    return statistics.median(per_message) * 1e6


def main() -> int:
    batch = messages(random.Random(1))
    results = {}
    with tempfile.TemporaryDirectory() as directory:
        for count in SIZES:
            path = Path(directory) / f"rules-{count}.toml"
            path.write_text(config_text(count))
            start = time.perf_counter()
            router = Router(load_settings(path, {}))
            compiled = time.perf_counter() - start
            measure(router, batch[:50])  # warm up
            results[count] = measure(router, batch)
            routed = sum(router.route(m).reason.startswith("rule ") for m in batch)
            print(
                f"{count:>6} rules: median {results[count]:7.1f} us per message "
                f"(loaded and compiled in {compiled:.2f} s; {routed}/{len(batch)} messages routed by a rule)"
            )
    ratio = results[10_000] / results[1_000]
    print(f"10k/1k ratio: {ratio:.2f} (target < 2); at 10k rules: {results[10_000]:.1f} us (target < 200 us)")
    return 0 if ratio < 2 and results[10_000] < 200 else 1


if __name__ == "__main__":
    sys.exit(main())
