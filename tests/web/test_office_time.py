"""Times at the office's odd moments on the pages and the API: a due or callback time typed
in local time, and what a page shows of a stored moment (the cases from
tests/support/office_time.py)."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from config.settings import Settings
from intake.cli.runtime import Runtime, open_runtime
from intake.email.parser import parse_email
from routing.store.models import Item
from tests.support.mail import email_bytes
from tests.support.office_time import (
    MINUTE,
    OFFICE_ZONE,
    YEAR,
    changes,
    plain_walls,
    repeated_walls,
    skipped_walls,
)
from tests.support.people import csrf_token, office_client

JSON = {"Accept": "application/json"}


@pytest.fixture(params=[OFFICE_ZONE, "America/Santiago", "Asia/Tokyo"])
def zoned(request: pytest.FixtureRequest, settings: Settings) -> Iterator[tuple[Runtime, FlaskClient]]:
    """The test office in another time zone, and a receptionist signed in to it."""
    opened = open_runtime(dataclasses.replace(settings, timezone=ZoneInfo(request.param)))
    with office_client(opened.web_app(), opened.sessions, name="reception") as client:
        yield opened, client
    opened.engine.dispose()


def _deliver(runtime: Runtime, message_id: str, received_at: datetime) -> int:
    raw = email_bytes(subject="Chairs", message_id=message_id, to="sales@office.test", body="Chairs.\r\n")
    return runtime.deliverer.deliver(parse_email(raw, received_at=received_at)).item_id


def _due_at(runtime: Runtime, item_id: int) -> datetime | None:
    with runtime.sessions() as session:
        return session.get_one(Item, item_id).due_at


def test_a_due_time_typed_at_an_odd_moment(zoned: tuple[Runtime, FlaskClient]) -> None:
    runtime, client = zoned
    zone = runtime.settings.timezone
    item_id = _deliver(runtime, "<due@client.example>", datetime(YEAR, 1, 5, 12, tzinfo=UTC))
    token = csrf_token(client.get("/").get_data(as_text=True))
    for change in changes(zone):
        if change.shift > timedelta(0):
            for wall in skipped_walls(change):
                typed = wall.strftime("%Y-%m-%dT%H:%M")
                # The page's form and the API refuse it, saying why; the due time stays as it was.
                form = client.post(
                    f"/items/{item_id}/due", data={"csrf_token": token, "due": typed}, headers=JSON
                )
                api = client.post(f"/api/v1/items/{item_id}/due", json={"due": typed})
                for response in (form, api):
                    assert response.status_code == 400, typed
                    assert f"does not exist in {zone.key}" in response.get_json()["error"]["message"], typed
                assert _due_at(runtime, item_id) is None
        else:
            for wall, first in repeated_walls(change):
                _set_due_and_check(runtime, client, item_id, wall, first)
            # Given again, the same repeated time is the same due time, not a second change.
            typed = f"{repeated_walls(change)[0][0]:%Y-%m-%dT%H:%M}"
            assert client.post(f"/api/v1/items/{item_id}/due", json={"due": typed}).status_code == 200
            again = client.post(f"/api/v1/items/{item_id}/due", json={"due": typed})
            assert again.status_code == 400 and "already due then" in again.get_json()["error"]["message"]
            client.post(f"/api/v1/items/{item_id}/due", json={"due": None})
    for wall, moment in plain_walls(zone):
        _set_due_and_check(runtime, client, item_id, wall, moment)


def _set_due_and_check(
    runtime: Runtime, client: FlaskClient, item_id: int, wall: datetime, moment: datetime
) -> None:
    typed = wall.strftime("%Y-%m-%dT%H:%M")
    response = client.post(f"/api/v1/items/{item_id}/due", json={"due": typed})
    assert response.status_code == 200, (typed, response.get_data(as_text=True))
    assert datetime.fromisoformat(response.get_json()["due_at"]) == moment, typed
    assert _due_at(runtime, item_id) == moment, typed
    page = client.get(f"/items/{item_id}").get_data(as_text=True)
    # Shown as typed, on its day, and offered again as typed in the form.
    shown = re.search(r'<span class="due[^"]*">due ([^<]*)</span>', page)
    assert (
        shown and f"{wall:%H:%M}" in shown[1] and f"{wall.day}" in shown[1] and f"{wall.year}" in shown[1]
    ), typed
    assert f'name="due" id="due" value="{typed}"' in page, typed
    client.post(f"/api/v1/items/{item_id}/due", json={"due": None})


def test_a_callback_time_taken_by_hand_at_an_odd_moment(settings: Settings) -> None:
    zone = ZoneInfo(OFFICE_ZONE)
    opened = open_runtime(dataclasses.replace(settings, timezone=zone))
    try:
        with office_client(opened.web_app(), opened.sessions, name="rita") as client:
            spring, autumn = sorted(changes(zone), key=lambda change: -change.shift)
            for wall in skipped_walls(spring):
                response = _take(client, wall)
                assert response.status_code == 400
                page = response.get_data(as_text=True)
                assert "Nothing was stored yet" in page and f"does not exist in {OFFICE_ZONE}" in page
            for wall, first in repeated_walls(autumn) + plain_walls(zone)[:4]:
                response = _take(client, wall)
                assert response.status_code == 303, response.get_data(as_text=True)
                item_id = int(response.headers["Location"].rsplit("/", 1)[1])
                assert _due_at(opened, item_id) == first, wall
    finally:
        opened.engine.dispose()


def _take(client: FlaskClient, callback_by: datetime) -> TestResponse:
    page = client.get("/take").get_data(as_text=True)
    key = re.search(r'name="key" value="([^"]+)"', page)
    assert key
    form = {
        "csrf_token": csrf_token(page),
        "key": key[1],
        "kind": "phone-note",
        "name": "Ann Smith",
        "contact": "+15555550123",
        "department": "billing",
        "person": "",
        "callback_by": callback_by.strftime("%Y-%m-%dT%H:%M"),
        "text": "Please call back.",
    }
    return client.post("/take", data=form, content_type="multipart/form-data")


# What pages and the API show.


def test_a_page_shows_the_local_time_of_the_stored_moment(zoned: tuple[Runtime, FlaskClient]) -> None:
    runtime, client = zoned
    zone = runtime.settings.timezone
    moments = [
        moment for change in changes(zone) for moment in (change.at - MINUTE, change.at, change.at + MINUTE)
    ]
    moments += [moment for _, moment in plain_walls(zone)[-6:]]
    for number, moment in enumerate(moments):
        item_id = _deliver(runtime, f"<shown{number}@client.example>", moment)
        local = moment.astimezone(zone)
        page = client.get(f"/items/{item_id}").get_data(as_text=True)
        received = re.search(r"<dt>Received</dt><dd>([^<]*)</dd>", page)
        assert received, moment
        assert f"{local:%H:%M}" in received[1] and f"{local.day}" in received[1], (moment, received[1])
        assert f"{local.year}" in received[1] and f"{local:%b}" in received[1], (moment, received[1])
        stored = client.get(f"/api/v1/items/{item_id}").get_json()["received_at"]
        assert datetime.fromisoformat(stored) == moment and stored.endswith("+00:00")
