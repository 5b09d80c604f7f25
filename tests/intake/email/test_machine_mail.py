"""Machine mail: bounces, auto-replies, read receipts, list and bulk mail get their kind."""

from __future__ import annotations

import pytest

from intake.email.parser import parse_email
from routing.message import MACHINE_KINDS
from tests.support.mail import email_bytes, raw_message


def report(report_type: str, status_type: str, sender: str = "MAILER-DAEMON@mx.client.example") -> bytes:
    return raw_message(
        f"From: {sender}",
        "To: sales@office.test",
        "Subject: Report",
        "MIME-Version: 1.0",
        f"Content-Type: multipart/report; report-type={report_type}; boundary=r",
        "",
        "--r",
        "Content-Type: text/plain",
        "",
        "Something about your message.",
        "--r",
        f"Content-Type: {status_type}",
        "",
        "Reporting-MTA: dns; mx.client.example",
        "",
        "Final-Recipient: rfc822; gone@client.example",
        "Action: failed",
        "Status: 5.1.1",
        "--r",
        "Content-Type: message/rfc822",
        "",
        "From: sales@office.test",
        "Subject: Your quote",
        "",
        "Here it is.",
        "--r--",
    )


def test_a_delivery_status_notification_is_a_bounce_with_its_parts_kept() -> None:
    message = parse_email(report("delivery-status", "message/delivery-status"))
    assert message.machine_kind == "bounce"
    assert message.text == "Something about your message."
    assert [a.content_type for a in message.attachments] == ["message/delivery-status", "message/rfc822"]
    assert b"Status: 5.1.1" in message.attachments[0].content
    assert message.attachments[1].filename == "Your quote.eml"


def test_a_disposition_notification_is_a_read_receipt() -> None:
    raw = report("disposition-notification", "message/disposition-notification", "ann@client.example")
    assert parse_email(raw).machine_kind == "read-receipt"


def test_an_abuse_feedback_report_is_a_complaint() -> None:
    raw = report("feedback-report", "message/feedback-report", "arf@isp.example")
    assert parse_email(raw).machine_kind == "complaint"


def test_a_bounce_wrapped_in_multipart_mixed_is_still_a_bounce() -> None:
    inner = report("delivery-status", "message/delivery-status").split(b"\r\n\r\n", 1)
    raw = raw_message(
        "From: postmaster@client.example",
        "Content-Type: multipart/mixed; boundary=outer",
        "",
        "--outer",
        "Content-Type: multipart/report; report-type=delivery-status; boundary=r",
        "",
        inner[1].decode(),
        "--outer--",
    )
    assert parse_email(raw).machine_kind == "bounce"


def test_a_bounce_forwarded_by_a_person_is_the_persons_mail() -> None:
    bounce = report("delivery-status", "message/delivery-status")
    raw = raw_message(
        "From: ann@client.example",
        "Subject: Fwd: my mail to you bounced?",
        "Content-Type: multipart/mixed; boundary=fwd",
        "",
        "--fwd",
        "Content-Type: text/plain",
        "",
        "Why did this bounce?",
        "--fwd",
        "Content-Type: message/rfc822",
        "",
        bounce.decode(),
        "--fwd--",
    )
    assert parse_email(raw).machine_kind is None


HEADER_KINDS = [
    ("Auto-Submitted: auto-replied", "auto-reply"),
    ("Auto-Submitted: auto-replied; owner-email=ann@client.example", "auto-reply"),
    ("X-Autoreply: yes", "auto-reply"),
    ("X-Autorespond: Out of office", "auto-reply"),
    ("Precedence: auto_reply", "auto-reply"),
    ("X-MS-Exchange-Inbox-Rules-Loop: ann@client.example", "auto-reply"),
    ("X-Apple-Action: VACATION", "auto-reply"),
    ("X-Auto-Response-Suppress: All", None),
    ("Auto-Submitted: auto-generated", "auto-generated"),
    ("Auto-Submitted: auto-notified", "auto-generated"),
    ("Auto-Submitted: no", None),
    ("List-Id: Client news <news.client.example>", "list"),
    ("Precedence: list", "list"),
    ("Precedence: bulk", "bulk"),
    ("Precedence: junk", "bulk"),
    ("X-Failed-Recipients: gone@client.example", "bounce"),
    ("Return-Path: <>", "bounce"),
    ("X-Mailer: Thunderbird", None),
]


@pytest.mark.parametrize(("header", "kind"), HEADER_KINDS)
def test_headers_that_mark_machine_mail(header: str, kind: str | None) -> None:
    raw = raw_message(
        "From: Ann <ann@client.example>", "To: sales@office.test", header, "Subject: hi", "", "x"
    )
    assert parse_email(raw).machine_kind == kind


def test_an_out_of_office_reply_from_the_null_sender_is_an_auto_reply_not_a_bounce() -> None:
    raw = raw_message("From: ann@client.example", "Auto-Submitted: auto-replied", "Subject: Away", "", "x")
    assert parse_email(raw, envelope_sender="").machine_kind == "auto-reply"


def test_plain_mail_from_the_null_sender_is_a_bounce() -> None:
    assert parse_email(email_bytes(), envelope_sender="").machine_kind == "bounce"
    assert parse_email(email_bytes(), envelope_sender=None).machine_kind is None


@pytest.mark.parametrize(
    ("sender", "subject", "kind"),
    [
        ("MAILER-DAEMON@mx.client.example", "Undelivered Mail Returned to Sender", "bounce"),
        ("MAILER-DAEMON@mx.client.example", "Warning", "bounce"),
        ("postmaster@client.example", "Undeliverable: Your quote", "bounce"),
        ("postmaster@client.example", "DELIVERY FAILURE: user unknown", "bounce"),
        ("Bob <postmaster@client.example>", "Please look at this link", None),
    ],
)
def test_plain_text_bounces_from_mail_daemons_are_bounces(
    sender: str, subject: str, kind: str | None
) -> None:
    assert parse_email(email_bytes(sender=sender, subject=subject)).machine_kind == kind


def test_a_rule_may_name_every_kind_the_parser_tells() -> None:
    """The `machine` condition refuses a kind it does not know (routing.message.MACHINE_KINDS)."""
    told = {kind for _, kind in HEADER_KINDS if kind} | {"read-receipt", "complaint"}
    assert told == set(MACHINE_KINDS)
