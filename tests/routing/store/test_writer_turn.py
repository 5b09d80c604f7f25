"""SQLite's writers take turns across processes through a lock file beside the database:
a writer waits while another process writes, and gives up with StorageUnavailable
(the sender retries) when that write outlasts the lock timeout; the turn it gave up on
is handed back when it comes."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from config.settings import DatabaseSettings
from routing.store.database import StorageUnavailable, make_engine, make_session_factory, transaction
from tests.support.databases import SqliteTemplate


def writer(url: str, timeout: float) -> sessionmaker[Session]:
    """A process's own engine and sessions, as another Intake process has them."""
    return make_session_factory(make_engine(DatabaseSettings(url=url, lock_timeout_seconds=timeout)))


@pytest.fixture
def url(tmp_path: Path, sqlite_template: SqliteTemplate) -> str:
    return sqlite_template.copy_to(tmp_path / "intake.db")


def test_a_writer_waits_while_another_process_writes_then_writes(url: str) -> None:
    ours, theirs = writer(url, timeout=10), writer(url, timeout=10)
    writing, done = threading.Event(), threading.Event()
    order: list[str] = []

    def their_write() -> None:
        with transaction(theirs) as session:
            session.execute(text("CREATE TABLE turns (who TEXT)"))
            writing.set()
            done.wait(10)
            order.append("theirs committed")

    other = threading.Thread(target=their_write)
    other.start()
    writing.wait(10)
    threading.Timer(0.3, done.set).start()
    with transaction(ours) as session:
        order.append("ours began")
        session.execute(text("INSERT INTO turns VALUES ('ours')"))
    other.join()
    assert order == ["theirs committed", "ours began"]
    assert Path(f"{url.removeprefix('sqlite:///')}-writer").exists()


def test_a_writer_gives_up_when_another_process_writes_too_long(url: str) -> None:
    ours, theirs = writer(url, timeout=0.2), writer(url, timeout=10)
    with transaction(theirs) as session:
        session.execute(text("CREATE TABLE turns (who TEXT)"))
        with pytest.raises(StorageUnavailable, match="busy with other writes"), transaction(ours):
            pass
    with transaction(ours) as session:  # their write is over: ours goes in
        session.execute(text("INSERT INTO turns VALUES ('ours')"))
    # The turn ours gave up on came later, and was handed back: theirs goes in again.
    with transaction(writer(url, timeout=1)) as session:
        session.execute(text("INSERT INTO turns VALUES ('theirs again')"))


def test_a_lock_file_that_cannot_be_opened_is_a_storage_error_naming_it(url: str) -> None:
    Path(f"{url.removeprefix('sqlite:///')}-writer").mkdir()  # in the lock file's way
    sessions = writer(url, timeout=1)
    with (
        pytest.raises(StorageUnavailable, match=r"writers' lock file .*intake\.db-writer"),
        transaction(sessions),
    ):
        pass


def waiting_threads() -> int:
    return sum(thread.name == "sqlite-writer-turn" for thread in threading.enumerate())


def test_writers_that_give_up_one_after_another_leave_one_wait_behind(url: str) -> None:
    ours, theirs = writer(url, timeout=0.1), writer(url, timeout=10)
    before = waiting_threads()
    with transaction(theirs) as session:
        session.execute(text("CREATE TABLE turns (who TEXT)"))
        for _ in range(3):
            with pytest.raises(StorageUnavailable, match="busy with other writes"), transaction(ours):
                pass
        assert waiting_threads() - before <= 1
    with transaction(ours) as session:  # the wait left behind brings ours its turn
        session.execute(text("INSERT INTO turns VALUES ('ours')"))
