"""Telling mail written by a machine from mail written by a person.

A bounce, an out-of-office reply, a read receipt or a mailing-list post is stored and
shown like any message, but with its kind, so that people see it for what it is and
nothing ever answers it automatically (answering an auto-reply starts a mail loop).
The checks run in order and the first that holds names the kind:

- "bounce": a delivery status notification (multipart/report; report-type=delivery-status,
  or a message/delivery-status part, RFC 3464), or an X-Failed-Recipients header;
- "read-receipt": a message disposition notification (report-type=disposition-notification,
  RFC 8098);
- "complaint": an abuse feedback report (report-type=feedback-report, RFC 5965);
- "auto-reply": Auto-Submitted: auto-replied (RFC 3834), X-Autoreply, X-Autorespond,
  Precedence: auto_reply, Exchange's X-MS-Exchange-Inbox-Rules-Loop or Apple's
  X-Apple-Action: VACATION (vacation and out-of-office programs);
- "auto-generated": any other Auto-Submitted value but "no" (notifications, alerts);
- "list": a List-Id header or Precedence: list;
- "bulk": Precedence: bulk or junk;
- "bounce" again for what is left from the null sender (MAIL FROM:<>, or Return-Path: <>)
  or from a MAILER-DAEMON address: only delivery reports are sent that way (RFC 5321
  section 4.5.5); and from postmaster@ with a delivery-failure subject.
"""

from __future__ import annotations

import re
from email.message import Message

from intake.email.headers import HeaderReader

REPORT_KINDS = {
    "delivery-status": "bounce",
    "disposition-notification": "read-receipt",
    "feedback-report": "complaint",
}
STATUS_PARTS = {
    "message/delivery-status": "bounce",
    "message/disposition-notification": "read-receipt",
    "message/feedback-report": "complaint",
}
FAILURE_SUBJECT = re.compile(
    r"undeliver|delivery (status|failure|failed)|returned mail|failure notice|mail system error",
    re.IGNORECASE,
)
# Present only on replies written by a program: vacation programs, and Exchange's
# out-of-office and inbox rules (which name the mailbox whose rule sent it).
AUTO_REPLY_HEADERS = ("X-Autoreply", "X-Autorespond", "X-MS-Exchange-Inbox-Rules-Loop")


def machine_kind(
    message: Message, headers: HeaderReader, sender: str, envelope_sender: str | None
) -> str | None:
    """The kind of machine that wrote `message`, or None for mail from a person.

    `envelope_sender` is "" for the null sender and None where no envelope is known.
    """
    return (
        _report_kind(message, headers)
        or _header_kind(headers)
        or _daemon_kind(headers, sender, envelope_sender)
    )


def _report_kind(message: Message, headers: HeaderReader) -> str | None:
    for part in _top_parts(message):
        reader = HeaderReader(part, [])
        content_type = reader.content_type()
        if content_type == "multipart/report":
            report_type = reader.read("report-type", lambda p: p.get_param("report-type"), None)
            kind = REPORT_KINDS.get(str(report_type or "").lower())
            if kind:
                return kind
        if content_type in STATUS_PARTS:
            return STATUS_PARTS[content_type]
    return "bounce" if headers.text("X-Failed-Recipients") else None


def _top_parts(message: Message) -> list[Message]:
    """The message and its multipart children two levels down, where reports are found.

    A forwarded message (message/rfc822) is not entered: a forwarded bounce is a person's.
    """
    parts = level = [message]
    for _ in range(2):
        level = [
            child
            for part in level
            if HeaderReader(part, []).content_type().startswith("multipart/")
            for child in _children(part)
        ]
        parts = parts + level
    return parts


def _children(part: Message) -> list[Message]:
    payload = part.get_payload()
    return [child for child in payload if isinstance(child, Message)] if isinstance(payload, list) else []


def _header_kind(headers: HeaderReader) -> str | None:
    auto_submitted = headers.text("Auto-Submitted").lower().partition(";")[0].strip()
    precedence = headers.text("Precedence").lower().strip()
    if auto_submitted == "auto-replied" or precedence == "auto_reply":
        return "auto-reply"
    if any(headers.text(name) for name in AUTO_REPLY_HEADERS):
        return "auto-reply"
    if headers.text("X-Apple-Action").lower() == "vacation":
        return "auto-reply"
    if auto_submitted and auto_submitted != "no":
        return "auto-generated"
    if headers.text("List-Id") or precedence == "list":
        return "list"
    if precedence in ("bulk", "junk"):
        return "bulk"
    return None


def _daemon_kind(headers: HeaderReader, sender: str, envelope_sender: str | None) -> str | None:
    # The Return-Path header is where the final mail server wrote the envelope sender.
    if envelope_sender == "" or headers.text("Return-Path").replace(" ", "") == "<>":
        return "bounce"
    local_part = sender.rpartition("@")[0].lower()
    if local_part == "mailer-daemon":
        return "bounce"
    # postmaster@ is also read and written by people: only a failure report counts.
    if local_part == "postmaster" and FAILURE_SUBJECT.search(headers.text("Subject")):
        return "bounce"
    return None
