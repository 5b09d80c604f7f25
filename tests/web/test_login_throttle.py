"""Repeated failed sign-ins are refused for a while: per name and per client address,
counted in the database, on SQLite and PostgreSQL. The clock is the test's."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from intake.cli.runtime import Runtime
from routing.people import accounts as people
from routing.store.database import transaction
from routing.store.models import LoginAttempt
from tests.support.people import add_person, csrf_token, sign_in
from web.throttle import LoginThrottle

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
WRONG = "not the password at all"


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def app(runtime: Runtime, clock: Clock) -> Flask:
    app = runtime.web_app()
    throttle: LoginThrottle = app.extensions["login_throttle"]
    throttle.clock = clock
    add_person(runtime.sessions, "rita")
    add_person(runtime.sessions, "ann")
    return app


def _from(app: Flask, address: str) -> FlaskClient:
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


def _fail(app: Flask, name: str, address: str, times: int) -> None:
    for attempt in range(times):
        response = sign_in(_from(app, address), name, WRONG)
        assert response.status_code == 401, f"failure {attempt + 1} for {name} from {address}"


def _attempts(runtime: Runtime) -> int:
    with transaction(runtime.sessions, write=False) as session:
        return session.scalar(select(func.count()).select_from(LoginAttempt)) or 0


def test_the_sixth_try_is_refused_even_with_the_right_password(app: Flask, runtime: Runtime) -> None:
    _fail(app, "rita", "192.0.2.1", 5)
    client = _from(app, "192.0.2.1")
    refused = sign_in(client, "rita")
    assert refused.status_code == 429
    assert "Too many failed sign-ins; try again in 15 minutes." in refused.get_data(as_text=True)
    assert refused.headers["Retry-After"] == "900"
    assert client.get("/").status_code == 302  # not signed in
    assert _attempts(runtime) == 5  # a refused try is not counted: waiting is enough


def test_a_name_is_refused_from_every_address_and_an_address_for_every_name(app: Flask) -> None:
    _fail(app, "rita", "192.0.2.1", 5)
    assert sign_in(_from(app, "198.51.100.9"), "rita").status_code == 429
    assert sign_in(_from(app, "192.0.2.1"), "ann").status_code == 429
    assert sign_in(_from(app, "198.51.100.9"), "ann").status_code == 302


def test_a_name_in_other_capitals_is_the_same_name(app: Flask) -> None:
    _fail(app, "Rita", "192.0.2.1", 3)
    _fail(app, "RITA", "192.0.2.2", 2)
    assert sign_in(_from(app, "192.0.2.3"), "rita").status_code == 429


def test_failures_for_many_names_from_one_address_count_together(app: Flask) -> None:
    for name in ("a", "b", "c", "nobody", "rita"):
        _fail(app, name, "192.0.2.1", 1)
    assert sign_in(_from(app, "192.0.2.1"), "ann").status_code == 429
    assert sign_in(_from(app, "2001:db8::1"), "ann").status_code == 302


def test_a_sign_in_before_the_limit_clears_the_names_failures(app: Flask, runtime: Runtime) -> None:
    _fail(app, "rita", "192.0.2.1", 4)
    assert sign_in(_from(app, "192.0.2.1"), "rita").status_code == 302
    assert _attempts(runtime) == 0
    _fail(app, "rita", "192.0.2.1", 5)  # counted afresh: the fifth is still only a wrong password
    assert sign_in(_from(app, "192.0.2.1"), "rita").status_code == 429


def test_a_new_password_lifts_the_names_refusal(app: Flask, runtime: Runtime) -> None:
    _fail(app, "rita", "192.0.2.1", 5)
    with transaction(runtime.sessions) as session:
        people.reset_password(session, "rita", "a brand new password")
    assert sign_in(_from(app, "192.0.2.1"), "rita", "a brand new password").status_code == 302
    _fail(app, "ann", "192.0.2.2", 5)
    with transaction(runtime.sessions) as session:
        people.reset_password(session, "rita", "another new password")
    assert sign_in(_from(app, "192.0.2.2"), "ann").status_code == 429  # others' failures still count


def test_the_refusal_ends_when_the_window_passes(app: Flask, runtime: Runtime, clock: Clock) -> None:
    _fail(app, "rita", "192.0.2.1", 1)
    clock.now += timedelta(minutes=5)
    _fail(app, "rita", "192.0.2.1", 4)
    clock.now += timedelta(minutes=9, seconds=30)
    refused = sign_in(_from(app, "192.0.2.1"), "rita")
    # The first failure leaves the window 30 seconds from now; then four remain, under the limit.
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "30"
    assert "try again in 1 minute." in refused.get_data(as_text=True)
    clock.now += timedelta(seconds=30)
    _fail(app, "rita", "192.0.2.1", 1)  # the fifth in the window again
    assert _attempts(runtime) == 5  # the first, out of the window, was deleted with that write
    assert sign_in(_from(app, "192.0.2.1"), "rita").status_code == 429
    clock.now += timedelta(minutes=15)
    assert sign_in(_from(app, "192.0.2.1"), "rita").status_code == 302


@pytest.fixture
def patient_app(patient_runtime: Runtime) -> Flask:
    """The app on a runtime whose writes wait 30 s for their turn: 40 sign-ins at once
    queue for SQLite's one writer."""
    add_person(patient_runtime.sessions, "rita")
    return patient_runtime.web_app()


def test_40_wrong_passwords_at_once_get_5_password_checks(
    patient_app: Flask, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = patient_app
    checks: list[str] = []
    checked = people.authenticate

    def counted(session: Session, name: str, password: str) -> people.Person | None:
        checks.append(name)
        return checked(session, name, password)

    monkeypatch.setattr(people, "authenticate", counted)
    clients = [_from(app, f"192.0.2.{number}") for number in range(40)]
    forms = [{"csrf_token": csrf_token(c.get("/login").get_data(as_text=True))} for c in clients]
    start = threading.Barrier(len(clients))

    def attempt(pair: tuple[FlaskClient, dict[str, str]]) -> int:
        client, form = pair
        start.wait()
        return client.post("/login", data={**form, "name": "rita", "password": WRONG}).status_code

    with ThreadPoolExecutor(max_workers=len(clients)) as pool:
        statuses = list(pool.map(attempt, zip(clients, forms, strict=True)))
    assert len(checks) == 5
    assert sorted(statuses) == [401] * 5 + [429] * 35
    assert _attempts(runtime) == 5
