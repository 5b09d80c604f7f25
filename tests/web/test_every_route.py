"""Every route of the web app, walked from its url_map with bad input.

For each rule and each of its methods, requests with ids that do not exist or that no row
can have, query strings and forms and JSON bodies that are missing, mistyped, huge, hold
NUL bytes or are not UTF-8, and the same requests from someone not signed in. The rule is
the project's: no answer is a 5xx; a refusal is JSON under /api/ and a page elsewhere;
a refused request (a 4xx, or a form's redirect back with its error flashed) stores
nothing; nobody who is not signed in is served a page that needs a person. Forms carry
a valid CSRF token, so that the bad input reaches the view.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, select
from twilio.request_validator import RequestValidator
from werkzeug.datastructures import MultiDict
from werkzeug.routing import Rule
from werkzeug.test import TestResponse

from intake.cli.runtime import Runtime
from intake.phone.sms import fields_of
from routing.store.models import MAX_ID, ApiToken, Attachment, Base
from tests.support.contacts import text_message, two_people
from tests.support.people import add_person, csrf_token, new_token, office_client
from tests.support.twilio import (
    AUTH_TOKEN,
    CALLER,
    PUBLIC_URL,
    PhoneOffice,
    recording_form,
    sms_form,
    transcription_form,
)
from web.actions import ACTIONS
from web.app import WebhooksApart
from web.twilio import SIGNATURE_HEADER

# Open to everyone: the health check, the sign-in page, the static files and the icon.
OPEN_ENDPOINTS = {"health.healthz", "auth.login", "static", "favicon.icon"}
# Rows a refused request may write: a failed sign-in is counted (web.throttle).
WRITTEN_WHEN_REFUSED = {"login_attempts"}
HUGE = "x" * 100_000
LONG = "y" * 10_000
NUL = "a\x00b"
FORM = "application/x-www-form-urlencoded"
_ARGUMENT = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")

# Every name a form or JSON body of the app reads, given a bad value each at once.
FIELDS = (
    "text", "channel", "to", "note", "department", "reason", "person", "priority", "due", "contact",
    "into", "address", "action", "item", "next", "language", "name", "password", "role", "since",
    "kind", "callback_by", "key", "cursor", "config", "scan",
)  # fmt: skip
# Values of the right type and the wrong kind: a date that is none, an id that is text...
MISTYPED = {
    "due": "tomorrow", "into": "#twelve", "item": ["1", "x"], "contact": "-1", "priority": "urgentest",
    "since": "forever", "callback_by": "soon", "language": "xx", "role": "god", "kind": "fax",
    "department": "nowhere", "person": "nobody-here", "password": "short", "channel": "pigeon",
    "action": "explode", "to": "not an address", "address": "not an address", "key": "not-a-key",
    "next": "//evil.example/", "name": " ", "text": " ", "reason": " ",
}  # fmt: skip
FORMS: dict[str, MultiDict[str, Any]] = {
    "missing fields": MultiDict(),
    "huge strings": MultiDict(dict.fromkeys(FIELDS, HUGE)),
    "NUL bytes": MultiDict(dict.fromkeys(FIELDS, NUL)),
    "lists": MultiDict([(name, value) for name in FIELDS for value in ("one", "two")]),
    "mistyped": MultiDict(
        [(n, v) for n, vs in MISTYPED.items() for v in (vs if isinstance(vs, list) else [vs])]
    ),
    "ids past any row": MultiDict(dict.fromkeys(("item", "into", "contact"), str(MAX_ID + 1))),
    "digits of another script": MultiDict(dict.fromkeys(("item", "into", "contact", "due"), "١٢")),
}
# The JSON bodies, as the bytes sent.
JSONS: dict[str, bytes] = {
    "not JSON": b"{",
    "a list": b"[]",
    "null": b"null",
    "a string": b'"text"',
    "a number": b"12",
    "not UTF-8": b'{"text": "\xff\xfe"}',
    "nested past any parser": b"[" * 100_000 + b"]" * 100_000,
    "lone surrogates": b"{" + b", ".join(b'"%s": "\\ud800"' % n.encode() for n in FIELDS) + b"}",
    "NUL escapes": b"{" + b", ".join(b'"%s": "a\\u0000b"' % n.encode() for n in FIELDS) + b"}",
}
JSON_OBJECTS: dict[str, Any] = {
    "lists": [["one", "two"]],
    "objects": {"a": 1},
    "numbers": 10**30,
    "booleans": True,
    "nulls": None,
    "huge strings": HUGE,
}
QUERIES: dict[str, str] = {
    "non-numeric page and limit": "page=abc&limit=abc&after=abc&cursor=abc",
    "numbers out of range": "page=-1&limit=99999999999999999999&after=99999999999999999999&cursor=1",
    "unknown filters": "status=gone&sort=sideways&channel=pigeon&priority=x&due=never&kind=fax",
    "invalid UTF-8": "q=%FF%FE&tag=%C3&assignee=%80&next=%FF&since=%FF&after=%FF&cursor=%FF",
    "NUL bytes": "q=a%00b&tag=%00&assignee=%00&cursor=%00&since=%00&kind=%00&next=/%00",
    "huge strings": ("q=" + HUGE + "&cursor=" + HUGE + "&tag=" + HUGE),
    "repeated": "q=a&q=b&limit=1&limit=x&status=new&status=gone",
    "remote images": "images=remote&images=x",
}
# The bad bodies each action is sent, besides those its route's first action is sent.
EVERY_ACTION_GETS = {
    "form with missing fields", "form with huge strings, asking for JSON", "form with NUL bytes",
    "form with lists, asking for JSON", "form with mistyped", "JSON with lists", "JSON lone surrogates",
    "JSON NUL escapes", "JSON with objects",
}  # fmt: skip
# Route arguments that no row has, or that are no text a person would type.
STRANGE_TEXT = ("nowhere", "a%00b", "%FF%FE", "%ED%A0%80", "x" * 5000)


@dataclass
class Office:
    """The test office with one person of each kind and a few items, contacts and files."""

    runtime: Runtime
    app: Flask
    ids: dict[str, str]
    problems: list[str] = field(default_factory=list)
    requests: int = 0
    # The rows as the last refused request left them; None when a request since may have changed them.
    stored: dict[str, set[str]] | None = None

    @property
    def engine(self) -> Engine:
        return self.runtime.engine


@pytest.fixture
def office(app: Flask, runtime: Runtime) -> Office:
    people = two_people(runtime)
    add_person(runtime.sessions, "sam", role="staff", departments=["sales"])
    new_token(runtime.sessions, "sam")
    with runtime.sessions() as session:
        attachment = session.scalars(select(Attachment.id)).one()
        token = session.scalars(select(ApiToken.id)).one()
    ids = {
        "item_id": str(people.ana_items[0]),
        "contact_id": str(people.ana_contact),
        "attachment_id": str(attachment),
        "department_id": "sales",
        "name": "sam",
        "action": "claim",
        "filename": "style.css",
        "token_id": str(token),
    }
    return Office(runtime, app, ids)


def rules(app: Flask) -> list[Rule]:
    """The app's rules, signing out last: it would end the walker's session."""
    return sorted(app.url_map.iter_rules(), key=lambda rule: (rule.endpoint == "auth.logout", rule.rule))


def arguments(rule: Rule, ids: dict[str, str]) -> Iterator[tuple[str, dict[str, str]]]:
    """The rule's arguments: all of rows that exist (and every action), then each in turn of none."""
    existing = {name: ids[name] for name in rule.arguments}
    yield "existing", existing
    if "action" in existing:
        for action in ACTIONS:
            yield f"action {action}", existing | {"action": action}
    for name, converter in rule._converters.items():
        if converter.regex == r"\d+":
            yield f"{name} missing", existing | {name: str(MAX_ID)}
            yield f"{name} past any row", existing | {name: str(MAX_ID + 1)}
        else:
            for text in STRANGE_TEXT:
                yield f"{name}={text[:12]}", existing | {name: text}


def path_of(rule: Rule, values: dict[str, str]) -> str:
    """The rule's path with `values` put in as they are (not quoted again)."""
    return _ARGUMENT.sub(lambda found: values[found[1]], rule.rule)


def snapshot(engine: Engine) -> dict[str, set[str]]:
    """Every stored row in full, but those a refused request may write (plain SQL: read
    after every refused request, so spared the statements' compiling)."""
    with engine.connect() as connection:
        return {
            table.name: {
                repr(tuple(row)) for row in connection.exec_driver_sql(f"SELECT * FROM {table.name}")
            }
            for table in Base.metadata.sorted_tables
            if table.name not in WRITTEN_WHEN_REFUSED
        }


def check(office: Office, what: str, response: TestResponse, asked_json: bool = False) -> None:
    """A 5xx, a traceback, or a refusal not in the surface's format is a problem."""
    office.requests += 1
    method, path, _ = what.split(" ", 2)
    status, api = response.status_code, path.startswith("/api/")
    if status >= 500 or b"Traceback" in response.get_data():
        office.problems.append(f"{what}: {status}")
    elif 400 <= status < 500 and api and not _json_error(response, status, method == "HEAD"):
        office.problems.append(f"{what}: {status} {response.mimetype}, not the API's JSON error")
    elif 400 <= status < 500 and not api and not asked_json and response.mimetype != "text/html":
        office.problems.append(f"{what}: {status} {response.mimetype}, not a page")


def _json_error(response: TestResponse, status: int, head: bool) -> bool:
    """Whether the answer is the API's {"error": {"status", "message"}} (a HEAD's has no body)."""
    if not response.is_json:
        return False
    return head or response.get_json()["error"]["status"] == status


def post(office: Office, client: FlaskClient, what: str, path: str, **kwargs: Any) -> None:
    """POST, and check the answer; a refused one must leave every row as it was."""
    before = office.stored if office.stored is not None else snapshot(office.engine)
    response = client.post(path, **kwargs)
    check(
        office, what, response, asked_json="application/json" in kwargs.get("headers", {}).get("Accept", "")
    )
    office.stored = None  # what an accepted request changed is read again before the next
    if response.status_code >= 400 or flashed_an_error(client):
        office.stored = snapshot(office.engine)
        if office.stored != before:
            office.problems.append(f"{what}: refused with {response.status_code}, and yet stored a change")


def flashed_an_error(client: FlaskClient) -> bool:
    """Whether the page redirected to will show an error: a form's refusal is a 303 to the
    page it came from, with the reason flashed. The flashes are taken, as that page would."""
    if client.application.secret_key is None:
        return False  # the webhooks' app: it keeps no session, and answers Twilio alone
    with client.session_transaction() as session:
        flashes = session.pop("_flashes", [])
    return any(category == "error" for category, _ in flashes)


def bodies(token: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """The bad bodies of a POST: forms (with the CSRF token), files, raw bytes and JSON."""
    for name, form in FORMS.items():
        data = MultiDict(form)
        data["csrf_token"] = token
        yield f"form with {name}", {"data": data}
        yield (
            f"form with {name}, asking for JSON",
            {"data": MultiDict(data), "headers": {"Accept": "application/json"}},
        )
    files = {name: (io.BytesIO(b"\x00\xff" * 10), "bad\x00name.txt") for name in FIELDS}
    yield "files for every field", {"data": {"csrf_token": token, **files}}
    not_utf8 = b"&".join(b"%s=%%FF%%C3" % name.encode() for name in FIELDS)
    yield "a form not UTF-8", {"data": b"csrf_token=%s&%s" % (token.encode(), not_utf8), "content_type": FORM}
    headers = {"X-CSRFToken": token, "Accept": "application/json"}
    for name, body in JSONS.items():
        yield f"JSON {name}", {"data": body, "content_type": "application/json", "headers": headers}
    for name, value in JSON_OBJECTS.items():
        yield f"JSON with {name}", {"json": dict.fromkeys(FIELDS, value), "headers": headers}


def walk(office: Office, client: FlaskClient, who: str, token: str, *, thorough: bool = True) -> None:
    """Every rule and method, with each set of arguments. With rows that exist, every bad
    body and query string when `thorough`; every action some of the bodies; the other
    arguments, and a walk not `thorough`, the first two bodies only."""
    for rule in rules(office.app):
        for method in sorted(rule.methods or ()):
            for case, values in arguments(rule, office.ids):
                path = path_of(rule, values)
                what = f"{method} {path[:80]} as {who}, {case}"
                if method == "POST":
                    chosen = list(bodies(token))
                    if case.startswith("action "):
                        chosen = [(name, kwargs) for name, kwargs in chosen if name in EVERY_ACTION_GETS]
                    elif not thorough or case != "existing":
                        chosen = chosen[:2]
                    for name, kwargs in chosen:
                        post(office, client, f"{what}, {name}", path, **kwargs)
                    continue
                check(office, what, client.open(path, method=method))
                if method == "GET" and case == "existing" and thorough:
                    for name, query in QUERIES.items():
                        check(office, f"{what}, {name}", client.get(path, query_string=query))


def refused(response: TestResponse, api: bool) -> bool:
    """Whether someone not signed in was turned away: the API's 401, or the sign-in page."""
    if api:
        return response.status_code == 401 and response.is_json
    location = urlsplit(response.headers.get("Location", "")).path
    return response.status_code in (401, 403) or (response.status_code == 302 and location == "/login")


def test_no_route_fails_on_bad_input_from_an_admin(office: Office) -> None:
    with office_client(office.app, office.runtime.sessions, name="ada", role="admin") as admin:
        walk(office, admin, "an admin", csrf_token(admin.get("/").get_data(as_text=True)))
    assert office.requests > 1000
    assert not office.problems, "\n".join(office.problems)


def test_no_route_fails_on_bad_input_from_the_front_desk_or_staff(
    office: Office, client: FlaskClient
) -> None:
    walk(office, client, "a receptionist", csrf_token(client.get("/").get_data(as_text=True)), thorough=False)
    with office_client(
        office.app, office.runtime.sessions, name="stan", role="staff", departments=["billing"]
    ) as staff:
        walk(
            office,
            staff,
            "staff of billing",
            csrf_token(staff.get("/").get_data(as_text=True)),
            thorough=False,
        )
    assert not office.problems, "\n".join(office.problems)


# What someone not signed in may send: nothing, a forged session cookie, API tokens that are none.
CREDENTIALS: dict[str, dict[str, str]] = {
    "no credentials": {},
    "a forged session": {"Cookie": "session=eyJfdXNlcl9pZCI6IjE6eCJ9.forged.signature"},
    "an empty token": {"Authorization": "Bearer "},
    "a wrong token": {"Authorization": "Bearer not-a-token"},
    "another scheme": {"Authorization": "Basic cmVjZXB0aW9uOnBhc3N3b3Jk"},
    "a huge token": {"Authorization": "Bearer " + HUGE},
}


def test_nobody_is_served_a_page_without_signing_in(office: Office) -> None:
    anonymous = office.app.test_client()
    token = csrf_token(anonymous.get("/login").get_data(as_text=True))
    for rule in rules(office.app):
        for method in sorted(rule.methods or ()):
            for case, values in _existing_and_missing(rule, office.ids):
                path = path_of(rule, values)
                for name, headers in CREDENTIALS.items():
                    what = f"{method} {path[:80]} with {name}, {case}"
                    form = {"data": {"csrf_token": token}} if method == "POST" else {}
                    response = anonymous.open(path, method=method, headers=headers, **form)
                    check(office, what, response)
                    if rule.endpoint not in OPEN_ENDPOINTS and not refused(
                        response, path.startswith("/api/")
                    ):
                        office.problems.append(f"{what}: served {response.status_code} to nobody")
    assert office.requests > 300
    assert not office.problems, "\n".join(office.problems)


def _existing_and_missing(rule: Rule, ids: dict[str, str]) -> list[tuple[str, dict[str, str]]]:
    """The rule's arguments of rows that exist, and the first of those with one that does not."""
    cases = [(case, values) for case, values in arguments(rule, ids) if not case.startswith("action ")]
    return cases[:2]


def webhook_app(app: Flask) -> Flask:
    """The app that serves Twilio's webhooks in front of the pages' app (web.app.WebhooksApart)."""
    dispatch: Any = app.wsgi_app
    while not isinstance(dispatch, WebhooksApart):
        dispatch = dispatch.app  # a ProxyFix in front
    webhooks: Flask = dispatch.webhooks.__self__
    return webhooks


def twilio_forms(phone: PhoneOffice, rule: Rule) -> dict[str, MultiDict[str, str]]:
    """Bad forms for a webhook, made from the form Twilio sends it."""
    base = phone.fake.base
    good = {
        "twilio.reply_status": {"MessageSid": "SM" + "5" * 32, "MessageStatus": "delivered", "ErrorCode": ""},
        "twilio.recording": recording_form(base),
        "twilio.voice_done": recording_form(base),
        "twilio.transcription": transcription_form(base),
    }.get(rule.endpoint, sms_form(MediaUrl0=base + "/media/1", MediaContentType0="image/png"))
    mistyped = {
        "NumMedia": "99999999999999999999", "RecordingDuration": "1e309", "MediaUrl0": "not a url",
        "RecordingUrl": "ftp://elsewhere.example/r", "From": "", "To": "", "MessageStatus": "exploded",
        "ErrorCode": "abc", "MessageSid": " ", "RecordingStatus": "completed", "TranscriptionStatus": "x",
    }  # fmt: skip
    return {
        "missing fields": MultiDict(),
        "long strings": MultiDict(dict.fromkeys(good, LONG)),  # all of them within the webhooks' limit
        "NUL bytes": MultiDict(dict.fromkeys(good, NUL)),
        "lists": MultiDict([(name, value) for name in good for value in ("one", "two")]),
        "mistyped": MultiDict(good | mistyped),
        "no media behind NumMedia": MultiDict(good | {"NumMedia": "10"}),
    }


def test_no_webhook_fails_on_a_signed_bad_form(phone: PhoneOffice) -> None:
    item = text_message(phone.runtime, CALLER, "Please call me back", "SM-every-route", datetime.now(UTC))
    answer = phone.client.post(f"/api/v1/items/{item}/reply", json={"text": "We will.", "channel": "sms"})
    assert answer.status_code == 202
    app = webhook_app(phone.client.application)
    office = Office(phone.runtime, app, {"reply_id": str(answer.get_json()["id"])})
    client = app.test_client()
    for rule in rules(app):
        for case, values in arguments(rule, office.ids):
            path = path_of(rule, values)
            for name, form in twilio_forms(phone, rule).items():
                signature = RequestValidator(AUTH_TOKEN).compute_signature(PUBLIC_URL + path, form)
                headers = {SIGNATURE_HEADER: signature}
                post(office, client, f"POST {path} signed, {case}, {name}", path, data=form, headers=headers)
                phone.drain()
            raw = b"From=%FF%FE&To=%C3&Body=%ED%A0%80&MessageSid=SM%00&RecordingUrl=%FF"
            signature = RequestValidator(AUTH_TOKEN).compute_signature(
                PUBLIC_URL + path, MultiDict(fields_of(raw))
            )
            headers = {SIGNATURE_HEADER: signature, "Content-Type": FORM}
            post(office, client, f"POST {path} signed, {case}, not UTF-8", path, data=raw, headers=headers)
            phone.drain()
    assert office.requests > 50
    assert not office.problems, "\n".join(office.problems)
