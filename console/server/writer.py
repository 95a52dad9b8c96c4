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
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import OperationalError

from console.domain.errors import DomainError, KnownFailure
from console.domain.ids import uuid7
from console.domain.intake import Outcome
from console.server.bulk import Row
from console.server.changes import next_seq
from console.server.database import translate_storage_error
from console.server.ingest import (
    Command,
    IngestTransaction,
    IntakeView,
    incident_numbers,
    incidents_written_at,
)
from console.server.push import Push, PushOutcome, apply_push
from console.server.writelock import WriteLock

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Call:
    """Work of the server's own (the escalation engine's pass), run in a group's transaction:
    `run(conn, at, seq)`."""

    run: Callable[[Connection, datetime, int], Any]


Write = Command | Push | Call
Result = list[Outcome] | PushOutcome | Any | BaseException


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
        max_view: entries of intake's view (alerts and incidents by key) kept from one group to the
            next; beyond it the next group reads from the database again. About 600 bytes an alert:
            the default holds a storm of 100,000 open alerts (bench_intake's Alertmanager re-posts
            cycle through 110,000) in about 70 MB.
        log_slow: groups that take at least this long (s) to store are logged, with how much of it
            was the commit (the disk's fsync); their requests waited that long. 0: none.
    """

    def __init__(
        self,
        engine: Engine,
        lock: WriteLock,
        *,
        max_batch: int = 1000,
        max_pending: int = 5000,
        max_view: int = 200_000,
        log_slow: float = 0.0,
        now: Callable[[], datetime] = _utcnow,
        on_commit: Callable[[int], None] = lambda seq: None,
    ) -> None:
        self._engine = engine
        self._lock = lock
        self._max_batch = max_batch
        self._max_pending = max_pending
        self._max_view = max_view
        self._log_slow = log_slow
        self._now = now
        self._on_commit = on_commit
        self._queue: list[tuple[Write, asyncio.Future[Any]]] = []
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._conn: Connection | None = None
        self._stopping = False
        # What the last group left of intake's view, and its seq: the next group starts from it
        # when its own seq follows (no other process wrote between).
        self._view: IntakeView | None = None
        self._view_seq = 0
        self._draining: set[asyncio.Task[None]] = set()  # views let go, freed a slice at a time

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
        for draining in list(self._draining):  # what is left is freed at once: nothing waits now
            draining.cancel()
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        self._lock.close()

    async def submit(self, command: Command) -> list[Outcome]:
        result: list[Outcome] = await self._submit(command)
        return result

    async def submit_push(self, push: Push) -> PushOutcome:
        """Apply a console's ops; answered once they are committed, like intake."""
        result: PushOutcome = await self._submit(push)
        return result

    async def submit_call(self, run: Callable[[Connection, datetime, int], Any]) -> Any:
        """Run `run(conn, at, seq)` in a write transaction; its result once committed."""
        return await self._submit(Call(run))

    async def _submit(self, command: Write) -> Any:
        if self._task is None or self._task.done() or self._stopping:
            raise WriterStopped("The server cannot store events right now; retry later.")
        if len(self._queue) >= self._max_pending:
            raise Overloaded(f"{len(self._queue)} events are waiting to be stored; retry later.")
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
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
                # Let the answered requests write their replies before the next group's work holds
                # the loop; they used to wait for it (p50 at 2,000 events/s 19-21 ms, now 11-15).
                await asyncio.sleep(0)
        except BaseException:
            log.exception("the intake writer stopped")
            for _, future in self._queue:  # nothing may wait for an answer that never comes
                if not future.done():
                    future.set_exception(WriterStopped("The server cannot store events right now."))
            self._queue.clear()
            raise

    async def _commit(self, commands: list[Write]) -> list[Result]:
        assert self._conn is not None
        conn = self._conn
        began = time.perf_counter()
        try:
            async with self._lock.held():
                transaction = conn.begin()
                try:
                    await self._lock.within(transaction.connection)
                    at = self._now()
                    seq = next_seq(conn, at, _origin(commands))
                    numbers = incident_numbers(conn)
                    intake = [c for c in commands if not isinstance(c, Push | Call)]
                    view, self._view = self._view, None
                    if view is not None and seq != self._view_seq + 1:  # another process wrote since
                        self._let_go(view)
                        view = None
                    tx = IngestTransaction(conn, at=at, new_id=uuid7, numbers=numbers, seq=seq, view=view)
                    tx.prefetch(intake)
                    done: dict[int, Result] = {id(command): tx.apply(command) for command in intake}
                    tx.flush()
                    # Consoles' ops after the batch's events: they read what the events wrote.
                    for command in commands:
                        if isinstance(command, Push):
                            done[id(command)] = apply_push(conn, command, at=at, seq=seq, numbers=numbers)
                    # The server's own work last: an escalation pass sees this group's incidents.
                    calls = [command for command in commands if isinstance(command, Call)]
                    for command in calls:
                        done[id(command)] = command.run(conn, at, seq)
                    written = incidents_written_at(conn, seq) if calls else []
                    results = [done[id(command)] for command in commands]
                    committing = time.perf_counter()
                    await asyncio.to_thread(transaction.commit)
                    stored = time.perf_counter()
                    if self._log_slow and stored - began >= self._log_slow:
                        log.warning(
                            "a group of %d commands took %.0f ms to store, %.0f ms of it committing",
                            len(commands),
                            (stored - began) * 1000,
                            (stored - committing) * 1000,
                        )
                finally:
                    if transaction.is_active:
                        transaction.rollback()
            self._keep_view(tx.view, seq, commands, written)
            self._on_commit(seq)
            return results
        except Exception as exc:
            if len(commands) == 1:
                if isinstance(exc, OperationalError):
                    exc = translate_storage_error(exc)
                if not isinstance(exc, KnownFailure | DomainError):
                    log.exception("storing an event failed")
                return [exc]
            log.warning("a batch of %d failed (%s); storing its commands one by one", len(commands), exc)
            return [(await self._commit([command]))[0] for command in commands]

    def _keep_view(self, view: IntakeView, seq: int, commands: list[Write], written: list[Row]) -> None:
        """Keep the committed view for the next group, but not what other work in the group may
        have changed behind it: a console's ops change alerts and incidents (the whole view goes);
        an engine pass changes some incidents, and only those (`written`) go. Dropping every
        incident at each pass (one every 0.5 s under load) made the next groups read again each
        incident they touched."""
        full = view.size > self._max_view
        if full:
            log.info("intake's view reached its bound (%d entries): it starts again", view.size)
        if full or any(isinstance(c, Push) for c in commands):
            self._let_go(view)
            return
        view.forget_incidents(written)
        self._view, self._view_seq = view, seq

    def _let_go(self, view: IntakeView) -> None:
        """Free a view no group will use again over the next seconds, a slice at a time."""
        self._draining.add(task := asyncio.get_running_loop().create_task(self._drain(view)))
        task.add_done_callback(self._draining.discard)

    @staticmethod
    async def _drain(view: IntakeView) -> None:
        # A full view (200,000 entries) is 120 ms of CPU to free. At once it stopped the loop; in
        # back-to-back slices it still held the loop and the GIL while the next groups re-read and
        # committed (one took 154 ms). 1,000 entries every 10 ms: about 6 % of a core for 2 s.
        for _ in view.drain():
            await asyncio.sleep(0.01)


def _origin(commands: list[Write]) -> str:
    if any(isinstance(c, Push) for c in commands):
        return "console"
    return "intake" if any(not isinstance(c, Call) for c in commands) else "engine"
