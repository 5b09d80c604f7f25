"""Connecting to the database: one engine per process, one session per unit of work.

SQLite is the embedded default (WAL, so readers never block the writer); PostgreSQL,
through psycopg 3, is for offices that run several Intake processes.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from config.settings import DatabaseSettings


class StorageUnavailable(Exception):
    """The database could not take or give the data; the sender should retry later."""


class UnstorableMessage(Exception):
    """The database refuses this message's data (not an outage): a retry fails the same way."""


def make_engine(settings: DatabaseSettings) -> Engine:
    """An engine for the configured URL, tuned for Intake's short write transactions."""
    url = make_url(settings.url)
    if url.get_backend_name() == "sqlite":
        engine = create_engine(url, connect_args={"timeout": settings.lock_timeout_seconds})
        event.listen(engine, "connect", _sqlite_on_connect)
        event.listen(engine, "begin", _sqlite_on_begin)
        _writer_turns[engine] = _WriterTurn(settings.lock_timeout_seconds)
        return engine
    return create_engine(url, pool_pre_ping=True, connect_args=postgresql_connect_args(settings))


# No statement of Intake's takes near this long; one that does is stuck, not slow.
STATEMENT_TIMEOUT_SECONDS = 60
# A connection silent this long is probed, and given up after a few unanswered probes.
KEEPALIVE_IDLE_SECONDS = 10
KEEPALIVE_INTERVAL_SECONDS = 5
KEEPALIVE_COUNT = 3


def postgresql_connect_args(settings: DatabaseSettings) -> dict[str, Any]:
    """libpq settings that turn a lost or silent server into an error, never a hang.

    Without them a network partition leaves a thread waiting forever on a connect or a
    reply, and the sender waiting with it, instead of being told to retry (451).
    """
    lock_timeout_ms = int(settings.lock_timeout_seconds * 1000)
    statement_timeout_ms = STATEMENT_TIMEOUT_SECONDS * 1000
    keepalive_seconds = KEEPALIVE_IDLE_SECONDS + KEEPALIVE_INTERVAL_SECONDS * KEEPALIVE_COUNT
    return {
        "options": f"-c lock_timeout={lock_timeout_ms} -c statement_timeout={statement_timeout_ms}",
        # libpq's smallest connect timeout is 2 seconds.
        "connect_timeout": max(2, round(settings.lock_timeout_seconds)),
        "keepalives": 1,
        "keepalives_idle": KEEPALIVE_IDLE_SECONDS,
        "keepalives_interval": KEEPALIVE_INTERVAL_SECONDS,
        "keepalives_count": KEEPALIVE_COUNT,
        # Data sent and never acknowledged (the server vanished mid-reply) fails too.
        "tcp_user_timeout": keepalive_seconds * 1000,
    }


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy issue BEGIN itself (see _sqlite_on_begin) instead of pysqlite's
    # deferred implicit transactions, which lose the lock ordering we need.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    # A sender is told "stored" only after the commit: with NORMAL, WAL may lose the
    # last commits on a power cut or an OS crash; FULL syncs the WAL at every commit.
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    # Deleted rows are overwritten with zeros, not just unlinked: an erased person's
    # address or words must not stay readable in the file's free space.
    cursor.execute("PRAGMA secure_delete=ON")
    cursor.close()


def _sqlite_on_begin(connection: Any) -> None:
    # A writing unit of work takes the write lock at its start (IMMEDIATE), so two
    # writers queue on the busy timeout instead of one failing late when its read
    # lock cannot be upgraded. Readers begin deferred and never wait (WAL).
    mode = connection.get_execution_options().get("sqlite_begin", "DEFERRED")
    connection.exec_driver_sql(f"BEGIN {mode}")


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(sessions: sessionmaker[Session], *, write: bool = True) -> Iterator[Session]:
    """One unit of work: committed when the block ends, rolled back if it raises."""
    with _writer_turn(sessions) if write else nullcontext(), sessions() as session, session.begin():
        if write:
            session.connection(execution_options={"sqlite_begin": "IMMEDIATE"})
        yield session


class _WriterTurn:
    """SQLite takes one writer at a time. Writers of one process queue here, in turn:
    SQLite's own busy timeout makes them poll with sleeps of up to 100 ms, which adds
    up to seconds when many messages arrive at once."""

    def __init__(self, timeout: float) -> None:
        self.lock = threading.RLock()
        self.timeout = timeout

    @contextmanager
    def __call__(self) -> Iterator[None]:
        if not self.lock.acquire(timeout=self.timeout):
            raise StorageUnavailable("the database is busy with other writes")
        try:
            yield
        finally:
            self.lock.release()


_writer_turns: WeakKeyDictionary[Engine, _WriterTurn] = WeakKeyDictionary()


def _writer_turn(sessions: sessionmaker[Session]) -> AbstractContextManager[None]:
    bind = sessions.kw.get("bind")
    turn = _writer_turns.get(bind) if isinstance(bind, Engine) else None
    return turn() if turn else nullcontext()


def database_answers(engine: Engine) -> bool:
    """True when the database accepts a trivial query (for health checks)."""
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception:
        return False
    return True
