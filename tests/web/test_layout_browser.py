"""The pages as a newcomer first meets them, in Chromium: the dashboard's charts keep their
words inside, every page has its icon, and a queue fits a phone's width."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import update

from config.loading import load_settings
from config.settings import Settings
from intake.cli.runtime import Runtime
from intake.email.parser import parse_email
from routing.queues import triage
from routing.store.database import transaction
from routing.store.models import Item
from tests.conftest import OFFICE
from tests.support.browser import BrowserPage
from tests.support.mail import email_bytes
from tests.support.people import new_person

LONG_NAME = "Accounts receivable, payments and supplier invoices"


@pytest.fixture
def settings(database_url: str) -> Settings:
    """The test office, its billing department under a name longer than a chart has room for."""
    office = load_settings(OFFICE, {"INTAKE_DATABASE_URL": database_url})
    departments = tuple(replace(d, name=LONG_NAME) if d.id == "billing" else d for d in office.departments)
    return replace(office, departments=departments)


# Every <text> of an SVG chart, as the browser lays it out, against the chart's own box.
TEXTS_OUTSIDE_THEIR_CHART = """svg => {
    const box = svg.getBoundingClientRect();
    return Array.from(svg.querySelectorAll("text")).map(text => {
        const r = text.getBoundingClientRect();
        return {text: text.textContent, left: r.left - box.left, right: box.right - r.right,
                top: r.top - box.top, bottom: box.bottom - r.bottom};
    }).filter(r => Math.min(r.left, r.right, r.top, r.bottom) < 0);
}"""


def _picked_up(runtime: Runtime, subject: str, to: str, waited: timedelta) -> None:
    raw = email_bytes(subject=subject, to=to, message_id=f"<{abs(hash(subject))}@client.example>")
    item_id = runtime.deliverer.deliver(parse_email(raw)).item_id
    maria = new_person(runtime.sessions, f"maria{item_id}")
    with transaction(runtime.sessions) as session:
        triage.claim(session, item_id, maria)
        received = session.get_one(Item, item_id).received_at
        session.execute(update(Item).where(Item.id == item_id).values(received_at=received - waited))


def test_the_time_to_pick_up_chart_shows_its_words_whole(signed_in_page: BrowserPage) -> None:
    runtime = signed_in_page.site.runtime
    # The longest bar ends in the longest words a wait is told in.
    _picked_up(runtime, "Quote", "sales@office.test", timedelta(seconds=30))
    _picked_up(runtime, "Invoice", "billing@office.test", timedelta(seconds=20))
    signed_in_page.goto("/dashboard")
    chart = signed_in_page.page.locator("svg.waits")
    assert chart.evaluate(TEXTS_OUTSIDE_THEIR_CHART) == []
    values = chart.locator("text.value").all_text_contents()
    assert values == ["none picked up", "under a minute", "under a minute"]
    # A name too long for the chart is shortened there, whole in its tooltip and in the table.
    assert chart.locator("text.label title").text_content() == LONG_NAME
    assert signed_in_page.page.locator("table.pick-up").get_by_text(LONG_NAME).count() == 1
