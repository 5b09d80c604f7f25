"""Triage from the pages and the API: forms, the keyboard script's JSON, bulk, errors."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from intake.cli.runtime import Runtime
from intake.email.parser import parse_email
from routing.store.models import Item
from tests.support.mail import email_bytes
from tests.support.people import add_person, csrf_token, office_client
from tests.support.smtp import stored_item
from web.storage import DATABASE_BUSY

MONDAY = datetime(2026, 11, 2, 15, 0, tzinfo=UTC)
JSON = {"Accept": "application/json"}


def deliver(runtime: Runtime, message_id: str = "<x1@client.example>", to: str = "sales@office.test") -> int:
    raw = email_bytes(subject="Chairs", message_id=message_id, to=to, body="Twenty chairs, please.\r\n")
    return runtime.deliverer.deliver(parse_email(raw, received_at=MONDAY)).item_id


def post(client: FlaskClient, path: str, **fields: str | list[str]) -> tuple[int, str, str]:
    """Post a form as the page would, with its CSRF token; the status, redirect and next page."""
    token = csrf_token(client.get("/").get_data(as_text=True))
    response = client.post(path, data={"csrf_token": token, **fields})
    location = response.headers.get("Location", "")
    shown = client.get(location).get_data(as_text=True) if location else response.get_data(as_text=True)
    return response.status_code, location, shown


def test_the_item_page_offers_the_actions_with_their_keys(runtime: Runtime, client: FlaskClient) -> None:
    item_id = deliver(runtime)
    add_person(runtime.sessions, "sam", role="staff", departments=["sales"])
    add_person(runtime.sessions, "bea", role="staff", departments=["billing"])
    page = client.get(f"/items/{item_id}").get_data(as_text=True)
    for action in ("claim", "resolve", "spam", "reroute", "assign", "priority", "due", "note"):
        assert f'id="action-{action}"' in page
    assert "New · nobody has it yet" in page
    assert "<kbd>c</kbd>" in page and "<kbd>e</kbd>" in page and "<kbd>r</kbd>" in page
    # Only people who see the sales queue can be given the item.
    assert "<option>sam</option>" in page and "<option>bea</option>" not in page
    assert 'src="/static/item.js"' in page


def test_a_form_action_sends_the_person_back_with_a_message(runtime: Runtime, client: FlaskClient) -> None:
    item_id = deliver(runtime)
    status, location, shown = post(client, f"/items/{item_id}/claim", next="/departments/sales")
    assert (status, location) == (303, "/departments/sales")
    assert f"Item {item_id}: claimed." in shown
    assert stored_item(runtime, item_id).status == "claimed"
    assert "Claimed by <strong>reception</strong>" in client.get(f"/items/{item_id}").get_data(as_text=True)


@pytest.mark.parametrize("target", ["//evil.example/", "/\t/evil.example/", "/\n\\evil.example/"])
def test_a_next_address_off_the_site_is_ignored(runtime: Runtime, client: FlaskClient, target: str) -> None:
    item_id = deliver(runtime)
    status, location, _ = post(client, f"/items/{item_id}/note", text="Called back.", next=target)
    assert (status, location) == (303, f"/items/{item_id}")


def test_a_refused_form_action_says_why(runtime: Runtime, client: FlaskClient) -> None:
    item_id = deliver(runtime)
    status, _, shown = post(client, f"/items/{item_id}/reroute", department="billing", reason="  ")
    assert status == 303
    assert "reason is required" in shown and 'class="flash-error"' in shown
    assert stored_item(runtime, item_id).department_id == "sales"


def test_the_due_time_is_the_offices_local_time(runtime: Runtime, client: FlaskClient) -> None:
    item_id = deliver(runtime)
    post(client, f"/items/{item_id}/due", due="2026-11-30T14:00")
    due = stored_item(runtime, item_id).due_at
    assert due is not None
    assert due.astimezone(runtime.settings.timezone).strftime("%Y-%m-%d %H:%M") == "2026-11-30 14:00"
    _, _, shown = post(client, f"/items/{item_id}/due", due="tomorrow")
    assert "is not a date and time, like 2026-11-30T14:00" in shown
    _, _, shown = post(client, f"/items/{item_id}/due", due="9999-12-31T23:59:59-23:59")
    assert "a due time must lie between 0001-01-02 and 9999-12-30" in shown


def test_the_keyboard_script_gets_json(runtime: Runtime, client: FlaskClient) -> None:
    item_id = deliver(runtime)
    token = csrf_token(client.get("/").get_data(as_text=True))
    response = client.post(f"/items/{item_id}/resolve", headers={**JSON, "X-CSRFToken": token})
    assert response.status_code == 200
    assert response.json is not None and response.json["item"]["status"] == "resolved"
    again = client.post(f"/items/{item_id}/resolve", headers={**JSON, "X-CSRFToken": token})
    assert again.status_code == 400
    assert again.json == {"error": {"status": 400, "message": f"item {item_id} is resolved; reopen it first"}}


def test_an_action_without_its_csrf_token_is_refused(runtime: Runtime, client: FlaskClient) -> None:
    item_id = deliver(runtime)
    assert client.post(f"/items/{item_id}/claim").status_code == 400
    assert client.post("/items/bulk", data={"action": "resolve", "item": [str(item_id)]}).status_code == 400
    assert stored_item(runtime, item_id).status == "new"


def test_unknown_actions_and_items_are_not_found(runtime: Runtime, client: FlaskClient) -> None:
    item_id = deliver(runtime)
    assert post(client, f"/items/{item_id}/explode")[0] == 404
    assert post(client, "/items/999/claim")[0] == 404


def test_another_departments_item_is_not_found(app: Flask, runtime: Runtime) -> None:
    item_id = deliver(runtime)
    staff = office_client(app, runtime.sessions, name="bea", role="staff", departments=["billing"])
    token = csrf_token(staff.get("/").get_data(as_text=True))
    assert staff.post(f"/items/{item_id}/claim", data={"csrf_token": token}).status_code == 404
    assert stored_item(runtime, item_id).status == "new"


def test_bulk_actions_do_what_they_can_and_say_what_they_could_not(
    runtime: Runtime, client: FlaskClient
) -> None:
    first, second, third = (deliver(runtime, f"<b{n}@client.example>") for n in range(3))
    post(client, f"/items/{third}/resolve")
    ids = [str(first), str(second), str(third)]
    status, location, shown = post(
        client, "/items/bulk", action="resolve", item=ids, next="/departments/sales"
    )
    assert (status, location) == (303, "/departments/sales")
    assert "2 items: resolved." in shown
    assert f"Item {third} was left as it was: item {third} is resolved; reopen it first" in shown
    assert [stored_item(runtime, i).status for i in (first, second)] == ["resolved", "resolved"]


def test_bulk_reroute_takes_the_fields_of_the_action(runtime: Runtime, client: FlaskClient) -> None:
    first, second = deliver(runtime, "<r1@c>"), deliver(runtime, "<r2@c>")
    post(
        client,
        "/items/bulk",
        action="reroute",
        item=[str(first), str(second)],
        department="billing",
        reason="bills",
    )
    assert [stored_item(runtime, i).department_id for i in (first, second)] == ["billing", "billing"]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"action": "explode", "item": ["1"]}, "choose an action"),
        ({"action": "resolve"}, "choose from 1 to 500 items"),
        ({"action": "resolve", "item": ["1", "two"]}, "choose from 1 to 500 items"),
        ({"action": "resolve", "item": [str(n) for n in range(501)]}, "choose from 1 to 500 items"),
        ({"action": "resolve", "item": ["1", "\u00b2"]}, "choose from 1 to 500 items"),
        ({"action": "resolve", "item": ["1", "99999999999999999999"]}, "choose from 1 to 500 items"),
    ],
)
def test_a_bad_bulk_request_is_refused_with_a_reason(
    runtime: Runtime, client: FlaskClient, fields: dict[str, str | list[str]], message: str
) -> None:
    item_id = deliver(runtime)
    status, _, shown = post(client, "/items/bulk", **fields)
    assert status == 303 and message in shown
    assert stored_item(runtime, item_id).status == "new"


def test_the_api_claims_notes_and_resolves(runtime: Runtime, client: FlaskClient) -> None:
    item_id = deliver(runtime)
    claimed = client.post(f"/api/v1/items/{item_id}/claim")
    assert claimed.status_code == 200 and claimed.json is not None
    assert (claimed.json["status"], claimed.json["assignee"]) == ("claimed", "reception")
    noted = client.post(f"/api/v1/items/{item_id}/note", json={"text": "Quoted 20 chairs."})
    assert noted.status_code == 200
    assert client.post(f"/api/v1/items/{item_id}/resolve").json["status"] == "resolved"  # type: ignore[index]
    with runtime.sessions() as session:
        history = [(e.actor, e.action) for e in session.get_one(Item, item_id).events]
    assert history[1:] == [("reception", "claimed"), ("reception", "note"), ("reception", "resolved")]


@pytest.mark.parametrize(
    ("action", "body", "status", "message"),
    [
        ("note", {"text": 5}, 400, "text is required"),
        ("note", {}, 400, "text is required"),
        ("due", {"due": 20261130}, 400, "due must be a date and time"),
        ("due", {"due": "9999-12-31T23:59:59-23:59"}, 400, "must lie between 0001-01-02 and 9999-12-30"),
        ("due", {"due": "0001-01-01T00:00:00+23:59"}, 400, "must lie between 0001-01-02 and 9999-12-30"),
        ("due", {"due": "9999-12-31T23:59"}, 400, "must lie between 0001-01-02 and 9999-12-30"),
        ("assign", {"person": "nobody"}, 400, "there is no one called 'nobody'"),
        ("explode", {}, 404, "there is no action 'explode'"),
    ],
)
def test_a_bad_api_action_gets_a_json_error(
    runtime: Runtime, client: FlaskClient, action: str, body: dict[str, object], status: int, message: str
) -> None:
    item_id = deliver(runtime)
    response = client.post(f"/api/v1/items/{item_id}/{action}", json=body)
    assert response.status_code == status
    error = response.json["error"]  # type: ignore[index]
    assert error["status"] == status and message in error["message"]


def test_the_api_refuses_actions_without_a_token(runtime: Runtime, app: Flask) -> None:
    item_id = deliver(runtime)
    response = app.test_client().post(f"/api/v1/items/{item_id}/claim")
    assert response.status_code == 401
    assert stored_item(runtime, item_id).status == "new"


def merged_pair(runtime: Runtime, client: FlaskClient) -> tuple[int, int]:
    """Two items of one request, the first merged into the second."""
    first, second = deliver(runtime, "<m1@client.example>"), deliver(runtime, "<m2@client.example>")
    merged = client.post(f"/api/v1/items/{first}/merge", json={"into": str(second)})
    assert merged.status_code == 200 and merged.json["status"] == "merged"  # type: ignore[index]
    return first, second


def item_state(runtime: Runtime, item_id: int) -> tuple[object, ...]:
    """What an action could change of an item: where it is, its state, its history."""
    with runtime.sessions() as session:
        item = session.get_one(Item, item_id)
        state = (item.department_id, item.status, item.merged_into_id, item.spam, item.priority)
        return (*state, item.due_at, [(event.action, event.detail) for event in item.events])


def test_a_merged_item_takes_no_action_but_an_unmerge(runtime: Runtime, client: FlaskClient) -> None:
    first, second = merged_pair(runtime, client)
    before = item_state(runtime, first), item_state(runtime, second)
    # A reroute or a reopen would have put it back in a queue as new, a spam mark
    # resolved it, while it still waits inside the other: the request shown twice.
    for action, body in (
        ("reroute", {"department": "billing", "reason": "an invoice"}),
        ("spam", {}),
        ("reopen", {}),
        ("priority", {"priority": "urgent"}),
        ("due", {"due": "2026-11-30T14:00+00:00"}),
        ("note", {"text": "Called back."}),
        ("link", {"contact": "ann@client.example"}),
        ("claim", {}),
    ):
        response = client.post(f"/api/v1/items/{first}/{action}", json=body)
        assert response.status_code == 400, action
        assert response.json["error"]["message"] == (  # type: ignore[index]
            f"item {first} is merged into item {second}; unmerge it first"
        )
    assert (item_state(runtime, first), item_state(runtime, second)) == before
    assert [item["id"] for item in client.get("/api/v1/items?status=open").json["items"]] == [second]  # type: ignore[index]
    assert client.post(f"/api/v1/items/{first}/unmerge").json["status"] == "new"  # type: ignore[index]


def test_an_open_item_is_not_merged_into_a_resolved_one(runtime: Runtime, client: FlaskClient) -> None:
    first, second = deliver(runtime, "<m1@client.example>"), deliver(runtime, "<m2@client.example>")
    assert client.post(f"/api/v1/items/{second}/resolve").status_code == 200
    # Merged, the new request would have left every queue inside an item nobody looks at.
    response = client.post(f"/api/v1/items/{first}/merge", json={"into": str(second)})
    assert response.status_code == 400
    assert response.json["error"]["message"] == f"item {second} is resolved; reopen it first"  # type: ignore[index]
    assert (stored_item(runtime, first).status, stored_item(runtime, first).merged_into_id) == ("new", None)
    assert [item["id"] for item in client.get("/api/v1/items?status=open").json["items"]] == [first]  # type: ignore[index]


def test_a_merged_items_page_offers_only_the_unmerge(runtime: Runtime, client: FlaskClient) -> None:
    first, second = merged_pair(runtime, client)
    page = client.get(f"/items/{first}").get_data(as_text=True)
    assert f'Merged into item <a href="/items/{second}">#{second}</a>' in page
    # Each of these forms would only be refused: the page does not offer them.
    for action in ("claim", "resolve", "spam", "reroute", "assign", "priority", "due", "note", "link"):
        assert f'action="/items/{first}/{action}"' not in page, action
    assert f'action="/items/{first}/unmerge"' in page
    # The item it joined keeps every action.
    joined = client.get(f"/items/{second}").get_data(as_text=True)
    assert f'action="/items/{second}/claim"' in joined and f'action="/items/{second}/link"' in joined


@contextmanager
def item_held(runtime: Runtime, item_id: int) -> Iterator[None]:
    """Another writer holding the item (a colleague's slow action, a long migration) for
    longer than the office's lock timeout (1 s): the whole database on SQLite, its row on
    PostgreSQL."""
    if runtime.engine.dialect.name == "sqlite":
        other = sqlite3.connect(str(runtime.engine.url.database), isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            other.close()
        return
    with runtime.engine.connect() as held:
        held.execute(select(Item.id).where(Item.id == item_id).with_for_update())
        yield
        held.rollback()


def test_an_action_the_database_cannot_take_in_time_answers_503_and_changes_nothing(
    runtime: Runtime, client: FlaskClient
) -> None:
    item_id = deliver(runtime)
    with item_held(runtime, item_id):
        api = client.post(f"/api/v1/items/{item_id}/claim")
        page = client.post(f"/items/{item_id}/claim", data={"csrf_token": csrf_token(client.get("/").text)})
    assert api.status_code == 503
    assert api.json["error"]["message"] == DATABASE_BUSY  # type: ignore[index]
    assert page.status_code == 503 and DATABASE_BUSY in page.text
    assert stored_item(runtime, item_id).status == "new"
    # Tried again once the other writer is done, it is done once.
    assert client.post(f"/api/v1/items/{item_id}/claim").status_code == 200
    assert stored_item(runtime, item_id).status == "claimed"
