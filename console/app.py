"""Composition root of the console: builds the concrete objects and wires them. Nothing imports it.

Until the window exists (issue #4), the console runs its embedded server in the foreground, so the
quick start already gives a working intake on 127.0.0.1.
"""

from __future__ import annotations

import logging
import signal
import threading

from console import logs, settings
from console.server.runner import EmbeddedServer, ServeOptions

log = logging.getLogger(__name__)


def run(*, data_dir: str | None = None, db_url: str | None = None) -> int:
    config = settings.load(data_dir=data_dir, db_url=db_url)
    logs.configure(config.data_dir)
    server = EmbeddedServer(ServeOptions(config.server_db_url, "127.0.0.1", config.port))
    url = server.start()
    log.info("embedded server on %s, data in %s; Ctrl+C stops it", url, config.data_dir)
    print(f"Responder Console server listening on {url} (data: {config.data_dir})", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    stop.wait()
    server.stop()
    return 0
