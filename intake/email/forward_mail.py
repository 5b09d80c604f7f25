"""Forwarding an item by email: to a department's outside address (`forward_to`) or to
any address outside the office, From the item's department, as `Fwd: <subject> [#ID]`.

The email itself is a reply's (reply_mail.reply_email) with the original message
attached whole; an answer to it carries the token and joins the item. A text, a
voicemail or a message taken by hand came as no email: its raw form (a webhook's, with
the office's Twilio account in it; the desk's JSON) is no message to a partner, so an
email is written of it instead: its subject, date and text, with its files.
"""

from __future__ import annotations

import re
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from sqlalchemy.orm import Session

from config.settings import Settings
from intake.email.reply_mail import mailbox, reply_subject, sending_department
from routing.queues import replies
from routing.queues.replies import Addressing, ReplyRefused
from routing.store.models import Item

EMAIL = "message/rfc822"
_MEDIA_TYPE = re.compile(r"([a-z0-9][a-z0-9.+-]*)/([a-z0-9][a-z0-9.+-]*)")


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
    """The one mailbox `to` names (a department's forward_to, or an address), in the
    ASCII form relays take; never one at the office's own domains, in any spelling."""
    if not to:
        raise ReplyRefused("to is required: an email address, or a department with a forward_to address")
    address = to if "@" in to else _forward_to(settings, to)
    # Asked first: mailbox() refuses a name reserved from the internet (a test office's
    # own) with a vaguer reason.
    if settings.owns_domain(address.rpartition("@")[2]):
        raise ReplyRefused(f"{address} is the office's own address: reroute the item instead")
    found = mailbox(address)
    if found is None:
        raise ReplyRefused(f"{address!r} is not an email address")
    return found


def _forward_to(settings: Settings, department_id: str) -> str:
    department = next((d for d in settings.departments if d.id == department_id), None)
    if department is None:
        raise ReplyRefused(f"{department_id!r} is neither an email address nor a department")
    if not department.forward_to:
        raise ReplyRefused(f"department {department_id!r} has no outside address to forward to (forward_to)")
    return department.forward_to


def forwarded_original(item: Item) -> bytes:
    """The item's first message as an email to attach to its forward: as it came, for mail."""
    if item.raw_content_type == EMAIL:
        return item.raw.content
    written = EmailMessage()
    written["Subject"] = " ".join(item.subject.split())  # no line break can end the header
    written["Date"] = format_datetime(item.received_at)
    sender = mailbox(item.sender)
    if sender:  # a number is named by the subject
        written["From"] = sender
    written.set_content(item.text or "")
    for file in item.attachments:
        if file.message_id is None:  # the first message's; a follow-up's came later
            maintype, subtype = _file_type(file.content_type)
            written.add_attachment(file.blob.content, maintype, subtype, filename=file.filename)
    return written.as_bytes()


def _file_type(content_type: str) -> tuple[str, str]:
    """A file's type as a mail part may declare it: a multipart or a message in base64,
    or a type no program knows (a text's MMS can announce anything), is plain bytes."""
    found = _MEDIA_TYPE.fullmatch(content_type.strip().lower())
    if found is None or found[1] in ("multipart", "message"):
        return "application", "octet-stream"
    return found[1], found[2]
