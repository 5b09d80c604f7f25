"""The submission listener's security: its TLS context and its password check.

The office's own programs and people send in here (a web form, a scanner, a phone);
they must switch to TLS with STARTTLS and then log in. Logging in never makes Intake
a relay: the recipients are checked exactly as on the public port. A password hash
takes a quarter of a second by design, so it is checked on a worker thread, not on
the event loop that serves every other session; three failed logins end a session.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import ssl
from dataclasses import dataclass
from typing import Any

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from werkzeug.security import check_password_hash, generate_password_hash

from config.settings import SubmissionSettings

log = logging.getLogger(__name__)

MAX_FAILED_LOGINS = 3
TOO_MANY_FAILURES = "421 4.7.0 Too many failed logins, closing the connection"


def tls_context(settings: SubmissionSettings) -> ssl.SSLContext:
    """A server TLS context from the configured certificate chain and key."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(settings.tls_cert, settings.tls_key)
    return context


class PasswordCheck:
    """aiosmtpd authenticator: PLAIN and LOGIN against the users file's hashes."""

    def __init__(self, settings: SubmissionSettings) -> None:
        self.users = dict(settings.users)
        # Checked for unknown names too, so that the time taken does not tell them apart.
        self.decoy = generate_password_hash(secrets.token_hex(16))

    def __call__(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        name = auth_data.login.decode("utf-8", errors="replace")
        password = auth_data.password.decode("utf-8", errors="replace")
        known = check_password_hash(self.users.get(name, self.decoy), password) and name in self.users
        if not known:
            log.warning("failed SMTP login as %r from %s", name, session.peer)
            return AuthResult(success=False, handled=False)
        return AuthResult(success=True, auth_data=name)


@dataclass(frozen=True)
class _Unchecked:
    """Credentials read by aiosmtpd and not checked yet."""

    mechanism: str
    auth_data: Any


class CheckedAuth(SMTP):
    """aiosmtpd's AUTH PLAIN and LOGIN, with the password checked off the event loop.

    aiosmtpd calls its authenticator synchronously from auth_PLAIN and auth_LOGIN;
    here that call only notes the credentials, which the same methods then check on a
    worker thread before answering.
    """

    failed_logins = 0

    async def smtp_AUTH(self, arg: str) -> None:
        await super().smtp_AUTH(arg)
        if self.failed_logins >= MAX_FAILED_LOGINS:
            await self.push(TOO_MANY_FAILURES)
            if self.transport is not None:
                self.transport.close()

    async def auth_PLAIN(self, _: SMTP, args: list[str]) -> AuthResult:
        return await self._checked(await super().auth_PLAIN(_, args))

    async def auth_LOGIN(self, _: SMTP, args: list[str]) -> AuthResult:
        return await self._checked(await super().auth_LOGIN(_, args))

    def _authenticate(self, mechanism: str, auth_data: Any) -> AuthResult:
        return AuthResult(success=False, handled=False, auth_data=_Unchecked(mechanism, auth_data))

    async def _checked(self, result: AuthResult) -> AuthResult:
        unchecked = result.auth_data
        if not isinstance(unchecked, _Unchecked):
            return result  # the client gave up or sent bad base64: aiosmtpd has answered
        loop = asyncio.get_running_loop()
        check = super()._authenticate
        checked = await loop.run_in_executor(None, check, unchecked.mechanism, unchecked.auth_data)
        if not checked.success:
            self.failed_logins += 1
        return checked
