"""Linking and merging in a real Chromium with the keyboard alone: on an email whose
signature holds the number that texted before, `l` links the sender to that person, and
`m` merges the email into the text as the same request."""

from __future__ import annotations

from datetime import timedelta

from playwright.sync_api import expect

from intake.cli.runtime import Runtime
from intake.email.parser import parse_email
from routing.store.database import transaction
from routing.store.models import Item
from tests.support.browser import BrowserPage
from tests.support.contacts import ANA_NUMBER, ARRIVED, text_message
from tests.support.mail import email_bytes


def test_a_receptionist_links_and_merges_with_two_keys(runtime: Runtime, signed_in_page: BrowserPage) -> None:
    text = text_message(runtime, ANA_NUMBER, "The boiler is broken", "SM-browser-1", ARRIVED)
    signed = "Still no hot water.\r\n\r\nAna\r\n07700 900123\r\n"
    raw = email_bytes(sender="Ana <ana@home.example>", message_id="<k1@home.example>", body=signed)
    email = runtime.deliverer.deliver(parse_email(raw, received_at=ARRIVED + timedelta(hours=1))).item_id
    tab, page = signed_in_page, signed_in_page.page
    tab.goto(f"/items/{email}")
    expect(page.locator(".suggestion-known-number")).to_contain_text(ANA_NUMBER)
    with page.expect_navigation():
        page.keyboard.press("l")
    tab.settle()
    expect(page.locator(".suggestion-same-request")).to_contain_text(f"#{text}")
    tab.screenshot("linked")
    with page.expect_navigation():
        page.keyboard.press("m")
    tab.settle()
    expect(page.locator(".merged")).to_contain_text(f"#{text}")
    tab.screenshot("merged")
    with transaction(runtime.sessions, write=False) as session:
        merged = session.get_one(Item, email)
        assert (merged.status, merged.merged_into_id) == ("merged", text)
        assert merged.contact_id == session.get_one(Item, text).contact_id
