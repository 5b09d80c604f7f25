"""Hostile HTML mail, sent over SMTP and opened in real Chromium: nothing runs, nothing
leaves for another host, nothing navigates away, and the message is still readable.
Remote images are fetched only after the person asks for them. On SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import select

from routing.store.database import transaction
from routing.store.models import Item
from tests.support.browser import BrowserPage, Site
from tests.support.smtp import client, running, send

HOSTILE_MAIL = """\
From: Mallory <mallory@client.example>
To: sales@office.test
Subject: Your order has shipped
Date: Mon, 02 Nov 2026 10:15:00 -0500
Message-ID: <xss-1@client.example>
MIME-Version: 1.0
Content-Type: multipart/alternative; boundary="alt"

--alt
Content-Type: text/plain; charset=utf-8

Your order 4711 has shipped.

--alt
Content-Type: text/html; charset=utf-8

<html><head>
<base href="http://evil.example/">
<meta http-equiv="refresh" content="0;url=http://evil.example/">
</head><body>
<script>alert(1)</script>
<img src=x onerror=alert(2)>
<svg onload=alert(3)></svg>
<p>Your order <b>4711</b> has shipped and arrives on Thursday.</p>
<p><a href="javascript:alert(4)">click</a></p>
<div style="width: expression(alert(5))">Thank you for shopping with us.</div>
<img src="http://tracker.example/pixel.gif" alt="tracker" width="1" height="1">
</body></html>

--alt--
"""
PIXEL = "http://tracker.example/pixel.gif"


def _send_hostile_mail(site: Site) -> str:
    """The mail through the office's SMTP server; the path of the item it became."""
    runtime = site.runtime
    with running(runtime) as server:
        connection = client(server)
        try:
            code, reply = send(connection, HOSTILE_MAIL.replace("\n", "\r\n").encode())
        finally:
            connection.quit()
    assert code == 250, reply
    with transaction(runtime.sessions, write=False) as session:
        item_id = session.scalars(select(Item.id).where(Item.message_id == "<xss-1@client.example>")).one()
    return f"/items/{item_id}"


def test_hostile_html_runs_nothing_loads_nothing_and_stays_readable(
    signed_in_page: BrowserPage, site: Site
) -> None:
    item = _send_hostile_mail(site)
    tab = signed_in_page
    before = len(tab.navigations)
    tab.goto(item)
    page = tab.page
    # goto() waited until the page went quiet: a refresh or a script would have acted by then.
    assert tab.dialogs == []
    assert tab.outside == []
    assert tab.navigations[before:] == [site.base + item]
    page.get_by_text("Your order 4711 has shipped and arrives on Thursday.").wait_for(state="visible")
    page.get_by_text("Thank you for shopping with us.").wait_for(state="visible")
    hostile = "script:not([src]), svg, iframe, form, base, meta[http-equiv], [onerror], [onload], [style]"
    assert page.locator(f".mail-html :is({hostile}), head base, head meta[http-equiv]").count() == 0

    page.get_by_text("click", exact=True).click()
    tab.settle()
    tab.screenshot("after-click")
    assert tab.dialogs == [] and tab.popups == [] and tab.outside == []
    assert tab.console_errors == []  # nothing inline was left for the CSP to refuse
    assert tab.path == item
    assert tab.navigations[before:] == [site.base + item]


def test_the_tracking_pixel_is_requested_only_after_asking(signed_in_page: BrowserPage, site: Site) -> None:
    item = _send_hostile_mail(site)
    tab = signed_in_page
    tab.goto(item)
    assert tab.outside == []
    page = tab.page
    tracker = page.locator(".mail-html img[alt=tracker]")
    tracker.wait_for(state="attached")
    assert tracker.get_attribute("src") is None

    with page.expect_navigation():
        page.get_by_role("link", name="Show remote images").click()
    tab.settle()
    tab.screenshot("remote-images")
    assert tab.path == f"{item}?images=remote"
    assert tracker.get_attribute("src") == PIXEL
    # The only request that left for another host, and the fence aborted it.
    assert tab.outside == [PIXEL]
    assert tab.dialogs == [] and tab.console_errors == []


def test_markup_the_sanitizer_missed_is_still_stopped_by_the_csp(
    signed_in_page: BrowserPage, site: Site
) -> None:
    """The second line of defence on its own: script put into the mail's place, as a
    sanitizer bug would let through, does not run because the page forbids inline script."""
    item = _send_hostile_mail(site)
    tab = signed_in_page
    tab.goto(item)
    tab.page.locator(".mail-html").evaluate(
        """(mail) => {
            mail.insertAdjacentHTML("beforeend", '<img src="/missed.png" onerror="alert(`handler`)">');
            const script = document.createElement("script");
            script.textContent = "alert(`inline script`)";
            mail.append(script);
        }"""
    )
    tab.settle()
    assert tab.dialogs == []
    refused = [error for error in tab.console_errors if "Content Security Policy" in error]
    assert len(refused) == 2, tab.console_errors
