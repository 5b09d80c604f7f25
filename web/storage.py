"""The app's handle on the database: one read session per request."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from flask import Flask, current_app
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from config.holder import SettingsHolder
from config.settings import Settings
from routing.store.database import transaction


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
