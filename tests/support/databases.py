"""Test databases: a new one for each test, copied from one migrated once per session.

Running the migrations takes most of a second per database, and most tests need the newest
schema and nothing more; a copy takes milliseconds (SQLite: the file; PostgreSQL:
CREATE DATABASE ... TEMPLATE). The migrated original is made by the migrations, as
`intake db upgrade` makes it, so each test still starts from what a new office has. The
tests of the migrations themselves take an empty database instead.
"""

from __future__ import annotations

import shutil
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
from sqlalchemy import URL, make_url

from config.settings import DatabaseSettings
from routing.store.database import make_engine
from routing.store.schema import prepare


def migrate(url: str) -> None:
    """Bring the database at `url` to the newest schema, as a new office's first start does."""
    engine = make_engine(DatabaseSettings(url=url))
    try:
        prepare(engine)
    finally:
        engine.dispose()


class SqliteTemplate:
    """One migrated SQLite file, made on first use and copied for each test."""

    def __init__(self, folder: Path) -> None:
        self._path = folder / "migrated.db"

    def copy_to(self, path: Path) -> str:
        """A migrated database at `path`; its URL."""
        if not self._path.exists():
            # Disposing the engine closes the last connection, which folds the WAL into
            # the file: the file alone then holds the whole database.
            migrate(f"sqlite:///{self._path}")
        shutil.copyfile(self._path, path)
        return f"sqlite:///{path}"


class PostgreSQLServer:
    """Makes a database of its own for each test on one server, and drops it afterwards.

    Drops run in the background: a DROP DATABASE waits for a checkpoint, seconds that no
    test needs to wait for. close() waits for them, then drops the migrated original.
    """

    def __init__(self, admin: URL) -> None:
        self.admin = admin
        self._conninfo = admin.set(drivername="postgresql").render_as_string(hide_password=False)
        self._dropper = ThreadPoolExecutor(max_workers=2)
        self._template: str | None = None

    def empty(self) -> str:
        """The URL of a new, empty database."""
        return self._url(self._new_database(""))

    def migrated(self) -> str:
        """The URL of a new database at the newest schema."""
        if self._template is None:
            name = self._new_database("")
            migrate(self._url(name))
            self._template = name
        return self._url(self._new_database(f' TEMPLATE "{self._template}"'))

    def drop_later(self, url: str) -> None:
        name = make_url(url).database
        assert name is not None
        self._dropper.submit(self._drop, name)

    def close(self) -> None:
        self._dropper.shutdown(wait=True)
        if self._template is not None:
            self._drop(self._template)

    def _new_database(self, clause: str) -> str:
        name = f"intake_test_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self._conninfo, autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"{clause}')
        return name

    def _drop(self, name: str) -> None:
        with psycopg.connect(self._conninfo, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def _url(self, name: str) -> str:
        return self.admin.set(database=name).render_as_string(hide_password=False)
