"""The one writer of intake: commands queue up and are committed in groups, then answered.

A request is answered only after the transaction holding its event has committed (fsync'd), yet
one commit serves every request that arrived while the previous one was writing. Batches grow
with load, so throughput rises instead of latency.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import queue
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import OperationalError

from console.domain.errors import KnownFailure
from console.domain.ids import uuid7
from console.domain.intake import Outcome
from console.server.database import translate_storage_error
from console.server.ingest import Command, IngestTransaction, next_incident_number

log = logging.getLogger(__name__)

_Item = tuple[Command, "asyncio.Future[list[Outcome]]", asyncio.AbstractEventLoop]


class Overloaded(KnownFailure):
    """More events are waiting than the writer may queue; senders should retry later."""


class WriterStopped(KnownFailure):
    """The writer cannot store anything (its database failed, or it was stopped)."""


def _utcnow() -> datetime:
    return datetime.now(UTC)


class GroupCommitWriter:
    """Owns the write connection in its own thread; `submit` from the event loop.

    Args:
        max_batch: most commands in one transaction.
        max_pending: queued commands beyond which `submit` raises Overloaded (answered 429).
    """

    def __init__(
        self,
        engine: Engine,
        *,
        max_batch: int = 1000,
        max_pending: int = 5000,
        now: Callable[[], datetime] = _utcnow,
    ) -> None:
        self._engine = engine
        self._max_batch = max_batch
        self._max_pending = max_pending
        self._now = now
        self._queue: queue.SimpleQueue[_Item | None] = queue.SimpleQueue()
        self._pending = 0
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._failure: BaseException | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="intake-writer", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Finish everything queued, then end the thread."""
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()
            self._thread = None

    @property
    def pending(self) -> int:
        return self._pending

    async def submit(self, command: Command) -> list[Outcome]:
        if self._failure is not None or self._thread is None:
            raise WriterStopped("The server cannot store events right now; retry later.") from self._failure
        with self._lock:
            if self._pending >= self._max_pending:
                raise Overloaded(f"{self._pending} events are waiting to be stored; retry later.")
            self._pending += 1
        loop = asyncio.get_running_loop()
        future: asyncio.Future[list[Outcome]] = loop.create_future()
        self._queue.put((command, future, loop))
        return await future

    def _run(self) -> None:
        try:
            self._loop()
        except BaseException as exc:  # nothing may be left waiting for an answer that never comes
            log.exception("the intake writer stopped")
            self._failure = exc
            while True:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is not None:
                    self._answer([item], [WriterStopped("The server cannot store events right now.")])

    def _loop(self) -> None:
        with self._engine.connect() as conn:
            stopping = False
            while not stopping:
                first = self._queue.get()
                if first is None:
                    break
                batch = [first]
                while len(batch) < self._max_batch:
                    try:
                        item = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if item is None:
                        stopping = True
                        break
                    batch.append(item)
                results = self._commit(conn, [command for command, _, _ in batch])
                with self._lock:
                    self._pending -= len(batch)
                self._answer(batch, results)

    def _commit(self, conn: Connection, commands: list[Command]) -> list[list[Outcome] | BaseException]:
        try:
            with conn.begin():
                # Numbers are read inside the (write-locked) transaction, so other writers of the same
                # database (admin commands, a second server process) never hand out the same one.
                numbers = itertools.count(next_incident_number(conn))
                tx = IngestTransaction(conn, at=self._now(), new_id=uuid7, numbers=numbers.__next__)
                tx.prefetch(commands)
                results: list[list[Outcome] | BaseException] = [tx.apply(command) for command in commands]
                tx.flush()
            return results
        except Exception as exc:
            if len(commands) == 1:
                if isinstance(exc, OperationalError):
                    exc = translate_storage_error(exc)
                if not isinstance(exc, KnownFailure):
                    log.exception("storing an event failed")
                return [exc]
            log.warning("a batch of %d failed (%s); storing its commands one by one", len(commands), exc)
            return [self._commit(conn, [command])[0] for command in commands]

    @staticmethod
    def _answer(batch: list[_Item], results: list[list[Outcome] | BaseException]) -> None:
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], Any]]] = {}
        for (_, future, loop), result in zip(batch, results, strict=True):
            by_loop.setdefault(loop, []).append((future, result))
        for loop, answers in by_loop.items():
            try:
                loop.call_soon_threadsafe(_deliver, answers)
            except RuntimeError:  # that loop has closed: nobody is waiting any more
                log.warning("%d answers had no event loop to go to", len(answers))


def _deliver(answers: list[tuple[asyncio.Future[Any], Any]]) -> None:
    for future, result in answers:
        if future.done():  # the request was cancelled (client went away); the event is stored anyway
            continue
        if isinstance(result, BaseException):
            future.set_exception(result)
        else:
            future.set_result(result)
