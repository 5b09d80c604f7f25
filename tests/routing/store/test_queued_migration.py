"""Migration 0028: each stored item comes into its queue when it arrived, the queues'
indexes follow the new order, and a downgrade gives the old schema back."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import select

from intake.cli.runtime import Runtime
from routing.store.database import transaction
from routing.store.models import Base, Item
from routing.store.schema import MIGRATIONS, upgrade
from routing.store.search_index import outside_models
from tests.support.queue_pages import START, add_item

BEFORE = "0027_erasure_leftovers"


def _downgrade(runtime: Runtime, revision: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with runtime.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, revision)


def test_stored_items_come_into_their_queue_when_they_arrived(runtime: Runtime) -> None:
    items = [add_item(runtime, n) for n in (1, 2, 3)]
    _downgrade(runtime, BEFORE)
    columns = {column["name"] for column in sa.inspect(runtime.engine).get_columns("items")}
    assert "queued_at" not in columns
    indexes = {
        index["name"]: index["column_names"] for index in sa.inspect(runtime.engine).get_indexes("items")
    }
    assert indexes["ix_items_queue"] == ["department_id", "status", "received_at", "id"]
    assert "ix_items_queued" not in indexes

    upgrade(runtime.engine)
    with transaction(runtime.sessions, write=False) as session:
        rows = session.execute(select(Item.id, Item.received_at, Item.queued_at).order_by(Item.id)).all()
    assert rows == [
        (item_id, START + timedelta(minutes=n), START + timedelta(minutes=n))
        for n, item_id in enumerate(items, 1)
    ]
    with runtime.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"include_name": outside_models})
        assert compare_metadata(context, Base.metadata) == []
