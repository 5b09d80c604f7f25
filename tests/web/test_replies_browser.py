"""Answering an email in a real Chromium with the keyboard alone: `a`, the words, Ctrl+Enter;
the reply shows in the conversation, queued, and once the worker ran, sent."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import expect

from intake.cli.runtime import Runtime, open_runtime
from intake.email.parser import parse_email
from intake.jobs.replies import ReplyWorker
from tests.support.browser import BrowserPage
from tests.support.mail import email_bytes
from tests.support.replies import Relay, relay, replying_office


@pytest.fixture
def smarthost() -> Iterator[Relay]:
    with relay() as found:
        yield found


@pytest.fixture
def runtime(database_url: str, tmp_path: Path, smarthost: Relay) -> Iterator[Runtime]:
    """The browser's site serves the office with a relay."""
    opened = open_runtime(replying_office(tmp_path, database_url, smarthost.port))
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
