"""The admin pages through Flask's test client: admins only, CSRF, every change in the
admins' trail, bad input refused with its reason and nothing stored; the rules in force
with their hits, and the replay, which changes nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from io import BytesIO
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from config.loading import load_settings
from config.settings import Settings
from intake.cli.runtime import Runtime
from intake.email.parser import parse_email
from routing.people import accounts
from routing.store.database import transaction
from routing.store.models import AdminEvent, ApiToken, Item, User
from tests.conftest import OFFICE
from tests.support.mail import email_bytes
from tests.support.people import PASSWORD, csrf_token, office_client, sign_in

INVOICES = '[[rules]]\nname = "invoices"\nwhen = { subject = ["invoice"] }\nroute = "billing"\n'


@pytest.fixture
def admin(app: Flask, runtime: Runtime) -> FlaskClient:
    return office_client(app, runtime.sessions, name="ada", role="admin")


def post(client: FlaskClient, path: str, **form: object) -> tuple[int, str]:
    """Send a form from the admin pages, with the page's CSRF token; the status and the page shown after."""
    data = {"csrf_token": csrf_token(client.get("/admin/users").get_data(as_text=True)), **form}
    response = client.post(path, data=data, follow_redirects=True)
    return response.history[0].status_code if response.history else response.status_code, response.get_data(
        as_text=True
    )


def trail(runtime: Runtime) -> list[tuple[str, str, dict[str, object]]]:
    with transaction(runtime.sessions, write=False) as session:
        return [
            (e.actor, e.action, e.detail) for e in session.scalars(select(AdminEvent).order_by(AdminEvent.id))
        ]


def user(runtime: Runtime, name: str) -> accounts.Person | None:
    with transaction(runtime.sessions, write=False) as session:
        found = session.scalar(select(User).where(User.name == name))
        return accounts.person_of(found) if found is not None and found.active else None


@pytest.mark.parametrize("path", ["/admin/users", "/admin/tokens", "/admin/rules", "/admin/replay"])
def test_only_admins_see_the_admin_pages(app: Flask, runtime: Runtime, admin: FlaskClient, path: str) -> None:
    client = office_client(app, runtime.sessions, name="rita")
    assert client.get(path).status_code == 403  # a receptionist
    if path != "/admin/rules":  # a page that takes no form
        form = {"csrf_token": csrf_token(client.get("/").get_data(as_text=True))}
        assert client.post(path, data=form).status_code == 403
    assert admin.get(path).status_code == 200
    assert 'class="admin" href="/admin/users"' in admin.get("/").get_data(as_text=True)
    assert 'href="/admin/users"' not in client.get("/").get_data(as_text=True)


def test_an_admin_adds_a_staff_user_recorded_in_the_trail(runtime: Runtime, admin: FlaskClient) -> None:
    status, page = post(
        admin, "/admin/users", name="tom", role="staff", department=["sales", "billing"], password=PASSWORD
    )
    assert status == 303 and "tom can sign in now." in page and 'id="user-tom"' in page
    tom = user(runtime, "tom")
    assert tom is not None and tom.role == "staff" and tom.departments == {"sales", "billing"}
    assert trail(runtime) == [
        ("ada", "user added", {"user": "tom", "role": "staff", "departments": ["sales", "billing"]})
    ]


@pytest.mark.parametrize(
    ("form", "reason"),
    [
        ({"name": "tom", "role": "staff", "password": PASSWORD}, "staff see their departments only"),
        (
            {"name": "tom", "role": "staff", "department": "sales", "password": "short"},
            "at least 10 characters",
        ),
        ({"name": "Tom Smith", "role": "admin", "password": PASSWORD}, "is not a user name"),
        ({"name": "ada", "role": "admin", "password": PASSWORD}, "there is already a user &#39;ada&#39;"),
        ({"name": "tom", "role": "boss", "password": PASSWORD}, "unknown role &#39;boss&#39;"),
        (
            {"name": "tom", "role": "staff", "department": "nowhere", "password": PASSWORD},
            "unknown department",
        ),
    ],
)
def test_a_bad_user_is_refused_with_its_reason_and_nothing_is_stored(
    runtime: Runtime, admin: FlaskClient, form: dict[str, str], reason: str
) -> None:
    status, page = post(admin, "/admin/users", **form)
    assert status == 400 and reason in page
    assert user(runtime, "tom") is None and trail(runtime) == []


def test_a_change_without_the_csrf_token_is_refused(runtime: Runtime, admin: FlaskClient) -> None:
    response = admin.post("/admin/users", data={"name": "tom", "role": "admin", "password": PASSWORD})
    assert response.status_code == 400 and user(runtime, "tom") is None


def test_role_disable_and_a_new_password_end_what_they_must(
    app: Flask, runtime: Runtime, admin: FlaskClient
) -> None:
    tom = office_client(app, runtime.sessions, name="tom", role="receptionist")
    assert post(admin, "/admin/users/tom/role", role="staff", department="billing")[0] == 303
    assert tom.get("/departments/sales").status_code == 404  # staff of billing now
    assert tom.get("/departments/billing").status_code == 200
    assert post(admin, "/admin/users/tom/password", password="another long password")[0] == 303
    assert tom.get("/").status_code == 302  # signed out
    assert sign_in(tom, "tom", "another long password").status_code == 302
    assert post(admin, "/admin/users/tom/disable")[0] == 303
    assert tom.get("/").status_code == 302 and user(runtime, "tom") is None
    assert [action for _, action, _ in trail(runtime)] == ["role changed", "password reset", "user disabled"]
    status, page = post(admin, "/admin/users/nobody/disable")
    assert status == 400 and "there is no user &#39;nobody&#39;" in page


def test_a_disabled_user_is_enabled_and_signs_in_again_but_old_sessions_and_tokens_stay_ended(
    app: Flask, runtime: Runtime, admin: FlaskClient
) -> None:
    tom = office_client(app, runtime.sessions, name="tom", role="receptionist")
    assert post(admin, "/admin/users/tom/disable")[0] == 303
    page = admin.get("/admin/users").get_data(as_text=True)
    assert 'action="/admin/users/tom/enable"' in page
    status, page = post(admin, "/admin/users/tom/enable")
    assert status == 303 and "tom can sign in again with their password" in page
    assert 'action="/admin/users/tom/disable"' in page and user(runtime, "tom") is not None
    assert tom.get("/").status_code == 302  # the session from before the disable stays ended
    assert tom.get("/api/v1/items").status_code == 401  # and so does the token
    assert sign_in(tom, "tom").status_code == 302 and tom.get("/").status_code == 200
    assert [action for _, action, _ in trail(runtime)] == ["user disabled", "user enabled"]
    status, page = post(admin, "/admin/users/tom/enable")
    assert status == 400 and "&#39;tom&#39; is not disabled" in page
    assert "user enabled" in page  # the trail's entry, in the page's words


def test_the_last_admin_can_neither_be_disabled_nor_lose_the_role(
    app: Flask, runtime: Runtime, admin: FlaskClient
) -> None:
    for path, form in (("/admin/users/ada/disable", {}), ("/admin/users/ada/role", {"role": "receptionist"})):
        status, page = post(admin, path, **form)
        assert status == 400 and "&#39;ada&#39; is the last active admin" in page
    ada = user(runtime, "ada")
    assert ada is not None and ada.role == "admin" and trail(runtime) == []
    office_client(app, runtime.sessions, name="bob", role="admin")
    assert post(admin, "/admin/users/ada/role", role="receptionist")[0] == 303  # bob is admin still
    assert admin.get("/admin/users").status_code == 403


def test_a_token_is_shown_once_and_a_revoked_one_is_refused(runtime: Runtime, admin: FlaskClient) -> None:
    token = csrf_token(admin.get("/admin/tokens").get_data(as_text=True))
    created = admin.post("/admin/tokens", data={"csrf_token": token, "name": "ada"})
    assert created.status_code == 201
    value = created.get_data(as_text=True).split('<code id="new-token">')[1].split("</code>")[0]
    assert value.startswith("intake_") and value not in admin.get("/admin/tokens").get_data(as_text=True)
    api = {"Authorization": f"Bearer {value}"}
    assert admin.get("/api/v1/items", headers=api).status_code == 200
    with transaction(runtime.sessions, write=False) as session:
        token_id = session.scalar(select(ApiToken.id).order_by(ApiToken.id.desc()).limit(1))
    status, page = post(admin, f"/admin/tokens/{token_id}/revoke")
    assert status == 303 and f"Token {token_id} revoked" in page
    assert admin.get("/api/v1/items", headers=api).status_code == 401
    assert [action for _, action, _ in trail(runtime)] == ["token created", "token revoked"]
    assert post(admin, "/admin/tokens/99999/revoke")[0] == 400


@pytest.fixture
def settings(settings: Settings, tmp_path: Path) -> Settings:
    """The test office with a rule, so the rules page has one to count."""
    path = tmp_path / "office.toml"
    path.write_text(OFFICE.read_text() + "\n" + INVOICES.replace("invoices", "invoices-by-subject"))
    return load_settings(path, {"INTAKE_DATABASE_URL": settings.database.url})


def deliver(runtime: Runtime, number: int, subject: str, days_ago: int = 0) -> int:
    raw = email_bytes(subject=subject, message_id=f"<admin{number}@client.example>")
    at = datetime.now(UTC) - timedelta(days=days_ago)
    return runtime.deliverer.deliver(parse_email(raw, received_at=at)).item_id


def test_the_rules_page_counts_each_rules_hits(runtime: Runtime, admin: FlaskClient) -> None:
    for number, subject in enumerate(["Invoice 7", "Invoice 8", "Prices please"]):
        deliver(runtime, number, subject)
    deliver(runtime, 9, "Invoice 1", days_ago=31)  # before the 30 days counted
    page = admin.get("/admin/rules").get_data(as_text=True)
    row = page.split('id="rule-invoices-by-subject"')[1].split("</tr>")[0]
    assert '<td class="num hits">2</td>' in row and "to Billing" in row
    assert 'id="department-sales"' in page


def test_a_replay_with_a_candidate_shows_the_moves_and_changes_nothing(
    runtime: Runtime, admin: FlaskClient
) -> None:
    moved = deliver(runtime, 1, "Order 5 and its price")
    deliver(runtime, 2, "Hello")
    candidate = (
        OFFICE.read_text()
        + '\n[[rules]]\nname = "orders"\nwhen = { subject = ["order"] }\nroute = "billing"\n'
    )
    token = csrf_token(admin.get("/admin/replay").get_data(as_text=True))
    form = {"csrf_token": token, "since": "2d", "config": (BytesIO(candidate.encode()), "new.toml")}
    page = admin.post("/admin/replay", data=form).get_data(as_text=True)
    assert "Under the candidate config" in page and "2 replayed: 1 would move, 1 stay." in page
    [row] = page.split('<tr class="move"')[1:]
    assert f'data-item-id="{moved}"' in row and '<td class="would-be">Billing</td>' in row
    with transaction(runtime.sessions, write=False) as session:
        assert sorted(session.scalars(select(Item.department_id))) == ["sales", "sales"]
    assert trail(runtime) == []


@pytest.mark.parametrize(
    ("since", "config", "reason"),
    [
        ("last week", b"", "is neither a span such as 30d"),
        ("2d", b"[office\n", "new.toml: not valid TOML"),
        ("2d", b'[office]\nname = "x"\n', "new.toml: office.domains: name at least one domain"),
        ("2d", b"\xff\xfe[office]", "new.toml is not UTF-8 text"),
        ("2d", b"#" * (1024 * 1024 + 1), "the config is larger than 1024 kB"),
    ],
)
def test_a_bad_replay_is_refused_with_its_reason(
    admin: FlaskClient, since: str, config: bytes, reason: str
) -> None:
    token = csrf_token(admin.get("/admin/replay").get_data(as_text=True))
    form: dict[str, object] = {"csrf_token": token, "since": since}
    if config:
        form["config"] = (BytesIO(config), "new.toml")
    response = admin.post("/admin/replay", data=form)
    assert response.status_code == 400 and reason in response.get_data(as_text=True)
