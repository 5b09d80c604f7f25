"""Sending one email through a configured mail server (a relay or smarthost), for any job.

Notifications and replies both go out this way; what a send's failure means for the
job is decided here once: the server's 4xx or no answer is worth another try, a 5xx
(the server refusing the message or every recipient) is failed for good.
"""

from __future__ import annotations

import smtplib
import ssl
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime

from config.settings import MailServer
from intake.jobs.worker import JobFailed


class SendFailed(JobFailed):
    """A message was not delivered; `retry` says whether trying again may help."""


def send_email(server: MailServer, message: EmailMessage, sent_at: datetime) -> list[str]:
    """Send through `server`; the recipients it refused while taking the rest."""
    message["Date"] = format_datetime(sent_at)
    try:
        with _connect(server) as smtp:
            if server.security == "starttls":
                smtp.starttls(context=ssl.create_default_context())
            if server.username:
                smtp.login(server.username, server.password)
            refused = smtp.send_message(message)
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
        raise SendFailed(f"the mail server could not be reached: {error}", retry=True) from None
    return sorted(refused)


def _connect(server: MailServer) -> smtplib.SMTP:
    if server.security == "ssl":
        context = ssl.create_default_context()
        return smtplib.SMTP_SSL(server.host, server.port, timeout=server.timeout_seconds, context=context)
    return smtplib.SMTP(server.host, server.port, timeout=server.timeout_seconds)
