"""The take-a-message form in a real Chromium: keyboard first, no CSP complaints."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import ConsoleMessage, Page, sync_playwright

from config.loading import load_settings
from config.settings import ListenAddress
from intake.runtime import Runtime, open_runtime
from intake.wsgi import WebServer
from routing.models import Item
from tests.conftest import OFFICE, require_program
from tests.people import PASSWORD, add_person
from tests.serving import free_port
from web.app import create_app


@pytest.fixture
def office(tmp_path: Path) -> Iterator[tuple[Runtime, str]]:
    """The test office served over HTTP on SQLite: what is tested here is the page, not storage."""
    runtime = open_runtime(load_settings(OFFICE, {"INTAKE_DATABASE_URL": f"sqlite:///{tmp_path / 'i.db'}"}))
    add_person(runtime.sessions, "rita")
    port = free_port()
    server = WebServer(
        create_app(runtime.settings, runtime.engine, runtime.sessions), ListenAddress("127.0.0.1", port)
    )
    server.start()
    yield runtime, f"http://127.0.0.1:{port}"
    server.stop()
    runtime.engine.dispose()


@pytest.fixture
def page(office: tuple[Runtime, str]) -> Iterator[Page]:
    chromium = require_program("/usr/bin/chromium", "chromium")
    base = office[1]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium)
        opened = browser.new_page()
        complaints: list[str] = []
        opened.on("console", lambda message: _complain(message, complaints))
        opened.goto(f"{base}/login")
        opened.fill("input[name=name]", "rita")
        opened.fill("input[name=password]", PASSWORD)
        opened.keyboard.press("Enter")
        opened.wait_for_url(f"{base}/")
        yield opened
        browser.close()
        assert complaints == []  # a CSP violation is reported on the console


def _complain(message: ConsoleMessage, complaints: list[str]) -> None:
    # A status (the 400 of a refused form, the favicon the office has none of) is the
    # tests' business; what is left is a script error or a CSP violation.
    if message.type == "error" and not message.text.startswith("Failed to load resource"):
        complaints.append(message.text)


def _focused(page: Page) -> str:
    return str(page.evaluate("document.activeElement.name + ':' + document.activeElement.value"))


def test_a_call_is_taken_with_the_keyboard(office: tuple[Runtime, str], page: Page) -> None:
    runtime, _ = office
    page.click("text=Take a message")
    page.wait_for_url("**/take")
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
    page.keyboard.press("Enter")
    page.wait_for_url("**/items/*")
    assert "Message taken: item" in page.content()
    item_id = int(page.url.rpartition("/")[2])
    with runtime.sessions() as session:
        item = session.get_one(Item, item_id)
        assert (item.channel, item.department_id, item.sender) == ("phone-note", "billing", "+15555550123")


def test_a_letter_shows_the_scan_field_and_errors_put_the_cursor_on_the_field(page: Page) -> None:
    page.click("text=Take a message")
    page.wait_for_url("**/take")
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
    assert _focused(page) == "contact:not a number"
    assert page.is_checked("#kind-post") and page.input_value("input[name=name]") == "Ann Smith"
