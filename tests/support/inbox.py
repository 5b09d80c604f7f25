"""Waiting for the inbox: a message answered 250 is committed there, and an item only once a worker has made it one."""

from __future__ import annotations

import time

from sqlalchemy.orm import Session, sessionmaker

from routing.store import inbox
from routing.store.database import transaction


def wait_until_drained(sessions: sessionmaker[Session], timeout: float = 30.0) -> None:
    """Return once the inbox is empty: every message accepted is an item (or a follow-up)."""
    deadline = time.monotonic() + timeout
    while True:
        with transaction(sessions, write=False) as session:
            left = inbox.backlog(session).depth
        if left == 0:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{left} messages still in the inbox after {timeout} s")
        time.sleep(0.02)
