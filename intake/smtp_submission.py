"""The submission listener's security: its TLS context and its password check.

The office's own programs and people send in here (a web form, a scanner, a phone);
they must switch to TLS with STARTTLS and then log in. Logging in never makes Intake
a relay: the recipients are checked exactly as on the public port.
"""

from __future__ import annotations

import logging
import secrets
import ssl
from typing import Any

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from werkzeug.security import check_password_hash, generate_password_hash

from config.settings import SubmissionSettings

log = logging.getLogger(__name__)


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
