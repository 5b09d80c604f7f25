"""Rerouting an item: the move, its audit event, the lesson for the suggestion, and the API."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from intake.cli.runtime import Runtime
from intake.email.parser import parse_email
from routing.queues.triage import NoSuchDepartment, NoSuchItem, TriageError, reroute
from routing.store.database import transaction
from routing.store.models import Item, LearnedDepartment
from tests.support.mail import email_bytes, raw_message
from tests.support.people import new_person, office_client
from tests.support.routers import suggest

MONDAY = datetime(2026, 11, 2, 15, 0, tzinfo=UTC)
WARRANTY = "Warranty claim for the gearbox"


def deliver(runtime: Runtime, subject: str = WARRANTY, message_id: str = "<w1@client.example>") -> int:
    raw = email_bytes(subject=subject, message_id=message_id, body="The gearbox broke after a week.\r\n")
    return runtime.deliverer.deliver(parse_email(raw, received_at=MONDAY)).item_id


def suggestion(runtime: Runtime, text: str) -> str | None:
    with runtime.sessions() as session:
        found = suggest(runtime.settings, session, text)
    return found.department_id if found else None


def test_a_reroute_moves_the_item_records_who_and_why_and_teaches_the_suggestion(runtime: Runtime) -> None:
    item_id = deliver(runtime)
    # The test office's departments have no keywords: nothing is known about gearboxes yet.
    assert suggestion(runtime, "gearbox warranty") is None
    maria = new_person(runtime.sessions, "maria")
    with transaction(runtime.sessions) as session:
        reroute(session, item_id, maria, "billing", "warranty claims are paid by billing")
    with runtime.sessions() as session:
        item = session.get_one(Item, item_id)
        assert (item.department_id, item.routing_reason) == (
            "billing",
            "rerouted by maria: warranty claims are paid by billing",
        )
        event = item.events[-1]
        assert (event.actor, event.action) == ("maria", "rerouted")
        assert event.detail == {
            "from": "sales",
            "to": "billing",
            "reason": "warranty claims are paid by billing",
        }
        assert session.scalars(select(LearnedDepartment.documents)).all() == [1]
    assert suggestion(runtime, "gearbox warranty") == "billing"


@pytest.mark.parametrize(
    ("item", "department", "reason", "error", "message"),
    [
        (999, "billing", "why", NoSuchItem, "there is no item 999"),
        (None, "accounts", "why", NoSuchDepartment, "there is no department 'accounts'"),
        (None, "sales", "why", TriageError, "is already in sales"),
        (None, "billing", " ", TriageError, "a reroute needs a reason"),
    ],
)
def test_a_bad_reroute_is_refused_and_changes_nothing(
    runtime: Runtime,
    item: int | None,
    department: str,
    reason: str,
    error: type[Exception],
    message: str,
) -> None:
    item_id = deliver(runtime)
    maria = new_person(runtime.sessions, "maria")
    with pytest.raises(error, match=message), transaction(runtime.sessions) as session:
        reroute(session, item or item_id, maria, department, reason)
    with runtime.sessions() as session:
        stored = session.get_one(Item, item_id)
        assert (stored.department_id, [e.action for e in stored.events]) == ("sales", ["received"])
        assert session.scalars(select(LearnedDepartment)).all() == []


def test_the_api_reroutes_and_counts_the_messages(runtime: Runtime, client: FlaskClient) -> None:
    item_id = deliver(runtime)
    reply = raw_message(
        "From: Ann Example <ann@client.example>",
        "To: sales@office.test",
        f"Subject: Re: {WARRANTY}",
        "Message-ID: <w2@client.example>",
        "In-Reply-To: <w1@client.example>",
        "",
        "Any news on the gearbox?",
    )
    runtime.deliverer.deliver(parse_email(reply, received_at=MONDAY + timedelta(hours=3)))
    response = client.post(
        f"/api/v1/items/{item_id}/reroute", json={"department": "billing", "reason": "a warranty claim"}
    )
    assert response.status_code == 200
    body = response.json
    assert body is not None
    assert (body["id"], body["department"], body["messages"]) == (item_id, "billing", 2)
    assert body["routing_reason"] == "rerouted by reception: a warranty claim"
    assert client.get(f"/api/v1/items/{item_id}").json["messages"] == 2  # type: ignore[index]
    listed = client.get("/api/v1/items?department=billing").json
    assert [(i["id"], i["messages"]) for i in listed["items"]] == [(item_id, 2)]  # type: ignore[index]
    page = client.get(f"/items/{item_id}").get_data(as_text=True)
    assert '<ol class="conversation">' in page
    assert page.index("The gearbox broke after a week.") < page.index("Any news on the gearbox?")


@pytest.mark.parametrize(
    ("path", "body", "status", "message"),
    [
        (
            "/api/v1/items/{id}/reroute",
            None,
            400,
            "send the action's fields as a JSON object, or no body",
        ),
        ("/api/v1/items/{id}/reroute", ["billing"], 400, "send the action's fields as a JSON object"),
        ("/api/v1/items/{id}/reroute", {"reason": "x"}, 400, "department is required"),
        ("/api/v1/items/{id}/reroute", {"department": "billing"}, 400, "reason is required"),
        (
            "/api/v1/items/{id}/reroute",
            {"department": "nope", "reason": "x"},
            400,
            "there is no department 'nope'",
        ),
        ("/api/v1/items/{id}/reroute", {"department": "sales", "reason": "x"}, 400, "is already in sales"),
        ("/api/v1/items/999/reroute", {"department": "billing", "reason": "x"}, 404, "there is no item 999"),
    ],
)
def test_a_bad_api_reroute_gets_a_json_error_and_changes_nothing(
    runtime: Runtime, client: FlaskClient, path: str, body: object, status: int, message: str
) -> None:
    item_id = deliver(runtime)
    if body is None:
        response = client.post(path.format(id=item_id), data="not json", content_type="application/json")
    else:
        response = client.post(path.format(id=item_id), json=body)
    assert response.status_code == status
    error = response.json["error"]  # type: ignore[index]
    assert error["status"] == status and message in error["message"]
    with runtime.sessions() as session:
        assert session.get_one(Item, item_id).department_id == "sales"


def test_staff_cannot_reroute_another_departments_item(runtime: Runtime) -> None:
    item_id = deliver(runtime)
    app = runtime.web_app()
    staff = office_client(app, runtime.sessions, name="bea", role="staff", departments=["billing"])
    response = staff.post(
        f"/api/v1/items/{item_id}/reroute", json={"department": "billing", "reason": "mine now"}
    )
    assert response.status_code == 404
    with runtime.sessions() as session:
        assert session.get_one(Item, item_id).department_id == "sales"
