"""The web view and the JSON API, through Flask's test client on a real database."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import pytest
from flask.testing import FlaskClient
from sqlalchemy import create_engine

from config.holder import SettingsHolder
from config.settings import ImapMailbox
from intake.cli.runtime import Runtime
from intake.email.parser import parse_email
from routing.store import inbox
from routing.store.database import make_session_factory, transaction
from routing.store.inbox import Arrival
from routing.store.mailboxes import MailboxStore
from tests.support.mail import email_bytes
from tests.support.people import add_person, new_token, office_client
from tests.support.queue_pages import counts
from web.app import create_app

START = datetime(2026, 11, 2, 15, 0, tzinfo=UTC)
NO_JOBS = {
    "notification": {"pending": 0, "failed": 0},
    "download": {"pending": 0, "failed": 0},
    "reply": {"pending": 0, "failed": 0},
}


def _deliver(runtime: Runtime, number: int, to: str = "sales@office.test", subject: str = "") -> int:
    raw = email_bytes(to=to, subject=subject or f"Message {number}", message_id=f"<m{number}@client.example>")
    message = parse_email(raw, received_at=START + timedelta(minutes=number))
    return runtime.deliverer.deliver(message).item_id


def test_healthz_answers_200_when_the_database_answers(client: FlaskClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json == {
        "status": "ok",
        "database": "ok",
        "mailboxes": [],
        "notifications": {"pending": 0, "failed": 0},
        "jobs": NO_JOBS,
        "inbox": {"depth": 0, "oldest_seconds": 0.0},
    }


def test_healthz_shows_mailbox_names_and_errors_only_to_a_signed_in_person_or_token(runtime: Runtime) -> None:
    mailbox = ImapMailbox("office-inbox", "imap.office.test", 993, "ssl", "inbox@office.test", "secret")
    settings = dataclasses.replace(runtime.settings, imap=(mailbox,))
    MailboxStore(runtime.sessions, "office-inbox").record_failure("LoginError: wrong password for inbox")
    app = create_app(
        SettingsHolder(settings), runtime.engine, runtime.sessions, runtime.deliverer, runtime.inbox.accept
    )
    anonymous = app.test_client().get("/healthz")
    assert anonymous.status_code == 200
    assert anonymous.json == {
        "status": "ok",
        "database": "ok",
        "notifications": {"pending": 0, "failed": 0},
        "jobs": NO_JOBS,
        "inbox": {"depth": 0, "oldest_seconds": 0.0},
    }
    add_person(runtime.sessions, "ann")
    token_only = app.test_client()
    token_only.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {new_token(runtime.sessions, 'ann')}"
    signed_in = office_client(app, runtime.sessions, name="bob")
    signed_in.environ_base.pop("HTTP_AUTHORIZATION")
    for client in (token_only, signed_in):
        [detail] = client.get("/healthz").json["mailboxes"]  # type: ignore[index]
        assert (detail["name"], detail["last_error"]) == (
            "office-inbox",
            "LoginError: wrong password for inbox",
        )


def test_healthz_shows_the_inbox_depth_and_the_oldest_message_age(
    runtime: Runtime, client: FlaskClient
) -> None:
    now = datetime.now(UTC)
    waiting = [
        Arrival("email", "ann@client.example", ("sales@office.test",), b"raw", now - timedelta(seconds=age))
        for age in (90, 5)
    ]
    with transaction(runtime.sessions) as session:
        inbox.add(session, waiting)
    shown = client.get("/healthz").json["inbox"]  # type: ignore[index]
    assert shown["depth"] == 2
    assert 90 <= shown["oldest_seconds"] < 120


def test_healthz_answers_503_when_the_database_does_not(runtime: Runtime) -> None:
    dead = create_engine("postgresql+psycopg://nobody@127.0.0.1:1/none", connect_args={"connect_timeout": 1})
    app = create_app(
        runtime.holder, dead, make_session_factory(dead), runtime.deliverer, runtime.inbox.accept
    )
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.json == {"status": "unavailable", "database": "not answering"}


def test_index_lists_departments_with_open_counts(runtime: Runtime, client: FlaskClient) -> None:
    _deliver(runtime, 1)
    _deliver(runtime, 2)
    _deliver(runtime, 3, to="billing@office.test")
    page = client.get("/").get_data(as_text=True)
    assert page.index("Front desk") < page.index("Sales") < page.index("Billing")
    assert counts(page) == {"front-desk": (0, 0, 0), "sales": (2, 0, 0), "billing": (1, 0, 0)}


def test_a_department_page_lists_its_items_newest_first_in_pages(
    runtime: Runtime, client: FlaskClient
) -> None:
    for number in range(1, 6):
        _deliver(runtime, number)
    _deliver(runtime, 6, to="billing@office.test", subject="Not for sales")
    first = client.get("/departments/sales").get_data(as_text=True)
    assert first.index("Message 5") < first.index("Message 4") < first.index("Message 3")
    assert "Message 2" not in first and "Not for sales" not in first
    older = first.split('id="next-page" href="')[1].split('"')[0].replace("&amp;", "&")
    second = client.get(older).get_data(as_text=True)
    assert "Message 2" in second and "Message 1" in second and "Message 3" not in second
    assert 'id="next-page"' not in second


def test_the_item_page_shows_message_and_reason(runtime: Runtime, client: FlaskClient) -> None:
    item_id = _deliver(runtime, 1, to="billing@office.test", subject="<b>Invoice</b> 42")
    page = client.get(f"/items/{item_id}").get_data(as_text=True)
    assert "&lt;b&gt;Invoice&lt;/b&gt; 42" in page
    assert "what does the large one cost?" in page
    assert "sent to billing@office.test, which belongs to billing" in page
    # Shown in the office's zone: 15:01 UTC is 10:01 in New York.
    assert "Mon, Nov 2, 2026, 10:01" in page


def test_unknown_pages_are_404(client: FlaskClient) -> None:
    assert client.get("/items/999").status_code == 404
    assert client.get("/departments/nowhere").status_code == 404
    assert client.get("/departments/sales?cursor=garbage").status_code == 400


def test_api_lists_a_department_with_a_next_link(runtime: Runtime, client: FlaskClient) -> None:
    ids = [_deliver(runtime, number) for number in range(1, 6)]
    _deliver(runtime, 6, to="billing@office.test")
    response = client.get("/api/v1/items?department=sales&status=new&limit=2")
    assert response.status_code == 200
    body = response.json
    assert [item["id"] for item in body["items"]] == [ids[4], ids[3]]
    assert body["items"][0] == {
        "id": ids[4],
        "channel": "email",
        "department": "sales",
        "status": "new",
        "sender": "ann@client.example",
        "subject": "Message 5",
        "received_at": "2026-11-02T15:05:00+00:00",
        "queued_at": "2026-11-02T15:05:00+00:00",
        "routing_reason": "sent to sales@office.test, which belongs to sales",
        "machine_kind": None,
        "recording": None,
        "transcript": None,
        "transcript_status": None,
        "duration_seconds": None,
        "downloads": [],
        "priority": "normal",
        "assignee": None,
        "due_at": None,
        "decision_needed": None,
        "tags": [],
        "spam": False,
        "messages": 1,
        "contact": {"id": 1, "name": "Ann Example"},  # every message of ann's is one person's
        "merged_into": None,
        "suggestion": None,
    }
    seen = [item["id"] for item in body["items"]]
    while body["next"]:
        link = urlsplit(body["next"])
        assert "department=sales" in link.query and "status=new" in link.query
        body = client.get(f"{link.path}?{link.query}").json
        seen += [item["id"] for item in body["items"]]
    assert seen == ids[::-1]


def test_api_without_filters_lists_every_queue(runtime: Runtime, client: FlaskClient) -> None:
    _deliver(runtime, 1)
    _deliver(runtime, 2, to="billing@office.test")
    body = client.get("/api/v1/items").json
    assert [item["department"] for item in body["items"]] == ["billing", "sales"]
    assert body["next"] is None


@pytest.mark.parametrize(
    ("query", "status", "message"),
    [
        ("limit=0", 400, "limit must be a whole number from 1 to 500"),
        ("limit=abc", 400, "limit must be a whole number from 1 to 500"),
        ("limit=\u00b2", 400, "limit must be a whole number from 1 to 500"),
        ("status=lost", 400, "status 'lost' is not one of open, new, claimed, resolved, all"),
        ("cursor=12", 400, "cursor '12' is not one this server handed out"),
        ("department=nowhere", 404, "there is no department 'nowhere'"),
    ],
)
def test_api_bad_queries_get_json_errors(client: FlaskClient, query: str, status: int, message: str) -> None:
    response = client.get(f"/api/v1/items?{query}")
    assert response.status_code == status
    assert response.json == {"error": {"status": status, "message": message}}


def test_api_get_one_item(runtime: Runtime, client: FlaskClient) -> None:
    item_id = _deliver(runtime, 1)
    assert client.get(f"/api/v1/items/{item_id}").json["subject"] == "Message 1"
    missing = client.get("/api/v1/items/999")
    assert missing.status_code == 404
    assert missing.json == {"error": {"status": 404, "message": "there is no item 999"}}


def test_pages_carry_security_headers(client: FlaskClient) -> None:
    headers = client.get("/").headers
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY"
    assert "default-src 'self'" in headers["Content-Security-Policy"]
