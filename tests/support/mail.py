"""Literal RFC 5322 messages for the tests, written out byte for byte."""

from __future__ import annotations


def email_bytes(
    *,
    to: str = "sales@office.test",
    sender: str = "Ann Example <ann@client.example>",
    subject: str = "A question about prices",
    message_id: str | None = "<q1@client.example>",
    body: str = "Hello,\r\nwhat does the large one cost?\r\n\r\nAnn\r\n",
    cc: str | None = None,
) -> bytes:
    """A plain-text email with CRLF line endings, as a mail server would send it."""
    lines = [
        f"From: {sender}",
        f"To: {to}",
        *([f"Cc: {cc}"] if cc else []),
        f"Subject: {subject}",
        "Date: Mon, 02 Nov 2026 10:15:00 -0500",
        *([f"Message-ID: {message_id}"] if message_id else []),
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=utf-8",
        "Content-Transfer-Encoding: 8bit",
        "",
    ]
    return ("\r\n".join(lines) + "\r\n" + body).encode("utf-8")


def raw_message(*lines: str | bytes) -> bytes:
    """Header and body lines joined with CRLF; str lines are UTF-8, bytes lines kept as given."""
    return b"\r\n".join(line if isinstance(line, bytes) else line.encode("utf-8") for line in lines) + b"\r\n"
