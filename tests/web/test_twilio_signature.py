"""Every Twilio endpoint refuses what Twilio did not sign, and asks for a retry when storage fails."""

from __future__ import annotations

import dataclasses
import io
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlencode

import psycopg
import pytest
from flask.testing import FlaskClient
from sqlalchemy.engine import make_url
from twilio.request_validator import RequestValidator
from werkzeug.datastructures import MultiDict

from config.holder import SettingsHolder
from tests.support.twilio import (
    AUTH_TOKEN,
    PUBLIC_URL,
    PhoneOffice,
    recording_form,
    sign,
    sms_form,
    transcription_form,
)
from web.app import create_app

FORM = "application/x-www-form-urlencoded"
ENDPOINTS = [
    "/twilio/sms",
    "/twilio/voice",
    "/twilio/voice/done",
    "/twilio/voice/recording",
    "/twilio/voice/transcription",
]


def _form(phone: PhoneOffice, path: str) -> dict[str, str]:
    if path.endswith("recording"):
        return recording_form(phone.fake.base)
    if path.endswith("transcription"):
        return transcription_form(phone.fake.base)
    return sms_form()


@pytest.mark.parametrize("path", ENDPOINTS)
def test_every_endpoint_answers_a_properly_signed_request(phone: PhoneOffice, path: str) -> None:
    response = phone.post(path, _form(phone, path))
    assert response.status_code == 200
    assert response.mimetype == "text/xml"


@pytest.mark.parametrize("path", ENDPOINTS)
def test_a_request_twilio_did_not_sign_gets_403_and_stores_nothing(phone: PhoneOffice, path: str) -> None:
    form = _form(phone, path)
    signatures = {
        "missing": None,
        "empty": "",
        "garbage": "not-a-signature",
        "wrong token": sign(PUBLIC_URL + path, form, token=AUTH_TOKEN + "x"),
        # Twilio signs the URL it called; a proxy that ends TLS must not make http pass for https.
        "http instead of https": sign(PUBLIC_URL.replace("https:", "http:") + path, form),
        "other path": sign(PUBLIC_URL + "/twilio/elsewhere", form),
        "form changed": sign(PUBLIC_URL + path, {**form, "From": "+15550000000"}),
    }
    for kind, signature in signatures.items():
        headers = {} if signature is None else {"X-Twilio-Signature": signature}
        response = phone.client.post(path, data=form, headers=headers)
        assert response.status_code == 403, kind
    assert phone.items() == []
    assert phone.downloads() == []


def test_a_webhook_s_answers_carry_the_security_headers_of_every_page(phone: PhoneOffice) -> None:
    answered = phone.post("/twilio/sms", sms_form())
    refused = phone.client.post("/twilio/sms", data=sms_form(), headers={"X-Twilio-Signature": "forged"})
    assert (answered.status_code, refused.status_code) == (200, 403)
    for response in (answered, refused):
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["X-Frame-Options"] == "DENY"
        assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
        assert response.headers["Referrer-Policy"] == "same-origin"


@pytest.mark.parametrize("path", ENDPOINTS)
def test_a_large_unsigned_body_is_refused_before_it_is_read(phone: PhoneOffice, path: str) -> None:
    size = 4 * 1024 * 1024
    body = io.BytesIO(b"x" * size)
    environ = {"wsgi.input": body, "CONTENT_LENGTH": str(size)}
    response = phone.client.post(
        path,
        environ_overrides=environ,
        content_type="application/x-www-form-urlencoded",
        headers={"X-Twilio-Signature": "forged"},
    )
    assert response.status_code == 413
    assert body.tell() == 0  # not a byte read
    assert phone.items() == []


@pytest.mark.parametrize("path", ENDPOINTS)
def test_a_query_string_that_is_not_text_is_refused_as_unsigned(phone: PhoneOffice, path: str) -> None:
    form = _form(phone, path)
    response = phone.client.post(
        path,
        data=form,
        # WSGI carries the raw bytes of the query as latin-1: these two are not UTF-8.
        environ_overrides={"QUERY_STRING": "office=\xff\xfe"},
        headers={"X-Twilio-Signature": sign(PUBLIC_URL + path + "?office=\xff\xfe", form)},
    )
    assert response.status_code == 403
    assert phone.items() == []


@pytest.mark.parametrize("path", ENDPOINTS)
def test_options_is_not_answered_without_a_signature(phone: PhoneOffice, path: str) -> None:
    response = phone.client.options(path)
    assert response.status_code == 405
    assert response.headers["Allow"] == "POST"


def test_unknown_extra_parameters_are_signed_like_any_other(phone: PhoneOffice) -> None:
    form = sms_form(AddOns='{"status":"successful"}', FromCity="SPRINGFIELD", NewParameter2031="x")
    assert phone.post("/twilio/sms", form).status_code == 200
    assert len(phone.items()) == 1


def test_a_port_in_the_signed_url_is_accepted_as_twilio_may_add_it(phone: PhoneOffice) -> None:
    form = sms_form()
    assert phone.post("/twilio/sms", form, signed_url=PUBLIC_URL + ":443/twilio/sms").status_code == 200


def test_every_value_of_a_repeated_parameter_is_signed(phone: PhoneOffice) -> None:
    fields = [*sms_form().items(), ("Tag", "first"), ("Tag", "second")]
    signature = RequestValidator(AUTH_TOKEN).compute_signature(PUBLIC_URL + "/twilio/sms", MultiDict(fields))
    headers = {"X-Twilio-Signature": signature}
    changed = urlencode([*fields[:-1], ("Tag", "changed")])
    response = phone.client.post("/twilio/sms", data=changed, content_type=FORM, headers=headers)
    assert response.status_code == 403  # a value after the first is signed too
    assert phone.waiting() == 0
    response = phone.client.post("/twilio/sms", data=urlencode(fields), content_type=FORM, headers=headers)
    assert response.status_code == 200
    phone.drain()
    assert len(phone.items()) == 1


@contextmanager
def _database_locked(url: str, table: str) -> Iterator[None]:
    """Another client holds `table` (on SQLite, the whole file), so that Intake's write times out."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        connection = sqlite3.connect(parsed.database or "", isolation_level=None)
        connection.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            connection.rollback()
            connection.close()
        return
    conninfo = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(conninfo) as connection:
        connection.execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
        yield
        connection.rollback()


@pytest.mark.parametrize("path", ["/twilio/sms", "/twilio/voice/recording", "/twilio/voice/transcription"])
def test_storage_failure_answers_503_and_the_retry_is_stored_once(phone: PhoneOffice, path: str) -> None:
    form = _form(phone, path)
    # A text is committed to the inbox; a voicemail's callback to the items.
    with _database_locked(phone.settings.database.url, "inbox" if path.endswith("sms") else "items"):
        response = phone.send(path, form)
    assert response.status_code == 503
    assert phone.items() == []
    assert phone.post(path, form).status_code == 200  # Twilio's retry
    assert phone.post(path, form).status_code == 200
    assert len(phone.items()) == 1
    assert len(phone.downloads()) == (0 if path.endswith("sms") else 1)


def _client_with(phone: PhoneOffice, **twilio: object) -> FlaskClient:
    """A client of the phone office's app with these [twilio] settings instead."""
    settings = dataclasses.replace(
        phone.settings, twilio=dataclasses.replace(phone.settings.twilio, **twilio)
    )
    runtime = phone.runtime
    return create_app(
        SettingsHolder(settings), runtime.engine, runtime.sessions, runtime.deliverer, runtime.inbox.accept
    ).test_client()


def test_behind_a_proxy_the_forwarded_url_is_the_one_checked(phone: PhoneOffice) -> None:
    client = _client_with(phone, public_url="", proxy_hops=1)
    form = sms_form()
    signature = sign("https://intake.office.test/twilio/sms", form)
    forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "intake.office.test"}
    direct = client.post("/twilio/sms", data=form, headers={"X-Twilio-Signature": signature})
    assert direct.status_code == 403  # seen directly, the URL is http://localhost/...
    proxied = client.post("/twilio/sms", data=form, headers={"X-Twilio-Signature": signature, **forwarded})
    assert proxied.status_code == 200
    phone.drain()
    assert len(phone.items()) == 1


def test_a_public_url_with_a_port_is_signed_with_it_or_without_it(phone: PhoneOffice) -> None:
    client = _client_with(phone, public_url=PUBLIC_URL + ":8443")
    form = sms_form()
    for signed_url, status in [
        (PUBLIC_URL + ":8443/twilio/sms", 200),
        (PUBLIC_URL + "/twilio/sms", 200),  # Twilio may drop the port, as RequestValidator allows
        (PUBLIC_URL + ":9443/twilio/sms", 403),
    ]:
        headers = {"X-Twilio-Signature": sign(signed_url, form)}
        assert client.post("/twilio/sms", data=form, headers=headers).status_code == status, signed_url
    phone.drain()
    assert len(phone.items()) == 1


def test_an_office_without_twilio_credentials_refuses_every_webhook(phone: PhoneOffice) -> None:
    client = _client_with(phone, auth_token="")
    form = sms_form()
    signature = RequestValidator("").compute_signature(PUBLIC_URL + "/twilio/sms", form)
    assert client.post("/twilio/sms", data=form, headers={"X-Twilio-Signature": signature}).status_code == 403
