"""Forwarding an item to another address, with a note: stored and queued like a reply
(the worker attaches the original message), and one event in the item's history.

A forward may come with a key its request was made with, as a reply may: the same key,
address and note again (a double click, a request sent again after its answer was lost)
give back the forward stored the first time, and the partner gets one.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from routing.people.accounts import Person
from routing.queues.replies import (
    FORWARD,
    Address,
    answerable,
    queue_email,
    request_job_key,
    stored_under,
    written,
)
from routing.store.models import AuditEvent, Reply


def forward(
    session: Session,
    item_id: int,
    who: Person,
    note: str,
    address: Address,
    now: datetime,
    key: str | None = None,
) -> Reply:
    """Store `who`'s forward of the item, addressed by `address`, and queue its sending;
    ReplyRefused (nothing stored) when the address cannot take it. The forward stored
    earlier with the same request `key`, address and note is answered instead of a new one."""
    item = answerable(session, item_id, who)
    note = written(note, "a note")
    where = address(session, item)
    # The address is in the job's name with the note: the same form sent to another is another forward.
    job_key = request_job_key(key, f"{where.recipient}\n{note}")
    if job_key is not None and (earlier := stored_under(session, item.id, job_key)) is not None:
        return earlier
    reply = Reply(channel="email", kind=FORWARD, author=who.name, text=note)
    reply = queue_email(session, item.id, reply, where, now, job_key)
    detail = {"to": where.recipient, "reply": reply.id, "note": note}
    session.add(AuditEvent(item_id=item.id, actor=who.name, action="forwarded", detail=detail))
    return reply
