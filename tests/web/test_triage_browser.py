"""A receptionist's morning in a real Chromium, by keyboard alone.

Twenty mixed items wait in Sales: emails, texts and voicemails that came in through the
real adapters (the voicemails' recordings fetched from the fake Twilio API). The
receptionist signs in, watches a new email arrive live, opens items, plays a voicemail,
claims, resolves and reroutes with keys only, and the queue empties.
"""

from __future__ import annotations

import io
import math
import re
import wave
from collections.abc import Iterator
from datetime import timedelta

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from intake.cli.runtime import Runtime
from intake.email.parser import parse_email
from routing.store.database import transaction
from routing.store.models import AuditEvent, Item
from tests.support.browser import BrowserPage
from tests.support.mail import email_bytes
from tests.support.queue_pages import add_item
from tests.support.twilio import OPEN_TIME, Answer, PhoneOffice, api_path, recording_form, sms_form

EMAILS = 8
TEXTS = 6
VOICEMAILS = 6


def _wav(seconds: float = 1.0, rate: int = 8000) -> bytes:
    """A real, playable recording: a quiet tone."""
    samples = bytes(
        int(128 + 20 * math.sin(2 * math.pi * 440 * n / rate)) for n in range(int(seconds * rate))
    )
    out = io.BytesIO()
    with wave.open(out, "wb") as recording:
        recording.setnchannels(1)
        recording.setsampwidth(1)
        recording.setframerate(rate)
        recording.writeframes(samples)
    return out.getvalue()


@pytest.fixture
def runtime(phone: PhoneOffice) -> Iterator[Runtime]:
    """The browser's site serves the phone office, so voicemails have their recordings."""
    yield phone.runtime


def _fill_sales(phone: PhoneOffice) -> None:
    for n in range(EMAILS):
        raw = email_bytes(
            subject=f"Order question {n}",
            sender=f"Client {n} <client{n}@example.com>",
            message_id=f"<order{n}@example.com>",
            body=f"Hello, about order number {n}.\r\n",
        )
        phone.runtime.deliverer.deliver(parse_email(raw, received_at=OPEN_TIME + timedelta(minutes=n)))
    for n in range(TEXTS):
        sid = f"SM{n:032d}"
        assert (
            phone.post(
                "/twilio/sms", sms_form(sid, f"Text {n}: do you deliver?", From=f"+1555000{n:04d}")
            ).status_code
            == 200
        )
    wav = _wav()
    for n in range(VOICEMAILS):
        form = recording_form(
            phone.fake.base, call=f"CA{n:032d}", recording=f"RE{n:032d}", From=f"+1555100{n:04d}"
        )
        phone.fake.serve(
            api_path(f"Recordings/{form['RecordingSid']}"), Answer(200, wav, {"Content-Type": "audio/x-wav"})
        )
        assert phone.post("/twilio/voice/recording", form).status_code == 200
    while phone.worker.run_once():
        pass


def _open_items(runtime: Runtime, department: str) -> list[Item]:
    with transaction(runtime.sessions, write=False) as session:
        return list(
            session.scalars(select(Item).where(Item.department_id == department, Item.status != "resolved"))
        )


def test_a_receptionist_triages_twenty_mixed_items_with_the_keyboard_alone(
    phone: PhoneOffice, signed_in_page: BrowserPage
) -> None:
    _fill_sales(phone)
    assert {i.channel for i in _open_items(phone.runtime, "sales")} == {"email", "sms", "voicemail"}
    tab, page = signed_in_page, signed_in_page.page
    tab.goto("/departments/sales")
    assert page.locator("tr.item-row").count() > 0

    # A new email arrives while the queue is open: it appears without a reload.
    raw = email_bytes(subject="Arrived while you watched", message_id="<live@example.com>")
    live = phone.runtime.deliverer.deliver(parse_email(raw)).item_id
    page.wait_for_selector(f"#item-{live}")
    # (Playwright's wait_for_function evaluates strings, which the pages' CSP forbids.)
    expect(page).to_have_title(re.compile(r"^\(1\) Sales"))
    tab.screenshot("queue-live")

    played = rerouted = 0
    for step in range(EMAILS + TEXTS + VOICEMAILS + 1):
        row = page.locator("tr.item-row.cursor")
        item_id = row.get_attribute("data-item-id")
        channel = _channel(phone.runtime, int(item_id or 0))
        if channel == "voicemail" and not played:
            page.keyboard.press("o")
            page.wait_for_url(f"**/items/{item_id}")
            tab.screenshot("voicemail")
            _play(page)
            played += 1
            page.keyboard.press("e")  # resolves and goes back to the queue
            page.wait_for_url("**/departments/sales")
            continue
        kind = step % 3
        if kind == 0:
            _last_key(page, "e", item_id)
        elif kind == 1:
            page.keyboard.press("c")
            page.wait_for_selector(f"#item-{item_id}[data-status=claimed]")
            _last_key(page, "e", item_id)
        else:
            page.keyboard.press("r")
            page.wait_for_selector("#reroute-dialog[open]")
            page.keyboard.type("Billing")  # chooses the option in the focused list
            page.keyboard.press("Tab")
            page.keyboard.type("an invoice question")
            _last_key(page, "Enter", item_id)
            rerouted += 1

    assert played == 1
    assert _open_items(phone.runtime, "sales") == []
    moved = _open_items(phone.runtime, "billing")
    assert len(moved) == rerouted
    assert {m.routing_reason for m in moved} == {"rerouted by rita: an invoice question"}
    with transaction(phone.runtime.sessions, write=False) as session:
        actors = set(session.scalars(select(AuditEvent.actor).where(AuditEvent.action != "received")))
    assert actors >= {"rita"}
    assert tab.dialogs == [] and tab.outside == []
    tab.screenshot("queue-empty")


def _last_key(page: Page, key: str, item_id: str | None) -> None:
    """Press the key that ends an action on the cursor's row, then wait until the next key
    has a page to go to: the row gone, and a cursor on the rows left, on this page or on
    the page drawn again after its last row, or the queue shown empty.

    Whether the page is drawn again is not guessed beforehand: a live update may add a
    row meanwhile. While it is drawn again the old page has no cursor and no empty notice.
    """
    page.keyboard.press(key)
    page.wait_for_selector(f"#item-{item_id}", state="detached")
    page.wait_for_selector("tr.item-row.cursor, #queue-empty:not([hidden])")


def _channel(runtime: Runtime, item_id: int) -> str:
    with transaction(runtime.sessions, write=False) as session:
        return session.get_one(Item, item_id).channel


def _play(page: Page) -> None:
    """Play the recording in the page's audio player until time passes in it."""
    player = page.locator("audio")
    played = player.evaluate(
        """audio => new Promise((done, failed) => {
            audio.addEventListener("timeupdate", () => audio.currentTime > 0 && done(audio.currentTime));
            audio.addEventListener("error", () => failed(new Error("the recording did not play")));
            audio.play().catch(failed);
        })"""
    )
    assert played > 0


def test_the_front_desk_counts_a_new_item_live_and_in_the_tab_title(
    phone: PhoneOffice, signed_in_page: BrowserPage
) -> None:
    tab, page = signed_in_page, signed_in_page.page
    tab.goto("/")
    new_in_sales = page.locator("tr.queue-row[data-department=sales] td.count-new")
    expect(new_in_sales).to_have_text("0")
    raw = email_bytes(subject="While the desk watched", message_id="<desk@example.com>")
    phone.runtime.deliverer.deliver(parse_email(raw))
    expect(new_in_sales).to_have_text("1")
    expect(page).to_have_title(re.compile(r"^\(1\) "))
    page.keyboard.press("j")  # the person is back: the count leaves the title
    expect(page).not_to_have_title(re.compile(r"^\(1\) "))
    assert tab.console_errors == [] and tab.outside == []


def test_the_front_desk_keeps_the_persons_place_when_its_decisions_are_redrawn(
    phone: PhoneOffice, signed_in_page: BrowserPage
) -> None:
    """A new item needing a decision redraws the list: the cursor stays on its item, the
    keyboard focus on the link it was on, and the page where the person scrolled it."""
    waiting = [
        add_item(phone.runtime, n, subject=f"Undecided {n}", decision_needed="weak") for n in (1, 2, 3)
    ]
    tab, page = signed_in_page, signed_in_page.page
    page.set_viewport_size({"width": 1000, "height": 240})
    tab.goto("/")
    page.keyboard.press("j")  # from the newest decision to the next
    second = page.locator(f"#decision-{waiting[1]} a.open-item")
    second.focus()
    arrived = add_item(phone.runtime, 4, subject="Undecided 4", decision_needed="weak")
    page.wait_for_selector(f"#decision-{arrived}")
    expect(page.locator("tr.cursor")).to_have_id(f"decision-{waiting[1]}")
    expect(page.locator(f"#decision-{waiting[1]} a.open-item")).to_be_focused()

    last_queue = page.locator("tr.queue-row").last
    last_queue.scroll_into_view_if_needed()
    expect(page.locator(f"#decision-{waiting[1]}")).not_to_be_in_viewport()
    later = add_item(phone.runtime, 5, subject="Undecided 5", decision_needed="weak")
    page.wait_for_selector(f"#decision-{later}")
    expect(last_queue).to_be_in_viewport(ratio=1)  # not scrolled back up to the cursor
    expect(page.locator(f"#decision-{waiting[1]} a.open-item")).to_be_focused()
    assert tab.console_errors == [] and tab.outside == []
