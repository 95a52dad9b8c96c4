"""The directory's cache of integration keys and user tokens, on a real SQLite file: a known key
stays answered while it is read again, and requests that need a read share one."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event, text

from console.server.admin import add_service, add_user
from console.server.database import migrate, open_engine
from console.server.directory import Directory


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _engine(tmp_path: Path) -> Engine:
    engine = open_engine(f"sqlite:///{tmp_path / 'server.db'}", writer=True)
    migrate(engine)
    return engine


def _count_reads(engine: Engine, table: str) -> list[str]:
    reads: list[str] = []

    @event.listens_for(engine, "before_cursor_execute")
    def _seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if f"FROM {table}" in statement:
            reads.append(statement)

    return reads


def test_a_known_key_past_its_time_is_answered_while_one_read_refreshes_it(tmp_path: Path) -> None:
    engine = _engine(tmp_path)
    key = add_service(engine, "db")
    clock = Clock()
    directory = Directory(engine, clock=clock)
    reads = _count_reads(engine, "integrations")

    async def main() -> None:
        first = await directory.integration(key)
        assert first is not None
        assert len(reads) == 1
        clock.now += 31  # past the 30 s a key is trusted
        answers = await asyncio.gather(*(directory.integration(key) for _ in range(50)))
        assert answers == [first] * 50  # none waited for the read
        for _ in range(100):  # the one read, off the loop
            if len(reads) == 2:
                break
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)
        assert len(reads) == 2

    asyncio.run(main())


def test_requests_for_a_key_not_in_the_cache_share_one_read(tmp_path: Path) -> None:
    engine = _engine(tmp_path)
    key = add_service(engine, "db")
    directory = Directory(engine)
    reads = _count_reads(engine, "integrations")

    async def main() -> None:
        answers = await asyncio.gather(*(directory.integration(key) for _ in range(20)))
        assert answers[0] is not None
        assert answers == [answers[0]] * 20
        assert await directory.integration("not-a-key") is None

    asyncio.run(main())
    assert len(reads) == 2


def test_a_removed_key_is_refused_once_read_again_and_a_new_one_is_known_after_two_seconds(
    tmp_path: Path,
) -> None:
    engine = _engine(tmp_path)
    key = add_service(engine, "db")
    clock = Clock()
    directory = Directory(engine, clock=clock)

    async def main() -> None:
        assert await directory.integration(key) is not None
        assert await directory.integration("later") is None
        with engine.begin() as conn:
            conn.execute(text("UPDATE integrations SET key = 'later' WHERE key = :k"), {"k": key})
        clock.now += 1
        assert await directory.integration("later") is None  # a miss is remembered briefly
        clock.now += 30
        assert await directory.integration(key) is not None  # the stale answer, while it is read
        await _settled(directory)
        assert await directory.integration(key) is None
        assert await directory.integration("later") is not None  # the miss expired: read again

    asyncio.run(main())


def test_a_failed_refresh_is_logged_and_the_known_entry_stands(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    engine = _engine(tmp_path)
    key = add_service(engine, "db")
    token = add_user(engine, "jordan")
    clock = Clock()
    directory = Directory(engine, clock=clock)

    async def main() -> None:
        integration = await directory.integration(key)
        user = await directory.user(token)
        assert user is not None
        assert user.name == "jordan"
        with engine.begin() as conn:
            conn.execute(text("ALTER TABLE integrations RENAME TO integrations_gone"))
        clock.now += 31
        with caplog.at_level(logging.WARNING, logger="console.server.directory"):
            assert await directory.integration(key) == integration
            await _settled(directory)
        assert "reading a key's entry failed" in caplog.text
        assert await directory.integration(key) == integration
        assert await directory.user("not-a-token") is None
        await _settled(directory)

    asyncio.run(main())


async def _settled(directory: Directory) -> None:
    """Until no read of the directory runs."""
    for _ in range(200):
        if not directory._integrations._reading and not directory._users._reading:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("a read never ended")
