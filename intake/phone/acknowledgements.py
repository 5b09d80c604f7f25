"""Acknowledging a new text: the department's text for the number's open or closed hours
("Thanks, Sales will reply shortly"), queued in the transaction that stores the item and
sent by the reply worker through Twilio's Messages API, from the number the text came to.

Twilio's webhook answer used to carry it; the item is made after that answer now (the
inbox), so it goes as a reply of kind "acknowledgement", shown on the item with its
delivery status. Only a new item from a person is acknowledged: not a repeat of a
webhook, not a text that continues a conversation (people answer those), not one a
machine sent or that rules marked as machine-written or spam; and a department texts
one number at most once a day, as it acknowledges mail (routing.queues.acknowledgements),
and not a text that waited more than a day to be made an item (an inbox's backlog after
an outage): by then "we will reply shortly" is no longer true.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy.orm import Session

from config.settings import Settings
from intake.email.acknowledgements import FRESH
from intake.phone.texting import text_addressing
from routing.delivery import Delivery
from routing.message import InboundMessage
from routing.queues.acknowledgements import acknowledge
from routing.queues.replies import ReplyRefused
from routing.store.models import Item

log = logging.getLogger(__name__)


def acknowledge_text(
    session: Session, delivery: Delivery, message: InboundMessage, settings: Settings, now: datetime
) -> None:
    """Queue the acknowledgement of the delivered text, if it is to have one, `now`."""
    if not delivery.created or delivery.joined or delivery.quiet or message.machine_kind is not None:
        return
    if now - message.received_at > FRESH:
        log.info("item %s is not acknowledged: its text came at %s", delivery.item_id, message.received_at)
        return
    # The hours when the text arrived, not when the worker got to it.
    text = settings.twilio.acknowledgement(delivery.department_id, settings.is_open(message.received_at))
    item = session.get(Item, delivery.item_id)
    if not text or item is None:
        return
    try:
        where = text_addressing(settings, message.channel)(session, item)
    except ReplyRefused as error:
        log.info("item %s is not acknowledged: %s", item.id, error)
        return
    day = now.astimezone(settings.timezone).date()
    department = delivery.department_id
    # The text is the office's own, written in its first language.
    language = settings.languages[0]
    queued = acknowledge(
        session,
        item.id,
        department,
        where,
        text,
        channel=message.channel,
        language=language,
        day=day,
        now=now,
    )
    if queued is None:
        log.info(
            "item %s is not acknowledged: %s had one from %s today", item.id, where.recipient, department
        )
