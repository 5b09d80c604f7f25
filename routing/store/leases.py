"""Leases: what only one process may do at a time, among every node on one database.

Reading an IMAP mailbox is such a thing: two nodes reading one mailbox would fetch each
message twice (deliver() would keep one item, but both would log in, fetch and move). A
lease is a row naming its holder and when it expires; the holder renews it well before
then, and any process takes it over once it has expired, so a node killed without a
word gives its work up one lease later. Taking and renewing is one conditional UPDATE,
atomic on SQLite and PostgreSQL alike, so two processes never both succeed.

Expiry is judged by each process's own clock: the nodes' clocks must agree (NTP) to well
within a lease.
"""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Collection
from datetime import datetime, timedelta

from sqlalchemy import delete, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from routing.store.database import transaction
from routing.store.models import Lease


def process_holder() -> str:
    """A name for this process, unique among every node's: host, process id, and a random
    part, since a restarted process may get the id of one that died."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


def take(sessions: sessionmaker[Session], name: str, holder: str, now: datetime, seconds: float) -> bool:
    """Take the lease `name` for `holder`, or renew it, until `seconds` after `now`.

    False while another holder's lease runs, found with a read alone: a process waiting
    for the lease looks often, and on SQLite must not take the office's write lock to
    look. Taking a lease held by nobody yet races with other processes doing the same;
    the one whose row is stored first wins.
    """
    with transaction(sessions, write=False) as session:
        found = session.get(Lease, name)
        if found is not None and found.holder != holder and found.expires_at > now:
            return False
    expires_at = now + timedelta(seconds=seconds)
    try:
        with transaction(sessions) as session:
            taken = session.scalar(
                update(Lease)
                .where(Lease.name == name, or_(Lease.holder == holder, Lease.expires_at <= now))
                .values(holder=holder, expires_at=expires_at)
                .returning(Lease.name)
            )
            if taken is not None:
                return True
            if session.get(Lease, name) is not None:
                return False
            session.add(Lease(name=name, holder=holder, expires_at=expires_at))
    except IntegrityError:
        return False  # another process stored the first row of this lease just now
    return True


def release(sessions: sessionmaker[Session], name: str, holder: str) -> None:
    """Give the lease up at once (a clean stop), if `holder` still holds it."""
    with transaction(sessions) as session:
        session.execute(delete(Lease).where(Lease.name == name, Lease.holder == holder))


def holders(session: Session, names: Collection[str], now: datetime) -> dict[str, str]:
    """Who holds each of the leases `names` now; one nobody holds (or expired) is left out."""
    found = session.execute(
        select(Lease.name, Lease.holder).where(Lease.name.in_(names), Lease.expires_at > now)
    )
    return {name: holder for name, holder in found}


def mailbox_lease(mailbox: str) -> str:
    """The name of the lease on reading the IMAP mailbox named `mailbox`."""
    return f"imap:{mailbox}"
