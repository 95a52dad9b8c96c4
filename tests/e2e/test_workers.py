"""`serve --workers 2`: two processes write one SQLite database and keep the dedup rules."""

from __future__ import annotations

import sqlite3
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import Server
from tests.server.wire import pd_trigger
from tests.serverproc import admin

pytestmark = pytest.mark.e2e

KEYS = 40
COPIES = 5  # each key is triggered this many times, from different connections at once


def test_two_workers_share_one_database_without_doubling_alerts_or_numbers(tmp_path: Path) -> None:
    routing_key = admin(tmp_path, "add-service", "shop")
    server = Server(tmp_path, extra=("--workers", "2")).start()
    try:

        def post(n: int) -> int:
            dedup_key = f"k{n % KEYS}"
            with httpx.Client(base_url=server.url, timeout=30) as client:  # a new connection each time
                body = pd_trigger(routing_key, dedup_key, summary=dedup_key)
                return client.post("/v2/enqueue", json=body).status_code

        with ThreadPoolExecutor(max_workers=16) as pool:
            statuses = list(pool.map(post, range(KEYS * COPIES)))
    finally:
        server.stop()

    assert statuses == [202] * (KEYS * COPIES)
    with sqlite3.connect(tmp_path / "server.db") as db:
        assert db.execute("SELECT count(*) FROM events").fetchone() == (KEYS * COPIES,)
        assert db.execute("SELECT count(*), count(DISTINCT dedup_key) FROM alerts").fetchone() == (KEYS, KEYS)
        assert db.execute("SELECT sum(repeat_count) FROM alerts").fetchone() == (KEYS * (COPIES - 1),)
        numbers = [n for (n,) in db.execute("SELECT number FROM incidents ORDER BY number")]
    assert numbers == list(range(1, KEYS + 1))
