"""The Flask application factory: blueprints wired here to the objects the process shares.

The `intake` command builds the settings holder, the Deliverer and the inbox's writer
once per process and hands them in, so the web's channels (Twilio webhooks, messages
taken by hand) store through the same router and inbox as SMTP and IMAP, and a reload
reaches them too.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Flask
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.routing import IntegerConverter, Map

from config.holder import SettingsHolder
from routing.delivery import Deliverer
from routing.queues.filters import MAX_ID
from routing.store.inbox import Accept
from routing.store.models import utcnow
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
)
from web.storage import WebStorage
from web.twilio import TwilioHooks


class RowIdConverter(IntegerConverter):
    """`<int:...>` in this app's routes: an id a row can have, so that a larger number
    is a 404 like any missing row rather than an error from the database."""

    def __init__(self, url_map: Map, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max", MAX_ID)
        super().__init__(url_map, *args, **kwargs)


def create_app(
    settings: SettingsHolder,
    engine: Engine,
    sessions: sessionmaker[Session],
    deliverer: Deliverer,
    accept: Accept,
) -> Flask:
    """The app; `accept` commits a text to the inbox (an InboxWriter's, which must be
    running for texts to be taken: stopped, it answers them 503)."""
    app = Flask(__name__)
    app.url_map.converters["int"] = RowIdConverter  # before any route is added
    app.json.sort_keys = False  # type: ignore[attr-defined]
    WebStorage(settings, engine, sessions).init_app(app)
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
    TwilioHooks(settings, deliverer, accept).init_app(app)
    hand_taken.init_app(app, deliverer)
    auth.init_app(app, settings.current)
    display.init_app(app)

    @app.template_filter("local_input")
    def local_input(moment: datetime) -> str:
        """The office's local time as a datetime-local field takes it: a machine's format in every language."""
        return moment.astimezone(settings.current.timezone).strftime("%Y-%m-%dT%H:%M")

    @app.context_processor
    def clock() -> dict[str, datetime]:
        return {"now": utcnow()}

    @app.after_request
    def security_headers(response):  # type: ignore[no-untyped-def]
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault(
            "Content-Security-Policy", "default-src 'self'; img-src 'self'; frame-ancestors 'none'"
        )
        response.headers.setdefault("Referrer-Policy", "same-origin")
        return response

    return app
