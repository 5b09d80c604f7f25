"""Where a text reply has got to, as Twilio reports it: its answer to the send, then its
status callbacks. A status only ever moves forward (queued, sending, sent, then
delivered, undelivered or failed), however late or out of order the reports arrive; the
ones that end a text's way are written in the item's history.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from routing.queues.replies import TEXT_CHANNELS
from routing.store.models import AuditEvent, Reply

# How far along each of Twilio's message statuses is; a report never moves a reply back.
_PROGRESS = {
    "accepted": 0,
    "scheduled": 0,
    "queued": 1,
    "sending": 2,
    "sent": 3,
    "delivered": 4,
    "undelivered": 4,
    "failed": 4,
    "read": 5,  # WhatsApp's, after delivered
}
STATUSES = tuple(_PROGRESS)
_ENDS = frozenset({"delivered", "undelivered", "failed"})


class StatusRefused(ValueError):
    """A status report that names no text reply of ours, or a status Twilio does not send."""


def advance(reply: Reply, status: str, error_code: str = "") -> bool:
    """Move the reply to `status` if that is further along; whether it moved."""
    if status not in _PROGRESS:
        raise StatusRefused(f"{status!r} is not a Twilio message status ({', '.join(STATUSES)})")
    if _PROGRESS[status] <= _PROGRESS.get(reply.delivery_status or "", -1):
        return False
    reply.delivery_status = status
    if error_code and status in ("undelivered", "failed"):
        reply.delivery_error = f"Twilio error {error_code}"
    return True


def report(session: Session, reply_id: int, message_sid: str, status: str, error_code: str = "") -> bool:
    """Record Twilio's report on the text reply `reply_id`, which must be the message
    `message_sid`; whether its status moved. Raises StatusRefused for any other message."""
    reply = session.get(Reply, reply_id, with_for_update=True)  # the worker may record it at once
    if reply is None or reply.channel not in TEXT_CHANNELS:
        raise StatusRefused(f"there is no text reply {reply_id}")
    if reply.external_id not in (None, message_sid):
        raise StatusRefused(f"reply {reply_id} is message {reply.external_id}, not {message_sid}")
    # Recorded here too: the report may come before the worker has recorded Twilio's answer.
    reply.external_id = message_sid
    moved = advance(reply, status, error_code)
    if moved and status in _ENDS:
        detail = {"reply": reply.id, "to": reply.recipient, "status": status}
        if reply.delivery_error:
            detail["error"] = reply.delivery_error
        session.add(
            AuditEvent(item_id=reply.item_id, actor="Twilio", action=f"reply {status}", detail=detail)
        )
    return moved
