"""Alembic's entry point: migrations run on the connection that routing.store.schema hands in."""

from alembic import context

from routing.store.models import Base

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
