"""Pages of replicated rows for `/sync/pull`, read from one snapshot.

Every replicated row carries the seq of the transaction that last wrote it. A page holds the rows
past the cursor in (seq, table, id) order, so paging is exact even when one transaction wrote more
rows than a page holds, and a row written again later simply comes again. The cursor names this
database: a cursor from another database, from a newer state than this one (a restored backup) or
from before the compaction horizon (deletions forgotten) is answered 410, and the console takes a
new snapshot, keeping its outbox.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import JSON, Column, ColumnElement, Connection, Table, and_, or_, select
from sqlalchemy.types import TypeDecorator

from console.domain.errors import DomainError
from console.server.bulk import raw
from console.server.changes import last_seq, read_meta
from console.server.tables import alerts, incidents, services, timeline, tombstones, users
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


REPLICATED: tuple[Replicated, ...] = (
    Replicated("services", services, ("id", "name", "parent_id", "seq")),
    Replicated("users", users, ("id", "name", "role", "seq")),  # never the token hash
    Replicated(
        "incidents",
        incidents,
        (
            "id",
            "number",
            "service_id",
            "title",
            "priority",
            "category",
            "status",
            "epoch",
            "alert_count",
            "open_alerts",
            "created_at",
            "updated_at",
            "acknowledged_at",
            "resolved_at",
            "assignee",
            "description",
            "snoozed_until",
            "clocks",
            "seq",
        ),
    ),
    Replicated(
        "alerts",
        alerts,
        (
            "id",
            "incident_id",
            "service_id",
            "dedup_key",
            "status",
            "summary",
            "source",
            "severity",
            "priority",
            "component",
            "group_name",
            "class_name",
            "labels",
            "details",
            "links",
            "repeat_count",
            "first_seen",
            "last_seen",
            "acknowledged_at",
            "resolved_at",
            "seq",
        ),
    ),
    Replicated(
        "timeline", timeline, ("id", "incident_id", "service_id", "at", "kind", "actor", "body", "seq")
    ),
)
assert tuple(r.name for r in REPLICATED) == TABLES


@dataclass(frozen=True, slots=True)
class Cursor:
    server_id: str
    seq: int
    table: int  # index in REPLICATED; len(REPLICATED) for tombstones
    key: str

    def encode(self) -> str:
        return f"1.{self.server_id}.{self.seq}.{self.table}.{self.key}"

    @classmethod
    def decode(cls, text: str) -> Cursor:
        parts = text.split(".", 4)
        if len(parts) != 5 or parts[0] != "1":
            raise BadCursor("cursor: not a cursor this server gave out")
        try:
            return cls(parts[1], int(parts[2]), int(parts[3]), parts[4])
        except ValueError as exc:
            raise BadCursor("cursor: not a cursor this server gave out") from exc


_START = Cursor("", -1, -1, "")
_Found = tuple[int, int, Any, list[Any]]  # seq, table index, key, wire values


def _is_time(column: Column[Any]) -> bool:
    kind = column.type
    impl = kind.impl if isinstance(kind, TypeDecorator) else kind
    return getattr(impl, "timezone", None) is not None and "DateTime" in type(impl).__name__


def _converters(replicated: Replicated, sqlite: bool) -> list[Any]:
    """Per column: how a raw driver value becomes its wire value (None: as it is)."""
    out: list[Any] = []
    for name in replicated.columns:
        column = replicated.table.c[name]
        if sqlite and _is_time(column):
            out.append(_iso)
        elif sqlite and isinstance(column.type, JSON):
            out.append(_fragment)
        else:
            out.append(None)
    return out


def _iso(value: str | None) -> str | None:
    """SQLAlchemy's SQLite text ('2026-11-27 03:27:40.123456', UTC) as ISO 8601 with its offset."""
    return None if value is None else f"{value[:10]}T{value[11:]}+00:00"


def _fragment(value: str | bytes | None) -> Any:
    return None if value is None else orjson.Fragment(value)


def read_page(conn: Connection, cursor_text: str, limit: int) -> dict[str, Any]:
    """One page after `cursor_text` ("" for the beginning), in one read transaction (snapshot)."""
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
        found: list[_Found] = []
        for index, replicated in enumerate(REPLICATED):
            found.extend(_rows_after(conn, index, replicated, cursor, limit, sqlite))
        found.extend(_tombstones_after(conn, len(REPLICATED), cursor, limit))
    found.sort(key=lambda item: (item[0], item[1], item[2]))
    page, more = found[:limit], len(found) > limit
    tables: dict[str, dict[str, Any]] = {}
    for _seq, index, _key, values in page:
        name = REPLICATED[index].name if index < len(REPLICATED) else TOMBSTONES
        if name not in tables:
            columns = REPLICATED[index].columns if index < len(REPLICATED) else ("entity", "entity_id", "seq")
            tables[name] = {"columns": list(columns), "rows": []}
        tables[name]["rows"].append(values)
    if page:
        last = page[-1]
        cursor = Cursor(server_id, last[0], last[1], str(last[2]))
    elif cursor is _START:
        cursor = Cursor(server_id, newest, len(REPLICATED) + 1, "")  # an empty database: all seen
    page_seq = (cursor.seq - 1) if more else newest
    return {
        "cursor": cursor.encode(),
        "last_seq": newest,
        "page_seq": page_seq,
        "more": more,
        "tables": tables,
    }


def _after(
    seq: ColumnElement[Any], key: ColumnElement[Any], index: int, cursor: Cursor, key_value: Any
) -> Any:
    if index < cursor.table:
        return seq > cursor.seq
    if index > cursor.table:
        return seq >= cursor.seq
    return or_(seq > cursor.seq, and_(seq == cursor.seq, key > key_value))


def _rows_after(
    conn: Connection, index: int, replicated: Replicated, cursor: Cursor, limit: int, sqlite: bool
) -> list[_Found]:
    table = replicated.table
    integer_ids = table.c.id.type.python_type is int
    key_value: Any = cursor.key
    if index == cursor.table and integer_ids:
        try:
            key_value = int(cursor.key)
        except ValueError as exc:
            raise BadCursor("cursor: not a cursor this server gave out") from exc
    query = (
        select(*(raw(table.c[name]) for name in replicated.columns))
        .where(_after(table.c.seq, table.c.id, index, cursor, key_value))
        .order_by(table.c.seq, table.c.id)
        .limit(limit + 1)
    )
    convert = _converters(replicated, sqlite)
    id_at, seq_at = replicated.columns.index("id"), replicated.columns.index("seq")
    out = []
    for row in conn.execute(query):
        values = [value if fn is None else fn(value) for fn, value in zip(convert, row, strict=True)]
        out.append((row[seq_at], index, row[id_at], values))
    return out


def _tombstones_after(conn: Connection, index: int, cursor: Cursor, limit: int) -> list[_Found]:
    t = tombstones.c
    key = t.entity + ":" + t.entity_id
    query = (
        select(t.entity, t.entity_id, t.seq)
        .where(_after(t.seq, key, index, cursor, cursor.key))
        .order_by(t.seq, key)
        .limit(limit + 1)
    )
    return [(row.seq, index, f"{row.entity}:{row.entity_id}", list(row)) for row in conn.execute(query)]
