"""An item's first message as an InboundMessage again, to route it anew.

Used when a voicemail's transcript arrives and when rules are replayed over stored
items; email is better parsed again from its raw bytes, which only intake/ can do.
"""

from __future__ import annotations

from routing.message import InboundMessage
from routing.store.models import Item


def message_of(item: Item) -> InboundMessage:
    return InboundMessage(
        channel=item.channel,
        sender=item.sender,
        sender_name=item.sender_name,
        recipients=tuple(item.recipients),
        subject=item.subject,
        text=item.text,
        idempotency_key=item.idempotency_key,
        received_at=item.received_at,
        raw=item.raw.content,
        raw_content_type=item.raw_content_type,
        machine_kind=item.machine_kind,
    )
