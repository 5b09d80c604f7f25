"""Two pollers of one mailbox, as two processes would run them: the lease holder alone
logs in, and a clean stop hands the mailbox over at once, long before the lease expires."""

from __future__ import annotations

import dataclasses
import threading
from contextlib import ExitStack

from intake.cli.runtime import Runtime
from intake.email.imap import MailboxPoller, mailbox_recipients
from routing.delivery import Delivery
from routing.message import InboundMessage
from routing.store import leases
from routing.store.database import transaction
from routing.store.models import utcnow
from tests.support.dovecot import (
    Dovecot,
    imap_mailbox,
    item_subjects,
    lease,
    running_poller,
    store,
    wait_for,
)
from tests.support.mail import email_bytes


def _logins(dovecot: Dovecot, user: str) -> int:
    return dovecot.log().count(f"Login: user=<{user}>")


def test_one_poller_reads_and_a_clean_stop_hands_the_mailbox_over(runtime: Runtime, dovecot: Dovecot) -> None:
    user = dovecot.new_user()
    # Far longer than the waits below: only giving the lease up lets the second poller in.
    mailbox = imap_mailbox(dovecot, user, lease_seconds=60.0)
    with ExitStack() as first_running:
        first = first_running.enter_context(running_poller(runtime, mailbox))
        wait_for(first.lease.held, "the first poller holding the lease")
        with running_poller(runtime, mailbox) as second:
            dovecot.save(user, email_bytes(subject="First", message_id="<first@client.example>"))
            wait_for(lambda: item_subjects(runtime) == ["First"], "the first mail stored")
            assert _logins(dovecot, user) == 1
            first_running.close()
            assert second.is_alive() and not first.is_alive()
            dovecot.save(user, email_bytes(subject="Second", message_id="<second@client.example>"))
            wait_for(lambda: item_subjects(runtime) == ["First", "Second"], "the other poller reading on")
    assert _logins(dovecot, user) == 2


def test_a_poller_that_has_not_ended_keeps_the_mailbox_until_its_lease_runs_out(
    runtime: Runtime, dovecot: Dovecot
) -> None:
    user = dovecot.new_user()
    mailbox = imap_mailbox(dovecot, user, lease_seconds=60.0, timeout_seconds=0.5)
    storing, let_go = threading.Event(), threading.Event()

    def stuck_storing(message: InboundMessage) -> Delivery:
        storing.set()
        let_go.wait(30)  # a message stuck in storing, longer than the stop waits
        return runtime.deliverer.deliver(message)

    settings = dataclasses.replace(runtime.settings, imap=(mailbox,))
    poller = MailboxPoller(
        mailbox,
        mailbox_recipients(settings, mailbox),
        stuck_storing,
        store(runtime, mailbox),
        lease(runtime, mailbox),
    )
    poller.start()
    dovecot.save(user, email_bytes(subject="Stuck", message_id="<stuck@client.example>"))
    wait_for(storing.is_set, "the poller storing the mail")
    poller.stop()
    assert poller.is_alive()  # still storing: its lease is not given up
    with transaction(runtime.sessions, write=False) as session:
        held = leases.holders(session, [poller.lease.name], utcnow())
    assert held == {poller.lease.name: poller.lease.holder}
    let_go.set()
    wait_for(lambda: not poller.is_alive(), "the poller ending once its mail is stored")
    assert item_subjects(runtime) == ["Stuck"]
