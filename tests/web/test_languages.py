"""The pages' language: the office's by default, each person's own once chosen (kept on the
user), the browser's for a visitor who is not signed in; dates in it, in the office's zone."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from config.settings import Settings
from intake.cli.runtime import Runtime
from routing import undecided
from routing.store.database import transaction
from routing.store.models import User
from tests.support.people import csrf_token
from tests.support.queue_pages import add_item, rows


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The test office, working in Romanian."""
    return replace(settings, language="ro")


def choose(client: FlaskClient, language: str, back: str = "/dashboard") -> str:
    """Pick a language from the menu on `back`; the page it leads to."""
    token = csrf_token(client.get(back).get_data(as_text=True))
    response = client.post("/language", data={"csrf_token": token, "language": language, "next": back})
    assert response.status_code == 303 and response.headers["Location"] == back
    return client.get(back).get_data(as_text=True)


def chosen(runtime: Runtime, name: str) -> str | None:
    with transaction(runtime.sessions, write=False) as session:
        return session.scalar(select(User.language).where(User.name == name))


def test_a_person_who_has_not_chosen_reads_the_offices_language(client: FlaskClient) -> None:
    page = client.get("/").get_data(as_text=True)
    assert '<html lang="ro">' in page
    assert "<h1>Cozi</h1>" in page and "Toate cozile" not in page  # the front desk has no "All queues" link
    assert '<option value="ro" lang="ro" selected>Română</option>' in page
    assert '<option value="hu" lang="hu">Magyar</option>' in page


def test_the_language_chosen_is_kept_on_the_person(app: Flask, runtime: Runtime, client: FlaskClient) -> None:
    page = choose(client, "hu")
    assert '<html lang="hu">' in page and "<h1>Áttekintés</h1>" in page
    assert chosen(runtime, "reception") == "hu"
    # Another browser of the same person, signed in later, reads it too.
    with app.test_client() as other:
        other.post(
            "/login",
            data={
                "csrf_token": csrf_token(other.get("/login").get_data(as_text=True)),
                "name": "reception",
                "password": "a test password, long enough",
            },
        )
        assert "<h1>Áttekintés</h1>" in other.get("/dashboard").get_data(as_text=True)
    assert "<h1>Dashboard</h1>" in choose(client, "en")


def test_a_language_not_shipped_is_refused_and_nothing_changes(runtime: Runtime, client: FlaskClient) -> None:
    page = choose(client, "de")
    assert "Limba nu a fost schimbată: the pages are not translated into &#39;de&#39;" in page
    assert chosen(runtime, "reception") is None
    response = client.post("/language", data={"language": "hu", "next": "/"})  # no CSRF token
    assert response.status_code == 400
    assert chosen(runtime, "reception") is None


def test_the_menu_leads_back_only_to_a_page_of_this_site(client: FlaskClient) -> None:
    token = csrf_token(client.get("/").get_data(as_text=True))
    form = {"csrf_token": token, "language": "en", "next": "//elsewhere.example/"}
    assert client.post("/language", data=form).headers["Location"] == "/"


@pytest.mark.parametrize(
    ("accept", "heading"),
    [
        ("hu-HU,hu;q=0.9,en;q=0.5", "Bejelentkezés"),
        ("en-GB,en;q=0.8", "Sign in"),
        ("de-DE,de;q=0.9", "Autentificare"),  # none shipped: the office's
        ("", "Autentificare"),
    ],
)
def test_a_visitor_reads_the_login_page_in_their_browsers_language(
    app: Flask, accept: str, heading: str
) -> None:
    page = app.test_client().get("/login", headers={"Accept-Language": accept}).get_data(as_text=True)
    assert f"<h1>{heading}</h1>" in page


def test_dates_ages_and_words_are_in_the_pages_language(runtime: Runtime, client: FlaskClient) -> None:
    # 15:01 UTC is 10:01 in the office's New York.
    item_id = add_item(runtime, 1, priority="high")
    page = client.get(f"/items/{item_id}").get_data(as_text=True)
    assert "<dt>Primită</dt><dd>lun., 2 nov. 2026, 10:01</dd>" in page
    assert '<dd class="priority">ridicată</dd>' in page
    recent = add_item(runtime, 2, received_at=datetime.now(UTC) - timedelta(minutes=5))
    queue = client.get("/departments/sales").get_data(as_text=True)
    assert f'id="item-{recent}"' in queue and ">acum 5 min.</time>" in queue


def test_why_an_item_needs_a_decision_is_said_in_the_pages_language(
    runtime: Runtime, client: FlaskClient
) -> None:
    unrouted = add_item(runtime, 1, to="someone@elsewhere.example")
    weak = add_item(runtime, 2, decision_needed=str(undecided.below_threshold("billing", 0.45, 0.6)))
    bounce = add_item(runtime, 3, decision_needed=str(undecided.machine_mail("bounce")))
    older = add_item(runtime, 4, decision_needed="a reason written before its pattern was")
    desk = rows(client.get("/").get_data(as_text=True), "decision")
    why = {int(row.attrs["data-item-id"]): row.cells["why"] for row in desk}
    assert why == {
        unrouted: "nicio regulă și nicio adresă nu a ales un departament",
        weak: "sugestie slabă: Billing (45%, sub 60%)",  # the department's name, not its id
        bounce: "e-mail trimis de un program (mesaj returnat) pe care nicio regulă nu l-a recunoscut",
        older: "a reason written before its pattern was",
    }
    page = client.get(f"/items/{weak}").get_data(as_text=True)
    assert "sugestie slabă: Billing (45%, sub 60%)" in page
