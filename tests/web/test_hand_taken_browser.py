"""The take-a-message form in a real Chromium: keyboard first, no CSP complaints.

The receptionist signs in through the shared browser fixtures (tests/support/browser.py); the
office runs on SQLite alone, since what is tested here is the page, not storage.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from intake.desk.hand_taken import MAX_SCAN_BYTES
from routing.store.models import Item
from tests.support.browser import BrowserPage, Site
from tests.support.databases import SqliteTemplate

if TYPE_CHECKING:
    from playwright.sync_api import Page


@pytest.fixture
def database_url(tmp_path: Path, sqlite_template: SqliteTemplate) -> str:
    """SQLite only, in place of conftest's pair of databases."""
    return sqlite_template.copy_to(tmp_path / "intake.db")


def _focused(page: Page) -> str:
    return str(page.evaluate("document.activeElement.name + ':' + document.activeElement.value"))


def _open_the_form(tab: BrowserPage) -> Page:
    page = tab.page
    with page.expect_navigation():
        page.get_by_role("link", name="Take a message").click()
    tab.settle()
    tab.screenshot("take")
    assert tab.path == "/take"
    return page


def _fenced_and_quiet(tab: BrowserPage) -> None:
    """Nothing left for another host, no dialog, no script error or CSP violation."""
    assert tab.outside == [] and tab.dialogs == [] and tab.popups == []
    assert tab.console_errors == []


def test_a_call_is_taken_with_the_keyboard(signed_in_page: BrowserPage, site: Site) -> None:
    tab = signed_in_page
    page = _open_the_form(tab)
    assert _focused(page) == "kind:phone-note"
    assert not page.is_visible("input[name=scan]")  # a scan is for a letter
    page.keyboard.press("Tab")
    assert _focused(page) == "name:"
    page.keyboard.type("Ann Smith")
    page.keyboard.press("Tab")
    page.keyboard.type("+1 555 555 0123")
    page.keyboard.press("Tab")
    page.keyboard.type("Billing")  # a focused select picks the option typed
    assert _focused(page) == "department:billing"
    page.fill("textarea[name=text]", "Please call back about the March statement.")
    page.focus("input[name=contact]")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    tab.settle()
    tab.screenshot("taken")
    assert tab.path.startswith("/items/")
    assert "Message taken: item" in page.content()
    item_id = int(tab.path.rpartition("/")[2])
    with site.runtime.sessions() as session:
        item = session.get_one(Item, item_id)
        assert (item.channel, item.department_id, item.sender) == ("phone-note", "billing", "+15555550123")
    _fenced_and_quiet(tab)


def test_a_letter_shows_the_scan_field_and_errors_put_the_cursor_on_the_field(
    signed_in_page: BrowserPage,
) -> None:
    tab = signed_in_page
    page = _open_the_form(tab)
    assert _focused(page) == "kind:phone-note"
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    assert _focused(page) == "kind:post" and page.is_visible("input[name=scan]")
    page.keyboard.press("Tab")
    page.keyboard.type("Ann Smith")
    page.keyboard.press("Tab")
    page.keyboard.type("not a number")
    page.keyboard.press("Enter")
    page.wait_for_selector("#contact-error")
    tab.settle()
    tab.screenshot("refused")
    assert _focused(page) == "contact:not a number"
    assert page.is_checked("#kind-post") and page.input_value("input[name=name]") == "Ann Smith"
    _fenced_and_quiet(tab)


def _send(tab: BrowserPage) -> None:
    with tab.page.expect_navigation():
        tab.page.click("form.take button[type=submit]")  # not the header's Sign out
    tab.settle()


def test_a_form_brought_back_and_filled_in_anew_is_not_lost(signed_in_page: BrowserPage, site: Site) -> None:
    tab = signed_in_page
    page = _open_the_form(tab)
    page.fill("input[name=name]", "Ann Smith")
    page.fill("textarea[name=text]", "Please call back about the March statement.")
    _send(tab)  # refused: a call needs a number
    key = page.input_value("input[name=key]")
    page.fill("input[name=contact]", "+1 555 555 0123")
    _send(tab)
    first = int(tab.path.rpartition("/")[2])
    with page.expect_navigation():
        page.go_back()  # to take the next message
    tab.settle()
    # The browser brings back the refused form as it was sent, key and all.
    assert page.input_value("input[name=name]") == "Ann Smith"
    assert page.input_value("input[name=key]") == key
    page.fill("input[name=name]", "Bob Jones")
    page.fill("input[name=contact]", "+1 555 555 0199")
    page.fill("textarea[name=text]", "Bob's new order.")
    _send(tab)
    tab.screenshot("sent-before")
    assert tab.path == "/take"
    assert f"this form was already sent, as item {first}, with other values" in page.content()
    assert page.input_value("textarea[name=text]") == "Bob's new order."
    _send(tab)
    second = int(tab.path.rpartition("/")[2])
    assert second != first
    with site.runtime.sessions() as session:
        assert session.get_one(Item, second).sender_name == "Bob Jones"
    _fenced_and_quiet(tab)


def test_a_scan_chosen_before_the_kind_changed_to_a_call_is_not_sent(
    signed_in_page: BrowserPage, site: Site, tmp_path: Path
) -> None:
    tab = signed_in_page
    page = _open_the_form(tab)
    scan = tmp_path / "letter.pdf"
    scan.write_bytes(b"%PDF-1.4 a scanned letter")
    page.check("#kind-post")
    page.set_input_files("input[name=scan]", str(scan))
    page.check("#kind-phone-note")  # it was a call after all
    assert not page.is_visible("input[name=scan]") and page.is_disabled("input[name=scan]")
    page.fill("input[name=name]", "Ann Smith")
    page.fill("input[name=contact]", "+1 555 555 0123")
    page.fill("textarea[name=text]", "Please call back about the March statement.")
    _send(tab)
    assert tab.path.startswith("/items/")
    with site.runtime.sessions() as session:
        item = session.get_one(Item, int(tab.path.rpartition("/")[2]))
        assert (item.channel, item.attachments) == ("phone-note", [])
    # Back on the form a letter sends its scan again.
    page = _open_the_form(tab)
    page.check("#kind-post")
    assert page.is_enabled("input[name=scan]")
    _fenced_and_quiet(tab)


def test_a_scan_too_large_is_stopped_before_it_is_sent(
    signed_in_page: BrowserPage, site: Site, tmp_path: Path
) -> None:
    tab = signed_in_page
    page = _open_the_form(tab)
    page.check("#kind-post")
    page.fill("input[name=name]", "Ann Smith")
    page.fill("textarea[name=text]", "The signed contract.")
    big = tmp_path / "letter.tiff"
    big.write_bytes(b"x" * (MAX_SCAN_BYTES + 1))
    page.set_input_files("input[name=scan]", str(big))
    problem = "This file is larger than 20 MB: scan the letter at a lower resolution"
    assert problem in page.inner_text("#scan-error")
    sent = len(tab.navigations)
    page.click("form.take button[type=submit]")
    tab.settle()
    tab.screenshot("too-large")
    assert len(tab.navigations) == sent and tab.path == "/take"  # not sent: everything typed is there
    assert page.input_value("input[name=name]") == "Ann Smith"
    assert _focused(page).startswith("scan:")
    # A smaller scan clears the problem and is sent.
    small = tmp_path / "smaller.tiff"
    small.write_bytes(b"x" * 1024)
    page.set_input_files("input[name=scan]", str(small))
    assert not page.is_visible("#scan-error")
    _send(tab)
    assert tab.path.startswith("/items/")
    with site.runtime.sessions() as session:
        item = session.get_one(Item, int(tab.path.rpartition("/")[2]))
        assert [attachment.filename for attachment in item.attachments] == ["smaller.tiff"]
    _fenced_and_quiet(tab)
