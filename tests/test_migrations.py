"""The Alembic history builds exactly the schema the code declares."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from console.server.database import MIGRATIONS, migrate, open_engine
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


def test_alerts_stored_before_their_runbook_url_column_get_it_from_their_details_and_links(
    tmp_path: Path,
) -> None:
    path = tmp_path / "server.db"
    engine = open_engine(f"sqlite:///{path}", writer=True)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0005")
    engine.dispose()
    stored = {  # id: (details, links), as 0005 stored them
        "annotated": ({"annotations": {"runbook_url": " https://wiki/disk "}}, []),
        "linked": ({}, [{"href": "https://wiki/db", "text": "Runbook"}]),
        "dashboard": ({}, [{"href": "https://grafana/d/1", "text": "Dashboard"}]),
        "plain": ({"note": "runbook_url is mentioned, not given"}, []),
    }
    with sqlite3.connect(path) as db:  # foreign keys off: only the alerts matter here
        db.executemany(
            "INSERT INTO alerts (id, incident_id, service_id, integration_id, dedup_key, group_key, status,"
            " summary, source, priority, labels, details, links, repeat_count, first_seen, last_seen, seq)"
            " VALUES (?, 'i', 1, 1, ?, '', 'triggered', 's', 'src', 'high', '{}', ?, ?, 0,"
            " '2026-11-28 00:00:00', '2026-11-28 00:00:00', 1)",
            [(key, key, json.dumps(details), json.dumps(links)) for key, (details, links) in stored.items()],
        )
    migrate(open_engine(f"sqlite:///{path}", writer=True))
    with sqlite3.connect(path) as db:
        found = dict(db.execute("SELECT id, runbook_url FROM alerts").fetchall())
    assert found == {
        "annotated": "https://wiki/disk",
        "linked": "https://wiki/db",
        "dashboard": None,
        "plain": None,
    }
