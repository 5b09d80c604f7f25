"""The JSON shape of an item, shared by the API and the pages' keyboard script."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, object_session

from routing.store.models import Contact, Item
from web.item_view import routing_trace
from web.phone import PhoneFacts, phone_facts, phone_facts_of, phone_json


def item_json(item: Item, facts: PhoneFacts | None = None) -> dict[str, Any]:
    """The item for the API; `facts` saves a look-up when a page fetched them all at once."""
    if facts is None:
        facts = phone_facts(_session_of(item), item.id)
    return {
        "id": item.id,
        "channel": item.channel,
        "department": item.department_id,
        "status": item.status,
        "sender": item.sender,
        "subject": item.subject,
        "received_at": item.received_at.isoformat(),
        "queued_at": item.queued_at.isoformat(),
        "routing_reason": item.routing_reason,
        "machine_kind": item.machine_kind,
        "priority": item.priority,
        "assignee": item.assignee.name if item.assignee else None,
        "due_at": item.due_at.isoformat() if item.due_at else None,
        "decision_needed": item.decision_needed,
        "tags": list(item.tags),
        "spam": item.spam,
        "messages": 1 + len(item.messages),  # the first message and its follow-ups
        "contact": {"id": item.contact.id, "name": item.contact.name} if item.contact else None,
        "merged_into": item.merged_into_id,
        "suggestion": (
            {"department": item.suggested_department_id, "confidence": item.suggestion_confidence}
            if item.suggested_department_id
            else None
        ),
        **phone_json(item, facts),
    }


def item_detail_json(item: Item) -> dict[str, Any]:
    """One item as GET /items/ID shows it: the list's fields, the message's text, and
    every routing step that hit or missed, in the order they were tried."""
    trace = [
        {"rule": line.name, "kind": str(line.kind), "matched": line.matched, "reason": line.reason}
        for line in routing_trace(item.routing_hits)
    ]
    return {**item_json(item), "text": item.text, "routing_trace": trace}


def items_json(session: Session, items: list[Item]) -> list[dict[str, Any]]:
    facts = phone_facts_of(session, [item.id for item in items])
    # Loaded at once, so that each item's contact comes from the session, not a query of its own.
    session.scalars(
        select(Contact).where(Contact.id.in_({i.contact_id for i in items if i.contact_id}))
    ).all()
    return [item_json(item, facts[item.id]) for item in items]


def _session_of(item: Item) -> Session:
    session = object_session(item)
    if session is None:
        raise ValueError("item_json needs an item loaded in a session")
    return session
