"""A routing decision is stored on its item and shown on the item page and in the API."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from intake.cli.runtime import Runtime, open_runtime
from routing.item_fields import MARKED_MACHINE
from routing.store.database import transaction
from routing.store.models import Item
from tests.support.people import office_client
from tests.support.routers import email, office_with, rfc5322

RULES = """
[[departments]]
id = "support"
name = "Support"
description = "Repairs and faults."
keywords = ["broken", "repair", "leak"]

[[rules]]
name = "robots"
when = { header = { name = "X-Mailer", regex = "robot" } }
machine = true
spam = true
priority = "low"
tags = ["robot", "bulk"]
route = "sales"
"""


@pytest.fixture
def office(tmp_path: Path, database_url: str) -> Iterator[Runtime]:
    runtime = open_runtime(office_with(tmp_path, RULES, database_url))
    yield runtime
    runtime.engine.dispose()


def test_priority_tags_spam_and_machine_are_stored_and_shown(office: Runtime) -> None:
    raw = rfc5322(
        "From: x@spam.example",
        "To: hello@office.test",
        "Subject: Deals",
        "Message-ID: <s1@spam.example>",
        "X-Mailer: RoboSender robot 2",
    )
    item_id = office.deliverer.deliver(email(raw)).item_id
    with transaction(office.sessions, write=False) as session:
        item = session.get_one(Item, item_id)
        assert (item.department_id, item.priority, item.tags, item.spam) == (
            "sales",
            "low",
            ["robot", "bulk"],
            True,
        )
        assert item.machine_kind == MARKED_MACHINE and item.suggested_department_id is None
    client = office_client(office.web_app(), office.sessions)
    body = client.get(f"/api/v1/items/{item_id}").json
    assert body is not None
    assert (body["priority"], body["tags"], body["spam"], body["suggestion"]) == (
        "low",
        ["robot", "bulk"],
        True,
        None,
    )
    page = client.get(f"/items/{item_id}").get_data(as_text=True)
    assert '<dd class="priority">low</dd>' in page and '<dd class="tags">robot, bulk</dd>' in page
    assert "marked as spam by a rule" in page


def test_a_suggestion_is_stored_and_shown(office: Runtime) -> None:
    raw = rfc5322(
        "From: a@client.example",
        "To: hello@office.test",
        "Subject: A leak",
        "Message-ID: <s2@c>",
        body="The tap is broken.\r\n",
    )
    delivery = office.deliverer.deliver(email(raw))
    client = office_client(office.web_app(), office.sessions)
    body = client.get(f"/api/v1/items/{delivery.item_id}").json
    assert body is not None and body["suggestion"]["department"] == "support"
    confidence = body["suggestion"]["confidence"]
    # "leak" and "broken" are support's seeds: confident enough to route there.
    assert confidence >= 0.8 and delivery.department_id == "support"
    page = client.get(f"/items/{delivery.item_id}").get_data(as_text=True)
    assert f'<dd class="suggestion">support ({confidence * 100:.0f}% confident)</dd>' in page
