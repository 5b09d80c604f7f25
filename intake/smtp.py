"""The SMTP door: aiosmtpd accepts mail for the office's domains and hands it on.

The handler checks recipients, parses the bytes and calls deliver() on a worker
thread, so a slow database never blocks the other connections. It answers 250 only
after the commit and 451 when storage fails, so a sender never loses a message.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from config.settings import Settings
from intake.email_parser import parse_email
from routing.database import StorageUnavailable
from routing.delivery import Delivery
from routing.message import InboundMessage

log = logging.getLogger(__name__)

RELAY_DENIED = "550 5.7.1 Relaying denied: this server accepts mail for its own domains only"
TRY_AGAIN = "451 4.3.0 Temporary failure storing the message, please try again later"
# How long a stop waits for messages already being stored before it gives up on them.
STOP_GRACE_SECONDS = 30.0


class IntakeHandler:
    """aiosmtpd handler: recipient checks at RCPT, storage at DATA."""

    def __init__(self, settings: Settings, deliver: Callable[[InboundMessage], Delivery], workers: int = 8):
        self.settings = settings
        self.deliver = deliver
        self.executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="smtp-deliver")
        self._in_flight = 0
        self._idle = threading.Condition()

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        domain = address.rpartition("@")[2].lower()
        if not self.settings.owns_domain(domain):
            return RELAY_DENIED
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        loop = asyncio.get_running_loop()
        with self._tracked(loop):
            try:
                delivery = await loop.run_in_executor(self.executor, self._store, raw, envelope)
            except StorageUnavailable:
                return TRY_AGAIN
            except Exception:
                log.exception("storing a message from %s failed", session.peer)
                return TRY_AGAIN
        return f"250 2.0.0 OK: stored as item {delivery.item_id}"

    async def handle_exception(self, error: Exception) -> str:
        # aiosmtpd's default reply would show the exception text to the client.
        log.error("SMTP session error: %r", error)
        return "421 4.3.0 Temporary server error, closing connection"

    def _store(self, raw: bytes, envelope: Envelope) -> Delivery:
        message = parse_email(
            raw,
            envelope_sender=envelope.mail_from or None,
            envelope_recipients=tuple(envelope.rcpt_tos),
        )
        return self.deliver(message)

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


class IntakeSMTP(SMTP):
    """aiosmtpd's protocol with long lines allowed."""

    def __init__(self, handler: IntakeHandler, *, line_length_limit: int, **kwargs: Any) -> None:
        # Real senders write lines far past RFC 5321's 1000 octets; the size limit
        # still bounds them. SMTP.__init__ reads this for its stream buffer.
        self.line_length_limit = line_length_limit
        super().__init__(handler, **kwargs)


class Listener(Controller):
    def factory(self) -> IntakeSMTP:
        return IntakeSMTP(self.handler, **self.SMTP_kwargs)


class SMTPServer:
    """The listening SMTP service, on its own thread and event loop."""

    def __init__(self, settings: Settings, deliver: Callable[[InboundMessage], Delivery]) -> None:
        self.handler = IntakeHandler(settings, deliver)
        listen = settings.smtp.listen
        self.controller = Listener(
            self.handler,
            hostname=listen.host,
            port=listen.port,
            server_hostname=settings.smtp.hostname,
            data_size_limit=settings.smtp.max_message_size,
            line_length_limit=settings.smtp.max_message_size,
            enable_SMTPUTF8=True,
        )

    def start(self) -> None:
        self.controller.start()

    def stop(self) -> None:
        """Stop listening, let the messages being stored finish, then close."""
        server: Any = self.controller.server
        if server is not None:
            self.controller.loop.call_soon_threadsafe(server.close)
        if not self.handler.wait_idle(STOP_GRACE_SECONDS):
            log.warning("stopping with messages still being stored; their senders will retry")
        self.controller.stop()
        self.handler.executor.shutdown(wait=True)
