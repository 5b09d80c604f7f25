"""The SMTP door: aiosmtpd accepts mail for the office's domains and hands it on.

The handler checks recipients, parses the bytes and calls deliver() on a worker
thread, so a slow database never blocks the other connections. It answers 250 only
after the commit and 451 when storage fails, so a sender never loses a message.
The bytes stored are the bytes sent, less only SMTP's dot-stuffing.
"""

from __future__ import annotations

import asyncio
import logging
import re
import socket
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.proxy_protocol import ProxyData
from aiosmtpd.smtp import SMTP, Envelope, Session

from config.settings import ListenAddress, Settings
from intake.email_parser import EmailLimits
from intake.email_parser import Envelope as MailEnvelope
from intake.email_storing import Parse, parse_here, store_email
from intake.smtp_recipients import RecipientPolicy
from intake.smtp_submission import CheckedAuth, PasswordCheck, tls_context
from routing.database import UnstorableMessage
from routing.delivery import Delivery
from routing.message import InboundMessage

log = logging.getLogger(__name__)

TRY_AGAIN = "451 4.3.0 Temporary failure storing the message, please try again later"
SERVER_ERROR = "451 4.3.0 Temporary server error, please try again later"
REFUSED_FOR_GOOD = "554 5.6.0 The message cannot be stored as sent; please send it in another form"
TOO_MANY_RECIPIENTS = "452 4.5.3 Too many recipients"
# How long a stop waits for messages already being stored before it gives up on them.
STOP_GRACE_SECONDS = 30.0
PROXY_TIMEOUT_SECONDS = 5.0
# A source route, "<@relay.example,@other.example:user@domain>", up to its colon.
_SOURCE_ROUTE = re.compile(r"^\s*<\s*(@[^:>]*):")


class IntakeHandler:
    """aiosmtpd handler: recipient checks at RCPT, storage at DATA."""

    def __init__(
        self,
        settings: Settings,
        deliver: Callable[[InboundMessage], Delivery],
        workers: int = 8,
        parse: Parse = parse_here,
    ):
        self.recipients = RecipientPolicy(settings)
        self.parse = parse
        self.limits = EmailLimits.from_settings(settings)
        self.max_recipients = settings.smtp.max_recipients
        self.deliver = deliver
        self.executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="smtp-deliver")
        self._in_flight = 0
        self._idle = threading.Condition()

    async def handle_PROXY(
        self, server: SMTP, session: Session, envelope: Envelope, proxy: ProxyData
    ) -> bool:
        # aiosmtpd has already closed connections whose header is not valid.
        log.info("connection from %s via proxy %s", proxy.src_addr, session.peer)
        return True

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

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        loop = asyncio.get_running_loop()
        with self._tracked(loop):
            try:
                delivery = await loop.run_in_executor(self.executor, self._store, raw, envelope)
            except UnstorableMessage:
                # Even its raw bytes alone were refused: a retry would fail the same way.
                log.exception("a message from %s cannot be stored", session.peer)
                return REFUSED_FOR_GOOD
            except Exception:
                # StorageUnavailable or anything unforeseen: the sender keeps the message.
                log.exception("storing a message from %s failed", session.peer)
                return TRY_AGAIN
        return f"250 2.0.0 OK: stored as item {delivery.item_id}"

    async def handle_exception(self, error: Exception) -> str:
        # aiosmtpd's default reply would show the exception text to the client, and
        # returning None would leave the client waiting for a reply that never comes.
        log.error("SMTP session error: %r", error)
        return SERVER_ERROR

    def _store(self, raw: bytes, envelope: Envelope) -> Delivery:
        addresses = MailEnvelope(envelope.mail_from, (), tuple(envelope.rcpt_tos))
        return store_email(self.deliver, raw, addresses, limits=self.limits, parse=self.parse)

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
    """aiosmtpd's protocol, with long lines allowed, source routes left visible, and
    passwords checked off the event loop."""

    def __init__(self, handler: IntakeHandler, *, line_length_limit: int, **kwargs: Any) -> None:
        # Real senders write lines far past RFC 5321's 1000 octets; the size limit
        # still bounds them. SMTP.__init__ reads this for its stream buffer.
        self.line_length_limit = line_length_limit
        super().__init__(handler, **kwargs)

    def _getaddr(self, arg: str) -> tuple[str | None, str | None]:
        # aiosmtpd drops a source route silently; keep it so that the recipient
        # check sees the relay attempt and refuses it.
        address, rest = super()._getaddr(arg)
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

    def __init__(
        self, settings: Settings, deliver: Callable[[InboundMessage], Delivery], parse: Parse = parse_here
    ) -> None:
        self.handler = IntakeHandler(settings, deliver, parse=parse)
        smtp = settings.smtp
        common: dict[str, Any] = {
            "server_hostname": smtp.hostname,
            "ident": "Intake ESMTP",
            "data_size_limit": smtp.max_message_size,
            "line_length_limit": smtp.max_message_size,
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
