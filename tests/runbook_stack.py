"""Runbooks on a real stack (tests/stack.py): runbooks imported into the server database beside the
running server, as `admin import-runbooks` does; more consoles (each a Replica file with its own
user, synced by the real SyncEngine); waiting for the engine pass that attaches runs."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select

from console.domain.runbook import Runbook
from console.runbook_files import parse
from console.server.admin import add_user
from console.server.runbooks import import_runbooks
from console.server.tables import runs
from console.store.replica import Replica
from console.sync.client import SyncClient
from console.sync.engine import SyncEngine, SyncReport
from tests.stack import Stack

RUNBOOK = parse("""---
id: shop-errors
title: "shop: high error rate"
version: 1
last_reviewed: 2026-11-01
applies_to:
  service: shop
---

- [ ] Open the shop dashboard {#dashboard}
  <https://grafana.example.com/d/shop>
- [ ] Check recent deploys {#deploys}
  `kubectl -n shop rollout history deploy/shop`
- [ ] Roll back the last deploy (approval: manager) {#rollback}
- [ ] Post a status update {#status}
""")


@dataclass
class Console:
    """One person's console: a replica file, logged in as `user`."""

    stack: Stack
    replica: Replica
    user: str
    token: str

    async def sync_now(self) -> SyncReport:
        client = SyncClient(self.stack.url, self.token, self.replica.state().client_id)
        try:
            return await SyncEngine(self.replica, client).sync_once()
        finally:
            await client.aclose()

    def sync(self) -> SyncReport:
        return asyncio.run(self.sync_now())


def add_console(stack: Stack, root: Path, user: str, *, role: str = "responder") -> Console:
    """A new user on the server and a console of theirs (close its replica after the test)."""
    token = add_user(stack.engine, user, role=role)
    replica = Replica(root / f"replica-{user}.db")
    replica.set_server(stack.url, user)
    return Console(stack, replica, user, token)


def import_into(stack: Stack, *runbooks: Runbook) -> None:
    import_runbooks(stack.engine, runbooks)


def wait_for_runs(stack: Stack, count: int, timeout: float = 20.0) -> None:
    """Until the server has `count` runs: the engine attaches them in its pass after a write."""
    deadline = time.monotonic() + timeout
    while True:
        with stack.engine.connect() as conn:
            found = conn.execute(select(func.count()).select_from(runs)).scalar_one()
        if found >= count:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{found} runs after {timeout} s, expected {count}")
        time.sleep(0.05)
