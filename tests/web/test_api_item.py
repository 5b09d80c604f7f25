"""GET /api/v1/items/ID: the item with its message's text and its routing trace, every
rule that hit or missed and why; the list stays as short as it was."""

from __future__ import annotations

from pathlib import Path

from intake.cli.runtime import open_runtime
from tests.support.people import office_client
from tests.support.routers import email, office_with, rfc5322

RULES = """
[[rules]]
name = "urgent-invoices"
when = { subject = ["invoice"], body = ["urgent"] }
route = "sales"

[[rules]]
name = "invoices"
when = { subject = ["invoice"] }
route = "billing"
"""


def test_an_items_detail_shows_its_text_and_every_rule_that_hit_or_missed(
    tmp_path: Path, database_url: str
) -> None:
    runtime = open_runtime(office_with(tmp_path, RULES, database_url))
    try:
        raw = rfc5322(
            "From: ann@client.example",
            "To: hello@office.test",
            "Subject: Invoice 42",
            "Message-ID: <detail1@client.example>",
            body="Hello,\r\nabout invoice 42.\r\n",
        )
        item_id = runtime.deliverer.deliver(email(raw)).item_id
        client = office_client(runtime.web_app(), runtime.sessions)
        detail = client.get(f"/api/v1/items/{item_id}").get_json()
        [listed] = client.get("/api/v1/items").get_json()["items"]
    finally:
        runtime.engine.dispose()
    assert detail["text"] == "Hello,\nabout invoice 42."
    assert detail["routing_reason"].startswith("rule 'invoices' routes to billing")
    # The conversation's steps first, then the rules the index picked, in order.
    assert detail["routing_trace"] == [
        {"rule": "in-reply-to", "kind": "step", "matched": False, "reason": "no In-Reply-To"},
        {"rule": "references", "kind": "step", "matched": False, "reason": "no References"},
        {"rule": "subject token", "kind": "step", "matched": False, "reason": "no [#N] token in the subject"},
        {
            "rule": "urgent-invoices",
            "kind": "rule",
            "matched": False,
            "reason": "wanted subject has 'invoice' and body has 'urgent'",
        },
        {
            "rule": "invoices",
            "kind": "rule",
            "matched": True,
            "reason": "subject has 'invoice': routed to billing",
        },
    ]
    assert {key: value for key, value in detail.items() if key not in ("text", "routing_trace")} == listed
