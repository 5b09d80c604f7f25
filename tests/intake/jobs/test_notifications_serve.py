"""End to end: `intake serve` notifies Sales by email and webhook, once, and not of machine mail."""

from __future__ import annotations

import smtplib
from pathlib import Path

from tests.support.dovecot import wait_for
from tests.support.mail import email_bytes
from tests.support.notifications import notifying_office, smtp_sink, webhook_receiver
from tests.support.serving import ServeProcess


def test_intake_serve_sends_each_notification_once(database_url: str, tmp_path: Path) -> None:
    with smtp_sink() as (port, sink), webhook_receiver() as hook:
        settings = notifying_office(tmp_path, database_url, smtp_port=port, webhook_url=hook.url)
        serve = ServeProcess(settings.source, database_url)
        try:
            serve.wait_for_line("Sending department notifications")
            serve.wait_until_running()
            robot = email_bytes(subject="Out of office", message_id="<robot@client.example>")
            robot = robot.replace(b"MIME-Version", b"Auto-Submitted: auto-replied\r\nMIME-Version", 1)
            with smtplib.SMTP("127.0.0.1", serve.smtp_port, timeout=30) as client:
                client.sendmail("ann@client.example", ["sales@office.test"], robot)
                client.sendmail(
                    "ann@client.example", ["sales@office.test"], email_bytes(subject="Forty chairs")
                )
            # The worker takes due rows oldest first: the auto-reply, had it been queued,
            # would have gone out before the person's message.
            wait_for(lambda: sink.messages and hook.requests, "the email and the webhook")
        finally:
            serve.stop()
        assert [m["Subject"] for _, m in sink.messages] == ["[Intake] New item in Sales: Forty chairs"]
        assert [r.json["item"]["subject"] for r in hook.requests] == ["Forty chairs"]
        assert hook.requests[0].signed
