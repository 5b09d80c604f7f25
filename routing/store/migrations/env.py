"""Alembic's entry point: migrations run on the connection that routing.store.schema hands in."""

from alembic import context

from routing.store.models import Base
from routing.store.search_index import outside_models

connection = context.config.attributes["connection"]
context.configure(
    connection=connection, target_metadata=Base.metadata, render_as_batch=True, include_name=outside_models
)
with context.begin_transaction():
    context.run_migrations()
