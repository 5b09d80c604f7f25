"""The SMTP door: aiosmtpd accepts mail for the office's domains and hands it on.

The handler checks recipients and hands the bytes and the envelope to the inbox's writer
(routing.store.inbox), awaiting its commit on the event loop, so a slow database never
blocks the other connections; parsing and routing come later, in the inbox workers. It answers 250 only
after the commit and 451 when storage fails, so a sender never loses a message.
The bytes stored are the bytes sent, less only SMTP's dot-stuffing. No client can
hold the door down: connections are counted, command lines are short, and a
message's DATA is read in pieces with a pause allowed between them (smtp_data).
"""

from __future__ import annotations

import asyncio
import io
import logging
import re
import socket
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, AnyStr

from aiosmtpd.controller import Controller
from aiosmtpd.proxy_protocol import ProxyData
from aiosmtpd.smtp import SMTP, Envelope, Session, syntax

from config.settings import ListenAddress, Settings
from intake.email.smtp_connections import TOO_MANY_CONNECTIONS, ConnectionCount
from intake.email.smtp_data import DataLimits, Spool, receive_data
from intake.email.smtp_recipients import RecipientPolicy
from intake.email.smtp_submission import CheckedAuth, PasswordCheck, tls_context
from routing.store.database import UnstorableMessage
from routing.store.inbox import ACCEPT_TIMEOUT_SECONDS, Arrival, Submit

log = logging.getLogger(__name__)

TRY_AGAIN = "451 4.3.0 Temporary failure storing the message, please try again later"
SERVER_ERROR = "451 4.3.0 Temporary server error, please try again later"
REFUSED_FOR_GOOD = "554 5.6.0 The message cannot be stored as sent; please send it in another form"
TOO_MANY_RECIPIENTS = "452 4.5.3 Too many recipients"
TOO_MUCH_DATA = "552 5.3.4 Message too big"
STARTTLS_NOT_OFFERED = "502 5.5.1 STARTTLS is not offered on this port"
NO_SENDER_DOMAIN = "553 5.1.7 The sender's address has no domain: give a mailbox (local@domain), or <>"
# The answer names no item: item numbers are the office's business, not the sender's.
ACCEPTED = "250 2.0.0 OK: message accepted"
# The null reverse-path of MAIL FROM:<>, as aiosmtpd gives it.
NULL_SENDER = "<>"
# The buffer commands are read through. aiosmtpd refuses command lines longer than
# RFC 5321's 512 octets plus what the extensions in use add; AUTH answers are read
# through it too, with room for a long password. DATA has its own reader.
COMMAND_BUFFER = 4096
# How long a stop waits for messages already being stored before it gives up on them.
STOP_GRACE_SECONDS = 30.0
PROXY_TIMEOUT_SECONDS = 5.0
# A source route, "<@relay.example,@other.example:user@domain>", up to its colon.
_SOURCE_ROUTE = re.compile(r"^\s*<\s*(@[^:>]*):")
# The path nearly every client sends: `<local@domain>`, both dot-atoms of ASCII
# (RFC 5322 3.2.3), then perhaps blanks and parameters, but no comment.
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_PLAIN_PATH = re.compile(rf"<({_ATOM}(?:\.{_ATOM})*@{_ATOM}(?:\.{_ATOM})*)>[ \t]*(?![ \t(])(.*)")
# What no address may hold: control characters (NUL, a bare CR, ESC, DEL) and the lone
# surrogates that stand for bytes that are not UTF-8 (aiosmtpd decodes arguments with
# surrogateescape). Neither database can store them, so they are refused at once.
_NOT_IN_AN_ADDRESS = re.compile(r"[\x00-\x1f\x7f\ud800-\udfff]")


def peer_host(session: Session) -> str:
    """The address a connection comes from (aiosmtpd types the peer as a string;
    for TCP it is the (host, port) pair of the socket)."""
    peer: Any = session.peer
    return str(peer[0])


def reverse_path(mail_from: str | None) -> str | None:
    """The sender as stored: the null reverse-path, which aiosmtpd keeps as "<>", is ""
    from the door on, as the parser reads it (a bounce, intake.email.machine_mail)."""
    return "" if mail_from == NULL_SENDER else mail_from


class IntakeHandler:
    """aiosmtpd handler: recipient checks at RCPT, the inbox's commit at DATA."""

    def __init__(self, settings: Settings, submit: Submit, workers: int = 8):
        self.recipients = RecipientPolicy(settings)
        self.max_recipients = settings.smtp.max_recipients
        self.in_memory = settings.smtp.max_memory_per_connection
        self.submit = submit
        # Reads the messages spooled to disk, so that the event loop never waits on a file.
        self.executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="smtp-deliver")
        self._in_flight = 0
        self._idle = threading.Condition()

    async def handle_PROXY(
        self, server: IntakeSMTP, session: Session, envelope: Envelope, proxy: ProxyData
    ) -> bool:
        # aiosmtpd has already closed connections whose header is not valid. The
        # balancer's own check ("PROXY UNKNOWN") names no client: count the balancer.
        log.info("connection from %s via proxy %s", proxy.src_addr, session.peer)
        return await server.admit(str(proxy.src_addr or peer_host(session)))

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, mail_options: list[str]
    ) -> str:
        # aiosmtpd takes whatever path it can read: "<not an address>" as a quoted local
        # part with no domain. A reverse-path is null or a mailbox (RFC 5321 4.1.2); one
        # without a domain names nobody to answer or to bounce to.
        local, at, domain = address.rpartition("@")
        if address != NULL_SENDER and not (local and at and domain):
            return NO_SENDER_DOMAIN
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        if len(envelope.rcpt_tos) >= self.max_recipients:
            return TOO_MANY_RECIPIENTS
        refusal = self.recipients.refusal(address)
        if refusal:
            return refusal
        if address.lower() not in (known.lower() for known in envelope.rcpt_tos):
            envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope, spool: Spool) -> str:
        """Store the message in `spool` (IntakeSMTP passes it instead of original_content)."""
        loop = asyncio.get_running_loop()
        with self._tracked(loop):
            try:
                if spool.seek(0, io.SEEK_END) <= self.in_memory:  # still in memory: read at once
                    arrival = self._arrival(spool, envelope)
                else:
                    arrival = await loop.run_in_executor(self.executor, self._arrival, spool, envelope)
                # Awaited here rather than on a thread: a hand-off less for each message.
                async with asyncio.timeout(ACCEPT_TIMEOUT_SECONDS):
                    await asyncio.wrap_future(self.submit(arrival))
            except UnstorableMessage:
                # Even its raw bytes alone were refused: a retry would fail the same way.
                log.exception("a message from %s cannot be stored", session.peer)
                return REFUSED_FOR_GOOD
            except Exception:
                # StorageUnavailable or anything unforeseen: the sender keeps the message.
                log.exception("storing a message from %s failed", session.peer)
                return TRY_AGAIN
        return ACCEPTED

    async def handle_exception(self, error: Exception) -> str:
        # aiosmtpd's default reply would show the exception text to the client, and
        # returning None would leave the client waiting for a reply that never comes.
        log.error("SMTP session error: %r", error)
        return SERVER_ERROR

    @staticmethod
    def _arrival(spool: Spool, envelope: Envelope) -> Arrival:
        # Read only now: only the messages being stored are whole in memory.
        with spool:
            spool.seek(0)
            raw = spool.read()
        sender = reverse_path(envelope.mail_from)
        return Arrival("email", sender, tuple(envelope.rcpt_tos), raw, datetime.now(UTC))

    @contextmanager
    def _tracked(self, loop: asyncio.AbstractEventLoop) -> Iterator[None]:
        """Count a message as in flight until its reply has been written.

        aiosmtpd writes the reply in the same step of the event loop in which the
        handler returns, so a decrement scheduled with call_soon runs after it.
        """
        with self._idle:
            self._in_flight += 1
        try:
            yield
        finally:
            loop.call_soon(self._finished)

    def _finished(self) -> None:
        with self._idle:
            self._in_flight -= 1
            self._idle.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        """Block until no message is being stored; False if `timeout` ran out first."""
        with self._idle:
            return self._idle.wait_for(lambda: self._in_flight == 0, timeout)


class IntakeSMTP(CheckedAuth):
    """aiosmtpd's protocol, with connections counted, DATA read in pieces, source
    routes left visible, passwords checked off the event loop, and the bad input
    aiosmtpd would fail on refused with a reply."""

    # SMTP.__init__ sizes its stream buffer with this.
    line_length_limit = COMMAND_BUFFER

    def __init__(
        self, handler: IntakeHandler, *, connections: ConnectionCount, data_limits: DataLimits, **kwargs: Any
    ) -> None:
        self.connections, self.data_limits = connections, data_limits
        self.counted_as: str | None = None
        # While DATA comes: when bytes were last heard, for the idle timer.
        self._heard_at: float | None = None
        super().__init__(handler, **kwargs)

    async def _handle_client(self) -> None:
        # Behind a load balancer the client's address comes in the PROXY header,
        # which aiosmtpd reads in this coroutine; handle_PROXY admits it there.
        assert self.session is not None and self.transport is not None
        if self._proxy_timeout is None and not await self.admit(peer_host(self.session)):
            self.transport.close()
            return
        await super()._handle_client()

    async def admit(self, address: str) -> bool:
        """Count this connection as one from `address`; when it is one too many, say so."""
        self.counted_as = self.connections.take(address)
        if self.counted_as is None:
            log.warning("too many connections: %s refused", address)
            await self.push(TOO_MANY_CONNECTIONS)
            return False
        return True

    def connection_lost(self, error: Exception | None) -> None:
        if self.counted_as is not None:
            self.connections.give_back(self.counted_as)
            self.counted_as = None
        super().connection_lost(error)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        # During DATA a pause is timed from the last bytes heard, so a slow sender of a
        # big message is not cut off and a silent one is. The timer is re-armed at most
        # ten times per idle period (re-arming it for every read would cost more than
        # the read), so a silence of between 0.9 and 1 idle period ends the transfer.
        idle = self.data_limits.idle_seconds
        if self._heard_at is not None and (now := self.loop.time()) - self._heard_at > idle / 10:
            self._reset_timeout(idle)
            self._heard_at = now

    @syntax("DATA")
    async def smtp_DATA(self, arg: str) -> None:
        # aiosmtpd's own reader would need a buffer the size of the longest line
        # (see smtp_data); its checks before the 354 are repeated in _data_may_start.
        if not await self._data_may_start(arg):
            return
        await self.push("354 End data with <CR><LF>.<CR><LF>")
        self._reset_timeout(self.data_limits.idle_seconds)
        self._heard_at = self.loop.time()
        try:
            spool = await receive_data(self._reader, self.data_limits)
        finally:
            self._heard_at = None
        # Storing may well take longer than a pause between two pieces.
        self._reset_timeout()
        status = TOO_MUCH_DATA if spool is None else await self._call_handler_hook("DATA", spool)
        self.envelope = self._create_envelope()  # as aiosmtpd's untyped _set_post_data_state
        await self.push(status)

    async def _data_may_start(self, arg: str) -> bool:
        """aiosmtpd's checks before DATA, each answering the client itself when it fails."""
        if await self.check_helo_needed() or await self.check_auth_needed("DATA"):
            return False
        assert self.envelope is not None
        if not self.envelope.rcpt_tos:
            await self.push("503 Error: need RCPT command")
            return False
        if arg:
            await self.push("501 Syntax: DATA")
            return False
        return True

    def _getparams(self, params: Sequence[str]) -> dict[str, str | bool] | None:
        # aiosmtpd checks SIZE with str.isdigit(), which also takes a superscript two,
        # on which its int() then fails: a syntax error, not a server error.
        result = super()._getparams(params)
        size = (result or {}).get("SIZE")
        if isinstance(size, str) and not (size.isascii() and size.isdigit()):
            return None
        return result

    @syntax("STARTTLS", when="tls_context")
    async def smtp_STARTTLS(self, arg: str) -> None:
        # aiosmtpd answers 454, "try again later", where it has no certificate; on
        # this listener STARTTLS will never work, which is what 502 says.
        if not self.tls_context and not arg:
            await self.push(STARTTLS_NOT_OFFERED)
            return
        await super().smtp_STARTTLS(arg)

    async def push(self, status: AnyStr) -> None:
        # aiosmtpd echoes some arguments (VRFY's, in its 502); where they were not
        # UTF-8 they hold lone surrogates, which it would fail to encode: they are sent
        # back as the bytes that came.
        await super().push(status.encode("utf-8", "surrogateescape") if isinstance(status, str) else status)

    def _getaddr(self, arg: str) -> tuple[str | None, str | None]:
        # A plain path reads as aiosmtpd's parser would read it, at a twentieth of
        # its cost (a tenth of the door's work per mail went to it); any other
        # form goes through that parser.
        plain = _PLAIN_PATH.fullmatch(arg or "")
        if plain and len(plain[1].rpartition("@")[0]) <= (self.local_part_limit or len(plain[1])):
            return plain[1], plain[2]
        # aiosmtpd drops a source route silently; keep it so that the recipient
        # check sees the relay attempt and refuses it.
        address, rest = super()._getaddr(arg)
        if address and _NOT_IN_AN_ADDRESS.search(address):
            return None, None  # "553 5.1.3 malformed address", rather than a failure to store it
        route = _SOURCE_ROUTE.match(arg or "")
        if address and route:
            return f"{route[1]}:{address}", rest
        return address, rest


class Listener(Controller):
    """One listening socket on its own thread and event loop."""

    def __init__(self, handler: IntakeHandler, listen: ListenAddress, **smtp_kwargs: Any) -> None:
        super().__init__(handler, hostname=listen.host, port=listen.port, **smtp_kwargs)

    def factory(self) -> IntakeSMTP:
        return IntakeSMTP(self.handler, **self.SMTP_kwargs)

    def _trigger_server(self) -> None:
        # aiosmtpd connects once to check that its factory works; learn the real
        # port first (the config may ask for port 0) and speak PROXY if required.
        server: Any = self.server
        self.port = server.sockets[0].getsockname()[1]
        with socket.create_connection((self.hostname, self.port), 1.0) as connection:
            if self.SMTP_kwargs.get("proxy_protocol_timeout"):
                connection.sendall(b"PROXY UNKNOWN\r\n")
            connection.recv(1024)


class SMTPServer:
    """The public SMTP listener and, when configured, the submission listener."""

    def __init__(self, settings: Settings, submit: Submit) -> None:
        self.handler = IntakeHandler(settings, submit)
        smtp = settings.smtp
        common: dict[str, Any] = {
            "server_hostname": smtp.hostname,
            "ident": "Intake ESMTP",
            "data_size_limit": smtp.max_message_size,
            "connections": ConnectionCount(smtp.max_connections, smtp.max_connections_per_address),
            "data_limits": DataLimits(
                smtp.max_message_size, smtp.max_memory_per_connection, smtp.data_timeout_seconds
            ),
            "enable_SMTPUTF8": True,
            "proxy_protocol_timeout": PROXY_TIMEOUT_SECONDS if smtp.proxy_protocol else None,
        }
        self.public = Listener(self.handler, smtp.listen, **common)
        self.submission: Listener | None = None
        if smtp.submission:
            self.submission = Listener(
                self.handler,
                smtp.submission.listen,
                tls_context=tls_context(smtp.submission),
                require_starttls=True,
                auth_required=True,
                authenticator=PasswordCheck(smtp.submission),
                **common,
            )
        self.running = False

    def reload(self, settings: Settings) -> None:
        """Take a reloaded config's domains, department addresses and catch-all domains;
        the rest of [smtp] waits for a restart (config.holder.RESTART_ONLY)."""
        self.handler.recipients = RecipientPolicy(settings)

    @property
    def listeners(self) -> list[Listener]:
        return [self.public, *([self.submission] if self.submission else [])]

    def start(self) -> None:
        started: list[Listener] = []
        try:
            for listener in self.listeners:
                listener.start()
                started.append(listener)
        except BaseException:
            for listener in started:
                listener.stop()
            raise
        self.running = True

    def stop(self) -> None:
        """Stop listening, let the messages being stored finish, then close; once."""
        if not self.running:
            return
        self.running = False
        for listener in self.listeners:
            server: Any = listener.server
            if server is not None:
                listener.loop.call_soon_threadsafe(server.close)
        if not self.handler.wait_idle(STOP_GRACE_SECONDS):
            log.warning("stopping with messages still being stored; their senders will retry")
        for listener in self.listeners:
            listener.stop()
        self.handler.executor.shutdown(wait=True)
