"""A committed group's requests are answered before the next group's work takes the event loop.
Real SQLite file, real writer, one event loop."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import Connection

from console.server.database import migrate, open_engine
from console.server.writelock import WriteLock
from console.server.writer import GroupCommitWriter


def test_a_committed_group_is_answered_before_the_next_group_runs(tmp_path: Path) -> None:
    engine = open_engine(f"sqlite:///{tmp_path / 'server.db'}", writer=True)
    migrate(engine)
    order: list[str] = []

    async def main() -> None:
        writer = GroupCommitWriter(engine, WriteLock(tmp_path / "server.db"))
        writer.start()
        second: list[asyncio.Task[object]] = []

        def first_group(conn: Connection, at: datetime, seq: int) -> str:
            # Queued while this group commits: it lands in the next group.
            second.append(asyncio.get_running_loop().create_task(writer.submit_call(next_group)))
            return "first"

        def next_group(conn: Connection, at: datetime, seq: int) -> str:
            order.append("next group ran")
            return "next"

        async def first_request() -> None:
            assert await writer.submit_call(first_group) == "first"
            order.append("first request answered")

        try:
            await first_request()
            assert await second[0] == "next"
        finally:
            await writer.stop()

    asyncio.run(main())
    engine.dispose()
    assert order == ["first request answered", "next group ran"]


def test_a_group_slower_than_the_threshold_is_logged_with_its_commit_share(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    engine = open_engine(f"sqlite:///{tmp_path / 'server.db'}", writer=True)
    migrate(engine)
    caplog.set_level(logging.WARNING, logger="console.server.writer")

    def slow(conn: Connection, at: datetime, seq: int) -> str:
        time.sleep(0.15)  # as a long group's work would
        return "slow"

    def quick(conn: Connection, at: datetime, seq: int) -> str:
        return "quick"

    async def main() -> None:
        writer = GroupCommitWriter(engine, WriteLock(tmp_path / "server.db"), log_slow=0.1)
        writer.start()
        try:
            assert await writer.submit_call(quick) == "quick"
            assert await writer.submit_call(slow) == "slow"
        finally:
            await writer.stop()

    asyncio.run(main())
    engine.dispose()
    [record] = caplog.records
    words = record.getMessage().split()
    assert words[:4] == ["a", "group", "of", "1"]
    assert 150 <= float(words[6]) < 1000  # "took N ms to store"
    assert float(words[10]) < float(words[6])  # "N ms of it committing"
