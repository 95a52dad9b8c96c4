"""Starting and stopping the server: in the foreground (`serve`) or embedded in a thread (the console)."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path

import uvicorn

from console.server.app import AppConfig, create_app

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ServeOptions:
    db_url: str
    host: str = "127.0.0.1"
    port: int = 8765
    tls_cert: Path | None = None
    tls_key: Path | None = None

    @property
    def scheme(self) -> str:
        return "https" if self.tls_cert else "http"


def _uvicorn_config(options: ServeOptions) -> uvicorn.Config:
    return uvicorn.Config(
        create_app(AppConfig(db_url=options.db_url)),
        host=options.host,
        port=options.port,
        ssl_certfile=str(options.tls_cert) if options.tls_cert else None,
        ssl_keyfile=str(options.tls_key) if options.tls_key else None,
        access_log=False,  # one line per alert would cost more than storing the alert
        log_config=None,  # keep our logging setup
        timeout_graceful_shutdown=10,
    )


def serve(options: ServeOptions) -> None:
    """Run until SIGINT/SIGTERM; in-flight events are committed and answered before exit."""
    uvicorn.Server(_uvicorn_config(options)).run()


class EmbeddedServer:
    """The server in a background thread of another program (the console), on a free port by default.

    Its own thread and event loop keep intake work off the UI's loop.
    """

    def __init__(self, options: ServeOptions) -> None:
        self._server = uvicorn.Server(_uvicorn_config(options))
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
