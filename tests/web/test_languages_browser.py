"""The pages in Romanian, in a real Chromium: a receptionist switches from the menu, and
no page they visit shows an English string of ours (read from the catalog itself), with
dates in Romanian; the login page follows the browser's Accept-Language."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.pofile import read_po
from playwright.sync_api import Page

from tests.support.browser import TIMEOUT_MS, BrowserPage, Chromium, Site
from tests.support.queue_pages import add_item

CATALOG = Path(__file__).resolve().parents[2] / "web" / "translations" / "ro" / "LC_MESSAGES" / "messages.po"
# What people and senders wrote, and what routing stored in its own words: not the pages' strings.
_DATA_PARTS = (
    ".subject", ".sender", ".reason", ".rules", "pre.text", ".mail-html", ".meta", ".actor", ".brand", ".who",
    ".queue", "td:first-child a.open-item", "#back-to-queue", "select[name=department] option",
)  # fmt: skip
DATA = ", ".join(_DATA_PARTS)
PLACEHOLDER = re.compile(r"%\(\w+\)s")
ROMANIAN_DATE = re.compile(r"^(lun|mar|mie|joi|vin|sâm|dum)\., \d{1,2} [a-zăâîșț]+\.? \d{4}, \d{2}:\d{2}$")


def english_strings() -> tuple[frozenset[str], list[re.Pattern[str]]]:
    """The catalog's English strings that Romanian says otherwise: whole ones, to find a
    label standing alone, and the words of the longer ones, to find them inside a sentence."""
    with CATALOG.open("rb") as file:
        catalog = read_po(file, locale="ro")
    whole, parts = set(), set()
    for message in catalog:
        if not message.id:
            continue
        english = message.id if isinstance(message.id, tuple) else (message.id,)
        romanian = message.string if isinstance(message.string, tuple) else (message.string,)
        for text in english:
            if text in romanian:
                continue  # "SMS", "Spam": the same in both
            whole.add(text)
            parts.update(p.strip(" .:;,") for p in PLACEHOLDER.split(text) if len(p.strip(" .:;,")) >= 8)
    return frozenset(whole), [re.compile(rf"(?<!\w){re.escape(p)}(?!\w)") for p in sorted(parts)]


ENGLISH, ENGLISH_PARTS = english_strings()


def english_on(page: Page) -> list[str]:
    """The page's texts of ours (words, placeholders, labels, titles) still in English."""
    texts: list[str] = page.evaluate(
        """(data) => {
          const found = [document.title];
          const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
          while (walker.nextNode()) {
            const node = walker.currentNode;
            if (!node.parentElement.closest(data + ", script")) found.push(node.textContent);
          }
          document.querySelectorAll("[placeholder], [aria-label], [title]").forEach((element) => {
            if (element.closest(data)) return;
            ["placeholder", "aria-label", "title"].forEach((name) => found.push(element.getAttribute(name) || ""));
          });
          return found.map((text) => text.trim()).filter((text) => text);
        }""",
        DATA,
    )
    return sorted(
        {text for text in texts if text in ENGLISH}
        | {
            f"{pattern.pattern} in {text!r}"
            for text in texts
            for pattern in ENGLISH_PARTS
            if pattern.search(text)
        }
    )


def test_a_receptionist_switches_to_romanian_and_every_page_follows(signed_in_page: BrowserPage) -> None:
    tab, page = signed_in_page, signed_in_page.page
    runtime = tab.site.runtime
    item_id = add_item(
        runtime,
        1,
        subject="Ofertă pentru 40 de birouri",
        sender="Ana Pop <ana@client.example>",
        body="Bună ziua,\r\ncât costă biroul mare?\r\n",
        priority="high",
    )
    tab.goto("/")
    assert page.locator("h1").first.inner_text() == "Needs a decision"  # the test office works in English
    page.select_option("#language", "ro")
    with page.expect_navigation():
        page.click("#language-apply")
    tab.settle()
    assert tab.path == "/" and page.locator("html").get_attribute("lang") == "ro"

    for path in ("/", "/departments/sales", f"/items/{item_id}", "/dashboard", "/take"):
        tab.goto(path)
        assert english_on(page) == [], f"English on {path}"

    tab.goto(f"/items/{item_id}")
    received = page.locator("dt:text-is('Primită') + dd").inner_text()
    assert received == "lun., 2 nov. 2026, 10:01"  # 15:01 UTC in the office's New York
    page.keyboard.press("?")
    assert page.locator("#keys-help h2").inner_text() == "Tastatura"
    tab.goto("/departments/sales")
    assert ROMANIAN_DATE.match(page.locator(f"#item-{item_id} td.age time").get_attribute("title") or "")
    assert tab.console_errors == [] and tab.outside == []


@pytest.mark.parametrize(
    ("locale", "heading", "button"),
    [
        ("ro-RO", "Autentificare", "Autentificare"),
        ("hu-HU", "Bejelentkezés", "Bejelentkezés"),
        ("en-GB", "Sign in", "Sign in"),
    ],
)
def test_the_login_page_follows_the_browsers_language(
    chromium: Chromium, site: Site, locale: str, heading: str, button: str
) -> None:
    with chromium.in_use() as browser:
        context = browser.new_context(locale=locale)
        try:
            page = context.new_page()
            page.set_default_timeout(TIMEOUT_MS)
            page.goto(site.base + "/login")
            assert page.locator("h1").inner_text() == heading
            assert page.locator("button[type=submit]").inner_text() == button
            if locale == "ro-RO":
                assert english_on(page) == []
        finally:
            context.close()
