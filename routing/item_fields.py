"""The columns of a new item: its message's, and those its routing decision sets (also
when a voicemail's item is routed again once its transcript comes)."""

from __future__ import annotations

from typing import Any

from routing.engine import RoutingDecision, RuleOutcome
from routing.message import InboundMessage
from routing.store import item_rows
from routing.store.models import Item

# The machine kind of mail a rule marked as machine-written (no notifications).
MARKED_MACHINE = "marked-by-rule"


def decision_fields(decision: RoutingDecision) -> dict[str, Any]:
    """The item's columns that a routing decision sets: where, why, priority and tags."""
    suggestion = decision.suggestion
    return {
        "department_id": decision.department_id,
        "routing_reason": decision.reason,
        "routing_hits": [outcome.stored() for outcome in decision.outcomes],
        "other_departments": list(decision.other_departments),
        "priority": decision.priority,
        "tags": list(decision.tags),
        "spam": decision.spam,
        "suggested_department_id": suggestion.department_id if suggestion else None,
        "suggestion_confidence": suggestion.confidence if suggestion else None,
        "decision_needed": decision.decision_needed,
        "routing_lesson": decision.lesson.stored() if decision.lesson else None,
    }


def apply_decision(item: Item, decision: RoutingDecision) -> None:
    """Put a stored item where the decision says, with its reasons, priority and tags."""
    for name, value in decision_fields(decision).items():
        setattr(item, name, value)


def new_item_row(
    message: InboundMessage,
    raw_blob_id: int,
    decision: RoutingDecision,
    conversation: tuple[RuleOutcome, ...],
    contact_id: int | None,
) -> dict[str, Any]:
    """The item's row. `conversation` is what the conversation matchers said: misses,
    recorded first."""
    item = {
        **item_rows.message_fields(message, raw_blob_id),
        "status": "new",
        "contact_id": contact_id,
        "recipients": list(message.recipients),
        **decision_fields(decision),
        "machine_kind": message.machine_kind or (MARKED_MACHINE if decision.machine else None),
    }
    item["routing_hits"] = [outcome.stored() for outcome in conversation] + item["routing_hits"]
    return item
