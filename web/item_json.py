"""The JSON shape of an item, shared by the API and the pages' keyboard script."""

from __future__ import annotations

from typing import Any

from routing.models import Item
from web.phone import phone_json


def item_json(item: Item) -> dict[str, Any]:
    return {
        "id": item.id,
        "channel": item.channel,
        "department": item.department_id,
        "status": item.status,
        "sender": item.sender,
        "subject": item.subject,
        "received_at": item.received_at.isoformat(),
        "routing_reason": item.routing_reason,
        "machine_kind": item.machine_kind,
        "priority": item.priority,
        "assignee": item.assignee.name if item.assignee else None,
        "due_at": item.due_at.isoformat() if item.due_at else None,
        "decision_needed": item.decision_needed,
        "tags": list(item.tags),
        "spam": item.spam,
        "messages": 1 + len(item.messages),  # the first message and its follow-ups
        "suggestion": (
            {"department": item.suggested_department_id, "confidence": item.suggestion_confidence}
            if item.suggested_department_id
            else None
        ),
        **phone_json(item),
    }
