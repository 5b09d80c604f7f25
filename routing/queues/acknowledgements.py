"""The office's acknowledgement of a new item: stored and queued like a reply, at most
once a day per address and department (RFC 3834, section 2), recorded in the history.

Whether a message may be acknowledged at all (a person's mail, not a machine's; the
department's acknowledgement on) and where it goes are the channel's to decide, in
intake/; this is only the storing, in the transaction that stores the item.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from routing.queues.replies import Addressing, queue_email
from routing.store.models import SYSTEM_ACTOR, AcknowledgedSender, AuditEvent, Reply


def acknowledge(
    session: Session,
    item_id: int,
    department_id: str,
    where: Addressing,
    text: str,
    *,
    channel: str,
    language: str,
    day: date,
    now: datetime,
) -> Reply | None:
    """Queue the acknowledgement of item `item_id` by `channel` ("email", or a text's) as
    `where` says; None when the department acknowledged that address on `day` already."""
    if not _first_of_the_day(session, department_id, where.recipient.lower(), day, item_id):
        return None
    reply = queue_email(
        session,
        item_id,
        Reply(channel=channel, kind="acknowledgement", author=SYSTEM_ACTOR, text=text),
        where,
        now,
    )
    detail = {"to": where.recipient, "reply": reply.id, "language": language, "text": text}
    session.add(AuditEvent(item_id=item_id, actor=SYSTEM_ACTOR, action="acknowledged", detail=detail))
    return reply


def _first_of_the_day(session: Session, department_id: str, address: str, day: date, item_id: int) -> bool:
    """Claim (department, address, day); False when another message claimed it first,
    in this process or another. No error is raised: the item's transaction goes on."""
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    row = {"department_id": department_id, "address": address, "day": day.isoformat(), "item_id": item_id}
    inserted = session.execute(
        dialect.insert(AcknowledgedSender)
        .values(row)
        .on_conflict_do_nothing()
        .returning(AcknowledgedSender.day)
    )
    claimed = inserted.first() is not None  # nothing comes back from a row not inserted
    session.execute(
        delete(AcknowledgedSender).where(AcknowledgedSender.day < (day - timedelta(days=1)).isoformat())
    )
    return claimed
