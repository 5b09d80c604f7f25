"""A real Dovecot IMAP server on a free loopback port, in a temporary folder, for tests.

Each test takes a user of its own (new_user), so tests sharing one server never see
each other's mail. Mail is delivered as a mail server would, with `doveadm save`.
"""

from __future__ import annotations

import dataclasses
import itertools
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from imapclient import IMAPClient
from sqlalchemy import select

from config.settings import ImapMailbox
from intake.cli.runtime import Runtime
from intake.email.imap import MailboxPoller, mailbox_recipients
from intake.email.imap_lease import MailboxLease
from routing.delivery import Delivery
from routing.message import InboundMessage
from routing.store.database import transaction
from routing.store.leases import process_holder
from routing.store.mailboxes import MailboxStore
from routing.store.models import Item, MailboxState
from tests.conftest import require_program

PASSWORD = "secret"
USERS = 100
START_DEADLINE_SECONDS = 10.0

CONFIG = """\
base_dir = {d}/run
state_dir = {d}/state
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
# Dovecot checks an XOAUTH2 token as it would a password: here, the token is PASSWORD.
auth_mechanisms = plain login xoauth2
# No growing delay after a failed login: the tests fail logins on purpose.
auth_failure_delay = 0
log_path = {d}/dovecot.log
passdb {{
  driver = passwd-file
  args = {d}/passwd
}}
userdb {{
  driver = static
  args = uid=dovecot gid=dovecot home={d}/home/%u
}}
mail_location = maildir:~/Maildir
first_valid_uid = 1
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
  chroot =
}}
service anvil {{
  chroot =
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class Dovecot:
    """One running server; `capabilities`, when given, replaces what it advertises."""

    def __init__(self, capabilities: str | None = None) -> None:
        self.dovecot = require_program("/usr/sbin/dovecot", "dovecot-imapd")
        self.doveadm = require_program("/usr/bin/doveadm", "dovecot-imapd")
        # Not under pytest's private temp folder: Dovecot's own users must reach the files.
        folder = self.folder = Path(tempfile.mkdtemp(prefix="intake-dovecot-"))
        folder.chmod(0o755)
        self.port = free_port()
        self.config = folder / "dovecot.conf"
        self._users = itertools.count(1)
        (folder / "home").mkdir()
        shutil.chown(folder / "home", "dovecot", "dovecot")
        # All users up front: Dovecot notices a changed passwd file only a second later.
        users = "".join(f"user{n}:{{PLAIN}}{PASSWORD}::::::\n" for n in range(1, USERS + 1))
        (folder / "passwd").write_text(users)
        text = CONFIG.format(d=folder, port=self.port)
        if capabilities is not None:
            text += f"protocol imap {{\n  imap_capability = {capabilities}\n}}\n"
        self.config.write_text(text)

    def start(self) -> None:
        subprocess.run([self.dovecot, "-c", str(self.config)], check=True)
        deadline = time.monotonic() + START_DEADLINE_SECONDS
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"dovecot did not listen on {self.port}: {self.log()}")

    def stop(self) -> None:
        try:
            self.doveadm_run("stop")
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)

    def log(self) -> str:
        path = self.folder / "dovecot.log"
        return path.read_text() if path.exists() else ""

    def new_user(self) -> str:
        """A new user with an empty mail store, allowed to log in at once."""
        number = next(self._users)
        assert number <= USERS, "raise USERS in tests/support/dovecot.py"
        return f"user{number}"

    def save(self, user: str, raw: bytes, folder: str = "INBOX") -> None:
        self.doveadm_run("save", "-u", user, "-m", folder, stdin=raw)

    def message_files(self, user: str) -> list[Path]:
        """The files of `user`'s messages in INBOX (maildir), as the server keeps them."""
        maildir = self.folder / "home" / user / "Maildir"
        return [*(maildir / "cur").iterdir(), *(maildir / "new").iterdir()]

    def doveadm_run(self, *args: str, stdin: bytes | None = None) -> None:
        subprocess.run(
            [self.doveadm, "-c", str(self.config), *args], input=stdin, check=True, capture_output=True
        )


# Generous: a passing test returns as soon as its condition holds; only a failure waits it
# out, and a loaded machine took more than 15 s for a node's poller to read five mails.
WAIT_DEADLINE_SECONDS = 60.0


def wait_for(condition: Callable[[], object], what: str) -> None:
    """Poll `condition` briefly until it holds; fail naming `what` at the deadline."""
    deadline = time.monotonic() + WAIT_DEADLINE_SECONDS
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting: {what}")
        time.sleep(0.02)


def imap_mailbox(server: Dovecot, user: str, **changes: Any) -> ImapMailbox:
    """Settings for reading `user`'s mail, with the short timeouts tests need."""
    values: dict[str, Any] = {
        "name": user,
        "host": "127.0.0.1",
        "port": server.port,
        "security": "none",
        "username": user,
        "password": PASSWORD,
        "idle_renew_seconds": 5.0,
        "poll_seconds": 0.1,
        "timeout_seconds": 5.0,
        "backoff_seconds": 0.05,
        "backoff_max_seconds": 0.2,
        **changes,
    }
    return ImapMailbox(**values)


@contextmanager
def running_poller(
    runtime: Runtime, mailbox: ImapMailbox, deliver: Callable[[InboundMessage], Delivery] | None = None
) -> Iterator[MailboxPoller]:
    """A poller for `mailbox` on the runtime's database, stopped when the block ends.

    `deliver`, when given, stands in for the runtime's own: one that calls it and also acts
    on the mailbox lets a test make something happen while the poller holds a message.
    """
    settings = dataclasses.replace(runtime.settings, imap=(mailbox,))
    poller = MailboxPoller(
        mailbox,
        mailbox_recipients(settings, mailbox),
        deliver or runtime.deliverer.deliver,
        store(runtime, mailbox),
        lease(runtime, mailbox),
    )
    poller.start()
    try:
        yield poller
    finally:
        poller.stop()
    assert not poller.is_alive()


def store(runtime: Runtime, mailbox: ImapMailbox) -> MailboxStore:
    return MailboxStore(runtime.sessions, mailbox.name)


def lease(runtime: Runtime, mailbox: ImapMailbox) -> MailboxLease:
    """The mailbox's lease, for a holder of its own (as a process of its own would be)."""
    return MailboxLease(runtime.sessions, mailbox.name, process_holder(), mailbox.lease_seconds)


def folder_flags(server: Dovecot, user: str, folder: str = "INBOX") -> list[set[bytes]]:
    """The flags of every message in `folder`, in UID order (read without changing them)."""
    with IMAPClient("127.0.0.1", server.port, ssl=False, timeout=5) as client:
        client.login(user, PASSWORD)
        client.select_folder(folder, readonly=True)
        fetched = client.fetch(client.search("ALL"), ["FLAGS"])
        return [set(fetched[uid][b"FLAGS"]) - {b"\\Recent"} for uid in sorted(fetched)]


def item_subjects(runtime: Runtime) -> list[str]:
    with transaction(runtime.sessions, write=False) as session:
        return list(session.scalars(select(Item.subject).order_by(Item.id)))


def mailbox_state(runtime: Runtime, name: str) -> MailboxState | None:
    with transaction(runtime.sessions, write=False) as session:
        return session.get(MailboxState, name)
