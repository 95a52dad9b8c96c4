"""Opening the replica: SQLite in WAL mode with synchronous=FULL (an op the person made must survive a
crash the moment the window shows it), migrated at every start so an upgraded console keeps its
replica and its unsent outbox."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import OperationalError

from console.domain.errors import StorageFull

MIGRATIONS = Path(__file__).with_name("migrations")


def open_replica(path: Path) -> Engine:
    path.parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        f"sqlite:///{path}",
        json_serializer=lambda value: orjson.dumps(value).decode(),
        json_deserializer=orjson.loads,
        connect_args={"check_same_thread": False, "timeout": 30},
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # BEGIN IMMEDIATE below: no lock upgrades between writers
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


HEAD = "0004"  # the newest migration; a test checks it is Alembic's head


def migrate(engine: Engine) -> None:
    """Bring the replica to the newest schema. A replica already there is not handed to Alembic:
    importing it costs a command-line action half a second."""
    with engine.connect() as connection:
        try:
            current = connection.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
        except OperationalError:  # a new file
            current = None
    if current == HEAD:
        return
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def storage_error(exc: OperationalError) -> Exception:
    """A full disk becomes a message; the transaction rolled back, so the replica is intact."""
    text = str(exc.orig).lower()
    if "disk is full" in text or "no space left" in text:
        return StorageFull("The disk is full: the change was not saved. Free some space and try again.")
    return exc
