"""The Alembic migrations build exactly the schema the models describe."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text

from config.loading import load_settings
from config.settings import DatabaseSettings, Settings
from routing.store.database import make_engine
from routing.store.models import Base
from routing.store.schema import SchemaOutOfDate, current_revision, head_revision, prepare, upgrade
from routing.store.search_index import outside_models
from tests.conftest import OFFICE


@pytest.fixture
def settings(empty_database_url: str) -> Settings:
    """The test office on an empty database: these tests run the migrations themselves."""
    return load_settings(OFFICE, {"INTAKE_DATABASE_URL": empty_database_url})


def test_migrations_match_the_models(settings: Settings) -> None:
    engine = make_engine(settings.database)
    upgrade(engine)
    with engine.connect() as connection:
        differences = compare_metadata(
            MigrationContext.configure(connection, opts={"include_name": outside_models}), Base.metadata
        )
    engine.dispose()
    assert differences == []


def test_prepare_creates_an_empty_database_and_is_idempotent(settings: Settings) -> None:
    engine = make_engine(settings.database)
    prepare(engine)
    prepare(engine)
    assert current_revision(engine) == head_revision()
    engine.dispose()


def test_prepare_refuses_a_database_behind_the_code(settings: Settings) -> None:
    engine = make_engine(settings.database)
    upgrade(engine)
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = 'older'"))
    with pytest.raises(SchemaOutOfDate, match="run `intake db upgrade`"):
        prepare(engine)
    engine.dispose()


def test_sqlite_runs_in_wal_mode(tmp_path: Path) -> None:
    engine = make_engine(DatabaseSettings(url=f"sqlite:///{tmp_path}/wal.db"))
    with engine.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1
    engine.dispose()
