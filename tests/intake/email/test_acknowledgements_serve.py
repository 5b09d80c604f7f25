"""No acknowledgement loop: `intake serve` acknowledges a customer's mail through its
relay, where an auto-responder on loopback (aiosmtpd) answers every message it gets
straight back to Intake's SMTP port. Whether the responder marks its answers (RFC 3834)
or not, Intake sends exactly one acknowledgement."""

from __future__ import annotations

import smtplib
import threading
from email.message import EmailMessage
from pathlib import Path

import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session

from tests.support.dovecot import wait_for
from tests.support.mail import email_bytes
from tests.support.notifications import _SinkHandler
from tests.support.replies import ANSWERING, relay, replying_config
from tests.support.serving import ServeProcess


class AutoResponder(_SinkHandler):
    """The customer's mail system: keeps what it is sent and answers each one at once,
    From the customer, To the sender; `marked` answers carry RFC 3834's headers."""

    def __init__(self, marked: bool) -> None:
        super().__init__()
        self.marked = marked
        self.intake_port = 0

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        answer = await super().handle_DATA(server, session, envelope)
        received = self.messages[-1][1]
        threading.Thread(target=self._respond, args=(received,), daemon=True).start()
        return answer

    def _respond(self, received: EmailMessage) -> None:
        response = EmailMessage()
        response["From"] = "ann@client.example"
        response["To"] = str(received["From"])
        response["Subject"] = "Away until Monday"  # no token, no In-Reply-To: a new message to Intake
        response["Message-ID"] = f"<away{len(self.messages)}@client.example>"
        if self.marked:
            response["Auto-Submitted"] = "auto-replied"
        response.set_content("I am away until Monday.")
        with smtplib.SMTP("127.0.0.1", self.intake_port, timeout=30) as client:
            client.send_message(response)


@pytest.mark.parametrize("marked", [True, False], ids=["marked", "unmarked"])
def test_intake_and_an_auto_responder_exchange_one_acknowledgement_and_stop(
    database_url: str, tmp_path: Path, marked: bool
) -> None:
    with relay() as smarthost:
        responder = smarthost.handler = AutoResponder(marked)
        smarthost.stop()
        smarthost.start()  # with the responder as its handler
        serve = ServeProcess(replying_config(tmp_path, smarthost.port, ANSWERING), database_url)
        responder.intake_port = serve.smtp_port
        try:
            serve.wait_until_running()
            with smtplib.SMTP("127.0.0.1", serve.smtp_port, timeout=30) as client:
                client.sendmail(
                    "ann@client.example", ["billing@office.test"], email_bytes(to="billing@office.test")
                )
            wait_for(
                lambda: len(serve.get_json("/api/v1/items")["items"]) == 2, "the auto-reply stored as an item"
            )
            items = serve.get_json("/api/v1/items")["items"]
            replies = [serve.get_json(f"/api/v1/items/{item['id']}/replies")["replies"] for item in items]
            # The acknowledgement is stored with its item, in one transaction: none was stored
            # for the auto-reply, so none can be sent later.
            assert sorted(len(found) for found in replies) == [0, 1]
            assert [message["Auto-Submitted"] for _, message in responder.messages] == ["auto-replied"]
        finally:
            serve.stop()
