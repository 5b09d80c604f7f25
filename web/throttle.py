"""Slowing down password guessing: failed sign-ins counted per name and per client address.

After LIMIT failures for one name, or from one address, within WINDOW, the login page
refuses every further try for that name or from that address, without checking the
password, until enough of those failures have left the window. A refused try is not
counted, so someone who waits gets in on time. A successful sign-in clears the name's
failures, from every address, and so does a new password set for the name
(routing.people.accounts.reset_password); the address's failures for other names still count.

The failures are rows in the database (routing.store.models.LoginAttempt), so every web
process of the office counts the same ones. A try is counted as a failure before its
password is checked, in the same transaction as the check of the count and holding the
table's write lock, so that tries arriving together cannot all pass one count: 40 at
once get LIMIT password checks, not more. The right password then takes its count back.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import Flask, current_app
from flask_babel import ngettext
from sqlalchemy import ColumnElement, delete, select, text
from sqlalchemy.orm import Session

from routing.store.models import LoginAttempt, utcnow

LIMIT = 5
WINDOW = timedelta(minutes=15)
# The columns' width: no user name is longer, and an address (IPv6 included) is shorter.
_KEY_LENGTH = 64


@dataclass(frozen=True)
class Refusal:
    """Sign-ins for this name or address are refused until `until`."""

    until: datetime
    now: datetime

    @property
    def seconds(self) -> int:
        return max(1, math.ceil((self.until - self.now).total_seconds()))

    @property
    def message(self) -> str:
        minutes = math.ceil(self.seconds / 60)
        shown: str = ngettext(
            "Too many failed sign-ins; try again in %(num)s minute.",
            "Too many failed sign-ins; try again in %(num)s minutes.",
            minutes,
        )
        return shown


class LoginThrottle:
    """Counts failed sign-ins and says when to refuse; `clock` is replaced by tests."""

    def __init__(self, limit: int = LIMIT, window: timedelta = WINDOW) -> None:
        self.limit = limit
        self.window = window
        self.clock: Callable[[], datetime] = utcnow

    def init_app(self, app: Flask) -> None:
        app.extensions["login_throttle"] = self

    def admit(self, session: Session, name: str, address: str) -> Refusal | None:
        """Why a sign-in for `name` from `address` is refused now; None when its password may
        be checked, the try then counted as a failure until `succeeded` takes it back.
        `session` must write: its transaction holds the lock that makes this atomic."""
        now = self.clock()
        _lock_attempts(session)
        session.execute(delete(LoginAttempt).where(LoginAttempt.attempted_at <= now - self.window))
        ends = [
            self._blocked_until(session, LoginAttempt.name == _key(name), now),
            self._blocked_until(session, LoginAttempt.address == _key(address), now),
        ]
        blocked = [end for end in ends if end is not None]
        if blocked:
            return Refusal(max(blocked), now)
        session.add(LoginAttempt(name=_key(name), address=_key(address), attempted_at=now))
        return None

    def succeeded(self, session: Session, name: str) -> None:
        session.execute(delete(LoginAttempt).where(LoginAttempt.name == _key(name)))

    def _blocked_until(self, session: Session, which: ColumnElement[bool], now: datetime) -> datetime | None:
        # Refused while `limit` failures are in the window: until the limit-th newest leaves it.
        oldest_that_counts = session.scalar(
            select(LoginAttempt.attempted_at)
            .where(which, LoginAttempt.attempted_at > now - self.window)
            .order_by(LoginAttempt.attempted_at.desc())
            .offset(self.limit - 1)
            .limit(1)
        )
        return None if oldest_that_counts is None else oldest_that_counts + self.window


def throttle() -> LoginThrottle:
    found: LoginThrottle = current_app.extensions["login_throttle"]
    return found


def _lock_attempts(session: Session) -> None:
    """Make tries that count at once wait for each other. SQLite's writing transaction
    holds the database's write lock from its start already; PostgreSQL is told to."""
    if session.get_bind().dialect.name == "postgresql":
        # Conflicts with itself and with plain inserts and deletes, not with readers.
        session.execute(text("LOCK TABLE login_attempts IN SHARE ROW EXCLUSIVE MODE"))


def _key(value: str) -> str:
    return value[:_KEY_LENGTH]
