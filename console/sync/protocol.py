"""The sync wire format, shared by the server and the console's sync engine (DESIGN.md §5).

- `POST /sync/push`: a batch of outbox ops; the server answers what became of each.
- `GET /sync/pull?cursor=…&limit=…`: rows changed after the cursor, a table at a time, as column
  lists and row arrays (compact and fast to apply: a first sync moves hundreds of thousands of rows).
- `GET /sync/stream`: Server-Sent Events that only say "changed up to seq N".
In a pull page, times are ISO 8601 text with their offset, and JSON-valued columns (labels, details,
links, a timeline entry's body, an incident's clocks) travel as their JSON text: a console stores them
as they come, and a first sync does not build and re-encode a million small objects.
Every request names the console's schema version (`X-Responder-Schema`); the server answers 426 to a
version it no longer serves, and says which it needs.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from console.sync.wire import (
    DEFAULT_PULL,
    MAX_PULL,
    MAX_PUSH,
    OLDEST_SCHEMA,
    SCHEMA_HEADER,
    SCHEMA_VERSION,
    TABLES,
    TOMBSTONES,
)

__all__ = [
    "DEFAULT_PULL",
    "MAX_PULL",
    "MAX_PUSH",
    "OLDEST_SCHEMA",
    "SCHEMA_HEADER",
    "SCHEMA_VERSION",
    "TABLES",
    "TOMBSTONES",
    "OpResult",
    "Poke",
    "PullResponse",
    "PushRequest",
    "PushResponse",
    "TableRows",
    "WireOp",
]


class WireOp(BaseModel):
    client_seq: int = Field(ge=1, description="the console's own op number: 1, 2, 3… without gaps")
    op_id: str = Field(min_length=1, max_length=36, description="UUIDv7 made by the console")
    type: str = Field(max_length=30)
    entity_id: str = Field(min_length=1, max_length=36, description="the incident the op is about")
    args: dict[str, Any] = Field(default_factory=dict)
    hlc: str = Field(max_length=80, description="hybrid logical clock stamp of the op")
    base_epoch: int = Field(default=0, ge=0, description="the incident's epoch the console saw")


class PushRequest(BaseModel):
    client_id: str = Field(min_length=1, max_length=36)
    ops: list[WireOp] = Field(max_length=MAX_PUSH)
    settled_through: int = Field(
        default=0,
        ge=0,
        description="every op of this console up to this number was answered by a server; a server "
        "that has no record of them (restored from a backup) continues after it instead of 409",
    )


OpStatus = Literal["applied", "noop", "rejected"]


class OpResult(BaseModel):
    client_seq: int
    op_id: str
    status: OpStatus
    reason: str = ""
    seq: int = Field(description="the change-log seq of the transaction that processed the op")


class PushResponse(BaseModel):
    last_client_seq: int
    results: list[OpResult]
    hlc: str


class TableRows(BaseModel):
    columns: list[str]
    rows: list[list[Any]]


class PullResponse(BaseModel):
    cursor: str = Field(description="opaque: pass it back to get what changed after this page")
    last_seq: int = Field(description="the newest seq on the server when the page was read")
    page_seq: int = Field(description="every change up to this seq is in this page or earlier ones")
    more: bool
    hlc: str
    tables: dict[str, TableRows]


class Poke(BaseModel):
    seq: int
