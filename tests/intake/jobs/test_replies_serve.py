"""End to end: mail in over SMTP to `intake serve`, a reply through the API, the office's
relay (aiosmtpd on loopback) receives it, and the customer's answer joins the same item;
the reply sent by serve's worker processes or, with `--workers 0`, by serve itself, and by
an `intake worker` started alone."""

from __future__ import annotations

import os
import signal
import smtplib
import subprocess
import sys
from pathlib import Path

import pytest

from intake.email.parser import parse_email
from tests.support.dovecot import wait_for
from tests.support.mail import email_bytes
from tests.support.replies import open_office, relay, replying_config, replying_office
from tests.support.serving import ServeProcess


@pytest.mark.parametrize(("workers", "where"), [("1", "the worker processes"), ("0", "this process")])
def test_intake_serve_sends_a_reply_and_threads_the_answer(
    database_url: str, tmp_path: Path, workers: str, where: str
) -> None:
    with relay() as smarthost:
        serve = ServeProcess(replying_config(tmp_path, smarthost.port), database_url, "--workers", workers)
        try:
            serve.wait_for_line(f"Jobs (replies, notifications, downloads, retention): in {where}")
            serve.wait_for_line(f"Sending replies through 127.0.0.1:{smarthost.port}")
            serve.wait_until_running()
            with smtplib.SMTP("127.0.0.1", serve.smtp_port, timeout=30) as client:
                client.sendmail(
                    "ann@client.example", ["billing@office.test"], email_bytes(to="billing@office.test")
                )
            serve.wait_until_drained()
            [item] = serve.get_json("/api/v1/items")["items"]
            status, reply = serve.user.post_json(
                f"/api/v1/items/{item['id']}/reply", {"text": "Paid on Monday."}
            )
            assert (status, reply["status"], reply["channel"]) == (202, "queued", "email")
            wait_for(lambda: smarthost.handler.messages, "the reply at the relay")
            [(recipients, sent)] = smarthost.handler.messages
            assert recipients == ["ann@client.example"]
            assert sent["From"] == "Billing <accounts@office.test>"
            assert sent["Subject"] == f"Re: A question about prices [#{item['id']}]"
            assert (sent["In-Reply-To"], sent["References"]) == ("<q1@client.example>", "<q1@client.example>")
            answer = email_bytes(
                to="accounts@office.test", subject=str(sent["Subject"]), message_id="<q2@client.example>"
            ).replace(b"MIME-Version", f"In-Reply-To: {sent['Message-ID']}\r\nMIME-Version".encode(), 1)
            with smtplib.SMTP("127.0.0.1", serve.smtp_port, timeout=30) as client:
                client.sendmail("ann@client.example", ["accounts@office.test"], answer)
            serve.wait_until_drained()
            [joined] = serve.get_json("/api/v1/items")["items"]
            assert (joined["id"], joined["messages"]) == (item["id"], 2)
            wait_for(
                lambda: (
                    serve.get_json(f"/api/v1/items/{item['id']}/replies")["replies"][0]["status"] == "sent"
                ),
                "the reply marked sent",
            )
        finally:
            serve.stop()


def test_an_intake_worker_alone_sends_the_replies_the_web_stored(database_url: str, tmp_path: Path) -> None:
    with relay() as smarthost:
        settings = replying_office(tmp_path, database_url, smarthost.port)
        with open_office(settings) as office:
            item_id = office.runtime.deliverer.deliver(parse_email(email_bytes())).item_id
            response = office.client.post(f"/api/v1/items/{item_id}/reply", json={"text": "Paid."})
            assert (response.status_code, response.get_json()["status"]) == (202, "queued")
            worker = subprocess.Popen(
                [sys.executable, "-m", "intake", "--config", str(settings.source), "worker"],
                env={**os.environ, "INTAKE_DATABASE_URL": database_url},
            )
            try:
                wait_for(lambda: smarthost.handler.messages, "the reply at the relay")
                wait_for(lambda: [r.status for r in office.replies()] == ["sent"], "the reply marked sent")
            finally:
                worker.send_signal(signal.SIGTERM)
                assert worker.wait(30) == 0
        [(recipients, sent)] = smarthost.handler.messages
        assert recipients == ["ann@client.example"]
        assert sent["Subject"] == f"Re: A question about prices [#{item_id}]"
