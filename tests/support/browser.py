"""Real Chromium for the tests, through Playwright: one browser per session, a signed-in tab per test.

The app runs under waitress on loopback, as `intake serve` runs it, and the person signs in
through the real login form. Every tab is fenced in: a request for any host but the test
server is recorded and aborted (no network at test time, and a leak shows in the test),
dialogs are recorded and dismissed, new tabs, script errors and CSP violations are
recorded, and each screen visited is saved as a picture in test-artifacts/ at the
project's root.

Without Chromium (Debian package chromium) or Playwright (the test extras) the browser
tests skip, or fail where INTAKE_TEST_REQUIRE_PROGRAMS=1. Playwright's own browser
download is never used: it launches the system's Chromium.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import pytest

from config.settings import ListenAddress
from intake.cli.runtime import Runtime
from intake.cli.web_server import WebServer
from tests.conftest import require_module, require_program
from tests.support.people import PASSWORD, add_person
from tests.support.serving import free_port

if TYPE_CHECKING:
    from playwright.sync_api import Browser, ConsoleMessage, Dialog, Page, Request, Route

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
# How long Playwright waits for a page or an element before the test fails; generous for
# a loaded CI machine, and never reached by a passing test.
TIMEOUT_MS = 15_000
RECEPTIONIST = "rita"  # the person signed_in_page signs in as
_screenshots: list[Path] = []


@dataclass(frozen=True)
class Chromium:
    """The browser, and the event loop Playwright's sync API drives it with."""

    browser: Browser
    loop: asyncio.AbstractEventLoop

    @contextmanager
    def in_use(self) -> Iterator[Browser]:
        """The browser, for one test.

        Between its calls Playwright's sync API marks its loop as running in this thread,
        where any later asyncio.run() would then refuse to start. It is marked so only
        while a browser test runs, and the other tests' asyncio.run() keeps working.
        """
        asyncio._set_running_loop(self.loop)
        try:
            yield self.browser
        finally:
            asyncio._set_running_loop(None)


@pytest.fixture(scope="session")
def chromium() -> Iterator[Chromium]:
    """The system's Chromium, started once for the whole test session."""
    path = require_program(CHROMIUM, "chromium")
    sync_api = require_module("playwright.sync_api", "pip package playwright, in the test extras")
    try:
        with sync_api.sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
            started = Chromium(browser, asyncio.get_running_loop())
            asyncio._set_running_loop(None)
            yield started
            with started.in_use():
                browser.close()
            asyncio._set_running_loop(started.loop)  # as the sync API expects when it stops
    finally:
        asyncio._set_running_loop(None)


@dataclass(frozen=True)
class Site:
    """The test office's web app, served over real HTTP on loopback."""

    base: str
    runtime: Runtime

    @property
    def host(self) -> str:
        return urlsplit(self.base).netloc


@pytest.fixture
def site(runtime: Runtime) -> Iterator[Site]:
    port = free_port()
    web = replace(runtime.settings.web, listen=ListenAddress("127.0.0.1", port))
    server = WebServer(runtime.web_app(), web)
    server.start()
    try:
        yield Site(f"http://127.0.0.1:{port}", runtime)
    finally:
        server.stop()


@dataclass
class BrowserPage:
    """A tab on the test server, with everything it tried to do written down."""

    page: Page
    site: Site
    name: str
    requested: list[str] = field(default_factory=list)  # every URL, in order
    outside: list[str] = field(default_factory=list)  # URLs for other hosts; all aborted
    dialogs: list[str] = field(default_factory=list)
    popups: list[str] = field(default_factory=list)
    navigations: list[str] = field(default_factory=list)  # the main frame's URLs
    # Script errors and CSP violations (Chromium reports those on the console).
    console_errors: list[str] = field(default_factory=list)
    screenshots: int = 0

    def watch(self) -> None:
        self.page.set_default_timeout(TIMEOUT_MS)
        self.page.route("**/*", self._route)
        self.page.on("dialog", self._dialog)
        self.page.on("popup", lambda popup: self.popups.append(popup.url))
        self.page.on("framenavigated", self._navigated)
        self.page.on("console", self._console)

    def goto(self, path: str) -> None:
        """Open a page of the site, wait until it has loaded everything, and keep a picture of it."""
        self.page.goto(self.site.base + path)
        self.settle()
        self.screenshot()

    def settle(self) -> None:
        """Wait until the page has no request left in flight."""
        self.page.wait_for_load_state("networkidle")

    def screenshot(self, label: str = "") -> Path:
        ARTIFACTS.mkdir(exist_ok=True)
        where = urlsplit(self.page.url).path.strip("/").replace("/", "-") or "home"
        self.screenshots += 1
        path = ARTIFACTS / (_safe(f"{self.name}-{self.screenshots:02d}-{label or where}") + ".png")
        self.page.screenshot(path=path, full_page=True)
        _screenshots.append(path)
        return path

    @property
    def path(self) -> str:
        """Where the tab is now, as a path with its query."""
        url = urlsplit(self.page.url)
        return url.path + (f"?{url.query}" if url.query else "")

    def _route(self, route: Route, request: Request) -> None:
        self.requested.append(request.url)
        if urlsplit(request.url).netloc == self.site.host:
            route.continue_()
        else:
            self.outside.append(request.url)
            route.abort("blockedbyclient")

    def _dialog(self, dialog: Dialog) -> None:
        self.dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    def _console(self, message: ConsoleMessage) -> None:
        # A failed load (an aborted outside request, a 404) is in `outside` or the test's own business.
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            self.console_errors.append(message.text)

    def _navigated(self, frame: object) -> None:
        if frame == self.page.main_frame:
            self.navigations.append(self.page.main_frame.url)


@pytest.fixture
def browser_page(chromium: Chromium, site: Site, request: pytest.FixtureRequest) -> Iterator[BrowserPage]:
    """A fresh tab in a fresh context (no cookies), watched; not signed in."""
    with chromium.in_use() as browser:
        context = browser.new_context()
        tab = BrowserPage(context.new_page(), site, _safe(request.node.name))
        tab.watch()
        try:
            yield tab
        finally:
            context.close()


@pytest.fixture
def signed_in_page(browser_page: BrowserPage) -> BrowserPage:
    """A tab of a receptionist, RECEPTIONIST, who signed in through the login form."""
    add_person(browser_page.site.runtime.sessions, RECEPTIONIST)
    return sign_in(browser_page, RECEPTIONIST)


def sign_in(tab: BrowserPage, name: str, password: str = PASSWORD) -> BrowserPage:
    """Sign `name` in through the login form of the tab, which then shows the front desk."""
    tab.goto("/login")
    page = tab.page
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", password)
    with page.expect_navigation():
        page.click("button[type=submit]")
    assert tab.path == "/", f"signing in ended on {page.url}"
    tab.settle()
    tab.screenshot("signed-in")
    return tab


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _screenshots:
        terminalreporter.write_line(f"Browser screenshots: {len(_screenshots)} in {ARTIFACTS}")


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-")
