"""Replay: route stored items again, under the current or a new config, and report
what would move where. Nothing is changed: it reads in one read-only transaction.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload, sessionmaker

from config.settings import Settings
from intake.desk import hand_taken
from intake.email.parser import parse_email
from routing.engine import Router
from routing.message import InboundMessage
from routing.queues.triage import SkippedTime, local_moment
from routing.store.database import transaction
from routing.store.models import Item
from routing.store.stored_message import message_of

_SPAN = re.compile(r"^(\d+)([mhdw])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
# The earliest --since: a day after the first that datetime holds, so that it is a date in
# every time zone the office may show it in.
_EARLIEST = datetime(1, 1, 2, tzinfo=UTC)


class BadSpan(ValueError):
    """A --since value that is neither a span such as 30d nor an ISO date, or is before
    the year 1 or after now."""


def parse_since(text: str, now: datetime, zone: ZoneInfo) -> datetime:
    """`30d`, `12h`, `2w`, `90m` before `now`, or an ISO date/time (in the office's `zone` if
    it has no zone of its own, as the report shows it), from the year 1 to `now`."""
    moment = _moment(text, now, zone)
    if moment < _EARLIEST:
        raise BadSpan(f"--since {text!r} is too far back (before {_EARLIEST.date().isoformat()})")
    if moment > now:
        raise BadSpan(f"--since {text!r} is in the future")
    return moment


def _moment(text: str, now: datetime, zone: ZoneInfo) -> datetime:
    match = _SPAN.match(text.strip())
    if match:
        try:
            return now - timedelta(**{_UNITS[match[2]]: int(match[1])})
        except (OverflowError, ValueError):  # before the year 1, or more digits than int() reads
            return datetime.min.replace(tzinfo=now.tzinfo)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise BadSpan(
            f"--since {text!r} is neither a span such as 30d, 12h, 2w nor a date such as 2026-11-01"
        ) from None
    if moment.tzinfo:
        return moment
    try:
        return local_moment(moment, zone)
    except SkippedTime as error:
        raise BadSpan(f"--since {text!r}: {error}") from None


@dataclass(frozen=True)
class Move:
    item_id: int
    received_at: datetime
    sender: str
    subject: str
    now: str
    would_be: str
    reason: str


@dataclass(frozen=True)
class ReplayReport:
    replayed: int
    moves: list[Move]

    def summary(self) -> Counter[tuple[str, str]]:
        return Counter((move.now, move.would_be) for move in self.moves)


def stored_message(item: Item) -> InboundMessage:
    """The message as it arrived: email is parsed again from its raw bytes; a message
    taken by hand keeps the department the receptionist chose."""
    if item.channel == "email":
        return parse_email(
            item.raw.content, envelope_recipients=tuple(item.recipients), received_at=item.received_at
        )
    if item.channel in hand_taken.KINDS:
        return replace(message_of(item), placement=hand_taken.placement_of(item.raw.content))
    return message_of(item)


def replay(sessions: sessionmaker[Session], router: Router, since: datetime) -> ReplayReport:
    """Route every item received since `since` again; list those that would move."""
    moves: list[Move] = []
    replayed = 0
    with transaction(sessions, write=False) as session:
        for item in _items(session, since):
            replayed += 1
            decision = router.route(stored_message(item), session)
            if decision.department_id != item.department_id:
                moves.append(
                    Move(
                        item.id,
                        item.received_at,
                        item.sender,
                        item.subject,
                        item.department_id,
                        decision.department_id,
                        decision.reason,
                    )
                )
    return ReplayReport(replayed, moves)


def _items(session: Session, since: datetime) -> Iterator[Item]:
    query = (
        select(Item)
        .options(selectinload(Item.raw))
        .where(Item.received_at >= since)
        .order_by(Item.received_at, Item.id)
    )
    yield from session.scalars(query.execution_options(yield_per=200))


def print_replay(report: ReplayReport, settings: Settings, since: datetime) -> None:
    """The moves as a table, then a summary of who would gain and lose what."""
    zone = settings.timezone
    if report.moves:
        print(
            f"{'item':>6}  {'received':16}  {'from':24}  {'subject':28}  {'now':12}  {'would go to':12}  because"
        )
    for move in report.moves:
        received = move.received_at.astimezone(zone).strftime("%Y-%m-%d %H:%M")
        print(
            f"{move.item_id:>6}  {received:16}  {move.sender[:24]:24}  {move.subject[:28]:28}  "
            f"{move.now:12}  {move.would_be:12}  {move.reason}"
        )
    local_since = since.astimezone(zone).strftime("%Y-%m-%d %H:%M")
    print(
        f"{report.replayed} items since {local_since} replayed under {settings.source}: "
        f"{len(report.moves)} would move, {report.replayed - len(report.moves)} stay."
    )
    for (now, would_be), count in sorted(report.summary().items()):
        print(f"  {now} -> {would_be}: {count}")
