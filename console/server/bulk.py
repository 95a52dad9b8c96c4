"""Bulk reads and writes for the intake hot path, below SQLAlchemy's per-row processing.

SQLAlchemy runs every value of every row through its type processors; with twenty columns an alert
that cost more than SQLite's own work. Here each statement is compiled once per dialect by
SQLAlchemy (so PostgreSQL gets its own SQL and parameter style) and rows go to the driver's
executemany as tuples in a fixed column order, converted by `Codec`, which knows the two kinds of
value that need converting: times and JSON. Reads select the raw columns (`raw`) and convert them
with the same Codec.
"""

from __future__ import annotations

import json as stdlib_json
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from functools import lru_cache
from operator import itemgetter
from typing import Any

import orjson
from sqlalchemy import ColumnElement, Connection, Select, Table, bindparam, insert, type_coerce, update
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql.compiler import Compiled
from sqlalchemy.types import NullType

Row = tuple[Any, ...]


def _plain(value: Any) -> Any:
    """orjson's fallback: other mappings as objects."""
    if isinstance(value, Mapping):
        return dict(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


class Codec:
    """Values as the driver takes and gives them: SQLite stores UTC text in SQLAlchemy's own format
    and JSON as text; PostgreSQL's driver converts both itself."""

    def __init__(self, dialect: Dialect) -> None:
        self._sqlite = dialect.name == "sqlite"
        self._times: dict[datetime, str] = {}  # most rows of a batch share its arrival time
        self._parsed: dict[str, datetime] = {}  # and most rows of a group share theirs

    def time(self, value: datetime | None) -> datetime | str | None:
        if value is None or not self._sqlite:
            return value
        text = self._times.get(value)
        if text is None:
            # SQLAlchemy's format ("2026-11-27 20:00:00.000000"); isoformat writes it in half the
            # time strftime takes, and pads years below 1000 as SQLAlchemy does.
            utc = value if value.tzinfo is UTC else value.astimezone(UTC)
            text = self._times[value] = utc.isoformat(" ", "microseconds")[:-6]
        return text

    def load_time(self, value: datetime | str | None) -> datetime | None:
        """An aware UTC datetime, as `tables.UTCDateTime` gives it."""
        if value is None:
            return None
        if isinstance(value, str):
            parsed = self._parsed.get(value)
            if parsed is None:
                parsed = datetime.fromisoformat(value)
                parsed = parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
                self._parsed[value] = parsed
            return parsed
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    @staticmethod
    def json(value: Any) -> str:
        try:
            return orjson.dumps(value, default=_plain).decode()
        except TypeError:
            # orjson writes no integer beyond 64 bits; JSON and pydantic take them (an Alertmanager
            # `values` object, PagerDuty's custom_details), and the batch holding one failed with a 500
            # (allow_nan=False: NaN is no JSON, and what is stored must read back)
            return stdlib_json.dumps(
                value, separators=(",", ":"), ensure_ascii=False, allow_nan=False, default=_plain
            )

    def load_json(self, value: Any) -> Any:
        return orjson.loads(value) if self._sqlite and isinstance(value, str | bytes) else value


def raw(column: ColumnElement[Any]) -> ColumnElement[Any]:
    """A column selected as the driver returns it, for a Codec to convert (no type processing)."""
    return type_coerce(column, NullType()).label(column.key)


@lru_cache(maxsize=64)
def _compiled_insert(dialect: Dialect, table: Table, columns: tuple[str, ...]) -> Compiled:
    # inline: nothing is fetched back (no RETURNING of generated keys on PostgreSQL)
    return insert(table).inline().compile(dialect=dialect, column_keys=list(columns))


@lru_cache(maxsize=256)
def _compiled_update(dialect: Dialect, table: Table, columns: tuple[str, ...]) -> Compiled:
    statement = (
        update(table)
        .where(table.c.id == bindparam("_id"))
        .values({key: bindparam(key) for key in columns if key != "_id"})
    )
    return statement.compile(dialect=dialect)


@lru_cache(maxsize=256)
def _parameters(compiled: Compiled, columns: tuple[str, ...]) -> Callable[[Sequence[Row]], list[Any]]:
    """How rows in `columns` order become the compiled statement's executemany parameters."""
    order = getattr(compiled, "positiontup", None)
    if order is None:  # named parameters (PostgreSQL's drivers): dicts
        return lambda rows: [dict(zip(columns, row, strict=True)) for row in rows]
    if tuple(order) == columns:  # positional in the same order (SQLite): the tuples as they are
        return list
    if missing := [key for key in order if key not in columns]:  # a column with a default, say
        raise ValueError(f"rows must give every column the statement sets; missing {missing}")
    pick = itemgetter(*(columns.index(key) for key in order))
    if len(order) == 1:
        return lambda rows: [(pick(row),) for row in rows]
    return lambda rows: [pick(row) for row in rows]


def _run(conn: Connection, sql: str, parameters: Any, *, many: bool = False) -> list[Row]:
    """`sql` on the transaction's own driver connection, skipping SQLAlchemy's execution machinery
    (a third of the intake's SQL time); driver errors become SQLAlchemy's, as callers expect."""
    dbapi = conn.dialect.loaded_dbapi
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        if many:
            cursor.executemany(sql, parameters)
            return []
        cursor.execute(sql, parameters)
        return list(cursor.fetchall()) if cursor.description else []
    except dbapi.Error as exc:
        raise DBAPIError.instance(sql, parameters, exc, dbapi.Error) from exc
    finally:
        cursor.close()


def _execute(conn: Connection, compiled: Compiled, columns: tuple[str, ...], rows: Sequence[Row]) -> None:
    _run(conn, compiled.string, _parameters(compiled, columns)(rows), many=True)


def insert_rows(conn: Connection, table: Table, columns: tuple[str, ...], rows: Sequence[Row]) -> None:
    """INSERT rows given as tuples of `columns`, their values already converted by a Codec."""
    if rows:
        _execute(conn, _compiled_insert(conn.dialect, table, columns), columns, rows)


def update_rows(conn: Connection, table: Table, columns: tuple[str, ...], rows: Sequence[Row]) -> None:
    """UPDATE rows by primary key: `columns` are those to set, and `_id` for the key."""
    if rows:
        _execute(conn, _compiled_update(conn.dialect, table, columns), columns, rows)


@lru_cache(maxsize=256)
def _compiled_select(
    dialect: Dialect, statement: Select[Any], values: tuple[tuple[str, int | None], ...]
) -> tuple[Compiled, dict[str, Any]]:
    """`statement` with each list parameter rendered as that many placeholders (`values` gives
    each parameter's list length, or None for a single value), and the values it binds itself."""
    bound = statement.params({name: [None] * size if size is not None else None for name, size in values})
    compiled = bound.compile(dialect=dialect, compile_kwargs={"render_postcompile": True})
    own: dict[str, Any] = {}  # literals of the statement (`IN` lists, LIMIT), named as rendered
    for name, bind in compiled.binds.items():
        value = bind.effective_value
        if bind.expanding and isinstance(value, list | tuple):
            own.update((f"{name}_{n}", item) for n, item in enumerate(value, 1))
        else:
            own[name] = value
    return compiled, own


def _padded(values: list[Any]) -> list[Any]:
    """A list of keys for `IN (...)`, repeated up to a power of two so few sizes get compiled."""
    size = 1 << max(0, len(values) - 1).bit_length()
    return values + [values[-1]] * (size - len(values)) if values else values


def chunks(values: list[str], size: int = 500) -> Iterator[list[str]]:
    """`values` in slices of `size`: lists for `IN (...)` that stay under the database's bound
    parameter limit."""
    for start in range(0, len(values), size):
        yield values[start : start + size]


def fetch(conn: Connection, statement: Select[Any], params: Mapping[str, Any]) -> list[Row]:
    """Rows of a SELECT as the driver returns them, below SQLAlchemy's statement and result
    processing (select `raw` columns and convert them with a Codec). List parameters expand."""
    given = {name: _padded(value) if isinstance(value, list) else value for name, value in params.items()}
    shape = tuple((name, len(value) if isinstance(value, list) else None) for name, value in given.items())
    compiled, flat = _compiled_select(conn.dialect, statement, shape)
    flat = flat.copy()
    for name, value in given.items():
        if isinstance(value, list):
            flat.update((f"{name}_{n}", item) for n, item in enumerate(value, 1))
        else:
            flat[name] = value
    order = getattr(compiled, "positiontup", None)
    arguments = tuple(flat[name] for name in order) if order is not None else flat
    return _run(conn, compiled.string, arguments)


def insert_many(conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """INSERT rows given as dicts that all have the same keys."""
    if rows:
        columns = tuple(rows[0])
        insert_rows(conn, table, columns, [tuple(row[key] for key in columns) for row in rows])


def update_many(conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """UPDATE rows given as dicts by primary key, as `_id`, the other keys being the columns to set."""
    if rows:
        columns = tuple(rows[0])
        update_rows(conn, table, columns, [tuple(row[key] for key in columns) for row in rows])
