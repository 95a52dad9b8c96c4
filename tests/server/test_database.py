"""Opening the server database (console.server.database)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
import sqlalchemy.exc

from console.server.database import migrate, open_engine


def test_a_write_transaction_that_cannot_begin_raises_sqlalchemys_error(tmp_path: Path) -> None:
    """BEGIN goes to the driver directly (it is a group commit's fixed cost); callers still get
    SQLAlchemy's exceptions, which the writer translates (a full disk, say)."""
    engine = open_engine(f"sqlite:///{tmp_path / 'server.db'}", writer=True)
    migrate(engine)
    holder = sqlite3.connect(tmp_path / "server.db", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with engine.connect() as conn:
            conn.connection.dbapi_connection.execute("PRAGMA busy_timeout=50")  # type: ignore[union-attr]
            with pytest.raises(sqlalchemy.exc.OperationalError, match="database is locked"):
                conn.begin()
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def test_the_writer_takes_the_write_lock_at_begin_and_readers_do_not(tmp_path: Path) -> None:
    path = tmp_path / "server.db"
    writer, reader = open_engine(f"sqlite:///{path}", writer=True), open_engine(f"sqlite:///{path}")
    migrate(writer)
    with writer.begin(), reader.begin() as read:  # a reader is never kept waiting by the writer
        assert read.exec_driver_sql("SELECT count(*) FROM incidents").scalar() == 0
        other = sqlite3.connect(path, timeout=0.05, isolation_level=None)
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            other.execute("BEGIN IMMEDIATE")
        other.close()
