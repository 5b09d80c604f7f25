"""Each screen of the sample office on a busy day, in Chromium: what it shows, and a picture.

The office is config/default.toml, the one `make run` starts, with a month of mail,
texts and voicemails behind it. The pictures (test-artifacts/screens-*.png) are the
ones README.md shows.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

from config.loading import load_settings
from intake.cli.runtime import Runtime, open_runtime
from intake.email.parser import parse_email
from routing.message import InboundMessage
from routing.queues import triage
from routing.store.database import transaction
from routing.store.models import Item, utcnow
from tests.support.browser import BrowserPage, sign_in
from tests.support.people import add_person, new_person
from tests.support.routers import rfc5322, sms, voicemail

SAMPLE_OFFICE = Path(__file__).resolve().parents[2] / "config" / "default.toml"
# A candidate rule for the replay's picture: what would move if schools' mail went to billing.
SCHOOLS_TO_BILLING = '\n[[rules]]\nname = "schools"\nwhen = { subject = ["schools"] }\nroute = "billing"\n'
SUBJECTS = {
    "sales": [
        "Quote for 40 desks",
        "Price list for 2027?",
        "Order 5521: delivery date",
        "Discount for schools",
    ],
    "billing": [
        "Invoice INV-2291 paid twice",
        "Refund for order 5310",
        "Direct debit form",
        "Receipt please",
    ],
    "support": [
        "Printer fault again",
        "Lift not working",
        "Warranty claim: chair",
        "Error on the booking page",
    ],
    "front-desk": ["Visit on Thursday", "Opening hours over Christmas", "Booking the meeting room"],
}


@pytest.fixture
def runtime(database_url: str) -> Iterator[Runtime]:
    opened = open_runtime(load_settings(SAMPLE_OFFICE, {"INTAKE_DATABASE_URL": database_url}))
    yield opened
    opened.engine.dispose()


def _email(to: str, subject: str, sender: str, minutes_ago: int, n: int) -> InboundMessage:
    raw = rfc5322(
        f"From: {sender}",
        f"To: {to}",
        f"Subject: {subject}",
        f"Message-ID: <screen{n}@client.example>",
        body=f"Hello,\r\n\r\n{subject}. Could someone get back to me?\r\n\r\nThanks\r\n",
    )
    return parse_email(raw, received_at=utcnow() - timedelta(minutes=minutes_ago))


PHONES = {
    "front-desk": "+441632960000",
    "sales": "+441632960001",
    "billing": "+441632960002",
    "support": "+441632960003",
}


def _arrival(chance: random.Random, department: str, name: str, minutes: int, n: int) -> InboundMessage:
    """An email most days, a text or a voicemail on some, as the channels share an office's day."""
    subject = chance.choice(SUBJECTS[department])
    at = utcnow() - timedelta(minutes=minutes)
    roll = chance.random()
    if roll < 0.25:
        text = sms(f"{subject}?", sender=f"+4477009{n:05d}", to=PHONES[department])
        return replace(text, idempotency_key=f"SMscreen{n}", received_at=at)
    if roll < 0.35:
        return replace(
            voicemail(f"Hello, it's {name}: {subject}.", sender=f"+4477008{n:05d}"),
            idempotency_key=f"CAscreen{n}",
            received_at=at,
        )
    address = "hello" if department == "front-desk" else department
    sender = f"{name} <{name.split()[0].lower()}@client.example>"
    return _email(f"{address}@office.example", subject, sender, minutes, n)


def _busy_month(runtime: Runtime) -> dict[str, int]:
    """A month of items, most dealt with; today's still waiting. Names the ones to look at."""
    chance = random.Random(7)
    names = ["Ann Baker", "Ben Carter", "Chloe Davies", "Dev Patel", "Eve Moore", "Finn Walsh", "Grace Lee"]
    maria = new_person(runtime.sessions, "maria")
    new_person(runtime.sessions, "tom", role="staff", departments=["support"])
    deliver = runtime.deliverer.deliver
    n = 0
    for day in range(30, 0, -1):
        for _ in range(chance.randint(2, 9)):
            department = chance.choice(list(SUBJECTS))
            name = chance.choice(names)
            minutes = day * 1440 - chance.randint(0, 600)
            n += 1
            item_id = deliver(_arrival(chance, department, name, minutes, n)).item_id
            with transaction(runtime.sessions) as session:
                triage.claim(session, item_id, maria)
                triage.resolve(session, item_id, maria)
                session.execute(
                    update(Item)
                    .where(Item.id == item_id)
                    .values(claimed_at=utcnow() - timedelta(minutes=minutes - chance.randint(4, 240)))
                )
    shown: dict[str, int] = {}
    today = [
        ("sales@office.example", "Quote for 40 desks", "Ann Baker <ann@client.example>", 3),
        ("sales@office.example", "Order 5521: delivery date", "Ben Carter <ben@client.example>", 18),
        ("billing@office.example", "Invoice INV-2291 paid twice", "Chloe Davies <chloe@client.example>", 25),
        ("support@office.example", "Printer fault again", "Dev Patel <dev@client.example>", 40),
        ("sales@office.example", "Discount for schools", "Grace Lee <grace@school.example>", 95),
        ("someone@office.example", "Parcel left at reception?", "Courier <noreply@parcels.example>", 12),
        ("hello@office.example", "a question", "Finn Walsh <finn@client.example>", 7),
    ]
    for to, subject, sender, minutes in today:
        n += 1
        shown[subject] = deliver(_email(to, subject, sender, minutes, n)).item_id
    text = replace(
        sms("Hi, is my order ready to collect? Order 5530", sender="+447700900123", to="+441632960001"),
        received_at=utcnow() - timedelta(minutes=9),
    )
    shown["text"] = deliver(text).item_id
    with transaction(runtime.sessions) as session:
        triage.claim(session, shown["Order 5521: delivery date"], maria)
        triage.set_priority(session, shown["Quote for 40 desks"], maria, "high")
        triage.set_due(session, shown["Discount for schools"], maria, utcnow() - timedelta(minutes=30))
        triage.add_note(session, shown["Quote for 40 desks"], maria, "Called Ann: she needs it by Friday.")
    return shown


def test_the_front_desk_a_queue_an_item_and_the_dashboard(signed_in_page: BrowserPage) -> None:
    runtime = signed_in_page.site.runtime
    shown = _busy_month(runtime)
    tab, page = signed_in_page, signed_in_page.page

    tab.goto("/")
    sales = page.locator("tr.queue-row[data-department=sales]")
    assert sales.locator("td.count-new").inner_text().strip() == "3"  # two emails and the text
    assert sales.locator("td.count-claimed").inner_text().strip() == "1"
    assert sales.locator("td.count-overdue").inner_text().strip() == "1"
    assert page.locator("tr.decision").count() >= 1  # mail nothing routed waits for a person
    tab.screenshot("screens-front-desk")

    tab.goto("/departments/sales")
    assert page.locator("tr.item-row").count() >= 3
    tab.screenshot("screens-queue")

    tab.goto(f"/items/{shown['Quote for 40 desks']}")
    assert page.get_by_text("Called Ann: she needs it by Friday.").count() == 1
    tab.screenshot("screens-item")

    tab.goto("/dashboard")
    assert page.locator("svg").count() >= 2
    tab.screenshot("screens-dashboard")
    assert tab.dialogs == [] and tab.outside == []


def test_the_front_desk_in_romanian_and_the_admin_pages(browser_page: BrowserPage) -> None:
    runtime = browser_page.site.runtime
    _busy_month(runtime)
    add_person(runtime.sessions, "admin", role="admin")
    tab, page = sign_in(browser_page, "admin"), browser_page.page
    for path, picture in (
        ("/admin/users", "screens-admin-users"),
        ("/admin/tokens", "screens-admin-tokens"),
        ("/admin/rules", "screens-admin-rules"),
    ):
        tab.goto(path)
        tab.screenshot(picture)
    tab.goto("/admin/replay")
    page.fill("#replay input[name=since]", "30d")
    candidate = SAMPLE_OFFICE.read_text() + SCHOOLS_TO_BILLING
    page.set_input_files(
        "#replay input[name=config]",
        files=[{"name": "candidate.toml", "mimeType": "application/toml", "buffer": candidate.encode()}],
    )
    with page.expect_navigation():
        page.click("#replay button[type=submit]")
    tab.settle()
    assert page.locator("#moves tr.move").count() >= 1, page.locator("main").inner_text()
    tab.screenshot("screens-admin-replay")

    page.select_option("#language", "ro")
    with page.expect_navigation():
        page.click("#language-apply")
    tab.goto("/")
    assert page.locator("h1").first.inner_text() == "Așteaptă o decizie"
    tab.screenshot("screens-front-desk-ro")
    tab.goto("/departments/sales")
    tab.screenshot("screens-queue-ro")
    assert tab.dialogs == [] and tab.outside == [] and tab.console_errors == []
