"""Acknowledging new mail: "we have your message, its reference is #ID, we answer within
N hours", in the sender's language where the department has that text, queued in the
transaction that stores the item and sent by the reply worker like an answer.

RFC 3834 is obeyed: only mail from a person is acknowledged, never machine mail (bounces
and the null sender, MAILER-DAEMON, `Auto-Submitted` other than "no", lists and bulk
mail: intake.email.machine_mail names them all), nor spam, nor a follow-up of an item;
ours carries `Auto-Submitted: auto-replied`; and a department acknowledges one address
at most once a day (routing.queues.acknowledgements). Mail from the office's own
domains is never acknowledged, nor mail that arrived more than a day ago (an IMAP
mailbox read for the first time).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from config.settings import Settings
from intake.email.reply_mail import email_addressing
from routing.delivery import Delivery
from routing.message import InboundMessage
from routing.normalize import normalizer_for
from routing.queues.acknowledgements import acknowledge
from routing.queues.replies import ReplyRefused
from routing.store.models import Item, utcnow

log = logging.getLogger(__name__)

# Older mail is not acknowledged: its sender has long moved on.
FRESH = timedelta(days=1)


def acknowledge_new(
    session: Session, delivery: Delivery, message: InboundMessage, settings: Settings
) -> None:
    """Queue the acknowledgement of the delivered message, if it is to have one."""
    now = utcnow()
    if not _wants_one(delivery, message, settings, now):
        return
    department = settings.department(delivery.department_id)
    item = session.get(Item, delivery.item_id)
    if item is None:
        return
    try:
        where = email_addressing(settings)(session, item)
    except ReplyRefused as error:
        log.info("item %s is not acknowledged: %s", item.id, error)
        return
    if settings.owns_domain(where.recipient.rpartition("@")[2]):
        return  # one of the office's own addresses: its acknowledgements would answer each other
    language = normalizer_for(settings.languages).language(f"{message.subject}\n{message.text}")
    acknowledgement = department.acknowledgement
    fields = {"id": str(item.id), "hours": str(acknowledgement.hours), "department": department.name}
    text = acknowledgement.text(language).format_map(fields)
    day = now.astimezone(settings.timezone).date()
    queued = acknowledge(
        session, item.id, department.id, where, text, channel="email", language=language, day=day, now=now
    )
    if queued is None:
        log.info(
            "item %s is not acknowledged: %s had one from %s today", item.id, where.recipient, department.id
        )


def _wants_one(delivery: Delivery, message: InboundMessage, settings: Settings, now: datetime) -> bool:
    if not delivery.created or delivery.joined or delivery.quiet:
        return False  # a repeat, a follow-up, spam or what a rule marked as machine mail
    if message.channel != "email" or message.machine_kind is not None:
        return False
    if now - message.received_at > FRESH:
        return False
    try:
        return settings.department(delivery.department_id).acknowledgement.enabled
    except KeyError:
        return False
