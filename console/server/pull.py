"""Pages of replicated rows for `/sync/pull`, read from one snapshot.

Every replicated row carries the seq of the transaction that last wrote it. A page holds the rows
past the cursor in (seq, table, id) order, so paging is exact even when one transaction wrote more
rows than a page holds, and a row written again later simply comes again. The cursor names this
database: a cursor from another database, from a newer state than this one (a restored backup) or
from before the compaction horizon (deletions forgotten) is answered 410, and the console takes a
new snapshot, keeping its outbox.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Iterator
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any

import orjson
from sqlalchemy import (
    JSON,
    Column,
    ColumnElement,
    Connection,
    Table,
    bindparam,
    case,
    func,
    literal_column,
    null,
    select,
    tuple_,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

from console.domain.errors import DomainError
from console.server.bulk import raw
from console.server.changes import last_seq, read_meta
from console.server.tables import (
    alerts,
    escalation_policies,
    incidents,
    overrides,
    pages,
    run_ops,
    runbooks,
    runs,
    schedules,
    services,
    timeline,
    tombstones,
    users,
)
from console.sync.protocol import TABLES, TOMBSTONES


class CursorExpired(DomainError):
    """The console must take a new snapshot (answered 410)."""


class BadCursor(DomainError):
    """Not a cursor this server gave out (answered 400)."""


@dataclass(frozen=True, slots=True)
class Replicated:
    """A table consoles keep a copy of: the columns they get. A new replicated entity is one more of
    these (and its console table, and its ops), not a new protocol."""

    name: str
    table: Table
    columns: tuple[str, ...]


def _replicated(name: str, table: Table, *, withheld: tuple[str, ...] = ()) -> Replicated:
    """All of a table's columns but those only the server needs (or must never give out)."""
    return Replicated(name, table, tuple(c.name for c in table.columns if c.name not in withheld))


REPLICATED: tuple[Replicated, ...] = (
    _replicated("services", services, withheld=("created_at",)),
    _replicated("users", users, withheld=("token_hash", "created_at")),  # never the token hash
    _replicated("incidents", incidents, withheld=("integration_id", "group_key")),
    # runbook_url: the server's shortcut to what an alert's details and links already say
    _replicated("alerts", alerts, withheld=("integration_id", "group_key", "runbook_url")),
    _replicated("timeline", timeline),
    _replicated("schedules", schedules),
    _replicated("overrides", overrides),
    _replicated("escalation_policies", escalation_policies),
    _replicated("pages", pages, withheld=("key",)),
    _replicated("runbooks", runbooks),
    _replicated("runs", runs),
    _replicated("run_ops", run_ops),
)
assert tuple(r.name for r in REPLICATED) == TABLES


@dataclass(frozen=True, slots=True)
class Cursor:
    server_id: str
    seq: int
    table: int  # index in REPLICATED; len(REPLICATED) for tombstones
    key: str

    def encode(self) -> str:
        return f"2.{self.server_id}.{self.seq}.{self.table}.{self.key}"

    @classmethod
    def decode(cls, text: str) -> Cursor:
        parts = text.split(".", 4)
        if len(parts) != 5 or parts[0] not in ("1", "2"):
            raise BadCursor("cursor: not a cursor this server gave out")
        try:
            cursor = cls(parts[1], int(parts[2]), int(parts[3]), parts[4])
        except ValueError as exc:
            raise BadCursor("cursor: not a cursor this server gave out") from exc
        if parts[0] == "1" and cursor.table == _V1_TABLES:  # version 1 had five tables, then tombstones
            cursor = replace(cursor, table=len(REPLICATED))
        return cursor


_START = Cursor("", -1, -1, "")
_V1_TABLES = 5


def _is_time(column: Column[Any]) -> bool:
    kind = column.type
    impl = kind.impl if isinstance(kind, TypeDecorator) else kind
    return getattr(impl, "timezone", None) is not None and "DateTime" in type(impl).__name__


def _wire_value(column: Column[Any]) -> ColumnElement[Any]:
    """A column as it goes on the wire, built by SQLite itself: times as ISO 8601 with their offset
    (stored as '2026-11-27 03:27:40.123456', UTC); JSON-valued columns as their JSON text, as stored
    (see console.sync.protocol)."""
    if _is_time(column):
        bare = raw(column)
        iso = func.replace(bare, literal_column("' '"), literal_column("'T'")).concat(
            literal_column("'+00:00'")
        )
        return case((bare.is_(None), null()), else_=iso)
    return raw(column)


@dataclass(frozen=True, slots=True)
class _Source:
    """One thing a page draws rows from, in key order (seq, then its key columns)."""

    index: int
    table: Table
    keys: tuple[ColumnElement[Any], ...]  # after seq
    columns: tuple[str, ...]  # as sent

    def bound(self, variant: str) -> Any:
        """The rows after the cursor: `variant` says where the cursor is relative to this source."""
        seq = self.table.c.seq
        if variant == "before":  # the cursor is in an earlier source: this one's rows at its seq count
            return seq >= bindparam("s")
        if variant == "after":  # the cursor is in a later source: its seq is done here
            return seq > bindparam("s")
        return tuple_(seq, *self.keys) > tuple_(
            bindparam("s"), *(bindparam(f"k{n}") for n in range(len(self.keys)))
        )

    def upto(self) -> Any:
        seq = self.table.c.seq
        return tuple_(seq, *self.keys) <= tuple_(
            bindparam("us"), *(bindparam(f"u{n}") for n in range(len(self.keys)))
        )


_SOURCES = (
    *(_Source(n, r.table, (r.table.c.id,), r.columns) for n, r in enumerate(REPLICATED)),
    _Source(
        len(REPLICATED),
        tombstones,
        (tombstones.c.entity, tombstones.c.entity_id),
        ("entity", "entity_id", "seq"),
    ),
)


@lru_cache(maxsize=256)
def _compiled(
    dialect: Dialect, source: int, variant: str, rows: bool
) -> tuple[str, tuple[str, ...] | None, dict[str, Any]]:
    """The SQL of a key query (rows=False) or a row query, compiled once per dialect."""
    src = _SOURCES[source]
    order = (src.table.c.seq, *src.keys)
    if rows:
        if dialect.name == "sqlite" and source < len(REPLICATED):
            values: list[ColumnElement[Any]] = [
                func.json_array(*(_wire_value(src.table.c[c]) for c in src.columns))
            ]
        else:
            values = [raw(src.table.c[c]) for c in src.columns]
        statement = select(*values).where(src.bound(variant), src.upto()).order_by(*order)
    else:
        statement = (
            select(*(raw(c) for c in order)).where(src.bound(variant)).order_by(*order).limit(bindparam("n"))
        )
    compiled = statement.compile(dialect=dialect)
    positions = getattr(compiled, "positiontup", None)
    # the statement's own parameters (SQLite renders LIMIT with an OFFSET of 0) come with it
    return compiled.string, tuple(positions) if positions is not None else None, dict(compiled.params)


def _run(conn: Connection, source: int, variant: str, rows: bool, params: dict[str, Any]) -> list[Any]:
    sql, positions, defaults = _compiled(conn.dialect, source, variant, rows)
    params = {**defaults, **params}
    given: Any = tuple(params[name] for name in positions) if positions is not None else params
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]  # plain tuples, fast
    try:
        cursor.execute(sql, given)
        return list(cursor.fetchall())
    finally:
        cursor.close()


def read_page(conn: Connection, cursor_text: str, limit: int) -> dict[str, Any]:
    """One page after `cursor_text` ("" for the beginning), in one read transaction (snapshot).

    First each source's next keys are read from its (seq, id) index alone and merged, which fixes
    where the page ends; then exactly the page's rows are read, on SQLite already as JSON arrays.
    """
    sqlite = conn.dialect.name == "sqlite"
    with conn.begin():
        meta = read_meta(conn)
        server_id, horizon = meta["server_id"], int(meta.get("horizon", "0"))
        newest = last_seq(conn)
        cursor = Cursor.decode(cursor_text) if cursor_text else _START
        if cursor is not _START:
            if cursor.server_id != server_id:
                raise CursorExpired("The server's database is not the one this replica came from.")
            if cursor.seq > newest:
                raise CursorExpired("The server's database is older than this replica (restored?).")
            if cursor.seq < horizon:
                raise CursorExpired("This replica is older than the server keeps deletions for.")
        variants: dict[int, tuple[str, dict[str, Any]]] = {}
        streams = []
        for source in _SOURCES:
            variant, params = _where(source, cursor)
            variants[source.index] = (variant, params)
            found = _run(conn, source.index, variant, False, {**params, "n": limit + 1})
            streams.append(_tagged(found, source.index))
        # (seq, source, key…) in page order, made only for the keys the page takes
        page = list(itertools.islice(heapq.merge(*streams), limit + 1))
        more = len(page) > limit
        del page[limit:]
        last_of: dict[int, tuple[Any, ...]] = {}
        for key in page:
            last_of[key[1]] = key
        tables: dict[str, dict[str, Any]] = {}
        for index, last in sorted(last_of.items()):
            variant, params = variants[index]
            upper = {"us": last[0], **{f"u{n}": value for n, value in enumerate(last[2:])}}
            found = _run(conn, index, variant, True, {**params, **upper})
            name = REPLICATED[index].name if index < len(REPLICATED) else TOMBSTONES
            if sqlite and index < len(REPLICATED):
                rows: list[Any] = [orjson.Fragment(row[0]) for row in found]
            else:
                rows = [_as_wire(row, _JSON_AT[index]) for row in found]
            tables[name] = {"columns": list(_SOURCES[index].columns), "rows": rows}
    if page:
        last = page[-1]
        cursor = Cursor(server_id, last[0], last[1], ":".join(str(v) for v in last[2:]))
    elif cursor is _START:
        cursor = Cursor(server_id, newest, len(_SOURCES), "")  # an empty database: all seen
    page_seq = (cursor.seq - 1) if more else newest
    return {
        "cursor": cursor.encode(),
        "last_seq": newest,
        "page_seq": page_seq,
        "more": more,
        "tables": tables,
    }


_JSON_AT = [
    {n for n, name in enumerate(source.columns) if isinstance(source.table.c[name].type, JSON)}
    for source in _SOURCES
]


def _as_wire(row: Any, json_at: set[int]) -> list[Any]:
    """A row from a driver that decodes JSON itself (PostgreSQL): JSON-valued columns back to text."""
    return [
        orjson.dumps(value).decode() if n in json_at and value is not None else value
        for n, value in enumerate(row)
    ]


def _tagged(rows: list[Any], index: int) -> Iterator[tuple[Any, ...]]:
    for row in rows:
        yield (row[0], index, *row[1:])


def _where(source: _Source, cursor: Cursor) -> tuple[str, dict[str, Any]]:
    """Which bound applies to `source` for `cursor`, and its parameters."""
    if source.index > cursor.table:
        return "before", {"s": cursor.seq}
    if source.index < cursor.table:
        return "after", {"s": cursor.seq}
    parts = cursor.key.split(":", len(source.keys) - 1)
    if len(parts) != len(source.keys):
        raise BadCursor("cursor: not a cursor this server gave out")
    values: dict[str, Any] = {"s": cursor.seq}
    for n, (column, part) in enumerate(zip(source.keys, parts, strict=True)):
        try:
            values[f"k{n}"] = int(part) if column.type.python_type is int else part
        except ValueError as exc:
            raise BadCursor("cursor: not a cursor this server gave out") from exc
    return "at", values
