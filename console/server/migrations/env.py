"""Alembic environment: runs on the connection handed in by console.server.database.migrate."""

from __future__ import annotations

from alembic import context

from console.server.tables import Base

connection = context.config.attributes.get("connection")
if connection is None:  # `alembic` on the command line: use the URL from its configuration
    from console.server.database import open_engine

    engine = open_engine(context.config.get_main_option("sqlalchemy.url") or "")
    connection = engine.connect()

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=True,  # SQLite can only change a table by copying it
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
