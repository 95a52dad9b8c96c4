"""The sync engine on its own event loop, in its own thread: HTTP, the change stream and their JSON
never wait for the window's event loop, nor the window for them (in an alert storm they were a
fifth of the UI thread's time under qasync: tests/perf/bench_window.py)."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from typing import Any

from console.store.replica import Replica
from console.sync.client import SyncClient
from console.sync.engine import SyncEngine
from console.sync.state import SyncView

log = logging.getLogger(__name__)


class BackgroundSync:
    """Runs SyncEngine.run() until stop(). `on_change` is called in the sync thread: hand it over
    to your own loop (call_soon_threadsafe)."""

    def __init__(
        self,
        replica: Replica,
        base_url: str,
        token: str,
        *,
        on_change: Callable[[SyncView], Any] = lambda view: None,
    ) -> None:
        self._replica = replica
        self._base_url = base_url
        self._token = token
        self._on_change = on_change
        self._loop = asyncio.new_event_loop()
        self._engine: SyncEngine | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._main, name="sync", daemon=True)

    def start(self) -> None:
        self._thread.start()
        self._ready.wait(10)

    def wake(self) -> None:
        """Sync soon (new local ops): from any thread."""
        if self._engine is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._engine.wake)

    async def stop(self, timeout: float = 10.0) -> None:
        """Stop the engine and wait for the thread, without holding up the caller's loop."""
        if self._engine is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._engine.stop)
        await asyncio.to_thread(self._thread.join, timeout)
        if self._thread.is_alive():
            log.warning("the sync thread did not stop within %g s", timeout)

    def _main(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._run())
        finally:
            self._loop.close()

    async def _run(self) -> None:
        client = SyncClient(self._base_url, self._token, self._replica.state().client_id)
        try:
            self._engine = SyncEngine(self._replica, client, on_change=self._on_change)
            self._ready.set()
            await self._engine.run()
        finally:
            self._ready.set()
            await client.aclose()
