"""Answering an email in a real Chromium with the keyboard alone: `a`, the words, Ctrl+Enter;
the reply shows in the conversation, queued, and once the worker ran, sent. Then a
template chosen with `t` and the arrow keys, and a forward with `f`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import expect

from intake.cli.runtime import Runtime, open_runtime
from intake.email.parser import parse_email
from intake.jobs.replies import ReplyWorker
from routing.queues.triage import reopen, resolve
from routing.store.database import transaction
from tests.support.browser import BrowserPage
from tests.support.mail import email_bytes
from tests.support.people import new_person
from tests.support.replies import ANSWERING, Relay, replying_office


@pytest.fixture
def runtime(database_url: str, tmp_path: Path, smarthost: Relay) -> Iterator[Runtime]:
    """The browser's site serves the office with a relay; Billing has templates and an outside address."""
    opened = open_runtime(replying_office(tmp_path, database_url, smarthost.port, ANSWERING))
    yield opened
    opened.engine.dispose()


def test_a_receptionist_answers_an_email_with_the_keyboard_alone(
    runtime: Runtime, smarthost: Relay, signed_in_page: BrowserPage
) -> None:
    item_id = runtime.deliverer.deliver(parse_email(email_bytes())).item_id
    tab, page = signed_in_page, signed_in_page.page
    tab.goto(f"/items/{item_id}")
    expect(page.locator("#reply-text")).not_to_be_visible()
    page.keyboard.press("a")
    expect(page.locator("#reply-text")).to_be_focused()
    page.keyboard.type("The large one is 40 euros.")
    tab.screenshot("reply-written")
    with page.expect_navigation():
        page.keyboard.press("Control+Enter")
    tab.settle()
    assert tab.path == f"/items/{item_id}"
    reply = page.locator("li.message.reply")
    expect(reply).to_contain_text("The large one is 40 euros.")
    expect(reply.locator(".reply-status")).to_have_text("queued")
    tab.screenshot("reply-queued")

    assert ReplyWorker(runtime.sessions, lambda: runtime.settings).run_once()
    [(recipients, sent)] = smarthost.handler.messages
    assert (recipients, sent["Subject"]) == (
        ["ann@client.example"],
        f"Re: A question about prices [#{item_id}]",
    )
    tab.goto(f"/items/{item_id}")
    expect(page.locator("li.message.reply .reply-status")).to_have_text("sent")
    assert (tab.console_errors, tab.outside, tab.dialogs) == ([], [], [])


def test_a_template_is_chosen_changed_and_sent_and_the_item_forwarded_with_the_keyboard_alone(
    runtime: Runtime, smarthost: Relay, signed_in_page: BrowserPage
) -> None:
    item_id = runtime.deliverer.deliver(parse_email(email_bytes(to="billing@office.test"))).item_id
    tab, page = signed_in_page, signed_in_page.page
    tab.goto(f"/items/{item_id}")
    page.keyboard.press("t")
    expect(page.locator("#reply-template")).to_be_focused()
    page.keyboard.press("ArrowDown")  # the first template
    page.keyboard.press("Tab")
    expect(page.locator("#reply-text")).to_be_focused()
    expect(page.locator("#reply-text")).to_have_value(
        f"Dear Ann Example,\n\nwe have received your payment for A question about prices (#{item_id}).\n\nBilling"
    )
    page.keyboard.press("Control+End")
    page.keyboard.type("\nThank you!")
    tab.screenshot("template-chosen")
    with page.expect_navigation():
        page.keyboard.press("Control+Enter")
    tab.settle()
    expect(page.locator("li.message.reply").first).to_contain_text("Billing\nThank you!")

    page.keyboard.press("f")
    expect(page.locator("#forward-to")).to_be_focused()
    page.keyboard.type("partner@outside.example")
    page.keyboard.press("Tab")
    expect(page.locator("#forward-note")).to_be_focused()
    page.keyboard.type("Their payment, for your books.")
    tab.screenshot("forward-written")
    with page.expect_navigation():
        page.keyboard.press("Control+Enter")
    tab.settle()
    expect(page.locator("li.message.reply").nth(1)).to_contain_text("Forward by")

    worker = ReplyWorker(runtime.sessions, lambda: runtime.settings)
    assert worker.run_once() and worker.run_once()
    assert [(recipients, sent["Subject"]) for recipients, sent in smarthost.handler.messages] == [
        (["ann@client.example"], f"Re: A question about prices [#{item_id}]"),
        (["partner@outside.example"], f"Fwd: A question about prices [#{item_id}]"),
    ]
    assert (tab.console_errors, tab.outside, tab.dialogs) == ([], [], [])


def test_an_answer_refused_because_a_colleague_resolved_the_item_is_kept_until_it_is_sent(
    runtime: Runtime, smarthost: Relay, signed_in_page: BrowserPage
) -> None:
    """The words stay in the tab: shown to copy while the item cannot be answered, back in
    the box once it can, and gone once the answer is stored."""
    item_id = runtime.deliverer.deliver(parse_email(email_bytes())).item_id
    tab, page = signed_in_page, signed_in_page.page
    tab.goto(f"/items/{item_id}")
    page.keyboard.press("a")
    page.keyboard.type("The large one is 40 euros.")
    colleague = new_person(runtime.sessions, "colleague")
    with transaction(runtime.sessions) as session:
        resolve(session, item_id, colleague)
    with page.expect_navigation():
        page.keyboard.press("Control+Enter")
    tab.settle()
    expect(page.locator(".flash-error")).to_contain_text("resolved")
    expect(page.locator("#reply-text")).to_have_count(0)
    expect(page.locator("#reply-draft-text")).to_have_value("The large one is 40 euros.")
    tab.screenshot("answer-kept")

    with transaction(runtime.sessions) as session:
        reopen(session, item_id, colleague)
    tab.goto(f"/items/{item_id}")
    expect(page.locator("#reply-text")).to_be_visible()
    expect(page.locator("#reply-text")).to_have_value("The large one is 40 euros.")
    page.locator("#reply-text").focus()
    with page.expect_navigation():
        page.keyboard.press("Control+Enter")
    tab.settle()
    expect(page.locator("li.message.reply")).to_contain_text("The large one is 40 euros.")
    assert tab.path == f"/items/{item_id}"
    tab.goto(f"/items/{item_id}")
    expect(page.locator("#reply-text")).to_have_value("")
    assert (tab.console_errors, tab.outside, tab.dialogs) == ([], [], [])
