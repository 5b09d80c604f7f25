"""Forwarding an item to another address, with a note: stored and queued like a reply
(the worker attaches the original message), and one event in the item's history."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from routing.people.accounts import Person
from routing.queues.replies import FORWARD, Address, answerable, queue_email, written
from routing.store.models import AuditEvent, Reply


def forward(session: Session, item_id: int, who: Person, note: str, address: Address, now: datetime) -> Reply:
    """Store `who`'s forward of the item, addressed by `address`, and queue its sending;
    ReplyRefused (nothing stored) when the address cannot take it."""
    item = answerable(session, item_id, who)
    note = written(note, "a note")
    where = address(session, item)
    reply = queue_email(
        session, item.id, Reply(channel="email", kind=FORWARD, author=who.name, text=note), where, now
    )
    detail = {"to": where.recipient, "reply": reply.id, "note": note}
    session.add(AuditEvent(item_id=item.id, actor=who.name, action="forwarded", detail=detail))
    return reply
