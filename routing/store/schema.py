"""Creating and upgrading the database schema with Alembic, and mirroring departments.

`intake db upgrade` and the start of `intake serve` call in here; the migrations
themselves live in routing/store/migrations/versions.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from config.settings import Settings
from routing.store.database import transaction
from routing.store.models import Department

MIGRATIONS = Path(__file__).with_name("migrations")


class SchemaOutOfDate(Exception):
    """The database holds an older schema; `intake db upgrade` must run first."""


def _alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def head_revision() -> str | None:
    return ScriptDirectory.from_config(_alembic_config()).get_current_head()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine: Engine, languages: tuple[str, ...] = Settings.languages) -> None:
    """Bring the schema to the newest revision; `languages`, the office's, are those a
    migration reads stored text in (the search index's)."""
    config = _alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        config.attributes["languages"] = languages
        command.upgrade(config, "head")


def prepare(engine: Engine) -> None:
    """Make a new, empty database ready; refuse an older one that needs an upgrade.

    Upgrading a database that holds data is left to `intake db upgrade`, run on
    purpose, so that several processes never race to migrate the same one.
    """
    current = current_revision(engine)
    if current is None:
        upgrade(engine)
    elif current != head_revision():
        raise SchemaOutOfDate(
            f"the database schema is at {current}, Intake needs {head_revision()}: run `intake db upgrade`"
        )


def sync_departments(sessions: sessionmaker[Session], settings: Settings) -> None:
    """Mirror the config's departments into the table; retired ones become inactive."""
    configured = {d.id: d for d in settings.departments}
    with transaction(sessions) as session:
        stored = {d.id: d for d in session.scalars(select(Department))}
        for position, (department_id, department) in enumerate(configured.items()):
            row = stored.get(department_id) or Department(id=department_id)
            row.name, row.active, row.position = department.name, True, position
            session.add(row)
        for department_id, row in stored.items():
            if department_id not in configured:
                row.active = False
