"""A new sender's contact made once, however many transactions meet the sender at once."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import func, select

from intake.cli.runtime import Runtime
from routing.contacts.directory import ContactsAtArrival
from routing.store.database import transaction
from routing.store.models import Contact
from tests.support.mail import email_bytes
from tests.support.routers import email

BEA = email(email_bytes(sender="Bea Nou <bea@new.example>", message_id="<b1@new.example>"))


def _contacts(runtime: Runtime) -> int:
    with transaction(runtime.sessions, write=False) as session:
        return session.scalar(select(func.count()).select_from(Contact)) or 0


def test_a_sender_given_a_contact_meanwhile_finds_it_and_makes_none(runtime: Runtime) -> None:
    region = runtime.settings.region
    with transaction(runtime.sessions, write=False) as session:
        stale = ContactsAtArrival(session, [BEA], region)  # read before the other commits
    with transaction(runtime.sessions) as session:
        made = ContactsAtArrival(session, [BEA], region).of(session, BEA)
    with transaction(runtime.sessions) as session:
        assert stale.of(session, BEA) == made
    assert _contacts(runtime) == 1


def test_two_transactions_meeting_a_new_sender_at_once_make_one_contact(runtime: Runtime) -> None:
    region, first_made = runtime.settings.region, threading.Event()

    def first() -> int | None:
        with transaction(runtime.sessions) as session:
            contact = ContactsAtArrival(session, [BEA], region).of(session, BEA)
            first_made.set()
            # Held open while the second meets the sender too (on PostgreSQL it waits on
            # the address; on SQLite on the write lock, before it reads the contacts).
            threading.Event().wait(0.3)
        return contact

    def second() -> int | None:
        first_made.wait(10)
        with transaction(runtime.sessions) as session:
            return ContactsAtArrival(session, [BEA], region).of(session, BEA)

    with ThreadPoolExecutor(2) as pool:
        made = [pool.submit(first), pool.submit(second)]
        contacts = [future.result(timeout=30) for future in made]
    assert contacts[0] is not None and contacts[0] == contacts[1]
    assert _contacts(runtime) == 1
