"""Answering by email: where a reply to an email item goes and how it threads, and the
email itself, plain text with a simple HTML part, built with the standard library.

A reply goes From the department's reply address with the department's name, To the
sender (or the address their Reply-To names) of the latest message (not counting those
from a partner the item was forwarded to), as
`Re: <subject> [#ID]`, with In-Reply-To and References from that message and a
Message-ID in the office's domain: kept on the reply, it is how the customer's answer
finds its way back to the item (routing.conversation).
"""

from __future__ import annotations

import html
import re
from email import message_from_bytes
from email.headerregistry import Address
from email.message import EmailMessage
from email.parser import BytesHeaderParser
from email.policy import compat32, default
from email.utils import formataddr, make_msgid

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from config.settings import Settings
from routing.queues import replies
from routing.queues.replies import Addressing, ReplyRefused
from routing.shown_text import without_hidden
from routing.store.models import ArrivedMessage, Blob, Item, Reply

# "Re:", and its German, Nordic, Dutch, Polish, Romanian and Hungarian forms (those the
# office's languages write, as routing.message_text reads them), however often repeated.
_REPLY_PREFIX = re.compile(r"^\s*((re|aw|sv|vs|antw|odp|r\u0103sp|rasp)\s*(\[\d+\])?\s*:\s*)+", re.IGNORECASE)
# C0 and C1 control characters: in a header, CR and LF would start another one.
_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# A Message-ID to thread on: printable ASCII in angle brackets, short enough that
# In-Reply-To fits on a mail line (RFC 5322 2.1.1: 998 characters); a longer or
# non-ASCII one would go out folded into encoded words, or as a line relays refuse.
_MESSAGE_ID = re.compile(r"<[!-;=?-~]{1,250}>")
# RFC 5322 2.1.1: a line of a message is at most 998 characters, CRLF excluded.
MAX_LINE = 998
# The headers Intake writes are folded as the default policy folds them; those of an
# attached original go out as they came: folded again, each would be parsed and decoded
# first, and a hostile one (an encoded CR LF in a name) raises.
_OUTGOING = default.clone(refold_source="none")
# References keep the first and the latest ones: enough to thread, bounded in size.
MAX_REFERENCES = 20
# The Reply-To header is read from the raw message's first bytes, the header's budget.
_HEADER_BYTES = 512 * 1024


def email_addressing(settings: Settings) -> replies.Address:
    """How this office addresses a reply to an email item; ReplyRefused when it cannot."""

    def address(session: Session, item: Item) -> Addressing:
        sender, sender_name = sending_department(settings, item)
        answered = answered_message(session, item)
        recipient = _reply_to(session, answered) or mailbox(answered.sender)
        if recipient is None and not answered.sender:
            raise ReplyRefused("the message names no address to answer")
        if recipient is None:
            raise ReplyRefused(f"the sender's address {answered.sender!r} cannot be answered")
        return Addressing(
            sender=sender,
            sender_name=sender_name,
            recipient=recipient,
            subject=reply_subject(item.subject, item.id),
            message_id=make_msgid("intake-reply", domain=sender.rpartition("@")[2]),
            in_reply_to=_first_id(answered.message_id or ""),
            references=_references(answered),
        )

    return address


def answered_message(session: Session, item: Item) -> ArrivedMessage:
    """The message a reply answers: the item's latest, but not one from an address the
    item was forwarded to. A partner's answer to a forward joins the item, and a reply
    after it is still meant for the customer."""
    forwarded = session.scalars(
        select(Reply.recipient).where(Reply.item_id == item.id, Reply.kind == replies.FORWARD)
    ).all()
    others = set(forwarded) - {mailbox(item.sender)}
    written = [message for message in item.messages if mailbox(message.sender) not in others]
    return written[-1] if written else item


def sending_department(settings: Settings, item: Item) -> tuple[str, str]:
    """The address and name email from the item goes out with: its department's; ReplyRefused
    when no relay is configured or the department has no address."""
    if settings.outbound.server is None:
        raise ReplyRefused("replies by email are not configured: the office names no [outbound] smtp relay")
    department = next((d for d in settings.departments if d.id == item.department_id), None)
    if department is None or not department.reply_address:
        raise ReplyRefused(f"department {item.department_id!r} has no email address to answer from")
    return department.reply_address, department.name


def mailbox(address: str) -> str | None:
    """`address` as the one mailbox an email from the office may go to, in lower case and
    in ASCII (an international domain in its xn-- form, so that no relay needs SMTPUTF8);
    None unless it is a single plain address that mail can reach: no quoted local part
    ("a,b"@x is one mailbox to SMTP but a list to a careless program on its way), no
    display name or brackets, no IP address, no name reserved from the internet."""
    try:
        valid = validate_email(
            address,
            check_deliverability=False,  # no DNS: nothing may reach out while a reply is written
            allow_smtputf8=False,
            allow_quoted_local=False,
            allow_domain_literal=False,
        )
    except EmailNotValidError:
        return None
    return valid.ascii_email.lower() if valid.ascii_email else None


def reply_subject(subject: str, item_id: int) -> str:
    """`Re: <subject> [#ID]` on one line, with no second "Re:" and no second token.

    The characters pages write out as "[U+202E]" are left out (shown_text.without_hidden):
    written out they are noise to a customer who never saw them; kept, an override left
    open reverses the rest of the line in the reader's mail program, the token with it.
    Control characters become spaces: none reaches a header.
    """
    token = f"[#{item_id}]"
    # Left out before the token is looked for, so that "[#\u200b42]" is no second token.
    line = _CONTROLS.sub(" ", without_hidden(subject)).replace(token, " ")
    base = _REPLY_PREFIX.sub("", " ".join(line.split()))
    return f"Re: {base or 'your message'} {token}"


def reply_email(reply: Reply, original: bytes | None = None) -> EmailMessage:
    """The reply as an email: the text signed by its author and department, and as HTML;
    an acknowledgement signed by the department alone and marked as written by a program;
    a forward with the `original` message attached."""
    message = EmailMessage(policy=_OUTGOING)
    message["From"] = formataddr((reply.sender_name, reply.sender))
    message["To"] = reply.recipient
    message["Subject"] = reply.subject
    message["Message-ID"] = reply.message_id
    if reply.in_reply_to:
        message["In-Reply-To"] = reply.in_reply_to
    if reply.references:
        message["References"] = " ".join(reply.references)
    signature = [reply.author, reply.sender_name]
    if reply.kind == replies.ACKNOWLEDGEMENT:
        # RFC 3834 section 5: other responders then leave it unanswered, so no loop starts.
        message["Auto-Submitted"] = "auto-replied"
        # Exchange's out-of-office replies heed this header, not RFC 3834's.
        message["X-Auto-Response-Suppress"] = "All"
        signature = [reply.sender_name]
    message.set_content(reply.text + "\n\n-- \n" + "\n".join(signature) + "\n")
    paragraphs = [_html_lines(part) for part in reply.text.split("\n\n") if part.strip()]
    body = "".join(f"<p>{part}</p>" for part in paragraphs)
    sign = "<br>".join(html.escape(line) for line in signature)
    message.add_alternative(
        f"<!DOCTYPE html><html><body>{body}<p>-- <br>{sign}</p></body></html>", subtype="html"
    )
    if original is not None:
        _attach(message, original)
    return message


def _attach(message: EmailMessage, original: bytes) -> None:
    """Attach the original as it came (read by compat32, which decodes no header). RFC 2046
    allows message/rfc822 no encoding, so an original a relay would refuse as it is (a
    line past 998 characters, a NUL) goes as a file in base64 instead."""
    lines = original.split(b"\n")
    if b"\x00" in original or any(len(line.rstrip(b"\r")) > MAX_LINE for line in lines):
        message.add_attachment(original, "application", "octet-stream", filename="original.eml")
    else:
        message.add_attachment(message_from_bytes(original, policy=compat32), filename="original.eml")


def _html_lines(text: str) -> str:
    return "<br>".join(html.escape(line) for line in text.strip().split("\n"))


def _reply_to(session: Session, message: ArrivedMessage) -> str | None:
    """The first address of the message's Reply-To header, if it names one."""
    head = session.scalar(
        select(func.substr(Blob.content, 1, _HEADER_BYTES)).where(Blob.id == message.raw_blob_id)
    )
    if not head:
        return None
    try:
        header = BytesHeaderParser(policy=default).parsebytes(bytes(head)).get("Reply-To")
        addresses: tuple[Address, ...] = header.addresses if header is not None else ()
    except (ValueError, TypeError, AttributeError, IndexError):  # a malformed header answers the sender
        return None
    found = [mailbox(a.addr_spec) for a in addresses]
    return next((address for address in found if address is not None), None)


def _first_id(text: str) -> str | None:
    found = _MESSAGE_ID.findall(text)
    return found[0] if found else None


def _references(message: ArrivedMessage) -> tuple[str, ...]:
    """The answered message's References and its own Message-ID (RFC 5322 3.6.4), bounded."""
    chain = _MESSAGE_ID.findall(" ".join(str(r) for r in message.references))
    own = _first_id(message.message_id or "")
    if own:
        chain.append(own)
    if len(chain) > MAX_REFERENCES:
        chain = [chain[0], *chain[-(MAX_REFERENCES - 1) :]]
    return tuple(chain)
