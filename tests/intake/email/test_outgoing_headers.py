"""Every email Intake sends, under hostile input: a sender's Subject, From, Reply-To,
Message-ID and References, and a signed-in person's forward address, text and note, can
neither add or split a header nor add a recipient, and what goes out parses cleanly.

A customer writes to Billing (which acknowledges and notifies its team), a receptionist
answers and forwards the item, and the office's relay (a real server on loopback) keeps
the bytes of every message with its envelope; each is read back with the modern policy.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import dataclass
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from pathlib import Path

import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlalchemy import func, select

from config.loading import load_settings
from config.settings import Settings
from intake.email.parser import parse_email
from intake.jobs.notifications import NotificationWorker
from routing.store.database import transaction
from routing.store.models import Item, Reply
from tests.support.mail import email_bytes
from tests.support.notifications import _SinkHandler
from tests.support.people import csrf_token
from tests.support.replies import ANSWERING, Office, Relay, open_office, replying_config
from tests.support.serving import free_port

TEAM = "billing-team@office.test"
PARTNER = "partner@outside.example"
ANN = "ann@client.example"
VICTIM = "victim@evil.example"
# Billing acknowledges new mail (tests.support.replies) and emails its team of each item.
BILLING = f'notify = {{ email = ["{TEAM}"], digest_minutes = 0 }}\n{ANSWERING}'
NOTIFICATIONS = (
    '\n[notifications]\nsmtp_host = "127.0.0.1"\nsmtp_port = {port}\nsecurity = "none"\n'
    'from_address = "intake@office.test"\nmax_attempts = 3\nretry_seconds = 10\ntimeout_seconds = 5\n'
)
# The only headers an email from Intake has: anything else was injected.
HEADERS = {
    "from",
    "to",
    "subject",
    "message-id",
    "date",
    "in-reply-to",
    "references",
    "auto-submitted",
    "x-auto-response-suppress",
    "mime-version",
    "content-type",
    "content-transfer-encoding",
}
ONCE = ("from", "to", "subject", "message-id", "date")
# RFC 5322 2.1.1: a line is at most 998 characters, CRLF excluded.
MAX_LINE = 998
INJECTION = "\r\nBcc: victim@evil.example\r\nX-Injected: yes"


@dataclass(frozen=True)
class Sent:
    """One message as the relay took it: the envelope and the bytes."""

    mail_from: str
    recipients: tuple[str, ...]
    raw: bytes


class RawSink(_SinkHandler):
    """The relay's handler, keeping the bytes as they came besides the parsed message."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[Sent] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        self.sent.append(Sent(envelope.mail_from or "", tuple(envelope.rcpt_tos), raw))
        return await super().handle_DATA(server, session, envelope)


@pytest.fixture
def smarthost() -> Iterator[Relay]:
    found = Relay(free_port(), handler=RawSink())
    found.start()
    yield found
    found.stop()


@pytest.fixture
def settings(database_url: str, tmp_path: Path, smarthost: Relay) -> Settings:
    path = replying_config(tmp_path, smarthost.port, BILLING)
    path.write_text(path.read_text() + NOTIFICATIONS.format(port=smarthost.port))
    return load_settings(path, {"INTAKE_DATABASE_URL": database_url})


@pytest.fixture
def office(settings: Settings) -> Iterator[Office]:
    with open_office(settings) as opened:
        yield opened


def sink(smarthost: Relay) -> RawSink:
    assert isinstance(smarthost.handler, RawSink)
    return smarthost.handler


def deliver(office: Office, raw: bytes, envelope_sender: str = ANN) -> int:
    """Store the mail as the SMTP and IMAP doors do; the item's id."""
    return office.runtime.deliver_email(parse_email(raw, envelope_sender=envelope_sender)).item_id


def send_all(office: Office, settings: Settings, smarthost: Relay) -> dict[str, Sent]:
    """Run the reply and notification workers dry; what reached the relay, by kind."""
    office.drain()
    notifications = NotificationWorker(office.runtime.sessions, lambda: settings, clock=office.clock)
    while notifications.run_once():
        pass
    by_kind: dict[str, Sent] = {}
    for sent in sink(smarthost).sent:
        kind = _kind(sent.raw)
        assert kind not in by_kind, f"two {kind} messages went out"
        by_kind[kind] = sent
    return by_kind


def _kind(raw: bytes) -> str:
    message = message_from_bytes(raw, policy=default)
    if message["Auto-Submitted"] == "auto-generated":
        return "notification"
    if message["Auto-Submitted"] == "auto-replied":
        return "acknowledgement"
    return "forward" if str(message["Subject"]).strip().startswith("Fwd: ") else "reply"


def assert_clean(sent: Sent, recipient: str) -> EmailMessage:
    """The message went to `recipient` alone, with no header added or split, no line
    past RFC 5322's limit, and parses with the modern policy without a defect."""
    head, blank, _ = sent.raw.partition(b"\r\n\r\n")
    assert blank, "no blank line ends the header"
    lines = sent.raw.split(b"\r\n")
    assert max(len(line) for line in lines) <= MAX_LINE
    for line in head.split(b"\r\n"):
        assert b"\r" not in line and b"\n" not in line and b"\x00" not in line, line
        assert line[:1] in (b" ", b"\t") or b":" in line, f"not a header line: {line!r}"
    assert b"\x00" not in sent.raw
    message = message_from_bytes(sent.raw, policy=default)
    assert isinstance(message, EmailMessage)
    assert message.defects == []
    names = [name.lower() for name in message]
    assert set(names) <= HEADERS, f"unexpected headers {set(names) - HEADERS}"
    assert [names.count(name) for name in ONCE] == [1] * len(ONCE)
    for name, value in message.items():
        assert getattr(value, "defects", ()) == (), f"{name}: {value.defects}"  # type: ignore[attr-defined]
    assert sent.recipients == (recipient,)
    assert [address.addr_spec for address in message["To"].addresses] == [recipient]
    assert len(message["From"].addresses) == 1
    return message


def reply_and_forward(office: Office, item_id: int, text: str = "Thank you, we look into it.") -> int:
    """A receptionist answers the item and forwards it to the partner; the reply's status."""
    answered = office.client.post(f"/api/v1/items/{item_id}/reply", json={"text": text, "channel": "email"})
    forwarded = office.client.post(f"/api/v1/items/{item_id}/forward", json={"to": PARTNER, "note": text})
    assert forwarded.status_code == 202, forwarded.get_json()
    return answered.status_code


def encoded(text: str) -> str:
    """`text` as one RFC 2047 encoded word, as a hostile mailer writes CR, LF or NUL."""
    return f"=?utf-8?b?{base64.b64encode(text.encode()).decode()}?="


LONG_ID = "<" + "a" * 3000 + "@client.example>"
# name: (extra header lines, From, Subject, Message-ID, who the answers go to: None for nobody)
HOSTILE_MAIL: dict[str, tuple[tuple[str, ...], str, str, str, str | None]] = {
    "subject with encoded CR LF": ((), ANN, encoded("Prices" + INJECTION), "<h1@client.example>", ANN),
    "subject with encoded NUL": ((), ANN, encoded("Prices\x00X-Injected: yes"), "<h1@client.example>", ANN),
    "subject with unicode line separators": (
        (),
        ANN,
        "Prices\u2028X-Injected: yes\u0085Bcc: victim@evil.example\u000bX: 1\u000cY: 2",
        "<h1@client.example>",
        ANN,
    ),
    "subject of many words": ((), ANN, "price " * 400, "<h1@client.example>", ANN),
    "subject of one long word": ((), ANN, "p" * 3000, "<h1@client.example>", ANN),
    "name with a comma and an address": (
        (),
        f'"{VICTIM}, Ann" <{ANN}>',
        "Prices",
        "<h1@client.example>",
        ANN,
    ),
    "name with encoded CR LF": (
        (),
        f"{encoded('Ann' + INJECTION)} <{ANN}>",
        "Prices",
        "<h1@client.example>",
        ANN,
    ),
    "name with angle brackets": ((), f'"Ann <{VICTIM}>" <{ANN}>', "Prices", "<h1@client.example>", ANN),
    "very long name": ((), f'"{"Ann " * 300}" <{ANN}>', "Prices", "<h1@client.example>", ANN),
    "reply-to naming two": (
        (f"Reply-To: {VICTIM}, other@evil.example",),
        ANN,
        "Prices",
        "<h1@client.example>",
        VICTIM,
    ),
    "reply-to with encoded CR LF": (
        (f"Reply-To: {encoded('x@client.example' + INJECTION)}",),
        ANN,
        "Prices",
        "<h1@client.example>",
        ANN,
    ),
    "reply-to with a quoted comma": (
        ('Reply-To: "postmaster,victim"@evil.example',),
        ANN,
        "Prices",
        "<h1@client.example>",
        ANN,
    ),
    "from with a quoted comma": (
        (),
        '"ann,victim"@client.example',
        "Prices",
        "<h1@client.example>",
        None,
    ),
    # Its first mailbox is no address, and the second is no author to answer: the envelope's sender is.
    "from naming two": ((), f"postmaster,{VICTIM}", "Prices", "<h1@client.example>", ANN),
    "from in brackets twice": ((), f"<{ANN}><{VICTIM}>", "Prices", "<h1@client.example>", ANN),
    "from with an IDN domain": (
        (),
        "Ann <ann@b\u00fccher.example>",
        "Prices",
        "<h1@client.example>",
        "ann@xn--bcher-kva.example",
    ),
    "from with a unicode local part": (
        (),
        "Ann <\u00e4nn@client.example>",
        "Prices",
        "<h1@client.example>",
        None,
    ),
    "message-id with encoded CR LF": ((), ANN, "Prices", encoded("<h1@client.example>" + INJECTION), ANN),
    "message-id too long for a line": ((), ANN, "Prices", LONG_ID, ANN),
    "message-id with unicode": ((), ANN, "Prices", "<h\u00e9\u2028@client.example>", ANN),
    "references long and many": (
        (f"References: {' '.join(f'<r{n}@client.example>' for n in range(40))} {LONG_ID}",),
        ANN,
        "Prices",
        "<h1@client.example>",
        ANN,
    ),
    "references and in-reply-to with encoded CR LF": (
        (
            f"References: {encoded('<r1@client.example>' + INJECTION)}",
            f"In-Reply-To: {encoded('<r2@client.example>' + INJECTION)}",
        ),
        ANN,
        "Prices",
        "<h1@client.example>",
        ANN,
    ),
}


def hostile(extra: tuple[str, ...], sender: str, subject: str, message_id: str) -> bytes:
    raw = email_bytes(to="billing@office.test", sender=sender, subject=subject, message_id=message_id)
    lines = "".join(line + "\r\n" for line in extra)
    return raw.replace(b"MIME-Version", lines.encode() + b"MIME-Version", 1)


@pytest.mark.parametrize(
    ("extra", "sender", "subject", "message_id", "answered"), HOSTILE_MAIL.values(), ids=HOSTILE_MAIL.keys()
)
def test_hostile_mail_adds_no_header_and_no_recipient_to_anything_sent(
    office: Office,
    settings: Settings,
    smarthost: Relay,
    extra: tuple[str, ...],
    sender: str,
    subject: str,
    message_id: str,
    answered: str | None,
) -> None:
    item_id = deliver(office, hostile(extra, sender, subject, message_id))
    status = reply_and_forward(office, item_id)
    sent = send_all(office, settings, smarthost)
    assert (
        assert_clean(sent.pop("notification"), TEAM)["Subject"]
        .strip()
        .startswith("[Intake] New item in Billing")
    )
    forward = assert_clean(sent.pop("forward"), PARTNER)
    assert forward["Subject"].strip().startswith("Fwd: ") and forward["Subject"].endswith(f"[#{item_id}]")
    if answered is None:
        assert status == 400  # refused cleanly: nobody to answer, nothing stored for it
        assert sent == {}
        assert [reply.kind for reply in office.replies()] == ["forward"]
        return
    assert status == 202
    assert sorted(sent) == ["acknowledgement", "reply"]
    for kind, message in sent.items():
        to = ANN if kind == "acknowledgement" else answered  # the envelope's sender: RFC 3834 section 4
        assert assert_clean(message, to)["Subject"].endswith(f"[#{item_id}]")
    assert [reply.job.status if reply.job else None for reply in office.replies()] == ["done"] * 3


def test_the_item_is_kept_whatever_its_sender_wrote(office: Office) -> None:
    """Every hostile mail above makes one item: refusing to answer it loses nothing."""
    for number, (extra, sender, subject, _, _) in enumerate(HOSTILE_MAIL.values()):
        deliver(office, hostile(extra, sender, subject, f"<kept{number}@client.example>"))
    with transaction(office.runtime.sessions, write=False) as session:
        assert session.scalar(select(func.count(Item.id))) == len(HOSTILE_MAIL)


FORWARD_ADDRESSES = {
    "a comma in the local part": f"postmaster,{VICTIM}",
    "a quoted comma": f'"postmaster,victim"@{PARTNER.partition("@")[2]}',
    "CR LF and a header": PARTNER + INJECTION,
    "a unicode line separator": PARTNER + "\u2028Bcc: " + VICTIM,
    "a NUL": PARTNER + "\x00",
    "two addresses": f"{PARTNER},{VICTIM}",
    "angle brackets": f"<{PARTNER}>",
    "a display name": f"Partner <{PARTNER}>",
    "a semicolon": f"{PARTNER};{VICTIM}",
    "an empty label": "partner@outside..example",
    "a domain literal": "partner@[127.0.0.1]",
    "a unicode local part": "p\u00e4rtner@outside.example",
    "an office domain in unicode case": "someone@OFFICE.test",
}


def test_a_forward_to_anything_but_one_mailbox_is_refused_and_stores_nothing(
    office: Office, smarthost: Relay
) -> None:
    item_id = deliver(office, hostile((), ANN, "Prices", "<h1@client.example>"))
    office.drain()
    before = len(sink(smarthost).sent)
    for case, to in FORWARD_ADDRESSES.items():
        body = {"to": to, "note": "See this."}
        response = office.client.post(f"/api/v1/items/{item_id}/forward", json=body)
        assert response.status_code == 400, (case, response.get_json())
    assert [reply.kind for reply in office.replies()] == ["acknowledgement"]
    office.drain()
    assert len(sink(smarthost).sent) == before


def test_a_forward_to_an_idn_domain_goes_to_its_ascii_form(
    office: Office, settings: Settings, smarthost: Relay
) -> None:
    item_id = deliver(office, hostile((), ANN, "Prices", "<h1@client.example>"))
    response = office.client.post(
        f"/api/v1/items/{item_id}/forward", json={"to": "Partner@B\u00fccher.example", "note": "See this."}
    )
    assert response.status_code == 202, response.get_json()
    assert response.get_json()["to"] == "partner@xn--bcher-kva.example"
    assert_clean(send_all(office, settings, smarthost)["forward"], "partner@xn--bcher-kva.example")


STAFF_TEXTS = {
    "CR LF and headers": "Dear Ann," + INJECTION + "\r\n\r\nBye",
    "bare CR and LF": "Dear Ann,\rBcc: victim@evil.example\nX-Injected: yes",
    "unicode line separators": "Dear Ann,\u2028Bcc: victim@evil.example\u0085X-Injected: yes\u2029end",
    "one long line": "x" * 5000,
    "a long line of words": "word " * 2000,
    "a line that looks like the end of DATA": "Dear Ann,\r\n.\r\nMAIL FROM:<victim@evil.example>\r\n",
    "a signature separator and boundary": "--\r\n-- \r\n--==============0==\r\nContent-Type: text/html",
}


@pytest.mark.parametrize("text", STAFF_TEXTS.values(), ids=STAFF_TEXTS.keys())
def test_a_persons_text_and_note_stay_in_the_body(
    office: Office, settings: Settings, smarthost: Relay, text: str
) -> None:
    item_id = deliver(office, hostile((), ANN, "Prices", "<h1@client.example>"))
    assert reply_and_forward(office, item_id, text) == 202
    sent = send_all(office, settings, smarthost)
    assert sorted(sent) == ["acknowledgement", "forward", "notification", "reply"]
    reply = assert_clean(sent["reply"], ANN)
    forward = assert_clean(sent["forward"], PARTNER)
    written = text.replace("\r\n", "\n").strip()
    for message in (reply, forward):
        plain = message.get_body(("plain",))
        assert plain is not None
        assert plain.get_content().replace("\r\n", "\n").startswith(written.replace("\r", "\n")[:50])
    with transaction(office.runtime.sessions, write=False) as session:
        assert session.scalar(select(func.count(Reply.id))) == 3


@pytest.mark.parametrize("field", ["reply", "forward"])
def test_a_nul_in_a_persons_text_is_refused_and_stores_nothing(
    office: Office, smarthost: Relay, field: str
) -> None:
    item_id = deliver(office, hostile((), ANN, "Prices", "<h1@client.example>"))
    body = {"text": "Dear Ann,\x00X-Injected: yes", "channel": "email"}
    if field == "forward":
        body = {"to": PARTNER, "note": "See this.\x00X-Injected: yes"}
    assert office.client.post(f"/api/v1/items/{item_id}/{field}", json=body).status_code == 400
    assert [reply.kind for reply in office.replies()] == ["acknowledgement"]


def test_fields_a_reply_does_not_take_add_no_recipient_and_no_header(
    office: Office, settings: Settings, smarthost: Relay
) -> None:
    """The reply's address and subject are the item's: what a script adds is ignored."""
    item_id = deliver(office, hostile((), ANN, "Prices", "<h1@client.example>"))
    body = {"text": "Hi", "channel": "email", "to": VICTIM, "cc": VICTIM, "bcc": VICTIM}
    body["subject"] = "Prices" + INJECTION
    assert office.client.post(f"/api/v1/items/{item_id}/reply", json=body).status_code == 202
    reply = assert_clean(send_all(office, settings, smarthost)["reply"], ANN)
    assert reply["Subject"] == f"Re: Prices [#{item_id}]"


def test_the_pages_forward_form_refuses_what_is_not_one_mailbox(office: Office) -> None:
    item_id = deliver(office, hostile((), ANN, "Prices", "<h1@client.example>"))
    page = office.client.get(f"/items/{item_id}").get_data(as_text=True)
    for to in (f"x,{VICTIM}", PARTNER + INJECTION, f'"x,y"@{VICTIM.partition("@")[2]}'):
        form = {"csrf_token": csrf_token(page), "to": to, "note": "FYI"}
        shown = office.client.post(f"/items/{item_id}/forward", data=form, follow_redirects=True)
        assert "is not an email address" in shown.get_data(as_text=True), to
    assert [reply.kind for reply in office.replies()] == ["acknowledgement"]
