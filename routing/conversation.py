"""Conversation matching: does a message continue an item already stored?

The first step of every delivery, before the rules. Each matcher is named and tried in
order; every one that was tried is recorded as a hit or a miss, like a rule. Email
joins by In-Reply-To, then References (last to first), then a `[#123]` token in the
subject, each only for one of the item's participants (its sender, the sender of one of
its messages, or someone the office replied to in it): a stranger quoting a customer's Message-ID gets an item of its own,
whose recorded miss names the item it referred to. A text joins the open item of the same
number to the same office number while that item is young. A message for an item merged
into another joins that other item, where the conversation goes on. A reply to a resolved
item reopens it, or makes a new item when the config says so. Voicemail is not linked here.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import BindParameter, bindparam, func, literal_column, select, union_all
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, aliased

from config.settings import BuiltInStep, RoutingSettings
from routing.engine import RuleOutcome
from routing.message import InboundMessage
from routing.store.models import Item, Message, Reply

log = logging.getLogger(__name__)

EMAIL_CHANNELS = frozenset({"email"})
TEXT_CHANNELS = frozenset({"sms", "whatsapp"})
OPEN_STATUSES = ("new", "claimed")
RESOLVED = "resolved"
_MESSAGE_ID = re.compile(r"<[^<>\s]+>")
# Nine digits at most: a larger number is no item id (and overflows a 32-bit key).
_TOKEN = re.compile(r"\[#(\d{1,9})\]")

# What a matcher found: the item, and why; or None and why not.
Found = tuple[int | None, str]


@dataclass(frozen=True)
class Matcher:
    """A named way of finding the item a message continues, for some channels."""

    name: BuiltInStep
    channels: frozenset[str]
    find: Callable[[Session, InboundMessage, RoutingSettings, KnownMessageIds], Found]


@dataclass(frozen=True)
class Thread:
    """The item a message joins, the matcher that found it and whether it reopens it."""

    item_id: int
    department_id: str
    matcher: str
    reason: str
    reopens: bool


@dataclass(frozen=True)
class Matching:
    thread: Thread | None
    outcomes: tuple[RuleOutcome, ...]


def by_in_reply_to(
    session: Session, message: InboundMessage, settings: RoutingSettings, known: KnownMessageIds
) -> Found:
    """The item whose first message or a follow-up has the Message-ID this one replies to."""
    wanted = _message_ids(message.in_reply_to or "")
    if not wanted:
        return None, "no In-Reply-To"
    found = _thread_of_participant(session, known, message.sender, wanted, _in_reply_to_reason)
    return found or (None, f"In-Reply-To {', '.join(wanted)} is no stored message")


def by_references(
    session: Session, message: InboundMessage, settings: RoutingSettings, known: KnownMessageIds
) -> Found:
    """The item of the latest stored message the References name (read last to first)."""
    wanted = _message_ids(" ".join(message.references))
    if not wanted:
        return None, "no References"
    # The In-Reply-To, tried before, is most often the last of the References too: it
    # named no item the sender took part in, and would name none again.
    tried = set(_message_ids(message.in_reply_to or ""))
    others = [message_id for message_id in wanted if message_id not in tried]
    if not others:
        return None, "the References name only the In-Reply-To"
    found = _thread_of_participant(session, known, message.sender, others[::-1], _references_reason)
    if found:
        return found
    if len(others) < len(wanted):
        return None, f"none of the {len(others)} References besides the In-Reply-To is a stored message"
    return None, f"none of the {len(wanted)} References is a stored message"


def _in_reply_to_reason(message_id: str, item_id: int) -> str:
    return f"In-Reply-To {message_id} is a message of item {item_id}"


def _references_reason(message_id: str, item_id: int) -> str:
    return f"References name {message_id}, a message of item {item_id}"


def _thread_of_participant(
    session: Session,
    known: KnownMessageIds,
    sender: str,
    message_ids: list[str],
    reason: Callable[[str, int], str],
) -> Found | None:
    """The first item the Message-IDs name in which `sender` took part; None if they name none.

    Message-IDs travel in quotes and forwards, so knowing one proves nothing: a sender
    who took no part in the item it names gets a miss naming that item, for a person to see.
    """
    refused: tuple[str, int] | None = None
    for message_id in message_ids:
        item_id = known.item_of(session, message_id)
        if item_id is None:
            continue
        if _participant(session, item_id, sender):
            return item_id, reason(message_id, item_id)
        refused = refused or (message_id, item_id)
    if refused is None:
        return None
    return None, f"{reason(*refused)}, but {sender} took no part in it"


def by_subject_token(
    session: Session, message: InboundMessage, settings: RoutingSettings, known: KnownMessageIds
) -> Found:
    """The item named by a `[#123]` token in the subject, if the sender took part in it.

    Anyone can type a token; only the item's sender or the sender of one of its
    messages may continue it this way, so a stranger cannot slip mail into an item.
    """
    token = _TOKEN.search(message.subject)
    if token is None:
        return None, "no [#N] token in the subject"
    item_id = int(token.group(1))
    if session.get(Item, item_id) is None:
        return None, f"the subject names item {item_id}, which does not exist"
    if not _participant(session, item_id, message.sender):
        return None, f"the subject names item {item_id}, but {message.sender} is not one of its senders"
    return item_id, f"the subject names item {item_id} and {message.sender} wrote in it"


def by_number(
    session: Session, message: InboundMessage, settings: RoutingSettings, known: KnownMessageIds
) -> Found:
    """The newest open item from the same number to the same office number, if young enough.

    An item merged into another counts while that one is open: the conversation goes on
    there (_conversation_of)."""
    window = timedelta(hours=settings.conversation_window_hours)
    merged_into = aliased(Item)
    conversation_status = func.coalesce(merged_into.status, Item.status)
    rows = session.execute(
        select(Item.id, Item.recipients, Item.merged_into_id)
        .outerjoin(merged_into, merged_into.id == Item.merged_into_id)
        .where(
            Item.channel == message.channel,
            Item.sender == message.sender,
            conversation_status.in_(OPEN_STATUSES),
            Item.received_at >= message.received_at - window,
            Item.received_at <= message.received_at,
        )
        .order_by(Item.received_at.desc(), Item.id.desc())
    )
    for item_id, recipients, merged in rows:
        if list(recipients) == list(message.recipients):
            office = ", ".join(message.recipients)
            found = "is" if merged else "is open,"  # _conversation_of names a merged one's item
            return item_id, f"item {item_id} {found} from {message.sender} to {office}, within the window"
    hours = f"{settings.conversation_window_hours:g}"
    return None, f"no open item from {message.sender} to the same number in the last {hours} hours"


MATCHERS = (
    Matcher(BuiltInStep.IN_REPLY_TO, EMAIL_CHANNELS, by_in_reply_to),
    Matcher(BuiltInStep.REFERENCES, EMAIL_CHANNELS, by_references),
    Matcher(BuiltInStep.SUBJECT_TOKEN, EMAIL_CHANNELS, by_subject_token),
    Matcher(BuiltInStep.SAME_NUMBER, TEXT_CHANNELS, by_number),
)


def match(
    session: Session, message: InboundMessage, settings: RoutingSettings, known: KnownMessageIds | None = None
) -> Matching:
    """Try each matcher for the message's channel in order; the first that finds an item
    wins. `known` holds the Message-IDs of the message's batch looked up already."""
    known = known or KnownMessageIds(session, ())
    outcomes: list[RuleOutcome] = []
    for matcher in MATCHERS:
        if message.channel not in matcher.channels:
            continue
        try:
            item_id, reason = matcher.find(session, message, settings, known)
        except SQLAlchemyError:
            raise  # the database failed: the whole delivery is retried
        except Exception as error:  # a broken matcher must not keep a message out
            log.exception("conversation matcher %s failed", matcher.name)
            outcomes.append(RuleOutcome.of_step(matcher.name, False, f"matcher failed: {error!r}"))
            continue
        if item_id is None:
            outcomes.append(RuleOutcome.of_step(matcher.name, False, reason))
            continue
        item, reason = _conversation_of(session, item_id, reason)
        thread = _thread(item, matcher.name, reason, settings)
        if thread is None:
            reason += ", but it is resolved and replies do not reopen items"
        outcomes.append(RuleOutcome.of_step(matcher.name, thread is not None, reason))
        return Matching(thread, tuple(outcomes))
    return Matching(None, tuple(outcomes))


def _conversation_of(session: Session, item_id: int, reason: str) -> tuple[Item, str]:
    """The item that a message continuing item `item_id` joins, locked, and `reason` saying so.

    That is the item itself, or the item it is merged into: a merged item has left the
    queues and its conversation goes on in the other one, which a reply reopens as it
    would a reply to it. Merges are one level deep (routing.contacts.suggestions.merge_items
    merges nothing into a merged item, nor an item that others are merged into), so one
    step reaches it.
    """
    item = _locked(session, item_id)
    if item.merged_into_id is None:
        return item, reason
    target = _locked(session, item.merged_into_id)
    return target, f"{reason}; item {item_id} is merged into item {target.id}"


def _locked(session: Session, item_id: int) -> Item:
    """The item, locked until the message is stored (on PostgreSQL) as a person's action
    locks it (routing.queues.triage.item_for): a resolve committed between this check and
    the commit would leave the item resolved with an unseen reply in it, and a merge
    would leave the reply in an item already merged (the merge waits, and the reply goes
    along with its item).

    A merged item is locked before the item it is merged into, whatever their ids: the
    one action a merged item takes, unmerge, locks it alone; an action refused for it
    (named in a bulk action with its target) may wait on it while holding the target,
    and PostgreSQL then ends one of the two, to be tried again."""
    return session.get_one(Item, item_id, with_for_update={"key_share": True}, populate_existing=True)


def _thread(item: Item, matcher: str, reason: str, settings: RoutingSettings) -> Thread | None:
    """The item's thread; None if it is resolved and replies do not reopen items."""
    reopens = item.status == RESOLVED
    if reopens and not settings.reopen_on_reply:
        return None
    return Thread(item.id, item.department_id, matcher, reason, reopens)


def may_continue_any(message: InboundMessage, earlier: Iterable[InboundMessage]) -> bool:
    """Whether the matchers may find the item of one of the `earlier` messages for
    `message`: a text from its number on its channel, an email answering its Message-ID,
    or an email naming an item by a subject token (any item may be named)."""
    if message.channel in TEXT_CHANNELS:
        return any(e.channel == message.channel and e.sender == message.sender for e in earlier)
    if message.channel not in EMAIL_CHANNELS:
        return False
    if _TOKEN.search(message.subject) is not None:
        return True
    answered = answered_message_ids(message)
    return any(e.message_id in answered for e in earlier)


def answered_message_ids(message: InboundMessage) -> frozenset[str]:
    """The Message-IDs an email answers or references (none for other channels)."""
    if message.channel not in EMAIL_CHANNELS:
        return frozenset()
    return frozenset(_message_ids(f"{message.in_reply_to or ''} {' '.join(message.references)}"))


def _message_ids(text: str) -> list[str]:
    return _MESSAGE_ID.findall(text)


class KnownMessageIds:
    """The Message-IDs that the emails of a batch reply to or reference, looked up at once
    in the batch's storing transaction (one statement for the batch, not one a reply),
    each with the item its first stored message belongs to. What the batch stores with
    such a Message-ID is added as it is stored, so that a reply later in the batch finds
    it as if each message had been stored alone. A Message-ID not looked up yet is looked
    up when asked for."""

    def __init__(self, session: Session, messages: Iterable[InboundMessage]) -> None:
        # Each Message-ID's first message: (preference, row id, item id), as _WITH_MESSAGE_IDS
        # ranks them: an item before a follow-up before the office's reply, the oldest first.
        self._first: dict[str, tuple[int, int, int]] = {}
        self._asked: set[str] = set()
        named = {message_id for message in messages for message_id in answered_message_ids(message)}
        self._look_up(session, sorted(named))

    def item_of(self, session: Session, message_id: str) -> int | None:
        """The item of the first message stored with this Message-ID, if any: one that came
        in, or a reply the office sent (the customer answers those)."""
        if message_id not in self._asked:
            self._look_up(session, [message_id])
        first = self._first.get(message_id)
        return None if first is None else first[2]

    def _look_up(self, session: Session, message_ids: list[str]) -> None:
        self._asked.update(message_ids)
        for start in range(0, len(message_ids), _IDS_PER_STATEMENT):
            named = message_ids[start : start + _IDS_PER_STATEMENT]
            for row in session.execute(_WITH_MESSAGE_IDS, {"message_ids": named}):
                self._keep(row.message_id, (row.preference, row.row_id, row.item_id))

    def stored(self, message_id: str | None, item_id: int, follow_up_id: int | None = None) -> None:
        """A message of the batch was stored with `message_id`: as the item `item_id`, or
        as its follow-up `follow_up_id`."""
        if message_id is not None and message_id in self._asked:
            self._keep(
                message_id, (1, item_id, item_id) if follow_up_id is None else (2, follow_up_id, item_id)
            )

    def _keep(self, message_id: str, found: tuple[int, int, int]) -> None:
        if message_id not in self._first or found < self._first[message_id]:
            self._first[message_id] = found


_ITEMS, _MESSAGES, _REPLIES = Item.__table__, Message.__table__, Reply.__table__
# Every message stored with one of the Message-IDs, items', follow-ups' and the office's
# replies alike, in one statement built once (asking the three tables in turn took three
# statements a Message-ID), with its preference, for KnownMessageIds to keep the first of each.
_IDS_PER_STATEMENT = 200
_NAMED: BindParameter[list[str]] = bindparam("message_ids", expanding=True)
_WITH_MESSAGE_IDS = union_all(
    select(
        _ITEMS.c.message_id,
        literal_column("1").label("preference"),
        _ITEMS.c.id.label("row_id"),
        _ITEMS.c.id.label("item_id"),
    ).where(_ITEMS.c.message_id.in_(_NAMED)),
    select(_MESSAGES.c.message_id, literal_column("2"), _MESSAGES.c.id, _MESSAGES.c.item_id).where(
        _MESSAGES.c.message_id.in_(_NAMED)
    ),
    select(_REPLIES.c.message_id, literal_column("3"), _REPLIES.c.id, _REPLIES.c.item_id).where(
        _REPLIES.c.message_id.in_(_NAMED)
    ),
)


def _participant(session: Session, item_id: int, sender: str) -> bool:
    """Whether `sender` wrote in the item, or was written to from it (a reply sent to the
    Reply-To address, whose owner then answers)."""
    wanted = sender.lower()
    item_sender = session.scalar(select(Item.sender).where(Item.id == item_id))
    if item_sender is not None and item_sender.lower() == wanted:
        return True
    wrote = select(Message.id).where(Message.item_id == item_id, func.lower(Message.sender) == wanted)
    if session.scalar(wrote.limit(1)) is not None:
        return True
    answered = select(Reply.id).where(Reply.item_id == item_id, func.lower(Reply.recipient) == wanted)
    return session.scalar(answered.limit(1)) is not None
