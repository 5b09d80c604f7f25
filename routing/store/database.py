"""Connecting to the database: one engine per process, one session per unit of work.

SQLite is the embedded default (WAL, so readers never block the writer); PostgreSQL,
through psycopg 3, is for offices that run several Intake processes.
"""

from __future__ import annotations

import fcntl
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any, BinaryIO, TypeVar
from weakref import WeakKeyDictionary

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
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
        _writer_turns[engine] = _WriterTurn(settings.lock_timeout_seconds, url.database)
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


Done = TypeVar("Done")


class KeptConnection:
    """One connection kept by a thread that writes many short transactions (the inbox's
    writer): each spares a check-out from the pool, and on PostgreSQL the ping that
    every check-out costs, a round trip. A connection found dead is replaced and the
    transaction run again once, as the ping would have replaced it before."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions
        self._connection: Connection | None = None

    def write(self, work: Callable[[Connection], Done]) -> Done:
        """Run `work` in a writing transaction of the kept connection and commit it."""
        with _writer_turn(self.sessions):
            try:
                return self._once(work)
            except DBAPIError as error:
                if not error.connection_invalidated:
                    raise
            self.close()
            return self._once(work)

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def _once(self, work: Callable[[Connection], Done]) -> Done:
        if self._connection is None:
            engine = self.sessions.kw["bind"]
            self._connection = engine.connect().execution_options(sqlite_begin="IMMEDIATE")
        with self._connection.begin():
            return work(self._connection)


class _WriterTurn:
    """SQLite takes one writer at a time. Intake's writers queue here, in turn: those of
    this process on a lock, and those of every process on a lock file beside the
    database (flock). Left to SQLite's own busy timeout, a waiting writer polls with
    sleeps of up to 100 ms: a burst's waits add up to seconds, and a writer that commits
    often (the door) keeps the lock from one that waits (a worker)."""

    def __init__(self, timeout: float, database: str | None) -> None:
        self.lock = threading.RLock()
        self.timeout = timeout
        # A file database only: an in-memory one lives in one process.
        self.path = f"{database}-writer" if database and database != ":memory:" else None
        self._file: BinaryIO | None = None
        # What holds the file's lock during this process's turn: _file, or a _TurnWait's own.
        self._held: BinaryIO | None = None
        # A wait given up on that may still be waiting: the next writer waits on it rather
        # than start another, so that a holder stuck for long leaves one thread waiting.
        self._waiting: _TurnWait | None = None
        self._depth = 0

    @contextmanager
    def __call__(self) -> Iterator[None]:
        deadline = time.monotonic() + self.timeout
        if not self.lock.acquire(timeout=self.timeout):
            raise StorageUnavailable("the database is busy with other writes")
        outermost = self._depth == 0 and self.path is not None
        try:
            if outermost:
                self._held = self._take_the_file(deadline)
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
                if outermost:
                    self._let_go()
        finally:
            self.lock.release()

    def _take_the_file(self, deadline: float) -> BinaryIO:
        """The open file whose lock is this process's turn: at once when no other process
        writes, else once it has finished, waited for until `deadline`."""
        if self._file is None:
            self._file = _open_lock_file(self.path)
        try:
            fcntl.flock(self._file, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return self._file
        except BlockingIOError:
            pass
        if self._waiting is None or not self._waiting.wanted_again():
            self._waiting = _TurnWait(_open_lock_file(self.path))
        if not self._waiting.came(deadline - time.monotonic()):
            raise StorageUnavailable("the database is busy with other writes")
        file, self._waiting = self._waiting.file, None
        return file

    def _let_go(self) -> None:
        held, self._held = self._held, None
        if held is None:
            return
        if held is self._file:
            fcntl.flock(held, fcntl.LOCK_UN)
        else:
            held.close()  # a _TurnWait's own file: closing it ends its lock


def _open_lock_file(path: str | None) -> BinaryIO:
    assert path is not None
    try:
        # Closed by its holder: the process's own at its end, a _TurnWait's with its turn.
        return open(path, "ab")
    except OSError as error:
        raise StorageUnavailable(f"the writers' lock file {path}: {error.strerror}") from error


class _TurnWait:
    """A turn waited for in a blocking flock on a thread of its own: the wait costs no CPU
    and ends the moment the other process lets go (polling for it cost either CPU or the
    time between two tries). The file is opened for this wait alone, so that a turn which
    comes after its waiter gave up is handed back by closing that file, which holds no
    other turn of the process."""

    def __init__(self, file: BinaryIO) -> None:
        self.file = file
        self._guard = threading.Lock()
        self._wanted = True
        self._handed_back = False
        self._taken = threading.Event()
        threading.Thread(target=self._take, name="sqlite-writer-turn", daemon=True).start()

    def came(self, timeout: float) -> bool:
        """Whether the turn came within `timeout`; if not, it is handed back when it comes,
        unless wanted_again() first."""
        if self._taken.wait(max(0.0, timeout)):
            return True
        with self._guard:
            self._wanted = self._taken.is_set()
            return self._wanted

    def wanted_again(self) -> bool:
        """Wait on for another writer of the process; False once the turn came and went back."""
        with self._guard:
            self._wanted = not self._handed_back
            return self._wanted

    def _take(self) -> None:
        fcntl.flock(self.file, fcntl.LOCK_EX)
        with self._guard:
            if self._wanted:
                self._taken.set()
                return
            self._handed_back = True
        self.file.close()


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
