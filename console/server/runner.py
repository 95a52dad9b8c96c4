"""Starting and stopping the server: in the foreground (`serve`) or embedded in a thread (the console)."""

from __future__ import annotations

import ctypes
import json
import logging
import os
import signal
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn
from starlette.types import ASGIApp

from console.server.app import AppConfig, ServerApp, create_app
from console.server.database import migrate, open_engine
from console.server.gc_schedule import tune_gc
from console.server.intake.protocol import IntakeHttpProtocol
from console.server.stall_watch import DEFAULT_THRESHOLD

_PR_SET_PDEATHSIG = 1  # from <sys/prctl.h>
_APP_ENV = "RESPONDER_SERVER_APP"  # how `serve --workers N` hands the configuration to its processes

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ServeOptions:
    db_url: str
    host: str = "127.0.0.1"
    port: int = 8765
    tls_cert: Path | None = None
    tls_key: Path | None = None
    workers: int = 1
    log_dir: Path | None = None  # where worker processes log (they start with no logging set up)
    log_stalls: float = DEFAULT_THRESHOLD  # s: loop stalls and group commits this long are logged (0: none)

    @property
    def scheme(self) -> str:
        return "https" if self.tls_cert else "http"


def _uvicorn_options(options: ServeOptions) -> dict[str, Any]:
    return {
        "host": options.host,
        "port": options.port,
        "ssl_certfile": str(options.tls_cert) if options.tls_cert else None,
        "ssl_keyfile": str(options.tls_key) if options.tls_key else None,
        "access_log": False,  # one line per alert would cost more than storing the alert
        "proxy_headers": False,  # X-Forwarded-* is trusted from nobody by default; it cost 2 % of an event
        "log_config": None,  # keep our logging setup
        "timeout_graceful_shutdown": 10,
        "http": IntakeHttpProtocol,  # answers intake off the parser; the rest goes through uvicorn's cycle
    }


class Server(uvicorn.Server):
    """uvicorn's server, telling the app when shutdown starts: uvicorn waits for open responses
    before the app's own shutdown, and a sync stream never ends by itself."""

    def __init__(self, app: ServerApp, options: ServeOptions) -> None:
        super().__init__(uvicorn.Config(app, **_uvicorn_options(options)))
        self._app = app

    async def shutdown(self, sockets: list[Any] | None = None) -> None:
        self._app.close_streams()
        await super().shutdown(sockets)


def serve(options: ServeOptions) -> None:
    """Run until SIGINT/SIGTERM; in-flight events are committed and answered before exit.

    With several workers, each process parses requests and writes its own group commits; they take
    turns on the database through the write lock, so both cores work.
    """
    if options.workers <= 1:
        server = Server(create_app(AppConfig(db_url=options.db_url, log_stalls=options.log_stalls)), options)
        tune_gc()
        server.run()
        return
    engine = open_engine(options.db_url, writer=True)
    migrate(engine)  # once, before the workers start
    engine.dispose()
    os.environ[_APP_ENV] = json.dumps(
        {"db_url": options.db_url, "log_dir": str(options.log_dir or ""), "log_stalls": options.log_stalls}
    )
    uvicorn.run(
        "console.server.runner:app_from_environment",
        factory=True,
        workers=options.workers,
        timeout_worker_healthcheck=60,  # a loaded machine may take more than the default 5 s to start one
        **_uvicorn_options(options),
    )


def _die_with_parent() -> None:
    """A worker must not outlive `serve` (after a kill -9 it would hold the port and keep writing)."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() == 1:  # the parent died before we could ask
        raise SystemExit(1)


def app_from_environment() -> ASGIApp:
    """The app of one worker process of `serve --workers N`."""
    _die_with_parent()
    given = json.loads(os.environ[_APP_ENV])
    if given["log_dir"]:
        from console import logs

        logs.configure(Path(given["log_dir"]))
    app = create_app(AppConfig(db_url=given["db_url"], log_stalls=given["log_stalls"]))
    tune_gc()
    return app


class EmbeddedServer:
    """The server in a background thread of another program (the console), on a free port by default.

    Its own thread and event loop keep intake work off the UI's loop.
    """

    def __init__(self, options: ServeOptions) -> None:
        self._server = Server(create_app(AppConfig(db_url=options.db_url)), options)
        self._thread = threading.Thread(target=self._server.run, name="embedded-server", daemon=True)
        self._scheme = options.scheme

    def start(self, timeout: float = 30.0) -> str:
        """Start and wait until it listens; returns its base URL."""
        self._thread.start()
        started = threading.Event()

        def check() -> None:
            while self._thread.is_alive() and not self._server.started:
                started.wait(0.02)
            started.set()

        watcher = threading.Thread(target=check, daemon=True)
        watcher.start()
        watcher.join(timeout)
        if not self._server.started:
            raise RuntimeError("the embedded server did not start; see the log")
        host, port = self._server.servers[0].sockets[0].getsockname()[:2]
        return f"{self._scheme}://{host}:{port}"

    def stop(self, timeout: float = 15.0) -> None:
        self._server.should_exit = True
        self._thread.join(timeout)
