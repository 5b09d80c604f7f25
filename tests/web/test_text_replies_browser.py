"""A voicemail answered in a real Chromium with the keyboard alone: `a`, the words,
Ctrl+Enter texts the caller back; `b` records that they were called back."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import expect

from intake.cli.runtime import Runtime
from tests.support.browser import RECEPTIONIST, BrowserPage
from tests.support.texts import TextOffice, open_text_office
from tests.support.twilio import CALLER, SALES_NUMBER, FakeTwilio


@pytest.fixture
def office(database_url: str, tmp_path: Path, fake_twilio: FakeTwilio) -> Iterator[TextOffice]:
    with open_text_office(database_url, tmp_path, fake_twilio) as opened:
        yield opened


@pytest.fixture
def runtime(office: TextOffice) -> Runtime:
    """The browser's site serves the phone office."""
    return office.phone.runtime


def test_a_receptionist_texts_a_caller_back_and_marks_the_call_back_with_the_keyboard(
    office: TextOffice, signed_in_page: BrowserPage
) -> None:
    item_id = office.voicemail_in()
    tab, page = signed_in_page, signed_in_page.page
    tab.goto(f"/items/{item_id}")
    page.keyboard.press("a")
    expect(page.locator("#reply-text")).to_be_focused()
    page.keyboard.type("Sorry we missed you: we call back at 2.")
    with page.expect_navigation():
        page.keyboard.press("Control+Enter")
    tab.settle()
    reply = page.locator(".voicemail li.message.reply")
    expect(reply).to_contain_text("Sorry we missed you: we call back at 2.")
    expect(reply.locator(".reply-status")).to_have_text("queued")

    with page.expect_navigation():
        page.keyboard.press("b")
    tab.settle()
    called = page.locator(".history li", has_text="called back")
    expect(called).to_contain_text(RECEPTIONIST)
    expect(called).to_contain_text(CALLER)
    tab.screenshot("voicemail-called-back")

    assert office.drain() == 1
    [text] = office.fake.texts
    assert (text["From"], text["To"], text["Body"]) == (
        SALES_NUMBER,
        CALLER,
        "Sorry we missed you: we call back at 2.",
    )
    assert (tab.console_errors, tab.outside, tab.dialogs) == ([], [], [])


def test_the_answer_box_counts_what_is_left_of_a_text_as_twilio_counts_it(
    office: TextOffice, signed_in_page: BrowserPage
) -> None:
    item_id = office.text_in()
    tab, page = signed_in_page, signed_in_page.page
    tab.goto(f"/items/{item_id}")
    left = page.locator("#reply-left")
    expect(left).to_have_text("1600")
    page.keyboard.press("a")
    page.keyboard.type("Yes \U0001f44d\nAnn")
    expect(left).to_have_text(str(1600 - 10))  # the emoji counts as two, the line break as one
    page.keyboard.press("Backspace")
    expect(left).to_have_text(str(1600 - 9))
    assert (tab.console_errors, tab.outside, tab.dialogs) == ([], [], [])
