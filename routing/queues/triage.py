"""What people do to an item: claim, assign, release, reroute, set its priority or due
time, add a note, resolve, reopen, mark spam, confirm where it is.

Each action is one audit event saying who did it and when. A person may act only on
items of queues they may see; another department's item is as unknown as a missing
one. Actions that settle where an item belongs (claim, assign, reroute, resolve,
spam, confirm) also clear its "needs a decision" mark. A reroute or a confirm is the
truth about where an item belongs, so both teach the learned suggestion.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from config.settings import PRIORITIES
from routing.learning import learn
from routing.lessons import Lesson, legacy_lesson
from routing.people.accounts import Person, person_of
from routing.store.models import AuditEvent, Department, Item, User, utcnow

MAX_NOTE = 10_000
# A day inside the calendar's ends, so that a due time converts to every zone it is shown in.
EARLIEST_DUE = datetime.min.replace(tzinfo=UTC) + timedelta(days=1)
LATEST_DUE = datetime.max.replace(tzinfo=UTC) - timedelta(days=1)
OUT_OF_RANGE = f"must lie between {EARLIEST_DUE.date().isoformat()} and {LATEST_DUE.date().isoformat()}"


class TriageError(ValueError):
    """An action that cannot be done; the message says why."""


class SkippedTime(TriageError):
    """A local time that the office's clocks skip at a daylight-saving change."""


class NoSuchItem(TriageError):
    pass


class NoSuchDepartment(TriageError):
    pass


class NoSuchPerson(TriageError):
    pass


def claim(session: Session, item_id: int, who: Person) -> Item:
    """Take the item: it is `who`'s to deal with now, even if someone else had it."""
    item = open_item(session, item_id, who)
    if item.assignee_id == who.id:
        raise TriageError(f"item {item_id} is already yours")
    _record(session, item, who, "claimed", _previous(item), settles=True)
    _give(item, session.get_one(User, who.id))
    return item


def assign(session: Session, item_id: int, who: Person, name: str) -> Item:
    """Give the item to the person called `name`, who must be able to see its queue."""
    item = open_item(session, item_id, who)
    user = session.scalar(select(User).where(User.name == name, User.active))
    if user is None or not person_of(user).may_see(item.department_id):
        raise NoSuchPerson(f"there is no one called {name!r} who works on {item.department_id}")
    if item.assignee_id == user.id:
        raise TriageError(f"item {item_id} is already {name}'s")
    _record(session, item, who, "assigned", {**_previous(item), "to": name}, settles=True)
    _give(item, user)
    return item


def release(session: Session, item_id: int, who: Person) -> Item:
    """Put a claimed item back in its queue, for anyone to take."""
    item = open_item(session, item_id, who)
    if item.assignee_id is None:
        raise TriageError(f"item {item_id} is not claimed by anyone")
    _record(session, item, who, "released", _previous(item))
    item.assignee, item.status = None, "new"
    return item


def reroute(session: Session, item_id: int, who: Person, department_id: str, reason: str) -> Item:
    """Move the item to another department's queue, new there, and learn from the move."""
    item = item_for(session, item_id, who)
    department = session.get(Department, department_id)
    if department is None or not department.active:
        raise NoSuchDepartment(f"there is no department {department_id!r}")
    if department_id == item.department_id:
        raise TriageError(f"item {item_id} is already in {department_id}")
    if not reason.strip():
        raise TriageError("a reroute needs a reason")
    moved = {"from": item.department_id, "to": department_id, "reason": reason}
    _record(session, item, who, "rerouted", moved, settles=True)
    item.department_id = department_id
    item.routing_reason = f"rerouted by {who.name}: {reason}"
    if item.status != "resolved":  # the new department picks it up afresh
        item.assignee, item.status = None, "new"
    _teach(session, item)
    return item


def confirm(session: Session, item_id: int, who: Person) -> Item:
    """Say that an item needing a decision belongs where it is."""
    item = item_for(session, item_id, who)
    if item.decision_needed is None:
        raise TriageError(f"item {item_id} needs no decision")
    _record(session, item, who, "confirmed", {"department": item.department_id}, settles=True)
    _teach(session, item)
    return item


def set_priority(session: Session, item_id: int, who: Person, priority: str) -> Item:
    item = item_for(session, item_id, who)
    if priority not in PRIORITIES:
        raise TriageError(f"priority must be one of {', '.join(PRIORITIES)}")
    if priority == item.priority:
        raise TriageError(f"item {item_id} is already {priority} priority")
    _record(session, item, who, "prioritised", {"from": item.priority, "to": priority})
    item.priority = priority
    return item


def due_in_range(due: datetime) -> bool:
    """Whether the aware time `due` lies between EARLIEST_DUE and LATEST_DUE."""
    try:
        return EARLIEST_DUE <= due.astimezone(UTC) <= LATEST_DUE
    except OverflowError:  # its offset carries it past the calendar's end
        return False


def local_moment(wall: datetime, zone: ZoneInfo) -> datetime:
    """`wall`, a time without a zone as a person reads it on the office's clocks, as a moment.

    A time the clocks skip when they go forward (02:30 where 02:00 becomes 03:00) is refused:
    no such moment exists, and taking it would move it silently by an hour. A time the
    clocks show twice when they go back is the first of the two, the earlier deadline."""
    moment = wall.replace(tzinfo=zone, fold=0)
    try:
        shown = moment.astimezone(UTC).astimezone(zone)
    except OverflowError:  # past the calendar's end in UTC: due_in_range refuses it
        return moment
    if shown.replace(tzinfo=None) != wall:
        skipped = (shown.utcoffset() or timedelta(0)) - (moment.utcoffset() or timedelta(0))
        raise SkippedTime(
            f"{wall:%Y-%m-%d %H:%M} does not exist in {zone.key}: the clocks skip it, "
            f"going forward {skipped // timedelta(minutes=1)} minutes"
        )
    return moment


def set_due(session: Session, item_id: int, who: Person, due: datetime | None) -> Item:
    """Set when the sender wants an answer or a callback; None clears it."""
    item = item_for(session, item_id, who)
    if due is not None and due.tzinfo is None:
        raise TriageError("a due time needs a time zone")
    if due is not None and not due_in_range(due):
        raise TriageError(f"a due time {OUT_OF_RANGE}")
    # Compared in UTC: a time of an hour the clocks show twice equals no time of another
    # zone (PEP 495), so the same due time given again would be recorded again.
    if (due.astimezone(UTC) if due else None) == item.due_at:
        raise TriageError(f"item {item_id} is already due then")
    _record(session, item, who, "due", {"at": due.isoformat() if due else None})
    item.due_at = due
    return item


def add_note(session: Session, item_id: int, who: Person, text: str) -> Item:
    """Write a note on the item for colleagues; it goes in the item's history."""
    item = item_for(session, item_id, who)
    text = text.strip()
    if not text:
        raise TriageError("a note needs some text")
    if len(text) > MAX_NOTE:
        raise TriageError(f"a note is at most {MAX_NOTE:,} characters")
    _record(session, item, who, "note", {"text": text})
    return item


def resolve(session: Session, item_id: int, who: Person) -> Item:
    item = open_item(session, item_id, who)
    _record(session, item, who, "resolved", settles=True)
    item.status, item.resolved_at = "resolved", utcnow()
    return item


def reopen(session: Session, item_id: int, who: Person) -> Item:
    """Bring a resolved item (spam included) back into its queue, at its top."""
    item = item_for(session, item_id, who)
    if item.status != "resolved":
        raise TriageError(f"item {item_id} is open already")
    _record(session, item, who, "reopened")
    item.status = "claimed" if item.assignee_id is not None else "new"
    item.resolved_at, item.spam, item.queued_at = None, False, utcnow()
    return item


def mark_spam(session: Session, item_id: int, who: Person) -> Item:
    """Mark the item as spam, which also takes it out of the queue."""
    item = item_for(session, item_id, who)
    if item.spam and item.status == "resolved":
        raise TriageError(f"item {item_id} is marked as spam already")
    _record(session, item, who, "spam", settles=True)
    item.spam, item.status, item.resolved_at = True, "resolved", utcnow()
    return item


@dataclass
class BulkResult:
    """Which items an action was done to, and why the others were refused."""

    done: list[int] = field(default_factory=list)
    refused: dict[int, str] = field(default_factory=dict)


def bulk(item_ids: Iterable[int], act: Callable[[int], Item]) -> BulkResult:
    """Do `act` to each item; an item it is refused for is reported, not fatal.

    Every action checks before it changes anything, so a refused item is untouched.
    The items are taken in id order, the order any unit of work locks several items in
    (item_for), so that two bulk actions on the same items at once queue, not deadlock.
    """
    result = BulkResult()
    for item_id in sorted(set(item_ids)):
        try:
            act(item_id)
        except TriageError as error:
            result.refused[item_id] = str(error)
        else:
            result.done.append(item_id)
    return result


def item_for(session: Session, item_id: int, who: Person) -> Item:
    """The item, if `who` may see it; another department's item is as unknown as a missing one.

    Its row is locked until the unit of work ends (on PostgreSQL; SQLite's one writer
    holds the whole database): every action checks the item, then changes it and writes
    its event, and two people acting at once must not both check the item as it was, or
    the later write undoes the earlier (two claims each "from nobody", a move from a
    department the item had already left). FOR NO KEY UPDATE, as an UPDATE itself
    takes, so that an event or a follow-up inserted for the item does not wait on it.
    """
    item = session.get(Item, item_id, with_for_update={"key_share": True}, populate_existing=True)
    if item is None or not who.may_see(item.department_id):
        raise NoSuchItem(f"there is no item {item_id}")
    return item


def open_item(session: Session, item_id: int, who: Person) -> Item:
    """The item, if `who` may see it and it is not resolved (acting on it needs it open)."""
    item = item_for(session, item_id, who)
    if item.status == "resolved":
        raise TriageError(f"item {item_id} is resolved; reopen it first")
    if item.merged_into_id is not None:
        raise TriageError(f"item {item_id} is merged into item {item.merged_into_id}; unmerge it first")
    return item


def _give(item: Item, user: User) -> None:
    item.assignee, item.status = user, "claimed"
    item.claimed_at = item.claimed_at or utcnow()


def _previous(item: Item) -> dict[str, Any]:
    return {"from": item.assignee.name} if item.assignee is not None else {}


def _record(
    session: Session,
    item: Item,
    who: Person,
    action: str,
    detail: dict[str, Any] | None = None,
    *,
    settles: bool = False,
) -> None:
    session.add(AuditEvent(item_id=item.id, actor=who.name, action=action, detail=detail or {}))
    if settles:
        item.decision_needed = None


def _teach(session: Session, item: Item) -> None:
    # The same terms the suggestion read when it routed the item (engine.Router._suggest).
    if item.routing_lesson is not None:
        lesson = Lesson.from_stored(item.routing_lesson)
    else:
        lesson = legacy_lesson(item.channel, item.sender, item.subject, item.text)
    learn(session, lesson, item.department_id)
