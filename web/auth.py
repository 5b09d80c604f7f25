"""Signing in: the login page, sessions, CSRF, and the guard in front of every view.

Pages need a signed-in session; the JSON API needs a token (`Authorization: Bearer`)
and never reads the session cookie, so that no other site can call it in a user's
name. /healthz (its detail for signed-in people only) and /login are open; Twilio's
webhooks (signature-checked) are served apart, by web.twilio's own app. Repeated
failed sign-ins for a name or from an address are refused for a while (web.throttle).
"""

from __future__ import annotations

from flask import Blueprint, Flask, Response, current_app, g, jsonify, redirect, render_template, request
from flask import session as cookie_session
from flask.sessions import SecureCookieSessionInterface
from flask_babel import lazy_gettext
from flask_login import LoginManager, UserMixin, current_user, login_user, logout_user
from flask_wtf.csrf import CSRFError, CSRFProtect
from itsdangerous import URLSafeTimedSerializer
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import ServiceUnavailable
from werkzeug.wrappers import Response as BaseResponse

from config.settings import Settings
from routing.people import accounts
from routing.store.database import StorageUnavailable
from web import api
from web.access import local_path
from web.storage import reading, storage, writing
from web.throttle import LoginThrottle, throttle

blueprint = Blueprint("auth", __name__)
_OPEN_ENDPOINTS = {"health.healthz", "auth.login", "static", "favicon.icon"}
WRONG_PASSWORD = lazy_gettext("Wrong name or password, or the user is disabled.")
STALE_FORM = lazy_gettext("The sign-in form was out of date; sign in again.")
LoginAnswer = BaseResponse | tuple[str, int] | tuple[str, int, dict[str, str]]


class SignedIn(UserMixin):  # type: ignore[misc]
    """Flask-Login's view of a person; the id changes with their password and at sign-out."""

    def __init__(self, person: accounts.Person) -> None:
        self.person = person

    def get_id(self) -> str:
        return f"{self.person.id}:{self.person.stamp}"


class _StoredKeySessions(SecureCookieSessionInterface):
    """Signs sessions with the office's key from the database, read on first need,
    so that every web process agrees and an app starts while the database is down."""

    def get_signing_serializer(self, app: Flask) -> URLSafeTimedSerializer | None:
        if not app.secret_key:
            try:
                with reading() as session:
                    app.secret_key = accounts.session_secret(session)
            except SQLAlchemyError:
                return None
        return super().get_signing_serializer(app)


def init_app(app: Flask, settings: Settings) -> None:
    app.config.update(
        SESSION_COOKIE_SECURE=settings.web.secure_cookies,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        WTF_CSRF_TIME_LIMIT=None,  # valid for the session, so a login page left open still works
    )
    app.session_interface = _StoredKeySessions()
    LoginThrottle().init_app(app)
    manager = LoginManager(app)
    manager.login_view = "auth.login"
    manager.login_message = None
    manager.user_loader(_load_user)
    app.before_request(_guard)
    csrf = CSRFProtect(app)
    csrf.exempt(api.blueprint)
    app.register_blueprint(blueprint)


def _load_user(user_id: str) -> SignedIn | None:
    number, _, stamp = user_id.partition(":")
    if not number.isdigit():
        return None
    with reading() as session:
        person = accounts.active_person(session, int(number))
    return SignedIn(person) if person is not None and person.stamp == stamp else None


def _guard() -> BaseResponse | None:
    if request.endpoint in _OPEN_ENDPOINTS:
        return None
    if request.path.startswith("/api/"):  # also for API paths that match no view
        person = _token_person()
        if person is None:
            return _unauthorized()
        g.person = person
        return None
    if not current_user.is_authenticated:
        unauthorized: BaseResponse = current_app.login_manager.unauthorized()  # type: ignore[attr-defined]
        return unauthorized
    g.person = current_user.person
    return None


def signed_in_person() -> accounts.Person | None:
    """Who sent this request, by session or API token, also on the open endpoints."""
    if current_user.is_authenticated:
        person: accounts.Person = current_user.person
        return person
    return _token_person()


def _token_person() -> accounts.Person | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    with reading() as session:
        return accounts.person_for_token(session, token.strip())


def _unauthorized() -> Response:
    response = jsonify(error={"status": 401, "message": "send an API token: Authorization: Bearer TOKEN"})
    response.status_code = 401
    response.headers["WWW-Authenticate"] = 'Bearer realm="intake"'
    return response


@blueprint.route("/login", methods=["GET", "POST"])
def login() -> LoginAnswer:
    if request.method == "GET":
        return _login_page(None, ""), 200
    try:
        return _sign_in(_typed_name(), request.form.get("password", ""))
    except StorageUnavailable as error:  # every try is counted: no count, no password check
        raise ServiceUnavailable(str(error)) from None


@blueprint.errorhandler(CSRFError)
def _stale_login_form(error: CSRFError) -> CSRFError | tuple[str, int]:
    """A login form older than the session (signed in or out in another tab since) is
    refused, as any form without a matching token, but shown again with a token that matches."""
    if request.endpoint != "auth.login":
        return error
    return _login_page(str(STALE_FORM), _typed_name()), 400


def _sign_in(name: str, password: str) -> LoginAnswer:
    # Behind a proxy this is the proxy's address, unless the app is told to trust its headers.
    address = request.remote_addr or ""
    with writing() as session:
        refusal = throttle().admit(session, name, address)
    if refusal is not None:
        return _login_page(refusal.message, name), 429, {"Retry-After": str(refusal.seconds)}
    # The slow password hash runs outside the write, so that the lock is held briefly.
    with reading() as session:
        person = accounts.authenticate(session, name, password)
    if person is None:
        return _login_page(str(WRONG_PASSWORD), name), 401  # counted already, by admit()
    with writing() as session:
        throttle().succeeded(session, name)
    cookie_session.clear()  # a fresh session at sign-in, so none planted before it carries over
    login_user(SignedIn(person))
    return redirect(_next())


def _typed_name() -> str:
    # Names are lower-case: "Rita" from a phone's keyboard is rita, also to the throttle.
    return request.form.get("name", "").strip().lower()


def _login_page(error: str | None, name: str) -> str:
    """The form, with the name tried last still typed in (never the password)."""
    return render_template(
        "login.html", office=storage().settings.office_name, error=error, name=name, next=_next()
    )


@blueprint.post("/logout")
def logout() -> BaseResponse:
    # The cookie session lives in the browser: a copy of it would outlive clearing it
    # here, so the person's session stamp changes and every earlier cookie is refused.
    if current_user.is_authenticated:
        with writing() as session:
            accounts.end_sessions(session, current_user.person.id)
    logout_user()
    cookie_session.clear()
    return redirect("/login")


def _next() -> str:
    """Where to go after signing in: a path on this site only."""
    return local_path(request.values.get("next", ""), "/")
