"""Two pollers of one mailbox, as two processes would run them: the lease holder alone
logs in, and a clean stop hands the mailbox over at once, long before the lease expires."""

from __future__ import annotations

from contextlib import ExitStack

from intake.cli.runtime import Runtime
from tests.support.dovecot import Dovecot, imap_mailbox, item_subjects, running_poller, wait_for
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
