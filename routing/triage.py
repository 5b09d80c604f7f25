"""What a person does to an item's place: reroute it to another department.

A receptionist's reroute is the truth about where an item belongs, so besides moving
the item and recording who did it and why, it teaches the learned suggestion.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from routing.learning import learn
from routing.models import AuditEvent, Department, Item


class TriageError(ValueError):
    """A move that cannot be made; the message says why."""


class NoSuchItem(TriageError):
    pass


class NoSuchDepartment(TriageError):
    pass


def reroute(session: Session, item_id: int, department_id: str, actor: str, reason: str) -> Item:
    """Move the item to `department_id`, record the move and learn from it.

    Raises NoSuchItem, NoSuchDepartment, or TriageError for a move to where the item
    already is or without an actor or a reason.
    """
    item = session.get(Item, item_id)
    if item is None:
        raise NoSuchItem(f"there is no item {item_id}")
    department = session.get(Department, department_id)
    if department is None or not department.active:
        raise NoSuchDepartment(f"there is no department {department_id!r}")
    if department_id == item.department_id:
        raise TriageError(f"item {item_id} is already in {department_id}")
    if not actor.strip() or not reason.strip():
        raise TriageError("a reroute needs who made it and why")
    detail = {"from": item.department_id, "to": department_id, "reason": reason}
    session.add(AuditEvent(item_id=item.id, actor=actor, action="rerouted", detail=detail))
    item.department_id = department_id
    item.routing_reason = f"rerouted by {actor}: {reason}"
    # The same words the suggestion reads when it routes (engine.Router._suggest).
    learn(session, f"{item.subject}\n{item.text}", department_id)
    return item
