"""How far each IMAP mailbox has been read, and whether reading it works.

The IMAP poller keeps its position here (folder, UIDVALIDITY, last UID stored), and
its health (last success, last error, failures in a row) for /healthz and the web,
which also show which node reads it now (the holder of its lease, routing/store/leases.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from routing.store import leases
from routing.store.database import transaction
from routing.store.models import MailboxState, utcnow

# One failed connection that the next attempt repairs is routine; this many in a row is not.
UNHEALTHY_AFTER = 3
MAX_ERROR_LENGTH = 2000


@dataclass(frozen=True)
class Position:
    """The last UID stored from a folder, valid while its UIDVALIDITY stays the same."""

    folder: str
    uidvalidity: int
    last_uid: int


@dataclass(frozen=True)
class MailboxHealth:
    name: str
    state: str  # "ok", "failing", or "waiting" before the first attempt
    last_success_at: datetime | None = None
    last_error: str | None = None
    last_error_at: datetime | None = None
    failures: int = 0
    reader: str | None = None  # the process reading it now, when one holds its lease


class MailboxStore:
    """The stored state of one mailbox, each call its own short transaction."""

    def __init__(self, sessions: sessionmaker[Session], name: str) -> None:
        self.sessions = sessions
        self.name = name

    def position(self, folder: str, uidvalidity: int) -> Position:
        """Where to go on from; from the start when the folder or its UIDVALIDITY changed."""
        with transaction(self.sessions, write=False) as session:
            row = session.get(MailboxState, self.name)
            if row is None or row.folder != folder or row.uidvalidity != uidvalidity:
                return Position(folder, uidvalidity, 0)
            return Position(folder, uidvalidity, row.last_uid)

    def save_position(self, position: Position) -> None:
        with transaction(self.sessions) as session:
            row = self._row(session)
            row.folder, row.uidvalidity, row.last_uid = (
                position.folder,
                position.uidvalidity,
                position.last_uid,
            )

    def record_success(self) -> None:
        with transaction(self.sessions) as session:
            row = self._row(session)
            row.last_success_at, row.failures = utcnow(), 0

    def record_failure(self, error: str) -> None:
        with transaction(self.sessions) as session:
            row = self._row(session)
            row.last_error, row.last_error_at = error[:MAX_ERROR_LENGTH], utcnow()
            row.failures += 1

    def _row(self, session: Session) -> MailboxState:
        row = session.get(MailboxState, self.name)
        if row is None:
            row = MailboxState(name=self.name, folder="", uidvalidity=None, last_uid=0, failures=0)
            session.add(row)
        return row


def mailbox_health(session: Session, names: Sequence[str]) -> list[MailboxHealth]:
    """The health of the named (configured) mailboxes, in the order given."""
    rows = {
        row.name: row for row in session.scalars(select(MailboxState).where(MailboxState.name.in_(names)))
    }
    readers = leases.holders(session, [leases.mailbox_lease(name) for name in names], utcnow())
    return [_health(name, rows.get(name), readers.get(leases.mailbox_lease(name))) for name in names]


def _health(name: str, row: MailboxState | None, reader: str | None) -> MailboxHealth:
    if row is None or (row.last_success_at is None and not row.failures):
        return MailboxHealth(name, "waiting", reader=reader)
    return MailboxHealth(
        name=name,
        state="failing" if row.failures >= UNHEALTHY_AFTER else "ok",
        last_success_at=row.last_success_at,
        last_error=row.last_error,
        last_error_at=row.last_error_at,
        failures=row.failures,
        reader=reader,
    )
