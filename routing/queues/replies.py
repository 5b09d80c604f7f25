"""Answering an item: the checks every channel shares, then the reply stored, its "reply"
job queued and one event in the item's history, all in the request's transaction.

A reply may come with a key its request was made with (the answer form's, made when the
page was shown, or a script's own): the same key and text again (a double click, a request
sent again after its answer was lost) gives back the reply stored the first time. The
item's row, locked by the check, makes a second request wait for the first one's commit.

Where a reply goes and how it threads (the address, the subject, the Message-ID) is the
channel's to work out, in intake/, and comes in as an `Address` per channel; a channel
without one cannot answer yet, and says so. Sending is the job worker's: answering never
waits on a mail server, and a reply is stored whether or not the server is up.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import select
from sqlalchemy.orm import Session, contains_eager

from config.twilio_section import MAX_TEXT, text_length
from routing.people.accounts import Person
from routing.queues.triage import TriageError, open_item
from routing.shown_text import HIDDEN
from routing.store import jobs
from routing.store.models import AuditEvent, Item, Job, Reply, VoiceCall

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
# How an email address says it reads no answers: its local part, without separators and
# a +tag, begins with one of these (noreply@, no-reply@, do_not_reply@, MAILER-DAEMON@).
_NO_REPLY = ("noreply", "donotreply", "mailerdaemon")
_ADDRESS_SEPARATORS = re.compile(r"[-_.]")
# What Twilio puts in From when a caller's number is not known: withheld ("anonymous" and
# its number), restricted, blocked, unknown or unavailable. None of them can be texted.
WITHHELD_NUMBERS = frozenset(
    {"anonymous", "+266696687", "+7378742833", "+2562533", "+8656696", "+86282452253"}
)
_PHONE_NUMBER = re.compile(r"^\+[1-9][0-9]{7,14}$")
# A request's key: what secrets.token_urlsafe makes, or a script's own of the same letters.
_REQUEST_KEY = re.compile(r"[A-Za-z0-9_-]{8,64}")
BAD_REQUEST_KEY = "key must be 8 to 64 letters, digits, '-' or '_'"


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
    key: str | None = None,
) -> Reply:
    """Store `who`'s reply to the item by `channel` (the item's own by default) and queue
    it for sending; raise ReplyRefused, with nothing stored, when it cannot go. The reply
    stored earlier with the same request `key` and text is answered instead of a new one."""
    item = answerable(session, item_id, who)
    text = written(text, "a reply")
    if not text:
        raise ReplyRefused("a reply needs some text")
    job_key = request_job_key(key, text)
    if job_key is not None and (earlier := stored_under(session, item.id, job_key)) is not None:
        return earlier
    chosen = channel_for(item, channel, addresses)
    if chosen in TEXT_CHANNELS and (length := text_length(text)) > MAX_TEXT:
        raise ReplyRefused(
            f"a text is at most {MAX_TEXT:,} characters as Twilio counts them (an emoji counts as two);"
            f" this one has {length:,}"
        )
    where = addresses[chosen](session, item)
    reply = Reply(channel=chosen, author=who.name, text=text)
    reply = queue_email(session, item.id, reply, where, now, job_key)
    detail = {"channel": reply.channel, "to": where.recipient, "reply": reply.id, "text": text}
    session.add(AuditEvent(item_id=item.id, actor=who.name, action="replied", detail=detail))
    return reply


def queue_email(
    session: Session, item_id: int, reply: Reply, where: Addressing, now: datetime, job_key: str | None = None
) -> Reply:
    """Store `reply` (its kind, author and text set) addressed as `where`, and queue its
    "reply" job, named `job_key` (a request's) or else the reply's id; the caller records
    the event in the item's history."""
    for name, value in {**asdict(where), "references": list(where.references)}.items():
        setattr(reply, name, value)
    reply.item_id = item_id
    session.add(reply)
    session.flush()  # the reply's id names its job: a new key, so no job can have it yet
    key = job_key or str(reply.id)
    reply.job = jobs.new(jobs.REPLY, item_id, key, {"reply_id": reply.id}, due=now)
    return reply


def new_request_key() -> str:
    """A key for the answer form, made each time the page shows it."""
    return secrets.token_urlsafe(18)


def request_job_key(key: str | None, text: str) -> str | None:
    """The reply job's name for a request `key` and the reply's text, or None without a
    key. The text is in it: a form sent again with other words (the browser's Back, then
    another answer) is another reply."""
    if key is None:
        return None
    if not _REQUEST_KEY.fullmatch(key):
        raise ReplyRefused(BAD_REQUEST_KEY)
    return f"request {key} {hashlib.sha256(text.encode()).hexdigest()[:32]}"


def stored_under(session: Session, item_id: int, job_key: str) -> Reply | None:
    """The reply whose job an earlier request queued as `job_key`, if there is one."""
    found = select(Reply).join(Reply.job).options(contains_eager(Reply.job))  # read after the session
    return session.scalar(found.where(Job.item_id == item_id, Job.kind == jobs.REPLY, Job.key == job_key))


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


class ReplyOffer(NamedTuple):
    """What the item's page offers for answering it: the channel, or "" and the refusal
    saying why none can reach the sender; and the address an answer goes to when that
    address says it reads no replies ("" otherwise), for the page to warn of."""

    channel: str
    refusal: str = ""
    reads_no_replies: str = ""


def reply_channels(session: Session, item: Item, addresses: Mapping[str, Address]) -> ReplyOffer:
    """The channel the page offers for answering the item, or "" and why none can reach it."""
    try:
        if item.merged_into_id is not None:
            return ReplyOffer("", f"Merged into item {item.merged_into_id}: answer it there.")
        if item.spam or item.status == "resolved":
            return ReplyOffer("", "Reopen the item to answer it.")
        chosen = channel_for(item, None, addresses)
        where = addresses[chosen](session, item)  # the channel's own refusals (no relay, no address)
    except ReplyRefused as error:
        return ReplyOffer("", str(error)[:1].upper() + str(error)[1:] + ".")
    unread = chosen == "email" and reads_no_replies(where.recipient)
    return ReplyOffer(chosen, reads_no_replies=where.recipient if unread else "")


def reads_no_replies(address: str) -> bool:
    """Whether an email address says it reads no answers (noreply@, MAILER-DAEMON@). An
    answer to it is not refused: a person may want one on record all the same."""
    local = address.rpartition("@")[0].partition("+")[0].lower()
    return _ADDRESS_SEPARATORS.sub("", local).startswith(_NO_REPLY)


def written(text: str, what: str) -> str:
    """A text as typed, without the browser's CRLFs and the blanks around it, or "" when it
    shows nothing (only blanks and characters that show nothing: zero-width ones, a BOM,
    bidi marks, no-break spaces); ReplyRefused when it is longer than an email from an
    item may be."""
    text = text.replace("\r\n", "\n").strip()
    if len(text) > MAX_REPLY:
        raise ReplyRefused(f"{what} is at most {MAX_REPLY:,} characters")
    return text if HIDDEN.sub("", text).strip() else ""


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
