"""Evaluate routing on a labelled set: teach a share of it as a receptionist would, then
route the rest and count right, wrong department and left at the front desk.

Everything happens in a fresh SQLite database in a temporary folder, at the current
schema, with the config's departments. A taught message is delivered as any message
is; a receptionist then reroutes it to its labelled department if it landed elsewhere,
or confirms it if it was waiting for a decision: the same triage actions, which teach
the learned suggestion. The other messages are routed as `intake route` routes, without
storing, once before the teaching and once after.
"""

from __future__ import annotations

import random
import secrets
import tempfile
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from config.settings import DatabaseSettings, Settings
from intake.rules.labelled_set import Labelled
from routing.delivery import Deliverer
from routing.engine import Router, RoutingDecision
from routing.people.accounts import Person, add_user, person_of
from routing.queues import triage
from routing.store.database import make_engine, make_session_factory, transaction
from routing.store.models import Item
from routing.store.schema import prepare, sync_departments

RECEPTIONIST = "evaluation"


class BadShare(ValueError):
    """A --teach value that is neither a share such as 10% nor a count of messages."""


@dataclass(frozen=True)
class Routed:
    """Where one message of the set went, and what the learned suggestion said."""

    labelled: Labelled
    department: str
    reason: str
    suggested: str | None
    confidence: float | None

    @property
    def right(self) -> bool:
        return self.department == self.labelled.department


@dataclass(frozen=True)
class Teaching:
    """What the receptionist did to the taught messages."""

    taught: tuple[str, ...]  # their ids
    rerouted: int
    confirmed: int
    already_right: int
    joined: int  # follow-ups of an item already taught, where nothing is left to correct


@dataclass(frozen=True)
class Evaluation:
    default_department: str
    teaching: Teaching
    before: tuple[Routed, ...]  # the messages not taught, routed before the teaching
    after: tuple[Routed, ...]  # the same messages, routed after it


def parse_share(text: str, total: int) -> int:
    """How many of `total` messages `--teach` asks for: `10%` is a share, `18` a count.
    At least one message is left to route."""
    value = text.strip()
    try:
        count = round(total * float(value[:-1]) / 100) if value.endswith("%") else int(value)
    except (ValueError, OverflowError):  # not a number, or an infinite share
        raise BadShare(f"--teach {text!r} is neither a share such as 10% nor a count such as 18") from None
    if not 0 <= count < total:
        raise BadShare(f"--teach {text!r}: teach from 0 to {total - 1} of the {total} messages")
    return count


def choose_taught(rows: Sequence[Labelled], count: int, seed: int) -> list[Labelled]:
    """`count` rows, the same for the same seed, each department given its share of them."""
    by_department: dict[str, list[Labelled]] = defaultdict(list)
    for row in sorted(rows, key=lambda row: row.id):
        by_department[row.department].append(row)
    shuffler = random.Random(seed)
    for members in by_department.values():
        shuffler.shuffle(members)
    # Largest remainder: each department its whole part, the rest to the largest fractions.
    exact = {d: count * len(members) / len(rows) for d, members in by_department.items()}
    quota = {d: int(share) for d, share in exact.items()}
    for department in sorted(exact, key=lambda d: (quota[d] - exact[d], d))[: count - sum(quota.values())]:
        quota[department] += 1
    return sorted(
        (row for d, members in by_department.items() for row in members[: quota[d]]), key=lambda r: r.id
    )


def evaluate(settings: Settings, rows: Sequence[Labelled], teach: int, seed: int) -> Evaluation:
    """Teach `teach` of the rows, then route the others, before and after the teaching."""
    taught = choose_taught(rows, teach, seed)
    taught_ids = {row.id for row in taught}
    held_out = [row for row in rows if row.id not in taught_ids]
    router = Router(settings)
    with _fresh_database(settings) as sessions:
        before = _route_all(sessions, router, held_out)
        teaching = _teach(sessions, router, taught)
        after = _route_all(sessions, router, held_out) if taught else before
    return Evaluation(settings.default_department, teaching, before, after)


@contextmanager
def _fresh_database(settings: Settings) -> Iterator[sessionmaker[Session]]:
    with tempfile.TemporaryDirectory(prefix="intake-evaluate-") as folder:
        engine = make_engine(DatabaseSettings(url=f"sqlite:///{Path(folder) / 'evaluate.db'}"))
        try:
            prepare(engine)
            sessions = make_session_factory(engine)
            sync_departments(sessions, settings)
            yield sessions
        finally:
            engine.dispose()


def _route_all(
    sessions: sessionmaker[Session], router: Router, rows: Sequence[Labelled]
) -> tuple[Routed, ...]:
    # All at once, as a worker routes its batch: what was learned is read once for them.
    with transaction(sessions, write=False) as session:
        decisions = router.route_all([row.message for row in rows], session)
    return tuple(_routed(row, decision) for row, decision in zip(rows, decisions, strict=True))


def _routed(row: Labelled, decision: RoutingDecision) -> Routed:
    suggestion = decision.suggestion
    return Routed(
        labelled=row,
        department=decision.department_id,
        reason=decision.reason,
        suggested=suggestion.department_id if suggestion else None,
        confidence=suggestion.confidence if suggestion else None,
    )


def _teach(sessions: sessionmaker[Session], router: Router, rows: Sequence[Labelled]) -> Teaching:
    if not rows:
        return Teaching(taught=(), rerouted=0, confirmed=0, already_right=0, joined=0)
    with transaction(sessions) as session:
        receptionist = person_of(add_user(session, RECEPTIONIST, "receptionist", secrets.token_urlsafe()))
    deliverer = Deliverer(sessions, router)
    done: Counter[str] = Counter()
    for row in rows:
        delivery = deliverer.deliver(row.message)
        if delivery.joined:
            done["joined"] += 1
            continue
        with transaction(sessions) as session:
            done[_correct(session, delivery.item_id, row.department, receptionist)] += 1
    return Teaching(
        taught=tuple(row.id for row in rows),
        rerouted=done["rerouted"],
        confirmed=done["confirmed"],
        already_right=done["already right"],
        joined=done["joined"],
    )


def _correct(session: Session, item_id: int, department: str, receptionist: Person) -> str:
    """What a receptionist does to an item whose right department they know."""
    item = session.get_one(Item, item_id)
    if item.department_id != department:
        triage.reroute(session, item_id, receptionist, department, "labelled set: belongs here")
        return "rerouted"
    if item.decision_needed is not None:
        triage.confirm(session, item_id, receptionist)
        return "confirmed"
    return "already right"
