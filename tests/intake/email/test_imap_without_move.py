"""The IMAP poller against a Dovecot that offers neither MOVE nor IDLE: copy, expunge one UID, poll."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from imapclient import IMAPClient

from intake.cli.runtime import Runtime
from intake.email.parser import parse_email
from tests.support.dovecot import (
    PASSWORD,
    Dovecot,
    folder_flags,
    imap_mailbox,
    item_subjects,
    mailbox_state,
    running_poller,
    wait_for,
)
from tests.support.mail import email_bytes

# What Dovecot 2.3 offers after login, less MOVE and IDLE.
CAPABILITIES = "IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE SORT UNSELECT CHILDREN NAMESPACE UIDPLUS LITERAL+"


@pytest.fixture(scope="module")
def dovecot() -> Iterator[Dovecot]:
    server = Dovecot(capabilities=CAPABILITIES)
    server.start()
    yield server
    server.stop()


def _client(dovecot: Dovecot, user: str) -> IMAPClient:
    client = IMAPClient("127.0.0.1", dovecot.port, ssl=False, timeout=5)
    client.login(user, PASSWORD)
    return client


def test_the_server_really_lacks_move_and_idle(dovecot: Dovecot) -> None:
    with _client(dovecot, dovecot.new_user()) as client:
        assert not client.has_capability("MOVE")
        assert not client.has_capability("IDLE")
        assert client.has_capability("UIDPLUS")


def test_moving_expunges_only_that_uid(runtime: Runtime, dovecot: Dovecot) -> None:
    user = dovecot.new_user()
    dovecot.doveadm_run("mailbox", "create", "-u", user, "Done")
    dovecot.save(user, email_bytes(subject="Old", message_id="<old@client.example>"))
    # The office read this mailbox with after = "flag" before; then someone deleted the
    # old message in their mail program, without expunging it.
    with running_poller(runtime, imap_mailbox(dovecot, user)):
        wait_for(lambda: item_subjects(runtime), "the old message stored")
    with _client(dovecot, user) as client:
        client.select_folder("INBOX")
        client.add_flags(client.search("ALL"), [b"\\Deleted"])
    mailbox = imap_mailbox(dovecot, user, after="move", move_to="Done")
    with running_poller(runtime, mailbox):
        wait_for(lambda: mailbox_state(runtime, user).last_uid == 1, "the move-mode poller ready")  # type: ignore[union-attr]
        dovecot.save(user, email_bytes(subject="New", message_id="<new@client.example>"))
        wait_for(lambda: folder_flags(dovecot, user, "Done"), "the new message copied to Done (by polling)")
        wait_for(lambda: len(folder_flags(dovecot, user, "INBOX")) == 1, "the new message expunged")
    assert item_subjects(runtime) == ["Old", "New"]
    assert folder_flags(dovecot, user, "INBOX") == [{b"\\Seen", b"\\Deleted"}]
    assert len(folder_flags(dovecot, user, "Done")) == 1


def test_a_crash_between_copy_and_expunge_leaves_one_copy(runtime: Runtime, dovecot: Dovecot) -> None:
    user = dovecot.new_user()
    raw = email_bytes(subject="Half moved")
    # As if the process had died after commit, COPY and the \\Deleted flag, before UID EXPUNGE.
    runtime.deliverer.deliver(parse_email(raw))
    dovecot.doveadm_run("mailbox", "create", "-u", user, "Done")
    dovecot.save(user, raw, "Done")
    dovecot.save(user, raw)
    with _client(dovecot, user) as client:
        client.select_folder("INBOX")
        client.add_flags(client.search("ALL"), [b"\\Deleted"])
    with running_poller(runtime, imap_mailbox(dovecot, user, after="move", move_to="Done")):
        wait_for(lambda: not folder_flags(dovecot, user, "INBOX"), "the half-moved message expunged")
    assert item_subjects(runtime) == ["Half moved"]
    assert len(folder_flags(dovecot, user, "Done")) == 1
