"""PostgreSQL connections give up on a silent or lost server instead of waiting forever."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest
from sqlalchemy import text

from config.settings import DatabaseSettings
from intake.cli.runtime import Runtime
from routing.store.database import STATEMENT_TIMEOUT_SECONDS, database_answers, make_engine


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A port that accepts connections (the kernel does) and never says a word."""
    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen(8)
        yield listening.getsockname()[1]


def test_a_server_that_never_answers_is_not_waited_for_forever(silent_server: int) -> None:
    settings = DatabaseSettings(
        url=f"postgresql+psycopg://intake@127.0.0.1:{silent_server}/intake", lock_timeout_seconds=1
    )
    engine = make_engine(settings)
    answers: list[bool] = []
    # Without a connect timeout libpq waits for the server's reply forever; a daemon
    # thread lets the test fail instead of hanging with it.
    waiting = threading.Thread(target=lambda: answers.append(database_answers(engine)), daemon=True)
    waiting.start()
    waiting.join(60)
    assert answers == [False]
    engine.dispose()


def test_postgresql_sessions_carry_statement_timeout_and_keepalives(runtime: Runtime) -> None:
    if runtime.engine.dialect.name != "postgresql":
        pytest.skip("SQLite is a file: no network to lose")
    with runtime.engine.connect() as connection:
        timeout = connection.execute(text("SELECT current_setting('statement_timeout')")).scalar_one()
        parameters = connection.connection.dbapi_connection.info.get_parameters()  # type: ignore[union-attr]
    assert timeout == f"{STATEMENT_TIMEOUT_SECONDS // 60}min"
    assert (parameters["keepalives"], parameters["connect_timeout"]) == ("1", "2")
    assert int(parameters["keepalives_idle"]) > 0 and int(parameters["tcp_user_timeout"]) > 0
