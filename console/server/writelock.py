"""One writer at a time across server processes: a lock the kernel hands over the moment it is free.

SQLite serialises writers itself, but a writer that finds the database locked sleeps in growing
steps (up to 100 ms) before it tries again, which throttles group commit. An flock on a file beside
the database wakes the next process at once. PostgreSQL gets a transaction-scoped advisory lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
from collections.abc import AsyncIterator
from pathlib import Path

from sqlalchemy import Connection, text

_ADVISORY_KEY = 0x52435752  # "RCWR"


class WriteLock:
    def __init__(self, database_file: Path | None) -> None:
        self._fd: int | None = None
        if database_file is not None:
            self._fd = os.open(f"{database_file}.write-lock", os.O_RDWR | os.O_CREAT, 0o600)

    @contextlib.asynccontextmanager
    async def held(self) -> AsyncIterator[None]:
        """Hold the file lock (SQLite) around a whole transaction: take it before BEGIN."""
        if self._fd is None:
            yield
            return
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:  # another process is writing: wait off the event loop
            await asyncio.to_thread(fcntl.flock, self._fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    async def within(self, conn: Connection) -> None:
        """Inside the transaction: PostgreSQL's advisory lock, released by its commit or rollback."""
        if self._fd is None:
            await asyncio.to_thread(
                conn.execute, text("SELECT pg_advisory_xact_lock(:k)"), {"k": _ADVISORY_KEY}
            )

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def lock_transaction(conn: Connection) -> None:
    """For a writer outside the server (admin commands), inside its transaction: on PostgreSQL the
    advisory lock; on SQLite the transaction's BEGIN IMMEDIATE already excludes other writers."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _ADVISORY_KEY})
