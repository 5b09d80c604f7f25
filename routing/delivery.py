"""deliver(): the one door into the queues.

Every channel hands its InboundMessage here. In one transaction the raw bytes, the
item, its routing decision and an audit event are stored, or nothing is. A message
that continues a conversation joins its item as a follow-up instead (see
routing.conversation). A message whose key is already stored, as an item or as a
follow-up, returns the item it belongs to and stores nothing new.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import update
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from config.settings import Settings
from routing.contacts.directory import ContactsAtArrival, written_numbers
from routing.contacts.suggestions import SuggestionsAtArrival
from routing.conversation import KnownMessageIds, Thread, match, may_continue_any
from routing.engine import Routes, RoutingDecision, RuleOutcome
from routing.item_fields import new_item_row
from routing.message import InboundMessage
from routing.normalize import normalizer_for
from routing.store import item_rows, search_index
from routing.store.database import StorageUnavailable, UnstorableMessage, transaction
from routing.store.models import (
    SYSTEM_ACTOR,
    Item,
    utcnow,
)
from routing.store.notifications import enqueue

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Delivery:
    """Where a delivered message ended up.

    `created` is False for a repeat; `joined` is True for a follow-up of an item
    already there (a reply, another text), new or repeated; `quiet` is True when rules
    marked it as machine mail or spam (nobody answers it).
    """

    item_id: int
    department_id: str
    created: bool
    joined: bool = False
    quiet: bool = False

    def __str__(self) -> str:
        """How a log line names it: "item 12 (in billing)", "item 9 (joined support)"."""
        done = "joined" if self.joined else "in"
        new = "" if self.created else ", stored before"
        return f"item {self.item_id} ({done} {self.department_id}{new})"


AlsoStore = Callable[[Session, Delivery], None]


@dataclass(frozen=True)
class Routed:
    """A message routed ahead of the transaction that stores it (Deliverer.route_ahead),
    with what else is read of its text there: its search terms, and for an email the
    phone numbers written in it (routing.contacts)."""

    decision: RoutingDecision
    terms: str
    numbers: tuple[str, ...]


@dataclass(frozen=True)
class Delivering:
    """A message handed to deliver_all(): what is stored with its item (`also`), and its
    route_ahead() when that was worked out before the storing transaction."""

    message: InboundMessage
    also: AlsoStore | None = None
    routed: Routed | None = None


class Deliverer:
    """Stores messages: the router decides the queue, the session factory the database."""

    def __init__(self, sessions: sessionmaker[Session], router: Routes) -> None:
        self.sessions = sessions
        self.router = router

    def deliver(self, message: InboundMessage, also: AlsoStore | None = None) -> Delivery:
        """Store `message` once; raise StorageUnavailable when the database fails, and
        UnstorableMessage when it refuses this message's values (a retry would too).

        `also`, when given, stores what belongs with the item (a call's facts, downloads
        to make) in the same transaction, whether the item is new or a repeat.
        """

        def attempt() -> Delivery:
            with transaction(self.sessions) as session:
                return self.deliver_all(session, [Delivering(message, also)])[0]

        delivery = _twice(message, attempt)
        log.info("%s message stored: %s", message.channel, delivery)
        return delivery

    def route_ahead(self, session: Session, message: InboundMessage) -> Routed:
        """Route `message` and work out its search terms in a reading transaction, before
        the one that stores it: on SQLite that one holds the only write lock, which the
        doors wait for. What was learned meanwhile is what it would have missed had the
        message come a moment earlier."""
        return self.route_all_ahead(session, [message])[0]

    def route_all_ahead(self, session: Session, messages: Iterable[InboundMessage]) -> list[Routed]:
        """route_ahead() for each message, as `messages` yields it (Router.route_all)."""
        read: list[tuple[str, tuple[str, ...]]] = []
        region = self.router.settings.region

        def reading() -> Iterator[InboundMessage]:
            for message in messages:
                read.append((self._terms(message), written_numbers(message, region)))
                yield message

        decisions = self.router.route_all(reading(), session)
        return [Routed(decision, *found) for decision, found in zip(decisions, read, strict=True)]

    def deliver_in(
        self,
        session: Session,
        message: InboundMessage,
        also: AlsoStore | None = None,
        routed: Routed | None = None,
    ) -> Delivery:
        """deliver() within the caller's transaction, in a savepoint of its own: a message
        that fails leaves the others of the transaction as they were. `routed`, when
        given, is the message's route_ahead()."""

        def attempt() -> Delivery:
            with session.begin_nested():
                return self.deliver_all(session, [Delivering(message, also, routed)])[0]

        return _twice(message, attempt)

    def deliver_all(self, session: Session, batch: Sequence[Delivering]) -> list[Delivery]:
        """Deliver each message of `batch` in order, within the caller's transaction,
        without a savepoint or a second attempt: whatever fails is raised as the database
        said it, and the transaction is spoiled (a caller of many messages rolls back and
        stores them again apart, with deliver_in).

        What every message would ask alike is asked once for the batch: its keys claimed,
        its raw bytes stored and its senders' contacts read before the items; its audit
        events and search rows written after them, and then what each message's `also`
        stores, in the batch's order (_Batch). Its caller logs what became of each message,
        after the commit: on SQLite the door waits while this runs."""
        stores = item_rows.claim_keys(session, [delivering.message.idempotency_key for delivering in batch])
        stored = [delivering.message for delivering, new in zip(batch, stores, strict=True) if new]
        raw_blob_ids = iter(item_rows.insert_blobs(session, [message.raw for message in stored]))
        region = self.router.settings.region
        written = {
            delivering.message.idempotency_key: delivering.routed.numbers
            for delivering in batch
            if delivering.routed is not None
        }
        rows = _Batch(
            self.router.settings,
            ContactsAtArrival(session, stored, region, written),
            KnownMessageIds(session, stored),
        )
        deliveries: list[Delivery | _NewItem] = []
        for delivering, new in zip(batch, stores, strict=True):
            if new:
                delivery = self._store(
                    session, delivering.message, next(raw_blob_ids), rows, delivering.routed
                )
            else:
                rows.insert_items(session)  # the first copy, if it is of this batch
                delivery = _find(session, delivering.message.idempotency_key)
            deliveries.append(delivery)
            if delivering.also is not None:
                rows.alsos.append((delivering.also, delivery))
        rows.write(session)
        return [_settled(delivery) for delivery in deliveries]

    def _store(
        self, session: Session, message: InboundMessage, raw_blob_id: int, rows: _Batch, routed: Routed | None
    ) -> Delivery | _NewItem:
        """Join the conversation the message continues, or make a routed item (routed
        here unless `routed` was worked out ahead), inserted with the batch's others; the
        message's key is claimed and its raw bytes stored as `raw_blob_id`."""
        if rows.continued_by(message):
            rows.insert_items(session)  # the conversation matchers read the items stored so far
        matching = match(session, message, self.router.settings.routing, rows.message_ids)
        if matching.thread is not None:
            if matching.thread.item_id in rows.items:
                rows.write(session)  # its item's history so far comes first, as if stored alone
            _join(session, message, raw_blob_id, matching.thread, matching.outcomes, rows)
            terms = routed.terms if routed else self._terms(message)
            rows.more_terms.append({"item_id": matching.thread.item_id, "more": terms})
            rows.items.add(matching.thread.item_id)
            return Delivery(matching.thread.item_id, matching.thread.department_id, created=True, joined=True)
        routed = routed or self.route_ahead(session, message)
        contact_id = rows.contacts.of(session, message)
        row = new_item_row(message, raw_blob_id, routed.decision, matching.outcomes, contact_id)
        new = _NewItem(message, routed.decision, row, routed.terms)
        rows.new_items.append(new)
        return new

    def _terms(self, message: InboundMessage) -> str:
        """What the search index holds of the message (routing.store.search_index)."""
        normalizer = normalizer_for(self.router.settings.languages)
        return search_index.terms(
            normalizer, message.sender, message.sender_name, message.subject, message.text
        )


@dataclass
class _NewItem:
    """A new item's row, inserted with the batch's others (_Batch.insert_items), and
    where it ended up once it is."""

    message: InboundMessage
    decision: RoutingDecision
    row: dict[str, Any]
    terms: str
    delivery: Delivery | None = None

    def stored(self) -> Delivery:
        if self.delivery is None:
            raise RuntimeError("a batch's new items are inserted before it is written")
        return self.delivery


def _settled(delivery: Delivery | _NewItem) -> Delivery:
    """Where a message of the batch ended up, its new item inserted by now."""
    return delivery.stored() if isinstance(delivery, _NewItem) else delivery


@dataclass
class _Batch:
    """What the messages of a batch share while they are stored: their senders' contacts
    and the Message-IDs they answer, read at once; the new items, inserted together
    once nothing in the batch needs them sooner; and what they store that nothing else
    in the batch reads back, written after the items, one statement per table, in the
    messages' order: the audit events, the new items' search rows, the terms
    follow-ups add to their items' rows, and the suggestions for the new items of known
    contacts (looked for as if each item had been stored alone, in turn); last, what
    each message's `also` stores (an acknowledgement, downloads to make).

    The new items gathered are inserted before a message that may continue one of them
    is matched to its conversation, and before a repeated key is looked up, so that each
    finds them as if each message had been stored alone. A follow-up that joins an item
    of the batch has what was gathered written first, so that its item's history reads
    the same way (received, acknowledged, reply received)."""

    settings: Settings
    contacts: ContactsAtArrival
    message_ids: KnownMessageIds
    suggestions: SuggestionsAtArrival = field(init=False)
    new_items: list[_NewItem] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    search_rows: list[dict[str, Any]] = field(default_factory=list)
    more_terms: list[dict[str, Any]] = field(default_factory=list)
    alsos: list[tuple[AlsoStore, Delivery | _NewItem]] = field(default_factory=list)
    # The items whose rows (or a follow-up's) are gathered here, not yet written.
    items: set[int] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.suggestions = SuggestionsAtArrival(self.settings)

    def continued_by(self, message: InboundMessage) -> bool:
        """Whether a new item not inserted yet may be one that `message` continues."""
        return may_continue_any(message, (new.message for new in self.new_items))

    def insert_items(self, session: Session) -> None:
        """Insert the new items gathered, in one statement, with their attachments and
        notifications, and gather what else goes with each."""
        if not self.new_items:
            return
        item_ids = item_rows.insert_items(session, [new.row for new in self.new_items])
        for new, item_id in zip(self.new_items, item_ids, strict=True):
            message, decision = new.message, new.decision
            self.message_ids.stored(message.message_id, item_id)
            item_rows.insert_attachments(session, item_id, message)
            detail = {
                "channel": message.channel,
                "department": decision.department_id,
                "reason": decision.reason,
                "other_departments": list(decision.other_departments),
            }
            self.event(item_id, "received", detail)
            self.search_rows.append({"item_id": item_id, "terms": new.terms})
            self.items.add(item_id)
            contact_id = new.row["contact_id"]
            if contact_id is not None:
                self.suggestions.add(item_id, contact_id, message, self.contacts)
            quiet = decision.machine or decision.spam
            if not quiet and message.machine_kind is None:  # nobody is told of machine mail or spam
                enqueue(session, item_id, decision.department_id, self.settings, utcnow())
            new.delivery = Delivery(item_id, decision.department_id, created=True, quiet=quiet)
        self.new_items = []

    def event(self, item_id: int, action: str, detail: dict[str, Any]) -> None:
        """An audit event by the system, at the time it happened rather than written."""
        self.events.append(
            {"item_id": item_id, "at": utcnow(), "actor": SYSTEM_ACTOR, "action": action, "detail": detail}
        )

    def write(self, session: Session) -> None:
        """Insert the new items, write what was gathered, and gather anew."""
        self.insert_items(session)
        item_rows.insert_events(session, self.events)
        search_index.write(session, self.search_rows, new=True)
        search_index.add_terms(session, self.more_terms)
        self.suggestions.write(session)
        for also, delivery in self.alsos:
            also(session, _settled(delivery))
        self.events, self.search_rows, self.more_terms, self.alsos = [], [], [], []
        self.items = set()


def _twice(message: InboundMessage, attempt: Callable[[], Delivery]) -> Delivery:
    """Run `attempt` again when another process stored the same key between our look-up
    and our insert (it finds that process's item then); sort database errors."""
    try:
        return attempt()
    except IntegrityError:
        pass
    except DBAPIError as error:
        raise _failure(message, error) from error
    try:
        return attempt()
    except DBAPIError as error:
        raise _failure(message, error) from error


def _failure(message: InboundMessage, error: DBAPIError) -> StorageUnavailable | UnstorableMessage:
    """A refused value fails at every retry; anything else is an outage worth retrying."""
    if isinstance(error, DataError):
        log.warning("the database refused %s: %s", message.idempotency_key, error)
        return UnstorableMessage(f"the database refused a value ({type(error.orig).__name__})")
    log.warning("storing %s failed: %s", message.idempotency_key, error)
    return StorageUnavailable("the database is not accepting writes")


class KeyWithoutItem(UnstorableMessage):
    """A delivered key whose item or follow-up is not there: the keys and the items were
    changed apart from each other (they are erased together). A retry fails the same
    way, so the message is refused as unstorable, for a person to look at, and the
    messages beside it go on."""


def _find(session: Session, key: str) -> Delivery:
    """The item a key is stored as, or that a follow-up with that key belongs to."""
    found = item_rows.item_of_key(session, key)
    if found is not None:
        return Delivery(*found, created=False)
    found = item_rows.item_of_follow_up_key(session, key)
    if found is None:
        raise KeyWithoutItem(f"the key {key} is taken but no item or follow-up has it")
    return Delivery(*found, created=False, joined=True)


def _join(
    session: Session,
    message: InboundMessage,
    raw_blob_id: int,
    thread: Thread,
    outcomes: tuple[RuleOutcome, ...],
    batch: _Batch,
) -> None:
    """Store a follow-up on its item, with its attachments; reopen a resolved item."""
    row = {**item_rows.message_fields(message, raw_blob_id), "item_id": thread.item_id}
    message_row_id = item_rows.insert_follow_up(session, row)
    batch.message_ids.stored(message.message_id, thread.item_id, message_row_id)
    item_rows.insert_attachments(session, thread.item_id, message, message_row_id)
    detail = {
        "channel": message.channel,
        "message": message_row_id,
        "matcher": thread.matcher,
        "reason": thread.reason,
        "outcomes": [outcome.stored() for outcome in outcomes],
    }
    batch.event(thread.item_id, "reply received", detail)
    if thread.reopens:
        # Back at the top of its queue, as the reply is what waits now.
        reopening = update(Item).where(Item.id == thread.item_id)
        session.execute(reopening.values(status="new", queued_at=message.received_at))
        reopened = {"department": thread.department_id, "reason": f"a reply arrived ({thread.matcher})"}
        batch.event(thread.item_id, "reopened", reopened)
