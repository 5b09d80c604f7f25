"""The IMAP door: one poller thread per configured mailbox, reading new mail by UID.

A poller selects its folder, stores every message past its saved position through
deliver(), and only after the commit moves or flags it; then, unless the server told
of more mail meanwhile, it waits in IDLE (or polls) for more. What it has read is its
stored position, never the \\Seen flag, so mail already opened on a phone is still
imported. A failure costs a reconnect with capped backoff and a catch-up; it is
recorded so /healthz shows a failing mailbox. A message that keeps failing is stored
raw, or noted in its place if the server will not give it, so the mail behind it flows.
A poller logs in only while its process holds the mailbox's lease (imap_lease.py), so
that among several nodes one alone reads each mailbox.
"""

from __future__ import annotations

import logging
import select
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from imapclient import IMAPClient

from config.settings import ImapMailbox, Settings
from intake.email.imap_lease import LeaseLost, MailboxLease
from intake.email.parser import EmailLimits, Envelope, parse_email
from intake.email.storing import Parse, parse_here, store_email
from routing.delivery import Delivery
from routing.message import InboundMessage
from routing.store.mailboxes import MailboxStore, Position

log = logging.getLogger(__name__)

# How often a waiting poller looks whether it has been asked to stop or lost its lease.
STOP_CHECK_SECONDS = 0.25
DELETED = b"\\Deleted"
# Failures of one UID (its FETCH, or its storing with the database answering) before it
# is stored raw only, or noted in its place when the server will not give it, so that
# the mail behind it flows again.
MAX_ATTEMPTS = 3
FETCH_ITEMS = ["BODY.PEEK[]", "INTERNALDATE", "FLAGS"]


class ConnectionLost(Exception):
    """The server ended the session (BYE) or closed the connection."""


class MailboxUnusable(Exception):
    """The mailbox cannot be handled as configured (for example, no way to move)."""


class MessageUnreadable(Exception):
    """The server answered for a message that is there, but without its bytes."""


@dataclass(frozen=True)
class FetchedMail:
    """One message as fetched: its bytes, when it arrived, and whether it is \\Deleted."""

    raw: bytes
    received_at: datetime | None
    deleted: bool


def mailbox_recipients(settings: Settings, mailbox: ImapMailbox) -> tuple[str, ...]:
    """The envelope recipients of mail from `mailbox`: its department's address, if it has one.

    A mailbox without a department gives none, so its mail is routed by its headers.
    """
    if mailbox.department is None:
        return ()
    return settings.department(mailbox.department).addresses[:1]


def fetched_message(data: dict[bytes, Any], recipients: tuple[str, ...]) -> InboundMessage:
    """The InboundMessage for one FETCH response (BODY[] and INTERNALDATE).

    `recipients` (the mailbox's department) come before the headers' own: the
    mailbox's mapping wins over the addresses the mail names.
    """
    return parse_email(data[b"BODY[]"], delivered_to=recipients, received_at=_arrived(data))


def fetch_mail(client: IMAPClient, uid: int) -> FetchedMail | None:
    """Message `uid` of the selected folder; None when it was expunged since the search.

    For a message expunged meanwhile a server answers nothing, or (Dovecot, as RFC 2180
    allows) the message with its body NIL; a UID SEARCH tells that one from a message
    that is still there and yet came without its bytes, which raises MessageUnreadable.
    """
    data = client.fetch([uid], FETCH_ITEMS).get(uid)
    if data is None:
        return None
    raw = data.get(b"BODY[]")
    if isinstance(raw, bytes):
        return FetchedMail(raw, _arrived(data), DELETED in data.get(b"FLAGS", ()))
    if not client.search(["UID", str(uid)]):
        return None
    raise MessageUnreadable(f"the server sent UID {uid} without its body")


def unreadable_note(mailbox: str, position: Position, uid: int) -> bytes:
    """What is stored in place of a message the server would not give, for people to see.

    The same bytes for the same message every time (mailbox, folder, UIDVALIDITY, UID;
    never the error), so that noting it again makes no second item.
    """
    lines = (
        "Subject: A message the IMAP server would not give",
        "Content-Type: text/plain; charset=utf-8",
        "",
        f"Mailbox {mailbox}, folder {position.folder} (UIDVALIDITY {position.uidvalidity}):",
        f"the server would not give message UID {uid}. It is still there; read it in a mail program.",
    )
    return ("\r\n".join(lines) + "\r\n").encode()


def _arrived(data: dict[bytes, Any]) -> datetime | None:
    received_at = data.get(b"INTERNALDATE")
    if not isinstance(received_at, datetime) or received_at.tzinfo is None:
        return None  # the time of storing is the next best
    return received_at


class MailboxPoller:
    """Reads one mailbox on its own thread until stop() is called."""

    def __init__(
        self,
        mailbox: ImapMailbox,
        recipients: tuple[str, ...],
        deliver: Callable[[InboundMessage], Delivery],
        store: MailboxStore,
        lease: MailboxLease,
        limits: EmailLimits | None = None,
        parse: Parse = parse_here,
    ) -> None:
        self.mailbox = mailbox
        self.parse = parse
        self.deliver = deliver
        self.store = store
        self.lease = lease
        self.limits = limits or EmailLimits()
        self._envelope = Envelope(None, recipients, ())  # the mailbox's department, if any
        self._failing = (0, 0)  # (UID, failed attempts) of the message that keeps failing
        self._stopping = threading.Event()
        self._worked = False  # whether the current connection got as far as a catch-up
        self._thread = threading.Thread(target=self.run, name=f"imap-{mailbox.name}", daemon=True)

    def start(self) -> None:
        self.lease.start()
        self._thread.start()

    def is_alive(self) -> bool:
        return self._thread.is_alive()

    def stop(self) -> None:
        """Ask the poller to stop and wait for it; the message in hand is finished first.

        The lease is given up only once the poller has ended: one still at work (a message
        stuck in storing) keeps the mailbox until the lease runs out, so that no other node
        reads beside it, and takes no further message."""
        self._stopping.set()
        # Ending IDLE and logging out may each wait one read timeout on a dying connection.
        self._thread.join(2 * self.mailbox.timeout_seconds + 1)
        self.lease.stop(give_up=not self._thread.is_alive())

    def run(self) -> None:
        delay = self.mailbox.backoff_seconds
        while self.lease.wait(self._stopping):
            self._worked = False
            try:
                self._session()
            except LeaseLost as lost:
                log.warning("%s: %s", self.mailbox.name, lost)  # another node reads it now
            # A poller must never die silently: whatever went wrong is recorded and retried.
            except Exception as error:
                self._note_failure(error)
                if self._worked:
                    delay = self.mailbox.backoff_seconds
                if self._stopping.wait(delay):
                    return
                delay = min(delay * 2, self.mailbox.backoff_max_seconds)

    def _session(self) -> None:
        with self._connect() as client:
            can_move = client.has_capability("MOVE") or client.has_capability("UIDPLUS")
            if self.mailbox.after == "move" and not can_move:
                raise MailboxUnusable("the server offers neither MOVE nor UIDPLUS; use after = flag")
            selected = client.select_folder(self.mailbox.folder)
            position = self.store.position(self.mailbox.folder, selected[b"UIDVALIDITY"])
            position = self._catch_up(client, position)
            while not self._stopping.is_set():
                if not new_mail_announced(client):
                    self._wait(client)
                position = self._catch_up(client, position)

    def _connect(self) -> IMAPClient:
        mailbox = self.mailbox
        context = ssl.create_default_context()
        client = IMAPClient(
            mailbox.host,
            mailbox.port,
            ssl=mailbox.security == "ssl",
            ssl_context=context,
            timeout=mailbox.timeout_seconds,
        )
        try:
            if mailbox.security == "starttls":
                client.starttls(context)
            if mailbox.oauth2_token_file is not None:
                client.oauth2_login(mailbox.username, mailbox.oauth2_token_file.read_text().strip())
            else:
                client.login(mailbox.username, mailbox.password)
        except BaseException:
            client.shutdown()
            raise
        client.normalise_times = False  # keep INTERNALDATE's own zone instead of local time
        return client

    def _catch_up(self, client: IMAPClient, position: Position) -> Position:
        """Store every message past `position`, in UID order, and save the new position."""
        self.lease.check()
        new_mail_announced(client)  # what was announced so far, this search sees
        found = client.search(["UID", f"{position.last_uid + 1}:*"])
        # "n:*" always includes the highest UID, even when it is below n.
        for uid in sorted(uid for uid in found if uid > position.last_uid):
            if self._stopping.is_set():
                break
            self.lease.check()
            self._take(client, position, uid)
            position = replace(position, last_uid=uid)
            self.store.save_position(position)
        self.store.record_success()
        self._worked = True
        return position

    def _take(self, client: IMAPClient, position: Position, uid: int) -> None:
        attempts = self._failing[1] if self._failing[0] == uid else 0
        give_up = f"UID {uid} failed {attempts} times" if attempts >= MAX_ATTEMPTS else None
        try:
            mail = self._fetch(client, position, uid, give_up)
            if mail is None:
                return
            delivery = store_email(
                self.deliver,
                mail.raw,
                self._envelope,
                limits=self.limits,
                received_at=mail.received_at,
                give_up=give_up,
                parse=self.parse,
            )
        except Exception:
            self._failing = (uid, attempts + 1)
            raise
        log.info(
            "%s: UID %s is item %s (new: %s)", self.mailbox.name, uid, delivery.item_id, delivery.created
        )
        self._after_commit(client, uid, mail.deleted)

    def _fetch(
        self, client: IMAPClient, position: Position, uid: int, give_up: str | None
    ) -> FetchedMail | None:
        """Message `uid`, or None when there is nothing to store: it was expunged since the
        search, or the server still will not give it after MAX_ATTEMPTS and a note is stored
        in its place. The note lets the mail behind it flow and tells the office that it is
        there; the message itself is left on the server untouched.
        """
        try:
            return fetch_mail(client, uid)
        except (MessageUnreadable, IMAPClient.Error) as error:
            if give_up is None:
                raise
            why = f"{give_up} and the server would not give it: {type(error).__name__}: {error}"
            note = unreadable_note(self.mailbox.name, position, uid)
            delivery = store_email(self.deliver, note, self._envelope, limits=self.limits, give_up=why)
            log.error("%s: %s; item %s says so", self.mailbox.name, why, delivery.item_id)
            return None

    def _after_commit(self, client: IMAPClient, uid: int, deleted: bool) -> None:
        if self.mailbox.after == "flag":
            client.add_flags([uid], [self.mailbox.flag])
        elif client.has_capability("MOVE"):
            client.move([uid], self.mailbox.move_to)
        else:
            # A message already \Deleted was copied before a crash (or a person deleted it):
            # copying it again would leave two in the archive folder.
            if not deleted:
                client.copy([uid], self.mailbox.move_to)
                client.add_flags([uid], [DELETED])
            client.uid_expunge([uid])  # this UID alone, not everyone's \Deleted mail

    def _wait(self, client: IMAPClient) -> None:
        if client.has_capability("IDLE"):
            self._idle(client)
        else:
            deadline = time.monotonic() + self.mailbox.poll_seconds
            while self._waiting() and (remaining := deadline - time.monotonic()) > 0:
                self._stopping.wait(min(STOP_CHECK_SECONDS, remaining))

    def _waiting(self) -> bool:
        """Whether to go on waiting for news: neither asked to stop nor out of the lease."""
        return not self._stopping.is_set() and self.lease.held()

    def _idle(self, client: IMAPClient) -> None:
        """Wait in IDLE until the folder changes, the renew time comes, or a stop."""
        client.idle()
        deadline = time.monotonic() + self.mailbox.idle_renew_seconds
        while self._waiting() and (remaining := deadline - time.monotonic()) > 0:
            responses = idle_responses(client, client.idle_check(timeout=min(STOP_CHECK_SECONDS, remaining)))
            if any(response[:1] == (b"BYE",) for response in responses):
                raise ConnectionLost("the server ended the session")
            if any(response[:1] != (b"OK",) for response in responses):
                break
        client.idle_done()  # a dead socket shows here, as a read timeout

    def _note_failure(self, error: Exception) -> None:
        if isinstance(
            error, OSError | ConnectionLost | MailboxUnusable | MessageUnreadable | IMAPClient.Error
        ):
            log.warning("%s: %s: %s", self.mailbox.name, type(error).__name__, error)
        else:
            log.exception("%s: unexpected failure", self.mailbox.name)
        try:
            self.store.record_failure(f"{type(error).__name__}: {error}")
        except Exception:
            log.exception("%s: the failure could not be recorded", self.mailbox.name)
            self._failing = (0, 0)  # the database is down: no message is to blame


def new_mail_announced(client: IMAPClient) -> bool:
    """Whether the server announced new mail (EXISTS) since the last time this was asked.

    A server tells of new mail once, in its answer to whatever command comes next: a
    FETCH, a STORE, a MOVE, or the SEARCH itself, whose result may not hold that mail
    yet. It does not tell again in IDLE, and imapclient files such news away unread
    (imaplib's untagged responses, which it offers no public way to read). Mail that
    arrived while a catch-up ran would otherwise wait in IDLE until the renew time.
    """
    return client._imap.untagged_responses.pop("EXISTS", None) is not None


def idle_responses(client: IMAPClient, responses: list[Any]) -> list[Any]:
    """`responses` from idle_check, or what arrived just after it timed out.

    Raises ConnectionLost when the socket polls readable and yet holds nothing: that
    is end of file. A socket that became readable after idle_check gave up waiting
    holds the server's news, which is read here rather than taken for a closed line.
    """
    if not responses and _readable(client) and not (responses := client.idle_check(timeout=0)):
        raise ConnectionLost("the server closed the connection")
    return responses


def _readable(client: IMAPClient) -> bool:
    poller = select.poll()
    poller.register(client.socket().fileno(), select.POLLIN)
    return bool(poller.poll(0))


def pollers(
    settings: Settings,
    deliver: Callable[[InboundMessage], Delivery],
    store: Callable[[str], MailboxStore],
    lease: Callable[[ImapMailbox], MailboxLease],
    parse: Parse = parse_here,
) -> list[MailboxPoller]:
    """One poller for each mailbox the config names (not started)."""
    limits = EmailLimits.from_settings(settings)
    return [
        MailboxPoller(
            mailbox,
            mailbox_recipients(settings, mailbox),
            deliver,
            store(mailbox.name),
            lease(mailbox),
            limits,
            parse,
        )
        for mailbox in settings.imap
    ]
