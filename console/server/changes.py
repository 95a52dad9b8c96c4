"""The change log's sequence, and the feed that tells waiting consoles that it moved.

Every write transaction takes the next seq (under the write lock, so seqs follow commit order without
gaps) and stamps it on each replicated row it writes. After the commit the feed is told; `/sync/stream`
waits on it. Writers in other processes (admin commands, other server workers) are noticed by a slow
poll of the log.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime

from sqlalchemy import Connection, Engine, func, select

from console.server.bulk import Codec, fetch, insert_rows
from console.server.tables import change_log, server_meta

log = logging.getLogger(__name__)

_LAST_SEQ = select(func.coalesce(func.max(change_log.c.seq), 0))
_CHANGE_COLUMNS = ("seq", "at", "origin")


def last_seq(conn: Connection) -> int:
    return int(fetch(conn, _LAST_SEQ, {})[0][0])


def next_seq(conn: Connection, at: datetime, origin: str) -> int:
    """Open a change in the current write transaction; its rows carry the returned seq.

    Through the driver (`bulk`): every group commit runs this, and building the statement in
    SQLAlchemy cost more than the database's own work."""
    seq = last_seq(conn) + 1
    insert_rows(conn, change_log, _CHANGE_COLUMNS, [(seq, Codec(conn.dialect).time(at), origin[:60])])
    return seq


def read_meta(conn: Connection) -> dict[str, str]:
    return {key: value for key, value in conn.execute(select(server_meta.c.key, server_meta.c.value))}


class ChangeFeed:
    """The latest committed seq, and a way to wait until it passes a given one."""

    def __init__(self, engine: Engine, *, poll_seconds: float = 1.0) -> None:
        self._engine = engine
        self._poll_seconds = poll_seconds
        self._seq = 0
        self._moved = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closed = False

    @property
    def seq(self) -> int:
        return self._seq

    def is_closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """End every stream waiting on the feed: the server is shutting down."""
        self._closed = True
        self._moved.set()

    def start_reading(self) -> None:
        """Read the latest seq (blocking: run it in a thread)."""
        self._seq = max(self._seq, self._read())

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._poll(), name="change-feed-poll")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self.close()

    def publish(self, seq: int) -> None:
        """Called on the event loop after a commit."""
        if seq > self._seq:
            self._seq = seq
            self._moved.set()
            self._moved = asyncio.Event()

    async def wait_beyond(self, seq: int, timeout: float) -> int:
        """The latest seq once it is past `seq`, or the current one after `timeout` seconds."""
        if self._seq > seq:
            return self._seq
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._moved.wait(), timeout)
        return self._seq

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self._poll_seconds)
            try:
                seq = await asyncio.to_thread(self._read)
            except Exception:  # a busy or failing database: the next poll tries again
                log.debug("change feed poll failed", exc_info=True)
                continue
            self.publish(seq)

    def _read(self) -> int:
        with self._engine.connect() as conn:
            return last_seq(conn)
