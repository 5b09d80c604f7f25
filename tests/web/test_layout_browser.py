"""The pages as a newcomer first meets them, in Chromium: the dashboard's charts keep their
words inside, every page has its icon, and a queue fits a phone's width."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from playwright.sync_api import Page, expect
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


def _waiting(runtime: Runtime, count: int) -> None:
    """Items waiting in Sales, with long subjects and senders' names."""
    for n in range(count):
        raw = email_bytes(
            subject=f"Question {n} about the quote for forty adjustable standing desks and chairs",
            sender=f"Alexandra Konstantinopoulou-Smythe {n} <alexandra.konstantinopoulou{n}@client.example>",
            message_id=f"<phone{n}@client.example>",
        )
        runtime.deliverer.deliver(parse_email(raw))


def _row_ids(page: Page) -> list[str]:
    """The ids of the rows, in the order the page lists them."""
    ids: list[str] = page.locator("tr.item-row").evaluate_all("rows => rows.map(row => row.dataset.itemId)")
    return ids


def test_every_page_has_an_icon_and_the_browser_finds_no_404(signed_in_page: BrowserPage) -> None:
    tab, page = signed_in_page, signed_in_page.page
    missing: list[str] = []
    page.on("response", lambda response: missing.append(response.url) if response.status == 404 else None)
    for path in ("/", "/departments/sales", "/dashboard"):
        tab.goto(path)
        link = page.locator("link[rel=icon]")
        assert link.count() == 1
        icon = page.request.get(tab.site.base + str(link.get_attribute("href")))
        assert icon.status == 200 and icon.headers["content-type"].startswith("image/svg+xml")
        assert icon.body().startswith(b"<svg")
    assert missing == [] and tab.console_errors == []


def test_favicon_ico_answers_anyone_with_the_icon(browser_page: BrowserPage) -> None:
    answer = browser_page.page.request.get(browser_page.site.base + "/favicon.ico")
    assert answer.status == 200 and answer.headers["content-type"].startswith("image/svg+xml")
    assert b"<title>Intake</title>" in answer.body()


def test_a_queue_fits_a_phone_and_shows_sender_subject_and_age(signed_in_page: BrowserPage) -> None:
    _waiting(signed_in_page.site.runtime, 3)
    tab, page = signed_in_page, signed_in_page.page
    page.set_viewport_size({"width": 390, "height": 844})
    for path in ("/departments/sales", "/"):
        tab.goto(path)
        width = page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
        assert width[0] <= width[1], f"{path} is {width[0]} px wide in a {width[1]} px screen"
    tab.goto("/departments/sales")
    row = page.locator("tr.item-row").first
    for cell in ("td.sender", "td.subject", "td.age"):
        box = row.locator(cell).bounding_box()
        assert box is not None and box["width"] > 0, f"{cell} is hidden"
        assert box["x"] >= 0 and box["x"] + box["width"] <= 390, f"{cell} is off the screen"
    assert row.locator("td.subject a").inner_text().startswith("Question")


def test_after_e_the_cursor_goes_to_the_next_row(signed_in_page: BrowserPage) -> None:
    _waiting(signed_in_page.site.runtime, 3)  # one page of the test office's queue
    tab, page = signed_in_page, signed_in_page.page
    tab.goto("/departments/sales")
    first, second, third = _row_ids(page)
    cursor = page.locator("tr.item-row.cursor")
    page.keyboard.press("j")
    expect(cursor).to_have_attribute("data-item-id", second)
    page.keyboard.press("e")
    page.wait_for_selector(f"#item-{second}", state="detached")
    expect(cursor).to_have_attribute("data-item-id", third)
    # The last row resolved: the cursor goes to the one before it.
    page.keyboard.press("e")
    page.wait_for_selector(f"#item-{third}", state="detached")
    expect(cursor).to_have_attribute("data-item-id", first)


def test_after_e_on_an_items_page_the_queue_puts_the_cursor_on_the_next_row(
    signed_in_page: BrowserPage,
) -> None:
    _waiting(signed_in_page.site.runtime, 3)
    tab, page = signed_in_page, signed_in_page.page
    tab.goto("/departments/sales")
    _, second, third = _row_ids(page)
    page.keyboard.press("j")
    page.keyboard.press("o")
    page.wait_for_url(f"**/items/{second}")
    page.keyboard.press("e")  # resolves, and goes back to the queue
    page.wait_for_url("**/departments/sales")
    assert _row_ids(page)[1:] == [third]
    expect(page.locator("tr.item-row.cursor")).to_have_attribute("data-item-id", third)


def test_after_e_in_a_view_that_keeps_resolved_items_the_cursor_moves_on(signed_in_page: BrowserPage) -> None:
    _waiting(signed_in_page.site.runtime, 3)
    tab, page = signed_in_page, signed_in_page.page
    tab.goto("/departments/sales?status=all")
    first, second, _ = _row_ids(page)
    cursor = page.locator("tr.item-row.cursor")
    page.keyboard.press("e")
    page.wait_for_selector(f"#item-{first}[data-status=resolved]")
    expect(cursor).to_have_attribute("data-item-id", second)
