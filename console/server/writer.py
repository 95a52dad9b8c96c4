"""The one writer of intake: commands queue up and are committed in groups, then answered.

A request is answered only after the transaction holding its event has committed (fsync'd), yet
one commit serves every request that arrived while the previous one was writing. Batches grow
with load, so throughput rises instead of latency.

The batch is built on the event loop's own thread: SQLite releases Python's GIL around every row it
steps, and a writer thread competing with a busy event loop for the GIL waited for it on each row
(measured: 600 µs of waiting per event). Only the commit, one long fsync that releases the GIL once,
runs in a worker thread, so the loop keeps reading requests meanwhile. Several server processes can
share the database through `WriteLock`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import OperationalError

from console.domain.errors import KnownFailure
from console.domain.ids import uuid7
from console.domain.intake import Outcome
from console.server.database import translate_storage_error
from console.server.ingest import Command, IngestTransaction, incident_numbers
from console.server.writelock import WriteLock

log = logging.getLogger(__name__)

Result = list[Outcome] | BaseException


class Overloaded(KnownFailure):
    """More events are waiting than the writer may queue; senders should retry later."""


class WriterStopped(KnownFailure):
    """The writer cannot store anything (its database failed, or it was stopped)."""


def _utcnow() -> datetime:
    return datetime.now(UTC)


class GroupCommitWriter:
    """Owns the write connection; `start`, `submit` and `stop` on one event loop.

    Args:
        lock: shared with other processes writing the same database.
        max_batch: most commands in one transaction.
        max_pending: queued commands beyond which `submit` raises Overloaded (answered 429).
    """

    def __init__(
        self,
        engine: Engine,
        lock: WriteLock,
        *,
        max_batch: int = 1000,
        max_pending: int = 5000,
        now: Callable[[], datetime] = _utcnow,
    ) -> None:
        self._engine = engine
        self._lock = lock
        self._max_batch = max_batch
        self._max_pending = max_pending
        self._now = now
        self._queue: list[tuple[Command, asyncio.Future[list[Outcome]]]] = []
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._conn: Connection | None = None
        self._stopping = False

    @property
    def pending(self) -> int:
        return len(self._queue)

    def start(self) -> None:
        self._conn = self._engine.connect()
        self._task = asyncio.get_running_loop().create_task(self._run(), name="intake-writer")

    async def stop(self) -> None:
        """Commit and answer everything queued, then release the connection."""
        if self._task is None:
            return
        self._stopping = True
        self._wakeup.set()
        await self._task
        self._task = None
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        self._lock.close()

    async def submit(self, command: Command) -> list[Outcome]:
        if self._task is None or self._task.done() or self._stopping:
            raise WriterStopped("The server cannot store events right now; retry later.")
        if len(self._queue) >= self._max_pending:
            raise Overloaded(f"{len(self._queue)} events are waiting to be stored; retry later.")
        future: asyncio.Future[list[Outcome]] = asyncio.get_running_loop().create_future()
        self._queue.append((command, future))
        self._wakeup.set()
        return await future

    async def _run(self) -> None:
        try:
            while True:
                if not self._queue:
                    if self._stopping:
                        return
                    self._wakeup.clear()
                    await self._wakeup.wait()
                    continue
                batch = self._queue[: self._max_batch]
                del self._queue[: self._max_batch]
                results = await self._commit([command for command, _ in batch])
                for (_, future), result in zip(batch, results, strict=True):
                    if future.done():  # the sender went away; its event is stored all the same
                        continue
                    if isinstance(result, BaseException):
                        future.set_exception(result)
                    else:
                        future.set_result(result)
        except BaseException:
            log.exception("the intake writer stopped")
            for _, future in self._queue:  # nothing may wait for an answer that never comes
                if not future.done():
                    future.set_exception(WriterStopped("The server cannot store events right now."))
            self._queue.clear()
            raise

    async def _commit(self, commands: list[Command]) -> list[Result]:
        assert self._conn is not None
        conn = self._conn
        try:
            async with self._lock.held():
                transaction = conn.begin()
                try:
                    await self._lock.within(transaction.connection)
                    numbers = incident_numbers(conn)
                    tx = IngestTransaction(conn, at=self._now(), new_id=uuid7, numbers=numbers)
                    tx.prefetch(commands)
                    results: list[Result] = [tx.apply(command) for command in commands]
                    tx.flush()
                    await asyncio.to_thread(transaction.commit)
                finally:
                    if transaction.is_active:
                        transaction.rollback()
            return results
        except Exception as exc:
            if len(commands) == 1:
                if isinstance(exc, OperationalError):
                    exc = translate_storage_error(exc)
                if not isinstance(exc, KnownFailure):
                    log.exception("storing an event failed")
                return [exc]
            log.warning("a batch of %d failed (%s); storing its commands one by one", len(commands), exc)
            return [(await self._commit([command]))[0] for command in commands]
