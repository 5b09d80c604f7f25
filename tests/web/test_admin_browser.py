"""The admin pages in a real Chromium: an admin adds a staff user, who signs in in another
browser and sees their department only; a token made on the page works on the API until
the admin revokes it; a replay with an uploaded candidate config shows the moves and
changes nothing. And the admin pages in Romanian, without an English string of ours."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from intake.cli.runtime import Runtime
from intake.email.parser import parse_email
from routing.store.database import transaction
from routing.store.models import AuditEvent, Item
from tests.conftest import OFFICE
from tests.support.browser import BrowserPage, sign_in
from tests.support.mail import email_bytes
from tests.support.people import PASSWORD, add_person
from tests.web.test_languages_browser import english_on

ADMIN = "ada"
ORDERS_TO_BILLING = '\n[[rules]]\nname = "orders"\nwhen = { subject = ["order"] }\nroute = "billing"\n'


@pytest.fixture
def admin_page(browser_page: BrowserPage) -> BrowserPage:
    add_person(browser_page.site.runtime.sessions, ADMIN, role="admin")
    return sign_in(browser_page, ADMIN)


@contextmanager
def another_browser(tab: BrowserPage, name: str) -> Iterator[BrowserPage]:
    """A second person's tab, in a context of its own (its own cookies)."""
    browser = tab.page.context.browser
    assert browser is not None
    context = browser.new_context()
    other = BrowserPage(context.new_page(), tab.site, f"{tab.name}-{name}")
    other.watch()
    try:
        yield other
    finally:
        context.close()


def submit(tab: BrowserPage, button: str) -> None:
    with tab.page.expect_navigation():
        tab.page.click(button)
    tab.settle()


def deliver(runtime: Runtime, number: int, subject: str, to: str = "sales@office.test") -> int:
    raw = email_bytes(subject=subject, to=to, message_id=f"<admin-browser{number}@client.example>")
    return runtime.deliverer.deliver(parse_email(raw, received_at=datetime.now(UTC))).item_id


def test_an_admin_adds_a_staff_user_who_sees_only_their_department(admin_page: BrowserPage) -> None:
    tab, page = admin_page, admin_page.page
    deliver(tab.site.runtime, 1, "Prices for desks")
    invoice = deliver(tab.site.runtime, 2, "Invoice 12", to="billing@office.test")
    tab.goto("/admin/users")
    form = page.locator("#add-user")
    form.locator("input[name=name]").fill("tom")
    form.locator("select[name=role]").select_option("staff")
    form.locator("input[name=department][value=billing]").check()
    form.locator("input[name=password]").fill(PASSWORD)
    submit(tab, "#add-user button[type=submit]")
    assert page.locator("#user-tom td.departments").inner_text() == "billing"
    tab.screenshot("admin-users")

    with another_browser(tab, "tom") as tom:
        sign_in(tom, "tom")
        assert tom.page.locator("tr.queue-row").evaluate_all(
            "rows => rows.map(r => r.dataset.department)"
        ) == ["billing"]
        tom.goto(f"/items/{invoice}")
        assert tom.page.locator("h1").inner_text() == "Invoice 12"
        response = tom.page.goto(tom.site.base + "/departments/sales")
        assert response is not None and response.status == 404
        assert tom.page.request.get(tom.site.base + "/admin/users").status == 403
    assert tab.console_errors == []


def test_a_revoked_token_is_refused_by_the_api(admin_page: BrowserPage) -> None:
    tab, page = admin_page, admin_page.page
    tab.goto("/admin/tokens")
    page.select_option("#create-token select[name=name]", ADMIN)
    submit(tab, "#create-token button[type=submit]")
    token = page.locator("#new-token").inner_text()
    tab.screenshot("admin-tokens")
    api = {"Authorization": f"Bearer {token}"}
    assert page.request.get(tab.site.base + "/api/v1/items", headers=api).status == 200

    tab.goto("/admin/tokens")  # shown once: not on the list
    assert token not in page.content()
    row = page.locator("#tokens tbody tr").last
    with page.expect_navigation():
        row.locator("button").click()
    tab.settle()
    assert "revoked" in row.locator("td.state").inner_text()
    assert page.request.get(tab.site.base + "/api/v1/items", headers=api).status == 401


def test_a_replay_with_a_candidate_shows_the_moves_and_changes_nothing(admin_page: BrowserPage) -> None:
    tab, page = admin_page, admin_page.page
    runtime = tab.site.runtime
    order = deliver(runtime, 1, "Order 5521: delivery date")
    deliver(runtime, 2, "Prices for desks")

    def stored() -> tuple[list[tuple[object, ...]], int]:
        with transaction(runtime.sessions, write=False) as session:
            items = [
                tuple(row) for row in session.execute(select(Item.id, Item.department_id).order_by(Item.id))
            ]
            return items, session.scalar(select(func.count()).select_from(AuditEvent)) or 0

    before = stored()
    tab.goto("/admin/replay")
    page.fill("#replay input[name=since]", "2d")
    candidate = (OFFICE.read_text() + ORDERS_TO_BILLING).encode()
    page.set_input_files(
        "#replay input[name=config]",
        files=[{"name": "new.toml", "mimeType": "application/toml", "buffer": candidate}],
    )
    submit(tab, "#replay button[type=submit]")
    assert page.locator("#replay-result h2").inner_text() == "Under the candidate config"
    moves = page.locator("#moves tr.move")
    assert moves.count() == 1 and moves.first.get_attribute("data-item-id") == str(order)
    assert moves.first.locator("td.would-be").inner_text() == "Billing"
    assert "rule 'orders'" in moves.first.locator("td.reason").inner_text()
    tab.screenshot("admin-replay")
    assert stored() == before


def test_the_admin_pages_in_romanian(admin_page: BrowserPage) -> None:
    tab, page = admin_page, admin_page.page
    deliver(tab.site.runtime, 1, "Comanda 5521")
    page.select_option("#language", "ro")
    submit(tab, "#language-apply")
    for path, label in (
        ("/admin/users", "admin-users-ro"),
        ("/admin/tokens", "admin-tokens-ro"),
        ("/admin/rules", "admin-rules-ro"),
        ("/admin/replay", "admin-replay-ro"),
    ):
        tab.goto(path)
        assert english_on(page) == [], f"English on {path}"
        tab.screenshot(label)
    submit(tab, "#replay button[type=submit]")  # under the running config
    assert page.locator("#replay-result h2").inner_text() == "După configurația în vigoare"
    assert english_on(page) == []
