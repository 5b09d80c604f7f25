"""Acknowledgements: a person's new mail gets one, in their language, marked
Auto-Submitted; machine mail of every kind, spam, follow-ups, imports and old mail get
none; one per address and department a day, whichever process stored the mail."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy import delete, func, select

from config.settings import Settings
from intake.email.parser import Envelope, parse_email, raw_only
from intake.email.reply_mail import email_addressing
from intake.email.storing import parse_all_here
from routing.queues import reading
from routing.queues.acknowledgements import acknowledge
from routing.queues.filters import Filters
from routing.store import inbox
from routing.store.database import transaction
from routing.store.inbox import Arrival
from routing.store.models import AcknowledgedSender, AuditEvent, Contact, Item
from tests.support.mail import email_bytes
from tests.support.replies import ANSWERING, Office, Relay, open_office, replying_office

TO_BILLING = {"to": "billing@office.test"}


@pytest.fixture
def settings(database_url: str, tmp_path: Path, smarthost: Relay) -> Settings:
    return replying_office(tmp_path, database_url, smarthost.port, ANSWERING)


@pytest.fixture
def office(settings: Settings) -> Iterator[Office]:
    with open_office(settings) as opened:
        yield opened


def mail(office: Office, raw: bytes, envelope_sender: str | None = "ann@client.example") -> int:
    """Deliver as the SMTP and IMAP doors do; the item's id."""
    return office.runtime.deliver_email(parse_email(raw, envelope_sender=envelope_sender)).item_id


def sent(office: Office, smarthost: Relay) -> list[EmailMessage]:
    office.drain()
    return [message for _, message in smarthost.handler.messages]


def acknowledged(office: Office, item_id: int) -> list[AuditEvent]:
    with transaction(office.runtime.sessions, write=False) as session:
        return list(
            session.scalars(
                select(AuditEvent).where(AuditEvent.item_id == item_id, AuditEvent.action == "acknowledged")
            )
        )


def test_a_persons_mail_is_acknowledged_once_by_the_relay_marked_as_automatic(
    office: Office, smarthost: Relay
) -> None:
    item_id = mail(office, email_bytes(**TO_BILLING))
    [ack] = sent(office, smarthost)
    assert smarthost.handler.messages[0][0] == ["ann@client.example"]
    assert ack["From"] == "Billing <accounts@office.test>"
    assert ack["Subject"] == f"Re: A question about prices [#{item_id}]"
    assert ack["In-Reply-To"] == "<q1@client.example>"
    assert ack["Auto-Submitted"] == "auto-replied"
    assert ack["X-Auto-Response-Suppress"] == "All"
    body = ack.get_body(("plain",))
    assert body is not None
    assert body.get_content().splitlines() == [
        f"We have your message #{item_id}. Billing answers within 8 hours.",
        "",
        "-- ",
        "Billing",
    ]
    [event] = acknowledged(office, item_id)
    assert (event.actor, event.detail["to"], event.detail["language"]) == (
        "intake",
        "ann@client.example",
        "en",
    )
    [shown] = office.client.get(f"/api/v1/items/{item_id}/replies").get_json()["replies"]
    assert (shown["kind"], shown["status"], shown["author"]) == ("acknowledgement", "sent", "intake")


def test_a_batch_holding_mail_its_copy_and_its_reply_stores_them_as_one_at_a_time_would(
    office: Office,
) -> None:
    """The inbox worker stores a batch together (the rows its messages store alike, in a
    statement per table): a copy still finds the first's item, a reply joins it, the
    sender is one contact, and the item's history and search read as if each had been
    stored alone."""
    first = email_bytes(**TO_BILLING, sender="Cy New <cy@client.example>", message_id="<b1@client.example>")
    reply = email_bytes(
        **TO_BILLING,
        sender="Cy New <cy@client.example>",
        message_id="<b2@client.example>",
        subject="Re: A question about prices",
        body="And the zanzibar model?\r\n",
    ).replace(b"MIME-Version", b"In-Reply-To: <b1@client.example>\r\nMIME-Version")
    now = datetime.now(UTC)
    arrivals = [
        Arrival("email", "cy@client.example", ("billing@office.test",), raw, now)
        for raw in (first, first, reply)
    ]
    with transaction(office.runtime.sessions) as session:
        inbox.add(session, arrivals)
    assert office.runtime.inbox_worker(parse_all_here).run_once() == 3
    with transaction(office.runtime.sessions, write=False) as session:
        [item] = session.scalars(select(Item))
        assert [event.action for event in item.events] == ["received", "acknowledged", "reply received"]
        assert [message.message_id for message in item.messages] == ["<b2@client.example>"]
        assert session.scalar(select(func.count(Contact.id))) == 1
        assert item.contact_id is not None
        filters = Filters.parse(
            {"q": "zanzibar", "status": "all"}, languages=office.runtime.settings.languages
        )
        assert [found.id for found in reading.list_items(session, limit=5, filters=filters).items] == [
            item.id
        ]


def test_the_acknowledgement_is_in_the_senders_language_else_the_offices_first(
    office: Office, smarthost: Relay
) -> None:
    german = "Guten Tag,\r\nich habe die Rechnung noch nicht bezahlt, weil der Betrag nicht stimmt.\r\n"
    mail(office, email_bytes(**TO_BILLING, body=german, subject="Rechnung"))
    bo = email_bytes(**TO_BILLING, sender="bo@client.example", message_id="<q2@client.example>")
    mail(office, bo, "bo@client.example")
    texts = [message.get_body(("plain",)).get_content() for message in sent(office, smarthost)]  # type: ignore[union-attr]
    assert texts[0].startswith("Wir haben Ihre Nachricht #")
    assert texts[1].startswith("We have your message #")


MACHINE_MAIL = {
    "list": ("List-Id: <news.client.example>", "ann@client.example"),
    "precedence list": ("Precedence: list", "ann@client.example"),
    "precedence bulk": ("Precedence: bulk", "ann@client.example"),
    "precedence junk": ("Precedence: junk", "ann@client.example"),
    "auto-replied": ("Auto-Submitted: auto-replied", "ann@client.example"),
    "auto-generated": ("Auto-Submitted: auto-generated", "ann@client.example"),
    "auto-notified": ("Auto-Submitted: auto-notified; owner-email=ann@client.example", "ann@client.example"),
    "out of office": ("X-Autoreply: yes", "ann@client.example"),
    "null sender": ("X-Note: a bounce", ""),
    "return path": ("Return-Path: <>", None),
    "mailer-daemon": ("X-Note: a bounce", "MAILER-DAEMON@mx.client.example"),
    "failed recipients": ("X-Failed-Recipients: gone@client.example", "ann@client.example"),
}


@pytest.mark.parametrize(("header", "envelope_sender"), MACHINE_MAIL.values(), ids=MACHINE_MAIL.keys())
def test_machine_mail_of_every_kind_is_never_acknowledged(
    office: Office, smarthost: Relay, header: str, envelope_sender: str | None
) -> None:
    sender = envelope_sender if envelope_sender and "MAILER" in envelope_sender else "ann@client.example"
    raw = email_bytes(**TO_BILLING, sender=sender).replace(
        b"MIME-Version", header.encode() + b"\r\nMIME-Version", 1
    )
    item_id = mail(office, raw, envelope_sender)
    assert sent(office, smarthost) == []
    assert acknowledged(office, item_id) == []


def test_auto_submitted_no_is_a_person_and_is_acknowledged(office: Office, smarthost: Relay) -> None:
    raw = email_bytes(**TO_BILLING).replace(b"MIME-Version", b"Auto-Submitted: no\r\nMIME-Version", 1)
    mail(office, raw)
    assert len(sent(office, smarthost)) == 1


def test_one_acknowledgement_per_address_and_department_a_day(office: Office, smarthost: Relay) -> None:
    first = mail(office, email_bytes(**TO_BILLING))
    second = mail(
        office, email_bytes(**TO_BILLING, subject="Another thing", message_id="<q2@client.example>")
    )
    other_sender = mail(
        office,
        email_bytes(**TO_BILLING, sender="bo@client.example", message_id="<q3@client.example>"),
        "bo@client.example",
    )
    to_sales = mail(office, email_bytes(message_id="<q4@client.example>"))  # sales does not acknowledge
    assert [message["To"] for message in sent(office, smarthost)] == [
        "ann@client.example",
        "bo@client.example",
    ]
    assert [len(acknowledged(office, i)) for i in (first, second, other_sender, to_sales)] == [1, 0, 1, 0]


def test_the_daily_limit_holds_across_processes_and_restarts(settings: Settings, smarthost: Relay) -> None:
    with open_office(settings) as first:
        mail(first, email_bytes(**TO_BILLING))
    with open_office(settings, "reception-2") as restarted:  # another process on the same database
        mail(restarted, email_bytes(**TO_BILLING, subject="Again", message_id="<q2@client.example>"))
        assert len(sent(restarted, smarthost)) == 1


def test_the_next_day_the_address_is_acknowledged_again(office: Office) -> None:
    first = mail(office, email_bytes(**TO_BILLING))
    second = mail(office, email_bytes(**TO_BILLING, subject="Again", message_id="<q2@client.example>"))
    settings = office.runtime.settings
    today = datetime.now(UTC).astimezone(settings.timezone).date()
    with transaction(office.runtime.sessions) as session:
        where = email_addressing(settings)(session, session.get_one(Item, second))
        again = dict(channel="email", language="en", now=datetime.now(UTC))
        assert acknowledge(session, second, "billing", where, "x", day=today, **again) is None  # type: ignore[arg-type]
        tomorrow = today + timedelta(days=1)
        assert acknowledge(session, second, "billing", where, "x", day=tomorrow, **again) is not None  # type: ignore[arg-type]
    assert len(acknowledged(office, first)) == 1


def test_repeats_follow_ups_imports_old_mail_and_the_offices_own_are_not_acknowledged(
    office: Office, smarthost: Relay
) -> None:
    first = mail(office, email_bytes(**TO_BILLING))
    assert mail(office, email_bytes(**TO_BILLING)) == first  # the same mail again: a repeat
    [ack] = sent(office, smarthost)
    with transaction(office.runtime.sessions) as session:  # as if the day were over
        session.execute(delete(AcknowledgedSender))
    answer = email_bytes(
        to="accounts@office.test", subject=str(ack["Subject"]), message_id="<a1@client.example>"
    )
    assert mail(office, answer) == first  # joins the item by its [#ID]: a follow-up
    imported = parse_email(
        email_bytes(**TO_BILLING, sender="cy@client.example", message_id="<i1@client.example>")
    )
    office.runtime.deliverer.deliver(imported)  # an import of old mail goes to the deliverer alone
    old = datetime.now(UTC) - timedelta(days=2)
    raw = email_bytes(**TO_BILLING, sender="di@client.example", message_id="<o1@client.example>")
    office.runtime.deliver_email(parse_email(raw, received_at=old))
    from_the_office = email_bytes(**TO_BILLING, sender="hello@office.test", message_id="<h1@client.example>")
    mail(office, from_the_office, "hello@office.test")
    assert sent(office, smarthost) == [ack]


def test_an_office_without_a_relay_stores_no_acknowledgement(database_url: str, tmp_path: Path) -> None:
    with open_office(replying_office(tmp_path, database_url, None, ANSWERING)) as office:
        item_id = mail(office, email_bytes(**TO_BILLING))
        assert office.stored() == (0, 0)
        assert acknowledged(office, item_id) == []


def with_headers(raw: bytes, *headers: str) -> bytes:
    added = "".join(f"{header}\r\n" for header in headers).encode()
    return raw.replace(b"MIME-Version", added + b"MIME-Version", 1)


ADDRESSED = {
    "the envelope sender, not Reply-To": (
        ("Reply-To: team@elsewhere.example",),
        "ann@client.example",
        "ann@client.example",
    ),
    "the envelope sender, not From": (
        (),
        "ann+bounces@mail.client.example",
        "ann+bounces@mail.client.example",
    ),
    "Return-Path where no envelope is known (IMAP)": (
        ("Return-Path: <Ann@Client.example>", "Reply-To: team@elsewhere.example"),
        None,
        "ann@client.example",
    ),
    "From where neither is known": (("Reply-To: team@elsewhere.example",), None, "ann@client.example"),
}


@pytest.mark.parametrize(("headers", "envelope_sender", "to"), ADDRESSED.values(), ids=ADDRESSED.keys())
def test_the_acknowledgement_goes_where_delivery_failures_go_never_to_reply_to(
    office: Office, smarthost: Relay, headers: tuple[str, ...], envelope_sender: str | None, to: str
) -> None:
    """RFC 3834 section 4: an automatic response goes to the Return-Path (the SMTP
    envelope's reverse path); Reply-To is for people's answers, and anyone may write it."""
    item_id = mail(office, with_headers(email_bytes(**TO_BILLING), *headers), envelope_sender)
    [ack] = sent(office, smarthost)
    assert (smarthost.handler.messages[0][0], ack["To"]) == ([to], to)
    assert acknowledged(office, item_id)[0].detail["to"] == to


def test_a_web_form_of_the_offices_own_naming_someone_in_reply_to_is_not_acknowledged(
    office: Office, smarthost: Relay
) -> None:
    """A contact form that mails From the office with the visitor's Reply-To: anyone may
    type anyone's address into it, and the office would mail them."""
    raw = email_bytes(**TO_BILLING, sender="Web form <web@office.test>")
    item_id = mail(office, with_headers(raw, "Reply-To: victim@elsewhere.example"), "web@office.test")
    assert sent(office, smarthost) == []
    assert acknowledged(office, item_id) == []


def test_mail_stored_raw_only_is_not_acknowledged(office: Office, smarthost: Relay) -> None:
    """Its headers were not read (over a budget, or the parser failed): nothing tells
    whether a list, a bulk mailer or an auto-responder wrote it."""
    raw = with_headers(email_bytes(**TO_BILLING), "List-Id: <news.client.example>")
    envelope = Envelope("news-bounces@client.example", (), ("billing@office.test",))
    stored = raw_only(raw, envelope, datetime.now(UTC), "over limit: a header is too long")
    item_id = office.runtime.deliver_email(stored).item_id
    assert sent(office, smarthost) == []
    assert acknowledged(office, item_id) == []
