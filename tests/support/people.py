"""Signing in for the tests: people of each role, signed-in clients, API tokens.

Every test that uses the web signs in through here, as a person would: the login
page's form with its CSRF token for pages, a Bearer token for the API.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable
from http.cookiejar import CookieJar
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.test import TestResponse

from config.settings import DatabaseSettings
from routing.people import accounts
from routing.store.database import make_engine, make_session_factory, transaction

PASSWORD = "a test password, long enough"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_FIRST_ADMIN = re.compile(r"First admin created: name (\S+), password (\S+)")


def add_person(
    sessions: sessionmaker[Session], name: str, role: str = "receptionist", departments: Iterable[str] = ()
) -> None:
    with transaction(sessions) as session:
        accounts.add_user(session, name, role, PASSWORD, departments)


def new_person(
    sessions: sessionmaker[Session], name: str, role: str = "receptionist", departments: Iterable[str] = ()
) -> accounts.Person:
    """A new person, as the triage actions see whoever acts."""
    with transaction(sessions) as session:
        return accounts.person_of(accounts.add_user(session, name, role, PASSWORD, departments))


def new_token(sessions: sessionmaker[Session], name: str) -> str:
    with transaction(sessions) as session:
        return accounts.create_token(session, name)


def csrf_token(page: str) -> str:
    found = _CSRF.search(page)
    assert found, "the page has no CSRF token"
    return found[1]


def sign_in(client: FlaskClient, name: str, password: str = PASSWORD) -> TestResponse:
    page = client.get("/login").get_data(as_text=True)
    return client.post("/login", data={"csrf_token": csrf_token(page), "name": name, "password": password})


def office_client(
    app: Flask,
    sessions: sessionmaker[Session],
    name: str = "reception",
    role: str = "receptionist",
    departments: Iterable[str] = (),
) -> FlaskClient:
    """A test client signed in as a new person, who sends their API token with every request."""
    add_person(sessions, name, role, departments)
    client = app.test_client()
    assert sign_in(client, name).status_code == 302
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {new_token(sessions, name)}"
    return client


def first_admin(output: str) -> tuple[str, str]:
    """The name and password `intake serve` printed for the first admin."""
    found = _FIRST_ADMIN.search(output)
    assert found, f"no first admin in the output:\n{output}"
    return found[1], found[2]


class HttpUser:
    """A person using a running Intake over HTTP: a session cookie for pages, a token for the API."""

    def __init__(self, base: str, name: str, password: str, token: str) -> None:
        self.base = base
        self.token = token
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))
        form = {"csrf_token": csrf_token(self.get_text("/login")), "name": name, "password": password}
        self.opener.open(f"{base}/login", urllib.parse.urlencode(form).encode(), timeout=10).close()

    @classmethod
    def first_admin_of(cls, base: str, output: str, database_url: str) -> HttpUser:
        """Sign in as the admin `intake serve` made, with a token made for them in the database."""
        name, password = first_admin(output)
        engine = make_engine(DatabaseSettings(url=database_url))
        try:
            token = new_token(make_session_factory(engine), name)
        finally:
            engine.dispose()
        return cls(base, name, password, token)

    def get_bytes(self, path_or_url: str) -> tuple[bytes, dict[str, str]]:
        url = path_or_url if "://" in path_or_url else self.base + path_or_url
        request = urllib.request.Request(url, headers={"Authorization": f"Bearer {self.token}"})
        with self.opener.open(request, timeout=10) as response:
            return response.read(), dict(response.headers)

    def post_json(self, path: str, body: Any) -> tuple[int, Any]:
        """POST `body` as JSON to the API; the status and the JSON answer, errors included."""
        request = urllib.request.Request(
            self.base + path,
            data=json.dumps(body).encode(),
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"},
            method="POST",
        )
        try:
            with self.opener.open(request, timeout=10) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    def get_json(self, path: str) -> Any:
        return json.loads(self.get_bytes(path)[0])

    def get_text(self, path: str) -> str:
        return self.get_bytes(path)[0].decode()
