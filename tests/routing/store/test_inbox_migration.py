"""Migration 0025: the inbox's rows keep every value when its raw column moves last
(SQLite), and a row too big to bind is written in place afterwards."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, insert, select

from config.settings import Settings
from routing.store import inbox
from routing.store.database import make_engine, make_session_factory, transaction
from routing.store.inbox import Arrival
from routing.store.schema import MIGRATIONS

BEFORE = "0024_search_prefix"
AFTER = "0025_ingest"
AT = datetime(2026, 11, 2, 15, 0, tzinfo=UTC)


def _migrate(engine: Engine, revision: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    made = make_engine(settings.database)
    yield made
    made.dispose()


def _inbox(engine: Engine) -> sa.Table:
    return sa.Table("inbox", sa.MetaData(), autoload_with=engine)


def _rows(engine: Engine) -> list[dict[str, object]]:
    """The inbox's rows as the database gives them back (reflected: no time zone on SQLite)."""
    with engine.connect() as connection:
        return [dict(row) for row in connection.execute(select(_inbox(engine))).mappings()]


def test_the_inbox_keeps_its_rows_and_puts_raw_last(engine: Engine) -> None:
    _migrate(engine, BEFORE)
    waiting = {
        "channel": "email",
        "sender": "ann@client.example",
        "recipients": ["sales@office.test"],
        "raw": b"Subject: waiting\r\n\r\nstill here\r\n",
        "received_at": AT,
        "attempts": 2,
        "lease_until": None,
    }
    with engine.begin() as connection:
        connection.execute(insert(_inbox(engine)), waiting)
    before = _rows(engine)
    _migrate(engine, AFTER)
    assert _rows(engine) == before
    assert before[0]["raw"] == waiting["raw"]
    table = _inbox(engine)
    if engine.dialect.name == "sqlite":
        assert [column.name for column in table.columns][-1] == "raw"
        assert {index.name for index in table.indexes} == {"ix_inbox_received_at", "ix_inbox_lease_until"}
    big = Arrival(
        "email", "bob@client.example", ("sales@office.test",), b"x" * (inbox.IN_PLACE_BYTES + 1), AT
    )
    with transaction(make_session_factory(engine)) as session:
        inbox.add(session, [big])
    with engine.connect() as connection:
        assert connection.execute(select(table.c.raw).where(table.c.id == 2)).scalar_one() == big.raw
