"""Forwarding an item by email: to a department's outside address (`forward_to`) or to
any address outside the office, From the item's department, as `Fwd: <subject> [#ID]`.

The email itself is a reply's (reply_mail.reply_email) with the original message
attached whole; an answer to it carries the token and joins the item.
"""

from __future__ import annotations

from email.utils import make_msgid

from sqlalchemy.orm import Session

from config.settings import Settings
from intake.email.reply_mail import mailbox, reply_subject, sending_department
from routing.queues import replies
from routing.queues.replies import Addressing, ReplyRefused
from routing.store.models import Item


def forward_addressing(settings: Settings, to: str) -> replies.Address:
    """How to address the item's forward to `to`: an address, or a department id whose
    `forward_to` it goes to; ReplyRefused when that cannot be."""
    recipient = _recipient(settings, to.strip().lower())

    def address(session: Session, item: Item) -> Addressing:
        sender, sender_name = sending_department(settings, item)
        return Addressing(
            sender=sender,
            sender_name=sender_name,
            recipient=recipient,
            # The reply's subject, the sender's hidden characters left out: the partner reads
            # it as the office's, so nothing in it may read as something else (kept) or as
            # noise (written out). The original goes attached as it came, for its exact text.
            subject="Fwd: " + reply_subject(item.subject, item.id).removeprefix("Re: "),
            message_id=make_msgid("intake-forward", domain=sender.rpartition("@")[2]),
        )

    return address


def _recipient(settings: Settings, to: str) -> str:
    if not to:
        raise ReplyRefused("to is required: an email address, or a department with a forward_to address")
    if "@" not in to:
        department = next((d for d in settings.departments if d.id == to), None)
        if department is None:
            raise ReplyRefused(f"{to!r} is neither an email address nor a department")
        if not department.forward_to:
            raise ReplyRefused(f"department {to!r} has no outside address to forward to (forward_to)")
        return department.forward_to
    if settings.owns_domain(to.rpartition("@")[2]):
        raise ReplyRefused(f"{to} is the office's own address: reroute the item instead")
    found = mailbox(to)
    if found is None:
        raise ReplyRefused(f"{to!r} is not an email address")
    if settings.owns_domain(found.rpartition("@")[2]):  # its domain written in xn-- form
        raise ReplyRefused(f"{to} is the office's own address: reroute the item instead")
    return found
