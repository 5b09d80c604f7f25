"""Sending one email through a configured mail server (a relay or smarthost), for any job.

Notifications and replies both go out this way; what a send's failure means for the
job is decided here once: the server's 4xx or no answer is worth another try, a 5xx
(the server refusing the message or every recipient) is failed for good. Once the
server has answered 250 to the message, it is sent, whatever happens to the connection
after; a server that reads the message and then closes or falls silent may have taken
it (RFC 1047): that is tried again, and the copy keeps its Message-ID.
"""

from __future__ import annotations

import smtplib
import ssl
from contextlib import suppress
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime

from config.settings import MailServer
from intake.jobs.worker import JobFailed


class SendFailed(JobFailed):
    """A message was not delivered; `retry` says whether trying again may help."""


class _Relay(smtplib.SMTP):
    """smtplib's client, remembering whether the server has read a message it has not yet
    answered: a closed connection or silence then may follow a message it took."""

    message_unanswered = False

    def getreply(self) -> tuple[int, bytes]:
        code, answer = super().getreply()
        # After 354 the message's data goes out, and the next reply is the one that takes it.
        self.message_unanswered = code == 354
        return code, answer


class _SecureRelay(_Relay, smtplib.SMTP_SSL):
    """The same over implicit TLS (port 465)."""


def send_email(server: MailServer, message: EmailMessage, sent_at: datetime) -> list[str]:
    """Send through `server`; the recipients it refused while taking the rest."""
    message["Date"] = format_datetime(sent_at)
    smtp: _Relay | None = None
    try:
        smtp = _connect(server)
        if server.security == "starttls":
            smtp.ehlo_or_helo_if_needed()
            if not smtp.has_extn("starttls"):  # never send in the clear what should be encrypted
                raise SendFailed('the mail server offers no STARTTLS (security = "starttls")', retry=True)
            smtp.starttls(context=ssl.create_default_context())
        if server.username:
            smtp.login(server.username, server.password)
        refused = smtp.send_message(message)
        # The message is the server's now: its answer to QUIT, or none, changes nothing.
        with suppress(smtplib.SMTPException, OSError):
            smtp.quit()
    except smtplib.SMTPRecipientsRefused as error:
        codes = [code for code, _ in error.recipients.values()]
        raise SendFailed(
            f"the mail server refused every recipient ({codes})", retry=min(codes) < 500
        ) from None
    except smtplib.SMTPResponseException as error:
        answer = (
            error.smtp_error.decode(errors="replace")
            if isinstance(error.smtp_error, bytes)
            else error.smtp_error
        )
        problem = f"the mail server answered {error.smtp_code} {answer}"
        raise SendFailed(problem, retry=error.smtp_code < 500) from None
    except (smtplib.SMTPException, OSError) as error:
        raise SendFailed(_lost(server, error, smtp), retry=True) from None
    finally:
        if smtp is not None:
            smtp.close()  # after quit() it does nothing; after a failure it frees the socket
    return sorted(refused)


def _connect(server: MailServer) -> _Relay:
    if server.security == "ssl":
        context = ssl.create_default_context()
        return _SecureRelay(server.host, server.port, timeout=server.timeout_seconds, context=context)
    return _Relay(server.host, server.port, timeout=server.timeout_seconds)


def _lost(server: MailServer, error: smtplib.SMTPException | OSError, smtp: _Relay | None) -> str:
    """What a person reads of a send that got no answer."""
    # smtplib reports a reply that timed out as SMTPServerDisconnected, the timeout its context.
    silent = isinstance(error, TimeoutError) or isinstance(error.__context__, TimeoutError)
    if silent:
        what = f"the mail server did not answer within {server.timeout_seconds:g} s"
    elif isinstance(error, smtplib.SMTPServerDisconnected):
        what = "the mail server closed the connection"
    else:
        return f"the mail server could not be reached: {error}"
    if smtp is not None and smtp.message_unanswered:
        return f"{what} after reading the message: it may have taken the message, which goes again"
    return what
