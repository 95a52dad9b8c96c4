"""`/sync/push`, `/sync/pull` and `/sync/stream`: how consoles keep their replicas (sync.md §4)."""

# No `from __future__ import annotations` here: FastAPI reads the annotations of nested endpoints at runtime.

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from fastapi.responses import StreamingResponse
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool

from console.domain.clock import SERVER_NODE, stamp_at
from console.server.auth import user_dependency
from console.server.changes import ChangeFeed, read_meta
from console.server.directory import Directory, User
from console.server.pull import BadCursor, CursorExpired, read_page
from console.server.push import ClientOfAnotherUser, OpsOutOfOrder, Push, PushedOp
from console.server.writer import GroupCommitWriter, Overloaded, WriterStopped
from console.sync.protocol import (
    DEFAULT_PULL,
    MAX_PULL,
    OLDEST_SCHEMA,
    SCHEMA_HEADER,
    SCHEMA_VERSION,
    PullResponse,
    PushRequest,
    PushResponse,
)

KEEPALIVE_SECONDS = 15.0


def _error(
    code: int,
    status: str,
    message: str,
    errors: list[str] | None = None,
    headers: dict[str, str] | None = None,
) -> HTTPException:
    return HTTPException(
        code, detail={"status": status, "message": message, "errors": errors or []}, headers=headers
    )


def _json(body: dict[str, Any]) -> Response:
    return Response(orjson.dumps(body), media_type="application/json")


def _server_hlc() -> str:
    return stamp_at(datetime.now(UTC), SERVER_NODE).encode()


def schema_version(request: Request) -> int:
    """The console's schema version; a console the server cannot serve is told what to do (426)."""
    given = request.headers.get(SCHEMA_HEADER, "")
    if not given.isdigit():
        raise _error(400, "invalid request", f"Send the console's schema version as {SCHEMA_HEADER}.", [
            f"{SCHEMA_HEADER}: required, a number"
        ])  # fmt: skip
    version = int(given)
    if version < OLDEST_SCHEMA:
        raise _error(
            426,
            "upgrade required",
            f"This console is too old for this server (schema {version}; the server needs "
            f"{OLDEST_SCHEMA} to {SCHEMA_VERSION}). Upgrade the console; its unsent changes are kept.",
        )
    if version > SCHEMA_VERSION:
        raise _error(
            426,
            "server too old",
            f"This server is older than the console (schema {version}; the server knows up to "
            f"{SCHEMA_VERSION}). Upgrade the server; the console keeps its changes until then.",
        )
    return version


def sync_router(
    engine: Engine, directory: Directory, writer: GroupCommitWriter, feed: ChangeFeed
) -> APIRouter:
    router = APIRouter(prefix="/sync", tags=["sync"])
    Requester = Annotated[User, Depends(user_dependency(directory))]
    Schema = Annotated[int, Depends(schema_version)]

    @router.get("/whoami")
    async def whoami(user: Requester, _schema: Schema) -> dict[str, Any]:
        """Who the token belongs to: how `login` checks a token before storing it."""

        def read() -> str:
            with engine.connect() as conn:
                return read_meta(conn)["server_id"]

        return {"user": user.name, "role": user.role, "server_id": await run_in_threadpool(read)}

    @router.post("/push", response_model=PushResponse)
    async def push(body: PushRequest, user: Requester, schema: Schema) -> Response:
        if user.role == "viewer":
            raise _error(
                403, "forbidden", "Viewers cannot change incidents.", ["Authorization: a viewer's token"]
            )
        ops = [
            PushedOp(o.client_seq, o.op_id, o.type, o.entity_id, o.args, o.hlc, o.base_epoch)
            for o in body.ops
        ]
        try:
            outcome = await writer.submit_push(
                Push(body.client_id, user.id, user.name, schema, ops, body.settled_through)
            )
        except Overloaded as exc:
            raise _error(429, "overloaded", str(exc), headers={"Retry-After": "1"}) from exc
        except WriterStopped as exc:
            raise _error(503, "unavailable", str(exc), headers={"Retry-After": "5"}) from exc
        except OpsOutOfOrder as exc:
            raise _error(409, "conflict", str(exc), ["ops: a gap in client_seq"]) from exc
        except ClientOfAnotherUser as exc:
            raise _error(403, "forbidden", str(exc), ["client_id: registered to another user"]) from exc
        return _json(
            {
                "last_client_seq": outcome.last_client_seq,
                "results": [
                    {
                        "client_seq": r.client_seq,
                        "op_id": r.op_id,
                        "status": r.status,
                        "reason": r.reason,
                        "seq": r.seq,
                    }
                    for r in outcome.results
                ],
                "hlc": _server_hlc(),
            }
        )

    @router.get("/pull", response_model=PullResponse)
    async def pull(
        _user: Requester,
        _schema: Schema,
        cursor: Annotated[
            str, Query(max_length=200, description="from the last page; empty for everything")
        ] = "",
        limit: Annotated[int, Query(ge=1, le=MAX_PULL)] = DEFAULT_PULL,
    ) -> Response:
        def read() -> dict[str, Any]:
            with engine.connect() as conn:
                return read_page(conn, cursor, limit)

        try:
            page = await run_in_threadpool(read)
        except BadCursor as exc:
            raise _error(400, "invalid request", str(exc), [str(exc)]) from exc
        except CursorExpired as exc:
            raise _error(410, "cursor expired", f"{exc} Take a new snapshot (pull with no cursor).") from exc
        page["hlc"] = _server_hlc()
        return _json(page)

    @router.get("/stream")
    async def stream(_user: Requester, _schema: Schema, request: Request) -> StreamingResponse:
        """Server-Sent Events: `id: N` / `data: {"seq": N}` whenever the change log moves past what
        was last sent, a comment every 15 s to keep proxies from closing the stream."""
        start = request.headers.get("last-event-id", "")
        seen = int(start) if start.isdigit() else -1

        async def events() -> AsyncIterator[bytes]:
            last = seen
            yield b"retry: 2000\n\n"
            while not feed.is_closed():
                seq = await feed.wait_beyond(last, KEEPALIVE_SECONDS)
                if feed.is_closed():
                    return
                if seq > last:
                    last = seq
                    yield b'id: %d\ndata: {"seq": %d}\n\n' % (seq, seq)
                else:
                    yield b": ka\n\n"

        headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}  # nginx: do not buffer
        return StreamingResponse(events(), media_type="text/event-stream", headers=headers)

    return router
