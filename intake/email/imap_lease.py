"""The lease on reading one IMAP mailbox, taken and renewed on a thread of its own.

The poller logs in only while this process holds the lease (routing/store/leases.py),
and stops reading as soon as it may no longer be the holder. Renewal runs apart from
the poller so that a slow message (a long parse, a slow server) never lets the lease
lapse under it. The lease counts as held here for two thirds of its length after the
last renewal that succeeded: one missed renewal is forgiven, and the last third is the
margin for the nodes' clocks, since another node may take over only once it has expired.
"""

from __future__ import annotations

import logging
import threading
import time

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from routing.store import leases
from routing.store.models import utcnow

log = logging.getLogger(__name__)

# How often a poller waiting for the lease looks whether it has been taken.
WAIT_SECONDS = 0.1
# How often a process without the lease looks whether it is free (a read only): a node
# that stops cleanly hands its mailboxes over this soon.
LOOK_SECONDS = 1.0


class LeaseLost(Exception):
    """This process may no longer read the mailbox: another node holds its lease."""


class MailboxLease:
    """This process's claim on reading mailbox `name`, for `seconds` at a time."""

    def __init__(self, sessions: sessionmaker[Session], name: str, holder: str, seconds: float) -> None:
        self.sessions = sessions
        self.name = leases.mailbox_lease(name)
        self.holder = holder
        self.seconds = seconds
        self._held_until = 0.0  # time.monotonic() until which the lease counts as ours
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"lease-{name}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, give_up: bool = True) -> None:
        """Stop renewing and, if `give_up`, give the lease up, so that another node takes
        over at once; else it is left to expire."""
        self._stopping.set()
        self._thread.join(self.seconds)
        self._held_until = 0.0
        if not give_up:
            log.warning("%s: its poller has not ended; the lease is left to expire", self.name)
            return
        try:
            leases.release(self.sessions, self.name, self.holder)
        except SQLAlchemyError as error:
            log.warning("%s: the lease could not be given up (it expires by itself): %s", self.name, error)

    def held(self) -> bool:
        return time.monotonic() < self._held_until

    def check(self) -> None:
        """Raise LeaseLost unless this process holds the lease now."""
        if not self.held():
            raise LeaseLost(f"{self.name} is no longer this process's to read")

    def wait(self, stopping: threading.Event) -> bool:
        """Wait until the lease is ours (True) or `stopping` is set (False)."""
        while not stopping.is_set():
            if self.held():
                return True
            stopping.wait(WAIT_SECONDS)
        return False

    def _run(self) -> None:
        while not self._stopping.is_set():
            self._renew()
            self._stopping.wait(self.seconds / 3 if self.held() else min(self.seconds / 3, LOOK_SECONDS))

    def _renew(self) -> None:
        started = time.monotonic()
        try:
            taken = leases.take(self.sessions, self.name, self.holder, utcnow(), self.seconds)
        except SQLAlchemyError as error:
            log.warning("%s: the lease could not be renewed: %s", self.name, error)
            return
        was_held = self.held()
        self._held_until = started + self.seconds * 2 / 3 if taken else 0.0
        if taken and not was_held:
            log.info("%s: lease taken by %s", self.name, self.holder)
        elif was_held and not taken:
            log.warning("%s: lease lost to another node", self.name)
