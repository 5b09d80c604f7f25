"""Answering an item: the checks every channel shares, then the reply stored, its "reply"
job queued and one event in the item's history, all in the request's transaction.

Where a reply goes and how it threads (the address, the subject, the Message-ID) is the
channel's to work out, in intake/, and comes in as an `Address` per channel; a channel
without one cannot answer yet, and says so. Sending is the job worker's: answering never
waits on a mail server, and a reply is stored whether or not the server is up.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from routing.people.accounts import Person
from routing.queues.triage import TriageError, open_item
from routing.store import jobs
from routing.store.models import AuditEvent, Item, Reply, VoiceCall

# Every channel a reply may name; those without an Address are refused as not built yet.
CHANNELS = ("email", "sms", "whatsapp")
TEXT_CHANNELS = ("sms", "whatsapp")
# Messages taken by hand at the desk: a visit, a phone note, a letter.
HAND_TAKEN = ("visit", "phone-note", "post")
# The channel a reply goes by when none is asked for, where it is not the item's own:
# a caller who left a voicemail is answered by text ("text back").
DEFAULT_CHANNELS = {"voicemail": "sms"}
MAX_REPLY = 20_000
# The kinds of email sent from an item besides a person's answer ("reply").
ACKNOWLEDGEMENT = "acknowledgement"
FORWARD = "forward"
# What an item lacks when it cannot be answered by a channel.
_WHAT_ANSWERS = {
    "email": "email address to answer",
    "sms": "phone number to answer by text",
    "whatsapp": "WhatsApp number to answer",
}
# Twilio refuses a message body longer than this.
MAX_TEXT = 1_600
# What Twilio puts in From when a caller's number is not known: withheld ("anonymous" and
# its number), restricted, blocked, unknown or unavailable. None of them can be texted.
WITHHELD_NUMBERS = frozenset(
    {"anonymous", "+266696687", "+7378742833", "+2562533", "+8656696", "+86282452253"}
)
_PHONE_NUMBER = re.compile(r"^\+[1-9][0-9]{7,14}$")


class ReplyRefused(TriageError):
    """A reply that cannot be stored or sent; the message says why, and nothing was kept."""


@dataclass(frozen=True)
class Addressing:
    """Where a reply goes, from where, and how it threads, as its channel works them out."""

    sender: str
    sender_name: str
    recipient: str
    subject: str
    message_id: str
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()


# A channel's way of addressing a reply to an item; raises ReplyRefused when it cannot.
Address = Callable[[Session, Item], Addressing]


def answer(
    session: Session,
    item_id: int,
    who: Person,
    text: str,
    channel: str | None,
    addresses: Mapping[str, Address],
    now: datetime,
) -> Reply:
    """Store `who`'s reply to the item by `channel` (the item's own by default) and queue
    it for sending; raise ReplyRefused, with nothing stored, when it cannot go."""
    item = answerable(session, item_id, who)
    text = written(text, "a reply")
    if not text:
        raise ReplyRefused("a reply needs some text")
    chosen = channel_for(item, channel, addresses)
    if chosen in TEXT_CHANNELS and len(text) > MAX_TEXT:
        raise ReplyRefused(f"a text is at most {MAX_TEXT:,} characters; this one has {len(text):,}")
    where = addresses[chosen](session, item)
    reply = queue_email(session, item.id, Reply(channel=chosen, author=who.name, text=text), where, now)
    detail = {"channel": reply.channel, "to": where.recipient, "reply": reply.id, "text": text}
    session.add(AuditEvent(item_id=item.id, actor=who.name, action="replied", detail=detail))
    return reply


def queue_email(session: Session, item_id: int, reply: Reply, where: Addressing, now: datetime) -> Reply:
    """Store `reply` (its kind, author and text set) addressed as `where`, and queue its
    "reply" job; the caller records the event in the item's history."""
    for name, value in {**asdict(where), "references": list(where.references)}.items():
        setattr(reply, name, value)
    reply.item_id = item_id
    session.add(reply)
    session.flush()  # the reply's id names its job: a new key, so no job can have it yet
    reply.job = jobs.new(jobs.REPLY, item_id, str(reply.id), {"reply_id": reply.id}, due=now)
    return reply


def channel_for(item: Item, channel: str | None, addresses: Mapping[str, Address]) -> str:
    """The channel a reply to `item` goes by: the one asked for, else the item's own;
    ReplyRefused when that channel cannot reach the item's sender."""
    wanted = channel or DEFAULT_CHANNELS.get(item.channel, item.channel)
    if wanted not in CHANNELS:
        if channel is None and wanted in HAND_TAKEN:
            raise ReplyRefused(
                f"item {item.id} was taken by hand ({wanted}): there is no address or number to answer it by"
            )
        if channel is None:
            raise ReplyRefused(f"item {item.id} came by {wanted}, which cannot be answered")
        raise ReplyRefused(f"channel must be one of {', '.join(CHANNELS)}, not {wanted!r}")
    if wanted not in addresses:
        what = "text" if wanted in TEXT_CHANNELS else wanted
        raise ReplyRefused(f"replies by {what} are not available yet")
    if wanted != DEFAULT_CHANNELS.get(item.channel, item.channel):
        raise ReplyRefused(f"item {item.id} came by {item.channel}: it has no {_WHAT_ANSWERS[wanted]}")
    return wanted


def reply_channels(session: Session, item: Item, addresses: Mapping[str, Address]) -> tuple[str, str]:
    """The channel the page offers for answering the item, or "" and why none can reach it."""
    try:
        if item.spam or item.status == "resolved":
            return "", "Reopen the item to answer it."
        chosen = channel_for(item, None, addresses)
        addresses[chosen](session, item)  # the channel's own refusals (no relay, no address)
        return chosen, ""
    except ReplyRefused as error:
        return "", str(error)[:1].upper() + str(error)[1:] + "."


def written(text: str, what: str) -> str:
    """A text as typed, without the browser's CRLFs and the blanks around it; ReplyRefused
    when it is longer than an email from an item may be."""
    text = text.replace("\r\n", "\n").strip()
    if len(text) > MAX_REPLY:
        raise ReplyRefused(f"{what} is at most {MAX_REPLY:,} characters")
    return text


def reachable_number(number: str) -> bool:
    """Whether `number` is a person's phone number that can be called or texted back."""
    return number.lower() not in WITHHELD_NUMBERS and bool(_PHONE_NUMBER.match(number))


def called_back(session: Session, item_id: int, who: Person) -> Item:
    """Record in the voicemail's history that `who` called its caller back (the event
    keeps when); TriageError when the item is no voicemail or its caller withheld the number."""
    item = open_item(session, item_id, who)
    caller = session.scalar(select(VoiceCall.caller).where(VoiceCall.item_id == item.id))
    if caller is None:
        raise ReplyRefused(f"item {item_id} is not a voicemail: there is no call to return")
    if not reachable_number(caller):
        raise ReplyRefused(f"the caller of item {item_id} withheld their number: it cannot be called back")
    session.add(AuditEvent(item_id=item.id, actor=who.name, action="called back", detail={"to": caller}))
    return item


def answerable(session: Session, item_id: int, who: Person) -> Item:
    """The item, if `who` may see it and it is open and not spam; else TriageError."""
    item = session.get(Item, item_id)
    if item is not None and who.may_see(item.department_id) and item.spam:
        raise ReplyRefused(f"item {item_id} is marked as spam; reopen it first")
    return open_item(session, item_id, who)
