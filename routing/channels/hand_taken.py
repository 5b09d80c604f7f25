"""What taking a message by hand adds to its new item: when to call back, whom it is
for, and who took it down, in the transaction that stores the item."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from routing.delivery import Delivery
from routing.store.models import AuditEvent, Item, Membership, User, utcnow

TAKEN_BY_HAND = "taken-by-hand"


class NotTheirs(ValueError):
    """The person chosen does not work in the department the item went to."""


@dataclass(frozen=True)
class Taking:
    """Who took the message down, what kind it was, and what they asked for."""

    by: str
    kind: str
    due_at: datetime | None
    assignee_id: int | None


def record_taking(session: Session, delivery: Delivery, taking: Taking) -> None:
    """Set the item's due time and assignee and record who took it; a repeat changes nothing.

    Raises NotTheirs when the assignee is staff outside the item's department, so
    that the whole delivery is undone and the form can say why.
    """
    if not delivery.created or delivery.joined:
        return
    item = session.get_one(Item, delivery.item_id)
    item.due_at = taking.due_at
    assignee = None
    if taking.assignee_id is not None:
        assignee = session.get_one(User, taking.assignee_id)
        _check_works_in(session, assignee, item.department_id)
        item.assignee_id, item.status, item.claimed_at = assignee.id, "claimed", utcnow()
    detail = {
        "kind": taking.kind,
        "department": item.department_id,
        "assignee": assignee.name if assignee else None,
        "due_at": taking.due_at.isoformat() if taking.due_at else None,
    }
    session.add(AuditEvent(item_id=item.id, actor=taking.by, action=TAKEN_BY_HAND, detail=detail))


def _check_works_in(session: Session, user: User, department_id: str) -> None:
    if user.role != "staff":
        return  # receptionists and admins see every queue
    if session.get(Membership, (user.id, department_id)) is None:
        raise NotTheirs(f"{user.name} does not work in {department_id}, where the message goes")
