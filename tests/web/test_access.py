"""Access to the web and the API: sign-in, CSRF, tokens, and staff kept to their departments."""

from __future__ import annotations

import dataclasses

import pytest
from flask import Flask

from config.holder import SettingsHolder
from intake.cli.runtime import Runtime
from intake.email.parser import parse_email
from routing.people import accounts
from routing.store.database import transaction
from routing.store.models import Item
from tests.support.mail import email_bytes, raw_message
from tests.support.people import add_person, csrf_token, new_token, office_client, sign_in
from web.app import create_app


def _mail_with_attachment(to: str, message_id: str) -> bytes:
    return raw_message(
        "From: ann@client.example",
        f"To: {to}",
        f"Subject: The plan for {to}",
        f"Message-ID: {message_id}",
        "MIME-Version: 1.0",
        'Content-Type: multipart/mixed; boundary="b"',
        "",
        "--b",
        "Content-Type: text/plain",
        "",
        "The plan is attached.",
        "--b",
        "Content-Type: text/plain; name=plan.txt",
        "Content-Disposition: attachment; filename=plan.txt",
        "",
        "Step one.",
        "--b--",
    )


def _deliver(runtime: Runtime, to: str, message_id: str) -> str:
    """Deliver a mail with one attachment; the path of that attachment."""
    delivery = runtime.deliverer.deliver(parse_email(_mail_with_attachment(to, message_id)))
    with transaction(runtime.sessions, write=False) as session:
        item = session.get_one(Item, delivery.item_id)
        return f"/items/{item.id}/attachments/{item.attachments[0].id}"


def _revoke_all(runtime: Runtime) -> None:
    with transaction(runtime.sessions) as session:
        for token in accounts.list_tokens(session):
            accounts.revoke_token(session, token.id)


def test_every_page_but_health_and_login_needs_a_sign_in(runtime: Runtime, app: Flask) -> None:
    attachment = _deliver(runtime, "sales@office.test", "<a1@client.example>")
    client = app.test_client()
    for path in ("/", "/departments/sales", attachment.partition("/attachments")[0], attachment):
        response = client.get(path)
        assert response.status_code == 302, path
        assert response.headers["Location"].startswith("/login?next=")
    assert client.get("/healthz").status_code == 200
    login = client.get("/login")
    assert login.status_code == 200 and 'name="csrf_token"' in login.get_data(as_text=True)
    assert login.headers["X-Frame-Options"] == "DENY"
    assert "script-src" not in login.headers["Content-Security-Policy"]
    assert "'unsafe-inline'" not in login.headers["Content-Security-Policy"]


def test_a_form_without_its_csrf_token_is_refused_with_400(runtime: Runtime, app: Flask) -> None:
    add_person(runtime.sessions, "rita")
    client = app.test_client()
    client.get("/login")
    refused = client.post("/login", data={"name": "rita", "password": "a test password, long enough"})
    assert refused.status_code == 400
    assert client.get("/").status_code == 302
    signed_in = office_client(app, runtime.sessions, "ann")
    assert signed_in.post("/logout").status_code == 400
    assert signed_in.get("/").status_code == 200
    token = csrf_token(signed_in.get("/").get_data(as_text=True))
    assert signed_in.post("/logout", data={"csrf_token": token}).status_code == 302
    assert signed_in.get("/").status_code == 302


def test_a_wrong_password_or_a_disabled_user_cannot_sign_in(runtime: Runtime, app: Flask) -> None:
    add_person(runtime.sessions, "rita")
    assert sign_in(app.test_client(), "rita", "not the password at all").status_code == 401
    assert sign_in(app.test_client(), "nobody").status_code == 401
    client = app.test_client()
    assert sign_in(client, "rita").status_code == 302
    with transaction(runtime.sessions) as session:
        accounts.disable_user(session, "rita")
    assert client.get("/").status_code == 302  # the open session ends too
    refused = sign_in(app.test_client(), "rita")
    assert refused.status_code == 401 and "Wrong name or password" in refused.get_data(as_text=True)


def test_after_a_wrong_password_the_name_stays_typed_and_the_password_does_not(
    runtime: Runtime, app: Flask
) -> None:
    add_person(runtime.sessions, "rita")
    page = sign_in(app.test_client(), "rita", "not the password at all").get_data(as_text=True)
    assert 'name="name" value="rita"' in page and "not the password at all" not in page
    assert 'name="password" type="password" autocomplete="current-password" required autofocus' in page
    page = sign_in(app.test_client(), '"><b>rita').get_data(as_text=True)
    assert 'value="&#34;&gt;&lt;b&gt;rita"' in page  # escaped, as every value


def test_a_login_form_gone_stale_in_another_tab_is_shown_again_to_sign_in(
    runtime: Runtime, app: Flask
) -> None:
    # Tabs share the session: signing in or out in one starts a new session, so the login
    # form left open in another no longer matches it.
    add_person(runtime.sessions, "rita")
    client = app.test_client()
    stale = {"csrf_token": csrf_token(client.get("/login").get_data(as_text=True)), "name": "rita"}
    assert sign_in(client, "rita").status_code == 302
    token = csrf_token(client.get("/").get_data(as_text=True))
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302
    refused = client.post("/login", data={**stale, "password": "a test password, long enough"})
    page = refused.get_data(as_text=True)
    assert refused.status_code == 400 and "The sign-in form was out of date; sign in again." in page
    assert 'name="name" value="rita"' in page and client.get("/").status_code == 302
    again = {"csrf_token": csrf_token(page), "name": "rita", "password": "a test password, long enough"}
    assert client.post("/login", data=again).status_code == 302  # the page shown has a token that works


def test_a_name_typed_with_capitals_signs_in(runtime: Runtime, app: Flask) -> None:
    # A phone's keyboard capitalises the first letter; names are lower-case.
    add_person(runtime.sessions, "rita")
    client = app.test_client()
    assert sign_in(client, " Rita ").status_code == 302
    assert client.get("/").status_code == 200
    page = client.get("/login").get_data(as_text=True)
    assert 'autocapitalize="none"' in page


def test_a_new_password_ends_the_sessions_signed_in_before_it(runtime: Runtime, app: Flask) -> None:
    client = office_client(app, runtime.sessions, "rita")
    assert client.get("/").status_code == 200
    with transaction(runtime.sessions) as session:
        accounts.reset_password(session, "rita", "a brand new password")
    assert client.get("/").status_code == 302
    assert sign_in(client, "rita", "a brand new password").status_code == 302
    assert client.get("/").status_code == 200


def test_a_copied_session_cookie_stops_working_at_sign_out(runtime: Runtime, app: Flask) -> None:
    add_person(runtime.sessions, "rita")
    browser, copy = app.test_client(), app.test_client()
    assert sign_in(browser, "rita").status_code == 302
    cookie = browser.get_cookie("session")
    assert cookie is not None
    copy.set_cookie("session", cookie.value)
    assert copy.get("/").status_code == 200
    token = csrf_token(browser.get("/").get_data(as_text=True))
    assert browser.post("/logout", data={"csrf_token": token}).status_code == 302
    assert copy.get("/").status_code == 302
    assert sign_in(browser, "rita").status_code == 302  # signing in again works
    assert browser.get("/").status_code == 200 and copy.get("/").status_code == 302


def test_after_sign_in_only_a_path_on_this_site_is_followed(runtime: Runtime, app: Flask) -> None:
    add_person(runtime.sessions, "rita")
    # Browsers drop tabs and newlines from a URL, so "/<tab>/evil.example" is "//evil.example".
    targets = [
        "//evil.example/",
        "/\\evil.example/",
        "/\t/evil.example/",
        "/\n/evil.example/",
        "/\r\\evil.example/",
    ]
    for target, landing in (("/departments/sales", "/departments/sales"), *((t, "/") for t in targets)):
        client = app.test_client()
        page = client.get("/login", query_string={"next": target}).get_data(as_text=True)
        form = {"csrf_token": csrf_token(page), "name": "rita", "password": "a test password, long enough"}
        response = client.post("/login", data={**form, "next": target})
        assert response.headers["Location"] == landing


@pytest.mark.parametrize("secure", [True, False])
def test_the_session_cookie_is_httponly_lax_and_secure_when_configured(
    runtime: Runtime, secure: bool
) -> None:
    web = dataclasses.replace(runtime.settings.web, secure_cookies=secure)
    app = create_app(
        SettingsHolder(dataclasses.replace(runtime.settings, web=web)),
        runtime.engine,
        runtime.sessions,
        runtime.deliverer,
        runtime.inbox.accept,
    )
    cookie = app.test_client().get("/login").headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert ("Secure" in cookie) is secure


def test_the_api_needs_a_valid_token(runtime: Runtime, app: Flask) -> None:
    item = _deliver(runtime, "sales@office.test", "<a2@client.example>").partition("/attachments")[0]
    client = office_client(app, runtime.sessions, "rita")
    assert client.get(f"/api/v1{item}").status_code == 200
    for header in ({}, {"Authorization": "Bearer intake_wrong"}, {"Authorization": "Basic cml0YTpw"}):
        anonymous = app.test_client().get("/api/v1/items", headers=header)
        assert anonymous.status_code == 401
        assert anonymous.json == {
            "error": {"status": 401, "message": "send an API token: Authorization: Bearer TOKEN"}
        }
        assert anonymous.headers["WWW-Authenticate"] == 'Bearer realm="intake"'
    # A signed-in browser session is no key to the API, so no other site can use it.
    del client.environ_base["HTTP_AUTHORIZATION"]
    assert client.get(f"/api/v1{item}").status_code == 401


def test_a_revoked_token_or_one_of_a_disabled_user_is_refused(runtime: Runtime, app: Flask) -> None:
    add_person(runtime.sessions, "rita")
    revoked = new_token(runtime.sessions, "rita")
    _revoke_all(runtime)
    kept = new_token(runtime.sessions, "rita")
    client = app.test_client()
    assert client.get("/api/v1/items", headers={"Authorization": f"Bearer {revoked}"}).status_code == 401
    assert client.get("/api/v1/items", headers={"Authorization": f"Bearer {kept}"}).status_code == 200
    with transaction(runtime.sessions) as session:
        accounts.disable_user(session, "rita")
    assert client.get("/api/v1/items", headers={"Authorization": f"Bearer {kept}"}).status_code == 401


def test_staff_see_their_departments_only(runtime: Runtime, app: Flask) -> None:
    sales = _deliver(runtime, "sales@office.test", "<s1@client.example>")
    billing = _deliver(runtime, "billing@office.test", "<b1@client.example>")
    sales_item, billing_item = sales.partition("/attachments")[0], billing.partition("/attachments")[0]
    staff = office_client(app, runtime.sessions, "bill", "staff", ["billing"])

    index = staff.get("/").get_data(as_text=True)
    assert "/departments/billing" in index and "/departments/sales" not in index
    for path in ("/departments/sales", sales_item, sales, "/api/v1" + sales_item):
        assert staff.get(path).status_code == 404, path
    for path in ("/departments/billing", billing_item, billing, "/api/v1" + billing_item):
        assert staff.get(path).status_code == 200, path
    assert staff.get("/api/v1/items?department=sales").json == {
        "error": {"status": 404, "message": "there is no department 'sales'"}
    }
    listed = staff.get("/api/v1/items").json
    assert [item["department"] for item in listed["items"]] == ["billing"]

    reception = office_client(app, runtime.sessions, "rita", "receptionist")
    for path in (sales_item, sales, "/api/v1" + sales_item, "/departments/sales"):
        assert reception.get(path).status_code == 200, path
    assert len(reception.get("/api/v1/items").json["items"]) == 2


def test_staff_lists_page_through_their_departments_only(runtime: Runtime, app: Flask) -> None:
    for number in range(7):
        to = "billing@office.test" if number % 2 else "sales@office.test"
        runtime.deliverer.deliver(parse_email(email_bytes(to=to, message_id=f"<p{number}@client.example>")))
    staff = office_client(app, runtime.sessions, "bill", "staff", ["billing"])
    body = staff.get("/api/v1/items?limit=2").json
    seen = [item["department"] for item in body["items"]]
    while body["next"]:
        body = staff.get(body["next"]).json
        seen += [item["department"] for item in body["items"]]
    assert seen == ["billing"] * 3


def test_an_unknown_api_path_asks_for_a_token_too(app: Flask) -> None:
    response = app.test_client().get("/api/v1/nothing-here")
    assert response.status_code == 401 and response.json is not None


def _sender_item(runtime: Runtime, sender: str, to: str) -> tuple[int, int]:
    """An email from `sender` to `to`: its item and the sender's contact."""
    raw = email_bytes(sender=sender, to=to, message_id=f"<{sender.split('@')[0]}@client.example>")
    item_id = runtime.deliverer.deliver(parse_email(raw)).item_id
    with transaction(runtime.sessions, write=False) as session:
        contact_id = session.get_one(Item, item_id).contact_id
    assert contact_id is not None
    return item_id, contact_id


def test_staff_cannot_link_their_item_to_a_person_only_another_department_sees(
    runtime: Runtime, app: Flask
) -> None:
    _, bob = _sender_item(runtime, "bob@other.example", "billing@office.test")
    carl_item, carl = _sender_item(runtime, "carl@client.example", "sales@office.test")
    _, dora = _sender_item(runtime, "dora@client.example", "sales@office.test")
    sam = office_client(app, runtime.sessions, "sam", "staff", ["sales"])
    link = f"/api/v1/items/{carl_item}/link"
    # Bob wrote to billing only: to sales staff he is as unknown as a contact that does not
    # exist, by number and by address, word for word; linking would have shown them his
    # name and every address and number of his, and joined him to their sender.
    for named, missing in ((str(bob), "99999"), ("bob@other.example", "nobody@other.example")):
        refused, unknown = (sam.post(link, json={"contact": wanted}) for wanted in (named, missing))
        assert refused.status_code == unknown.status_code == 400
        assert refused.json["error"]["message"] == unknown.json["error"]["message"].replace(missing, named)  # type: ignore[index]
    assert sam.get(f"/api/v1/contacts/{bob}").status_code == 404
    with transaction(runtime.sessions, write=False) as session:
        assert session.get_one(Item, carl_item).contact_id == carl
    # A person they do see, through an item of sales, they may link to.
    linked = sam.post(link, json={"contact": str(dora)})
    assert linked.status_code == 200 and linked.json["contact"]["id"] == dora  # type: ignore[index]
