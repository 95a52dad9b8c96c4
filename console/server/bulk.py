"""Bulk writes for the intake hot path, below SQLAlchemy's per-row parameter processing.

SQLAlchemy runs every value of every row through its type processors; with twenty columns an alert
that cost more than SQLite's own work. Here each statement is compiled once per dialect by
SQLAlchemy (so PostgreSQL gets its own SQL) and rows go to the driver's executemany, converted by
`Codec`, which knows the two kinds of value that need converting: times and JSON.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import orjson
from sqlalchemy import Connection, Table, bindparam, insert, update
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.compiler import Compiled


class Codec:
    """Values as the driver takes them: SQLite stores UTC text in SQLAlchemy's own format."""

    def __init__(self, dialect: Dialect) -> None:
        self._sqlite = dialect.name == "sqlite"
        self._times: dict[datetime, str] = {}  # most rows of a batch share its arrival time

    def time(self, value: datetime | None) -> datetime | str | None:
        if value is None or not self._sqlite:
            return value
        text = self._times.get(value)
        if text is None:
            text = self._times[value] = f"{value.astimezone(UTC):%Y-%m-%d %H:%M:%S.%f}"
        return text

    @staticmethod
    def json(value: Any) -> str:
        return orjson.dumps(value).decode()


@lru_cache(maxsize=64)
def _compiled_insert(dialect: Dialect, table: Table, keys: tuple[str, ...]) -> Compiled:
    return insert(table).compile(dialect=dialect, column_keys=list(keys))


@lru_cache(maxsize=64)
def _compiled_update(dialect: Dialect, table: Table, keys: tuple[str, ...]) -> Compiled:
    statement = (
        update(table)
        .where(table.c.id == bindparam("_id"))
        .values({key: bindparam(key) for key in keys if key != "_id"})
    )
    return statement.compile(dialect=dialect)


def _execute(conn: Connection, compiled: Compiled, rows: Sequence[dict[str, Any]]) -> None:
    order = getattr(compiled, "positiontup", None)
    if order:
        conn.exec_driver_sql(compiled.string, [tuple(row[key] for key in order) for row in rows])
    else:
        conn.exec_driver_sql(compiled.string, list(rows))


def insert_many(conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """INSERT rows that all have the same keys, already converted by a Codec."""
    if rows:
        _execute(conn, _compiled_insert(conn.dialect, table, tuple(rows[0])), rows)


def update_many(conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """UPDATE rows by primary key, given as `_id`, the other keys being the columns to set."""
    if rows:
        _execute(conn, _compiled_update(conn.dialect, table, tuple(rows[0])), rows)
