"""The Alembic history builds exactly the schema the code declares."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from console.server.database import migrate, open_engine
from console.server.tables import Base


def test_server_migrations_match_the_declared_tables(tmp_path: Path) -> None:
    engine = open_engine(f"sqlite:///{tmp_path / 'server.db'}", writer=True)
    migrate(engine)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []
    assert "alerts" in inspect(engine).get_table_names()


def test_migrating_twice_changes_nothing(tmp_path: Path) -> None:
    engine = open_engine(f"sqlite:///{tmp_path / 'server.db'}", writer=True)
    migrate(engine)
    with engine.connect() as conn:
        before = conn.exec_driver_sql("SELECT sql FROM sqlite_master ORDER BY name").all()
    migrate(engine)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT sql FROM sqlite_master ORDER BY name").all() == before
