"""A real server for in-process tests: a SQLite file in a temporary dir, served by uvicorn in a thread."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from starlette.types import ASGIApp

from console.server.admin import add_service, add_user
from console.server.database import migrate, open_engine
from console.server.runner import EmbeddedServer, ServeOptions
from tests.server.wire import ReadApi, rows


@dataclass(frozen=True, slots=True)
class Served:
    """A running server and what a test needs to talk to it."""

    url: str
    db: Path
    keys: dict[str, str]  # service name → integration (routing) key
    service_ids: dict[str, int]
    token: str
    client: httpx.Client

    @property
    def key(self) -> str:
        return self.keys["shop"]

    @property
    def api(self) -> ReadApi:
        return ReadApi(self.client, self.token)

    def bearer(self, service: str = "shop") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[service]}"}


def prepare_database(directory: Path, services: dict[str, str | None]) -> tuple[str, dict[str, str], str]:
    """Migrate a new SQLite file and add services (name → parent) and one user, as `admin` does.

    Returns the database URL, the integration key of each service and the user's token.
    """
    url = f"sqlite:///{directory / 'server.db'}"
    engine = open_engine(url, writer=True)
    try:
        migrate(engine)
        keys = {name: add_service(engine, name, parent=parent) for name, parent in services.items()}
        token = add_user(engine, "reader", role="viewer")
    finally:
        engine.dispose()
    return url, keys, token


def fresh_connections(base_url: str, **options: Any) -> httpx.Client:
    """A client that opens a connection per request: after a 500 uvicorn closes the connection, and a
    pooled one would fail the next test's request with a reset instead of that test's own answer."""
    return httpx.Client(
        base_url=base_url, timeout=30, limits=httpx.Limits(max_keepalive_connections=0), **options
    )


class _NoSecondTraceback(logging.Filter):
    """Drop uvicorn's "Exception in ASGI application" record.

    The app's own handler has logged the error, with its traceback, before answering 500; Starlette
    then re-raises it and uvicorn logs it again *after* the answer was sent, in the server thread, at
    the moment the test formats its own failure. Both format tracebacks with `ast`, and on CPython
    3.11.7 two threads doing that at once can crash pytest ("AST constructor recursion depth
    mismatch", CPython gh-106905, fixed in 3.11.8), hiding which tests failed.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Exception in ASGI application")


@contextmanager
def _quiet_second_traceback() -> Iterator[None]:
    uvicorn_log = logging.getLogger("uvicorn.error")
    only_once = _NoSecondTraceback()
    uvicorn_log.addFilter(only_once)
    try:
        yield
    finally:
        uvicorn_log.removeFilter(only_once)


@contextmanager
def embedded(directory: Path, services: dict[str, str | None]) -> Iterator[Served]:
    """The server as the console embeds it (`EmbeddedServer`), on a free port."""
    url, keys, token = prepare_database(directory, services)
    db = directory / "server.db"
    ids = {str(name): int(service_id) for service_id, name in rows(db, "SELECT id, name FROM services")}
    server = EmbeddedServer(ServeOptions(url, "127.0.0.1", 0))
    with _quiet_second_traceback():
        base = server.start()
        try:
            with fresh_connections(base) as client:
                yield Served(base, db, keys, ids, token, client)
        finally:
            server.stop()


@contextmanager
def serving(app: ASGIApp) -> Iterator[str]:
    """Any app built by `create_app`, on real uvicorn in a thread; yields its base URL."""
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=0, log_config=None, access_log=False, lifespan="on")
    )
    thread = threading.Thread(target=server.run, name="test-server", daemon=True)
    with _quiet_second_traceback():
        thread.start()
        yield from _until_stopped(server, thread)


def _until_stopped(server: uvicorn.Server, thread: threading.Thread) -> Iterator[str]:
    try:
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError("the server did not start")
            threading.Event().wait(0.02)
        host, port = server.servers[0].sockets[0].getsockname()[:2]
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(30)
