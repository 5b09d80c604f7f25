"""The app's handle on the database: one read session per request."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from flask import Flask, current_app
from flask.typing import ResponseReturnValue
from sqlalchemy import Engine
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.exceptions import ServiceUnavailable

from config.holder import SettingsHolder
from config.settings import Settings
from routing.store.database import transaction

log = logging.getLogger(__name__)

# What a person or a script is told when the database does not answer a request in time.
DATABASE_BUSY = "the database did not answer in time; try again in a moment"
# The database's ways of not answering: a lock held past the lock timeout, the server gone
# or restarting, no connection free in the pool. Each ends the request's transaction.
NOT_ANSWERING = (OperationalError, InterfaceError, PoolTimeout)


class WebStorage:
    """Holds the settings, engine and session factory for the app's views."""

    def __init__(self, settings: SettingsHolder, engine: Engine, sessions: sessionmaker[Session]) -> None:
        self.holder = settings
        self.engine = engine
        self.sessions = sessions

    @property
    def settings(self) -> Settings:
        """The settings in use now: a reload replaces them."""
        return self.holder.current

    def init_app(self, app: Flask) -> None:
        app.extensions["intake"] = self
        for error in NOT_ANSWERING:
            app.register_error_handler(error, _not_answering)


def _not_answering(error: Exception) -> ResponseReturnValue:
    """503 with why, as the app answers other errors (JSON under the API), instead of a
    500 that reads as a fault in Intake: the request's transaction was rolled back, and
    the same request tried again is done once."""
    log.warning("the database did not answer a request: %s", error)
    return current_app.handle_http_exception(ServiceUnavailable(DATABASE_BUSY))


def storage() -> WebStorage:
    found: WebStorage = current_app.extensions["intake"]
    return found


@contextmanager
def reading() -> Iterator[Session]:
    """A read-only unit of work for one request."""
    with transaction(storage().sessions, write=False) as session:
        yield session


@contextmanager
def writing() -> Iterator[Session]:
    """A unit of work that changes something, committed when the request's block ends."""
    with transaction(storage().sessions) as session:
        yield session
