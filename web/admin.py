"""The admin pages for people and access: users (add, role and departments, disable, enable,
a new password) and API tokens (create, shown once; list; revoke).

Admins only (anyone else gets 403); every form carries the CSRF token like any page's,
and every change is kept in the admins' trail in the same transaction. The work is
routing.people.accounts', the same functions `intake users` and `intake tokens` call.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext
from sqlalchemy.orm import Session
from werkzeug.exceptions import Forbidden, ServiceUnavailable
from werkzeug.wrappers import Response

from routing.people import accounts
from routing.queues.reading import active_departments
from routing.store.database import StorageUnavailable
from web.access import person
from web.storage import reading, storage, writing

blueprint = Blueprint("admin", __name__, url_prefix="/admin")
TRAIL_SHOWN = 20
Page = tuple[str, int]


@blueprint.before_request
def _admins_only() -> None:
    if person().role != "admin":
        raise Forbidden("only admins manage people and access")


@blueprint.get("/users")
def users() -> Page:
    return _users_page(200)


@blueprint.post("/users")
def add_user() -> Response | Page:
    form = request.form
    name = form.get("name", "").strip()
    return _change(
        lambda session: accounts.add_user(
            session, name, form.get("role", ""), form.get("password", ""), form.getlist("department")
        ),
        "user added",
        {"user": name, "role": form.get("role", ""), "departments": form.getlist("department")},
        gettext("%(name)s can sign in now.", name=name),
    )


@blueprint.post("/users/<name>/role")
def set_role(name: str) -> Response | Page:
    role, departments = request.form.get("role", ""), request.form.getlist("department")
    return _change(
        lambda session: accounts.set_role(session, name, role, departments),  # which keeps the last admin
        "role changed",
        {"user": name, "role": role, "departments": departments},
        gettext("%(name)s's role and departments are saved.", name=name),
    )


@blueprint.post("/users/<name>/disable")
def disable(name: str) -> Response | Page:
    return _change(
        lambda session: accounts.disable_user(session, name),  # which keeps the last admin
        "user disabled",
        {"user": name},
        gettext("%(name)s can no longer sign in, and their tokens stop working.", name=name),
    )


@blueprint.post("/users/<name>/enable")
def enable(name: str) -> Response | Page:
    return _change(
        lambda session: accounts.enable_user(session, name),
        "user enabled",
        {"user": name},
        gettext(
            "%(name)s can sign in again with their password; their earlier sessions and tokens stay ended.",
            name=name,
        ),
    )


@blueprint.post("/users/<name>/password")
def reset_password(name: str) -> Response | Page:
    return _change(
        lambda session: accounts.reset_password(session, name, request.form.get("password", "")),
        "password reset",
        {"user": name},
        gettext("%(name)s has a new password; their sessions are signed out.", name=name),
    )


@blueprint.get("/tokens")
def tokens() -> Page:
    return _tokens_page(200)


@blueprint.post("/tokens")
def create_token() -> Page:
    name = request.form.get("name", "")
    try:
        with writing() as session:
            token = accounts.create_token(session, name)
            accounts.record(session, person().name, "token created", {"user": name})
    except accounts.PeopleError as error:
        flash(str(error), "error")
        return _tokens_page(400)
    except StorageUnavailable as error:
        raise ServiceUnavailable(str(error)) from None
    # Shown in this answer only: only its hash is kept, and a flash would keep it in the cookie.
    return _tokens_page(201, new_token=token, new_token_user=name)


@blueprint.post("/tokens/<int:token_id>/revoke")
def revoke_token(token_id: int) -> Response | Page:
    return _change(
        lambda session: accounts.revoke_token(session, token_id),
        "token revoked",
        {"token": token_id},
        gettext("Token %(id)s revoked: the API refuses it from now on.", id=token_id),
        page=_tokens_page,
        back="admin.tokens",
    )


def _change(
    change: Callable[[Session], object],
    action: str,
    detail: dict[str, object],
    done: str,
    page: Callable[[int], Page] | None = None,
    back: str = "admin.users",
) -> Response | Page:
    """Do one change and record it in one transaction; a refusal shows the page again with why, as 400."""
    try:
        with writing() as session:
            change(session)
            accounts.record(session, person().name, action, detail)
    except accounts.PeopleError as error:
        flash(str(error), "error")
        return (page or _users_page)(400)
    except StorageUnavailable as error:
        raise ServiceUnavailable(str(error)) from None
    flash(done, "done")
    return redirect(url_for(back), 303)


def _users_page(status: int) -> Page:
    with reading() as session:
        html = render_template(
            "admin_users.html",
            office=storage().settings.office_name,
            users=accounts.list_users(session),
            roles=accounts.ROLES,
            departments=active_departments(session),
            trail=accounts.admin_trail(session, TRAIL_SHOWN),
            min_password=accounts.MIN_PASSWORD_LENGTH,
        )
    return html, status


def _tokens_page(status: int, new_token: str | None = None, new_token_user: str = "") -> Page:
    with reading() as session:
        html = render_template(
            "admin_tokens.html",
            office=storage().settings.office_name,
            tokens=accounts.list_tokens(session),
            users=[user for user in accounts.list_users(session) if user.active],
            new_token=new_token,
            new_token_user=new_token_user,
        )
    return html, status
