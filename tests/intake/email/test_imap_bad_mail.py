"""The IMAP poller against a real Dovecot: storage refused, a message that keeps failing,
limits, late IDLE news."""

from __future__ import annotations

import dataclasses
import select as sockets

from imapclient import IMAPClient
from sqlalchemy import select

from intake.cli.runtime import Runtime
from intake.email.imap import MAX_ATTEMPTS, fetch_mail, idle_responses, pollers
from routing.store.database import transaction
from routing.store.mailboxes import MailboxStore
from routing.store.models import Item
from tests.support.dovecot import (
    PASSWORD,
    Dovecot,
    folder_flags,
    imap_mailbox,
    lease,
    mailbox_state,
    running_poller,
    wait_for,
)
from tests.support.mail import email_bytes
from tests.support.refusal import refusing


def stored(runtime: Runtime) -> list[tuple[str, bytes, list[str]]]:
    """(subject, raw bytes, parse defects) of every item, in the order stored."""
    with transaction(runtime.sessions, write=False) as session:
        items = session.scalars(select(Item).order_by(Item.id)).all()
        return [(item.subject, item.raw.content, list(item.parse_defects)) for item in items]


def test_a_message_that_keeps_failing_is_stored_raw_only_and_later_mail_flows(
    runtime: Runtime, dovecot: Dovecot
) -> None:
    user = dovecot.new_user()
    stuck = email_bytes(subject="Refused by the database", message_id="<stuck@client.example>")
    dovecot.save(user, stuck)
    dovecot.save(user, email_bytes(subject="Behind it", message_id="<next@client.example>"))
    with (
        refusing(runtime.engine, "Refused by the database"),
        running_poller(runtime, imap_mailbox(dovecot, user)),
    ):
        wait_for(lambda: len(stored(runtime)) == 2, "both messages stored")
        wait_for(lambda: folder_flags(dovecot, user) == [{b"\\Seen"}] * 2, "both flagged after their commits")
    (raw_subject, raw, defects), (subject, _, _) = stored(runtime)
    assert (raw_subject, raw, subject) == ("", stuck, "Behind it")
    assert defects == [f"UID 1 failed {MAX_ATTEMPTS} times; stored raw only"]
    state = mailbox_state(runtime, user)
    assert state is not None and state.last_uid == 2
    assert "StorageUnavailable" in (state.last_error or "")


def test_a_message_the_server_will_not_give_is_noted_and_later_mail_flows(
    runtime: Runtime, dovecot: Dovecot
) -> None:
    user = dovecot.new_user()
    dovecot.save(user, email_bytes(subject="Unreadable", message_id="<unreadable@client.example>"))
    # A file the server cannot open: Dovecot ends the session at every FETCH of it, as a
    # server does with a message it cannot convert or read.
    [unreadable] = dovecot.message_files(user)
    unreadable.chmod(0)
    dovecot.save(user, email_bytes(subject="Behind it", message_id="<behind@client.example>"))
    with running_poller(runtime, imap_mailbox(dovecot, user)):
        wait_for(lambda: len(stored(runtime)) == 2, "a note and the message behind it stored")
    (_, note, [defect]), (subject, _, _) = stored(runtime)
    assert subject == "Behind it"
    assert b"UID 1" in note and b"INBOX" in note
    assert defect.startswith(f"UID 1 failed {MAX_ATTEMPTS} times and the server would not give it: ")
    assert defect.endswith("; stored raw only")
    # Left as it was, for a person to read in a mail program; the one behind it flagged.
    assert folder_flags(dovecot, user) == [set(), {b"\\Seen"}]
    state = mailbox_state(runtime, user)
    assert state is not None and state.last_uid == 2


def test_a_message_expunged_between_the_search_and_its_fetch_is_passed_over(dovecot: Dovecot) -> None:
    user = dovecot.new_user()
    raw = email_bytes(subject="Deleted on a phone")
    dovecot.save(user, raw)
    dovecot.save(user, raw)
    with IMAPClient("127.0.0.1", dovecot.port, ssl=False, timeout=5) as client:
        client.login(user, PASSWORD)
        client.select_folder("INBOX")
        assert client.search(["UID", "1:*"]) == [1, 2]
        with IMAPClient("127.0.0.1", dovecot.port, ssl=False, timeout=5) as phone:
            phone.login(user, PASSWORD)
            phone.select_folder("INBOX")
            phone.delete_messages([1])
            phone.uid_expunge([1])
        # Dovecot answers for the expunged message with its body NIL.
        assert fetch_mail(client, 1) is None
        fetched = fetch_mail(client, 2)
    assert fetched is not None and fetched.raw == raw and not fetched.deleted


def test_in_move_mode_a_message_stays_in_the_inbox_until_it_is_stored_then_moves_once(
    runtime: Runtime, dovecot: Dovecot
) -> None:
    user = dovecot.new_user()
    dovecot.doveadm_run("mailbox", "create", "-u", user, "Done")
    dovecot.save(user, email_bytes(subject="Kept while the database refuses"))
    # A backoff long enough that the poller tries once while storage is refused.
    mailbox = imap_mailbox(dovecot, user, after="move", move_to="Done", backoff_seconds=30.0)
    with (
        refusing(runtime.engine, "Kept while the database refuses"),
        running_poller(runtime, mailbox),
    ):
        wait_for(
            lambda: (state := mailbox_state(runtime, user)) and state.failures == 1, "the refused attempt"
        )
    assert stored(runtime) == []
    assert folder_flags(dovecot, user, "INBOX") == [set()]  # still there, unread
    assert folder_flags(dovecot, user, "Done") == []

    # The database accepts again: the next poll stores the message once and moves it once.
    with running_poller(runtime, mailbox):
        wait_for(lambda: not folder_flags(dovecot, user, "INBOX"), "the message moved after its commit")
    assert [subject for subject, _, defects in stored(runtime) if not defects] == [
        "Kept while the database refuses"
    ]
    assert len(stored(runtime)) == 1 and len(folder_flags(dovecot, user, "Done")) == 1


def test_the_configured_limits_apply_to_imap_mail(runtime: Runtime, dovecot: Dovecot) -> None:
    user = dovecot.new_user()
    raw = email_bytes(subject="Larger than allowed", body="x" * 2000 + "\r\n")
    dovecot.save(user, raw)
    mailbox = imap_mailbox(dovecot, user)
    smtp = dataclasses.replace(runtime.settings.smtp, max_message_size=1000)
    settings = dataclasses.replace(runtime.settings, imap=(mailbox,), smtp=smtp)
    [poller] = pollers(
        settings,
        runtime.deliverer.deliver,
        lambda name: MailboxStore(runtime.sessions, name),
        lambda mailbox: lease(runtime, mailbox),
    )
    poller.start()
    try:
        wait_for(lambda: stored(runtime), "the message stored")
    finally:
        poller.stop()
    [(subject, stored_raw, defects)] = stored(runtime)
    assert (subject, stored_raw) == ("Larger than allowed", raw)
    assert defects == [f"over limit: message is {len(raw)} bytes (limit 1000); only its headers were read"]


def test_news_arriving_just_after_an_idle_check_timed_out_is_read_not_taken_for_a_close(
    dovecot: Dovecot,
) -> None:
    user = dovecot.new_user()
    with IMAPClient("127.0.0.1", dovecot.port, ssl=False, timeout=5) as client:
        client.login(user, PASSWORD)
        client.select_folder("INBOX")
        client.idle()
        timed_out = client.idle_check(timeout=0)  # nothing yet: the check times out
        dovecot.save(user, email_bytes(subject="Just after"))
        wait_for(lambda: _readable(client), "the server's news on the socket")
        responses = idle_responses(client, timed_out)
        client.idle_done()
    assert timed_out == []
    assert (1, b"EXISTS") in responses


def _readable(client: IMAPClient) -> bool:
    poller = sockets.poll()
    poller.register(client.socket().fileno(), sockets.POLLIN)
    return bool(poller.poll(0))
