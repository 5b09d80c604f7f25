"""Acknowledging new mail: "we have your message, its reference is #ID, we answer within
N hours", in the sender's language where the department has that text, queued in the
transaction that stores the item and sent by the reply worker like an answer.

RFC 3834 is obeyed: only mail from a person is acknowledged, never machine mail (bounces
and the null sender, MAILER-DAEMON, `Auto-Submitted` other than "no", lists and bulk
mail: intake.email.machine_mail names them all), nor mail stored raw only (its headers
unread, nothing tells), nor spam, nor a follow-up of an item;
ours carries `Auto-Submitted: auto-replied`; and a department acknowledges one address
at most once a day (routing.queues.acknowledgements). Mail from the office's own
domains is never acknowledged, nor mail that arrived more than a day ago (an IMAP
mailbox read for the first time).

It goes where a delivery failure would (RFC 3834 section 4): the SMTP envelope's sender,
else the Return-Path the last mail server wrote (IMAP), else From; never to Reply-To,
which is for people's answers and which anyone may fill in (a web form's visitor, with
someone else's address). It threads and reads like an answer otherwise.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime, timedelta
from email.utils import parseaddr

from sqlalchemy.orm import Session

from config.settings import Settings
from intake.email.reply_mail import email_addressing, mailbox
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
    recipient = _return_path(message)
    if recipient is None:
        log.info("item %s is not acknowledged: its return path cannot be answered", item.id)
        return
    if any(settings.owns_domain(address.rpartition("@")[2]) for address in (recipient, message.sender)):
        return  # the office's own mail: its acknowledgements would answer each other
    try:
        where = replace(email_addressing(settings)(session, item), recipient=recipient)
    except ReplyRefused as error:
        log.info("item %s is not acknowledged: %s", item.id, error)
        return
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
    if not message.headers:
        return False  # stored raw only, its headers unread: a machine may have written it
    if now - message.received_at > FRESH:
        return False
    try:
        return settings.department(delivery.department_id).acknowledgement.enabled
    except KeyError:
        return False


def _return_path(message: InboundMessage) -> str | None:
    """Where the message's delivery failures would go, as one mailbox; None when that
    is no address mail can reach."""
    if message.envelope_sender is not None:
        return mailbox(message.envelope_sender)
    written = next((value for name, value in message.headers if name.lower() == "return-path"), None)
    if written is not None:
        return mailbox(parseaddr(written)[1])
    return mailbox(message.sender)
