"""Building routers from TOML snippets and messages as the channel adapters make them."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlencode

from sqlalchemy.orm import Session

from config.loading import load_settings
from config.settings import Settings
from intake.email.parser import parse_email
from routing.engine import Router, RoutingDecision
from routing.learning import Classifier, Suggestion
from routing.lessons import Lesson, lesson_of
from routing.message import InboundMessage
from routing.message_text import read_message
from routing.normalize import normalizer_for
from tests.conftest import OFFICE

# A Tuesday, 10:00 in New York: the test office is open.
OPEN_TIME = datetime(2026, 11, 3, 15, 0, tzinfo=UTC)
# A Saturday, 10:00 in New York: the test office is closed.
CLOSED_TIME = datetime(2026, 11, 7, 15, 0, tzinfo=UTC)


def office_with(tmp_path: Path, extra: str, database_url: str | None = None, office: str = "") -> Settings:
    """The test office with more TOML appended (rules, schedules, fixtures); `office` adds
    keys to its [office] table."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "office.toml"
    path.write_text(OFFICE.read_text().replace("[office]\n", f"[office]\n{office}", 1) + "\n" + extra)
    return load_settings(path, {"INTAKE_DATABASE_URL": database_url} if database_url else {})


# Sends a voicemail whose transcript mentions an invoice to billing.
INVOICE_RULE = """
[[rules]]
name = "invoice-words"
description = "A transcript that mentions an invoice goes to billing."
when = { transcript = ["invoice"] }
route = "billing"
"""


def invoice_router(settings: Settings, folder: Path) -> Router:
    """A router for the office of `settings` with INVOICE_RULE added."""
    path = folder / "office-with-invoice-rule.toml"
    path.write_text(settings.source.read_text() + INVOICE_RULE)
    return Router(load_settings(path, {"INTAKE_DATABASE_URL": settings.database.url}))


def rule_under_test(when: str) -> str:
    return f'[[rules]]\nname = "under-test"\nwhen = {{ {when} }}\nroute = "billing"\n'


def decide(router: Router, message: InboundMessage) -> RoutingDecision:
    """Route with the index and with every rule checked; the two must agree."""
    decision = router.route(message)
    assert router.route(message, explain=True).department_id == decision.department_id
    return decision


def match(tmp_path: Path, when: str, message: InboundMessage, office: str = "") -> str | None:
    """The reason a one-rule config's condition gives for `message`, or None if it misses."""
    decision = decide(Router(office_with(tmp_path, rule_under_test(when), office=office)), message)
    for outcome in decision.outcomes:
        if outcome.rule == "under-test" and outcome.matched:
            assert decision.department_id == "billing"
            return outcome.reason.rpartition(": routed")[0]
    assert decision.department_id != "billing"
    return None


def email(raw: bytes, received_at: datetime = OPEN_TIME, machine_kind: str | None = None) -> InboundMessage:
    message = parse_email(raw, received_at=received_at)
    # The parser does not tell machine mail apart yet; the tests say what it would find.
    return replace(message, machine_kind=machine_kind) if machine_kind else message


def twilio_message(form: dict[str, str], received_at: datetime = OPEN_TIME) -> InboundMessage:
    """A Twilio webhook form as the SMS/WhatsApp or voicemail adapter turns it into a message."""
    channel = (
        "voicemail"
        if "RecordingSid" in form
        else "whatsapp"
        if form["From"].startswith("whatsapp:")
        else "sms"
    )
    sid = form.get("RecordingSid") or form["MessageSid"]
    return InboundMessage(
        channel=channel,
        sender=form["From"].removeprefix("whatsapp:"),
        recipients=(form["To"].removeprefix("whatsapp:"),),
        subject="",
        text=form.get("TranscriptionText") or form.get("Body", ""),
        idempotency_key=f"twilio:{sid}",
        received_at=received_at,
        raw=urlencode(form).encode(),
        raw_content_type="application/x-www-form-urlencoded",
    )


def sms(body: str, sender: str = "+15555550123", to: str = "+15555550101", **kw: datetime) -> InboundMessage:
    form = {
        "MessageSid": "SM0123456789abcdef0123456789abcdef",
        "From": sender,
        "To": to,
        "Body": body,
        "NumMedia": "0",
    }
    return twilio_message(form, **kw)


def voicemail(transcript: str, sender: str = "+15555550123") -> InboundMessage:
    form = {
        "CallSid": "CA0123456789abcdef0123456789abcdef",
        "RecordingSid": "RE0123456789abcdef0123456789abcdef",
        "From": sender,
        "To": "+15555550100",
        "TranscriptionText": transcript,
    }
    return twilio_message(form)


def rfc5322(*headers: str, body: str = "Hello.\r\n") -> bytes:
    """A literal message: the given header lines, the usual MIME ones, then the body."""
    lines = [*headers, "Date: Tue, 03 Nov 2026 10:00:00 -0500", "MIME-Version: 1.0"]
    if not any(h.lower().startswith("content-type") for h in headers):
        lines.append("Content-Type: text/plain; charset=utf-8")
    return ("\r\n".join(lines) + "\r\n\r\n" + body).encode()


def lesson(settings: Settings, text: str, sender: str = "someone@client.example") -> Lesson:
    """What a correction of a mail with this text teaches, read as the router reads it."""
    read = read_message(
        email(rfc5322(f"From: {sender}", "Subject: ", body=text)), normalizer_for(settings.languages)
    )
    return lesson_of(read, sender, settings)


def suggest(
    settings: Settings, session: Session | None, text: str, sender: str = "someone@client.example"
) -> Suggestion | None:
    """The learned suggestion for a mail with this text, from the seeds and what `session` holds."""
    classifier = Classifier(settings)
    taught = lesson(settings, text, sender)
    return classifier.suggest(taught, classifier.read(taught, session))
