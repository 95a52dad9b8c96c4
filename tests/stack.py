"""A real server (EmbeddedServer on a fixed port, so it can stop and come back) and a console
replica synced with it: for tests of what the console does with real sync."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from console.server.admin import add_service, add_user
from console.server.database import migrate, open_engine
from console.server.process import free_port
from console.server.runner import EmbeddedServer, ServeOptions
from console.store.replica import Replica
from console.sync.client import SyncClient
from console.sync.engine import SyncEngine


class Stack:
    """A server on a fixed port (so it can stop and come back), a replica, a window."""

    def __init__(self, root: Path) -> None:
        self.db_url = f"sqlite:///{root / 'server.db'}"
        engine = open_engine(self.db_url, writer=True)
        migrate(engine)
        self.key = add_service(engine, "shop")
        self.token = add_user(engine, "ann")
        self.engine = engine
        self.port = free_port()
        self.server: EmbeddedServer | None = None
        self.replica = Replica(root / "replica.db")
        self.replica.set_server(f"http://127.0.0.1:{self.port}", "ann")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.server = EmbeddedServer(ServeOptions(self.db_url, "127.0.0.1", self.port))
        self.server.start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None

    def trigger(self, summary: str, severity: str = "critical") -> None:
        body = {
            "routing_key": self.key,
            "event_action": "trigger",
            "dedup_key": uuid.uuid4().hex,
            "payload": {"summary": summary, "source": "db1", "severity": severity},
        }
        assert httpx.post(f"{self.url}/v2/enqueue", json=body).status_code == 202

    async def sync_now(self) -> None:
        """One round of the console's own engine: push what is pending, pull what is new."""
        client = SyncClient(self.url, self.token, self.replica.state().client_id)
        try:
            await SyncEngine(self.replica, client).sync_once()
        finally:
            await client.aclose()

    def sync(self) -> None:
        asyncio.run(self.sync_now())


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    """A started Stack, stopped and closed after the test."""
    made = Stack(tmp_path)
    made.start()
    try:
        yield made
    finally:
        made.stop()
        made.replica.close()
        made.engine.dispose()
