"""The Flask application factory: blueprints wired here to the objects the process shares.

The `intake` command builds the settings holder, the Deliverer and the inbox's writer
once per process and hands them in, so the web's channels (Twilio webhooks, messages
taken by hand) store through the same router and inbox as SMTP and IMAP, and a reload
reaches them too.

Twilio's webhooks are served by an app of their own in front of the pages' app: a
webhook uses none of what a person's page needs (the session, signing in, CSRF, the
language), and in a burst of texts that would cost as much as the webhook itself.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any

from flask import Flask, Response, request
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.exceptions import BadRequest
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import IntegerConverter, Map

from config.holder import SettingsHolder
from routing.delivery import Deliverer
from routing.store.inbox import Accept
from routing.store.models import MAX_ID, utcnow
from web import (
    actions,
    admin,
    admin_rules,
    api,
    auth,
    contacts,
    dashboard,
    display,
    favicon,
    files,
    forwards,
    hand_taken,
    health,
    i18n,
    labels,
    queue,
    replies,
    twilio,
)
from web.storage import WebStorage

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment


class RowIdConverter(IntegerConverter):
    """`<int:...>` in this app's routes: an id a row can have, so that a larger number
    is a 404 like any missing row rather than an error from the database."""

    def __init__(self, url_map: Map, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max", MAX_ID)
        super().__init__(url_map, *args, **kwargs)


class WebhooksApart:
    """Requests under the webhooks' path to their app, every other to the pages' app.

    Not werkzeug's DispatcherMiddleware: it moves the prefix from PATH_INFO to SCRIPT_NAME,
    and the webhooks rebuild the URL Twilio signed from the request's whole path.
    """

    def __init__(self, pages: WSGIApplication, webhooks: WSGIApplication) -> None:
        self.pages = pages
        self.webhooks = webhooks

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        path: str = environ.get("PATH_INFO", "")
        wanted = self.webhooks if path.startswith(twilio.PREFIX + "/") else self.pages
        return wanted(environ, start_response)


def create_app(
    settings: SettingsHolder,
    engine: Engine,
    sessions: sessionmaker[Session],
    deliverer: Deliverer,
    accept: Accept,
) -> Flask:
    """The app; `accept` commits a text to the inbox (an InboxWriter's, which must be
    running for texts to be taken: stopped, it answers them 503). Its
    `extensions["twilio"]` holds the webhooks' TwilioHooks."""
    storage = WebStorage(settings, engine, sessions)
    app = _flask(__name__, storage)
    app.json.sort_keys = False  # type: ignore[attr-defined]
    i18n.init_app(app)
    labels.init_app(app)
    app.register_blueprint(health.blueprint)
    app.register_blueprint(queue.blueprint)
    app.register_blueprint(actions.blueprint)
    app.register_blueprint(replies.blueprint)
    app.register_blueprint(forwards.blueprint)
    app.register_blueprint(dashboard.blueprint)
    app.register_blueprint(admin.blueprint)
    app.register_blueprint(admin_rules.blueprint)
    app.register_blueprint(contacts.blueprint)
    app.register_blueprint(api.blueprint, url_prefix="/api/v1")
    app.register_blueprint(files.blueprint)
    app.register_blueprint(favicon.blueprint)
    hand_taken.init_app(app, deliverer)
    auth.init_app(app, settings.current)
    app.before_request(refuse_unstorable_text)  # after the guard: nobody signed in is sent to sign in
    display.init_app(app)

    @app.template_filter("local_input")
    def local_input(moment: datetime) -> str:
        """The office's local time as a datetime-local field takes it: a machine's format in every language."""
        return moment.astimezone(settings.current.timezone).strftime("%Y-%m-%dT%H:%M")

    @app.context_processor
    def clock() -> dict[str, datetime]:
        return {"now": utcnow()}

    webhooks = _flask(twilio.__name__, storage, static_folder=None)
    hooks = twilio.TwilioHooks(settings, deliverer, accept)
    hooks.init_app(webhooks)
    app.extensions["twilio"] = hooks
    app.wsgi_app = WebhooksApart(app.wsgi_app, webhooks.wsgi_app)  # type: ignore[method-assign]
    hops = settings.current.twilio.proxy_hops
    if hops and not settings.current.twilio.public_url:
        # Behind that many proxies, trust their X-Forwarded-* to rebuild the URL Twilio
        # signed (and a visitor's address for the sign-in throttle).
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_port=hops)  # type: ignore[method-assign]
    return app


def _flask(import_name: str, storage: WebStorage, static_folder: str | None = "static") -> Flask:
    """An app on the office's storage, with its row ids and security headers."""
    app = Flask(import_name, static_folder=static_folder)
    app.url_map.converters["int"] = RowIdConverter  # before any route is added
    storage.init_app(app)
    app.after_request(security_headers)
    return app


def refuse_unstorable_text() -> None:
    """400 for a request with text no database stores: a NUL character in its path, query
    or form, or a JSON body with one or a lone surrogate (JSON's escapes reach both), or
    nested past what the parser reads. No name, id or words a person types hold them;
    PostgreSQL refuses NUL in any text (a lookup would fail as a 500, a write be refused
    there but kept on SQLite), and a surrogate stored fails every page that shows it."""
    if "\x00" in request.path:
        raise BadRequest("the address has a NUL character")
    for fields in (request.args, request.form):
        for name, value in fields.items(multi=True):
            if "\x00" in name:
                raise BadRequest("a field's name has a NUL character")
            if "\x00" in value:
                raise BadRequest(f"{name} has a NUL character")
    if not request.is_json:
        return
    try:
        body = request.get_json(silent=True)
    except RecursionError:
        raise BadRequest("the JSON body is nested too deeply") from None
    if any(not _storable(text) for text in _json_strings(body)):
        raise BadRequest("the JSON body holds a NUL character or a lone surrogate, which no text may")


def _storable(text: str) -> bool:
    """Whether `text` is UTF-8 text without NUL, as every database stores it."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return "\x00" not in text


def _json_strings(body: object) -> Iterator[str]:
    """Every string in a parsed JSON body, keys too, without recursion (JSON nests deep)."""
    waiting = [body]
    while waiting:
        value = waiting.pop()
        if isinstance(value, str):
            yield value
        elif isinstance(value, dict):
            waiting.extend(value.keys())
            waiting.extend(value.values())
        elif isinstance(value, list):
            waiting.extend(value)


SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'self'; img-src 'self'; frame-ancestors 'none'",
    "Referrer-Policy": "same-origin",
}


def security_headers(response: Response) -> Response:
    """SECURITY_HEADERS on every answer, but those its view chose itself; the headers are
    read once (a setdefault each would read them four times, on every webhook too)."""
    chosen = {name.lower() for name, _ in response.headers}
    response.headers.extend(
        (name, value) for name, value in SECURITY_HEADERS.items() if name.lower() not in chosen
    )
    return response
