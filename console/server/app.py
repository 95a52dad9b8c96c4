"""The server's ASGI app, built by a factory so the CLI, the embedded runner and tests share it."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from console.server.api import api_router
from console.server.changes import ChangeFeed
from console.server.checkpointer import Checkpointer
from console.server.database import migrate, open_engine
from console.server.directory import Directory
from console.server.escalation import EscalationDriver
from console.server.intake.asgi import IntakeFastPath
from console.server.intake.handlers import Intake, openapi_paths
from console.server.stall_watch import DEFAULT_THRESHOLD, StallWatch
from console.server.sync_api import sync_router
from console.server.writelock import WriteLock
from console.server.writer import GroupCommitWriter

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class AppConfig:
    db_url: str
    max_pending: int = 5000
    log_stalls: float = DEFAULT_THRESHOLD  # s: loop stalls and group commits this long are logged; 0: none


class ServerApp:
    """The ASGI app, and what its runner must tell it: that the server is shutting down, so the
    long-lived sync streams end instead of holding the shutdown up."""

    def __init__(self, app: ASGIApp, feed: ChangeFeed) -> None:
        self._app = app
        self._feed = feed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._app(scope, receive, send)

    def close_streams(self) -> None:
        """Call on the server's event loop."""
        self._feed.close()


def create_app(config: AppConfig) -> ServerApp:
    write_engine = open_engine(config.db_url, writer=True)
    read_engine = open_engine(config.db_url)
    database_file = write_engine.url.database if write_engine.dialect.name == "sqlite" else None
    lock = WriteLock(Path(database_file) if database_file else None)
    feed = ChangeFeed(read_engine)
    writer = GroupCommitWriter(
        write_engine, lock, max_pending=config.max_pending, log_slow=config.log_stalls, on_commit=feed.publish
    )
    checkpointer = Checkpointer(read_engine)
    directory = Directory(read_engine)
    escalation = EscalationDriver(read_engine, writer.submit_call, feed)
    stalls = StallWatch(config.log_stalls) if config.log_stalls > 0 else None

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if stalls is not None:
            stalls.start()
        await run_in_threadpool(migrate, write_engine)
        writer.start()
        await run_in_threadpool(feed.start_reading)
        feed.start()
        checkpointer.start()
        escalation.start()  # its first pass fires what fell due while the server was down
        log.info("server ready on %s", read_engine.url.render_as_string(hide_password=True))
        try:
            yield
        finally:
            await escalation.stop()
            await feed.stop()
            await writer.stop()
            await run_in_threadpool(checkpointer.stop)
            write_engine.dispose()
            read_engine.dispose()
            if stalls is not None:
                await stalls.stop()

    app = FastAPI(
        title="Responder Console server",
        version="0.1.0",
        description="Alert intake (PagerDuty Events v2, Alertmanager, Grafana, generic JSON), read API and "
        "console sync.",
        lifespan=lifespan,
    )
    app.include_router(api_router(read_engine, directory))
    app.include_router(sync_router(read_engine, directory, writer, feed))

    @app.get("/healthz", tags=["health"])
    async def healthz() -> dict[str, Any]:
        return {"status": "ok", "pending": writer.pending}

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        given: Any = exc.detail  # ours are dicts; Starlette's own (404, 405) are strings
        detail = (
            given if isinstance(given, dict) else {"status": "error", "message": str(given), "errors": []}
        )
        return JSONResponse(detail, exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            f"{'.'.join(str(p) for p in error['loc'][1:]) or 'body'}: {error['msg']}"
            for error in exc.errors()
        ]
        return JSONResponse(
            {"status": "invalid request", "message": "The request is invalid.", "errors": errors}, 400
        )

    @app.exception_handler(Exception)
    async def bug(_request: Request, exc: Exception) -> JSONResponse:
        log.error("unexpected error", exc_info=exc)
        message = "Internal error: nothing was stored. Retry later; the server's log has the details."
        return JSONResponse({"status": "error", "message": message, "errors": []}, 500)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title, version=app.version, description=app.description, routes=app.routes
            )
            paths, schemas = openapi_paths()
            schema.setdefault("paths", {}).update(paths)
            schema.setdefault("components", {}).setdefault("schemas", {}).update(schemas)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return ServerApp(IntakeFastPath(app, Intake(writer, directory)), feed)
