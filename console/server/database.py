"""Opening the server database: SQLite tuned for durable acknowledgements, or PostgreSQL; migrations."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import orjson
from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine.url import make_url
from sqlalchemy.exc import DBAPIError, OperationalError

from console.domain.errors import StorageFull

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).with_name("migrations")


def _json_dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def open_engine(url: str, *, writer: bool = False) -> Engine:
    """An engine for `url`; on SQLite, `writer=True` takes the write lock at BEGIN.

    SQLite runs in WAL mode with synchronous=FULL: a commit has reached the disk before it returns, so
    a 2xx sent after it can be trusted. Taking the lock at BEGIN (IMMEDIATE) keeps two writers (the
    server and an admin command) from deadlocking on a lock upgrade; they queue on busy_timeout instead.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(
            url, json_serializer=_json_dumps, json_deserializer=orjson.loads, pool_pre_ping=True
        )
    if parsed.database:
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        url,
        json_serializer=_json_dumps,
        json_deserializer=orjson.loads,
        connect_args={"check_same_thread": False, "timeout": 30},
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves, below
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA wal_autocheckpoint=16000")  # 64 MB: checkpoints are the Checkpointer's job
        cursor.close()

    begin = "BEGIN IMMEDIATE" if writer else "BEGIN"

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # On the driver's connection: through SQLAlchemy's execution machinery a BEGIN cost a group
        # commit 100 µs, several times SQLite's own work. Its errors become SQLAlchemy's, as there.
        dbapi_connection = connection.connection.dbapi_connection
        try:
            dbapi_connection.execute(begin)
        except dbapi_connection.Error as exc:  # sqlite3.Error, on the connection for this purpose
            raise DBAPIError.instance(begin, (), exc, dbapi_connection.Error) from exc

    return engine


def is_disk_full(exc: BaseException) -> bool:
    text = str(getattr(exc, "orig", exc)).lower()
    return "disk is full" in text or "no space left" in text or "disk full" in text


def translate_storage_error(exc: OperationalError) -> Exception:
    """A full disk is an environment failure with a message; anything else stays what it is."""
    if is_disk_full(exc):
        return StorageFull("The server's disk is full: nothing was stored. Free some space and retry.")
    return exc


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest version (Alembic), at every start."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
