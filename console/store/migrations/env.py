"""Alembic environment of the console replica: runs on the connection handed in by
console.store.database.migrate."""

from __future__ import annotations

from alembic import context

from console.store.tables import metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=True,  # SQLite can only change a table by copying it
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
