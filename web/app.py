"""The Flask application factory: one app per settings, blueprints wired here."""

from __future__ import annotations

from datetime import datetime

from flask import Flask
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from config.settings import Settings
from web import api, auth, files, health, queue
from web.storage import WebStorage
from web.twilio import TwilioHooks


def create_app(settings: Settings, engine: Engine, sessions: sessionmaker[Session]) -> Flask:
    app = Flask(__name__)
    app.json.sort_keys = False  # type: ignore[attr-defined]
    WebStorage(settings, engine, sessions).init_app(app)
    app.register_blueprint(health.blueprint)
    app.register_blueprint(queue.blueprint)
    app.register_blueprint(api.blueprint, url_prefix="/api/v1")
    app.register_blueprint(files.blueprint)
    TwilioHooks(settings, sessions).init_app(app)
    auth.init_app(app, settings)

    @app.template_filter("local_time")
    def local_time(moment: datetime) -> str:
        return moment.astimezone(settings.timezone).strftime("%a %d %b %Y, %H:%M")

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
