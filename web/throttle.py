"""Slowing down password guessing: failed sign-ins counted per name and per client address.

After LIMIT failures for one name, or from one address, within WINDOW, the login page
refuses every further try for that name or from that address, without checking the
password, until enough of those failures have left the window. A refused try is not
counted, so someone who waits gets in on time. A successful sign-in clears the name's
failures, from every address; the address's failures for other names still count.

The failures are rows in the database (routing.models.LoginAttempt), so every web
process of the office counts the same ones. Two processes checking at the same moment
may each let one more try through; the limit is a brake, not an exact count.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import Flask, current_app
from sqlalchemy import ColumnElement, delete, select
from sqlalchemy.orm import Session

from routing.models import LoginAttempt, utcnow

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
        return f"Too many failed sign-ins; try again in {minutes} minute{'' if minutes == 1 else 's'}."


class LoginThrottle:
    """Counts failed sign-ins and says when to refuse; `clock` is replaced by tests."""

    def __init__(self, limit: int = LIMIT, window: timedelta = WINDOW) -> None:
        self.limit = limit
        self.window = window
        self.clock: Callable[[], datetime] = utcnow

    def init_app(self, app: Flask) -> None:
        app.extensions["login_throttle"] = self

    def refusal(self, session: Session, name: str, address: str) -> Refusal | None:
        """Why a sign-in for `name` from `address` is refused now, or None when it may go ahead."""
        now = self.clock()
        ends = [
            self._blocked_until(session, LoginAttempt.name == _key(name), now),
            self._blocked_until(session, LoginAttempt.address == _key(address), now),
        ]
        blocked = [end for end in ends if end is not None]
        return Refusal(max(blocked), now) if blocked else None

    def failed(self, session: Session, name: str, address: str) -> None:
        """Count a failed sign-in, and forget those too old to count any more."""
        now = self.clock()
        session.execute(delete(LoginAttempt).where(LoginAttempt.attempted_at <= now - self.window))
        session.add(LoginAttempt(name=_key(name), address=_key(address), attempted_at=now))

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


def _key(value: str) -> str:
    return value[:_KEY_LENGTH]
