"""The sync loop: push the outbox, pull what changed, and say how it is going (sync.md §4).

- Pushes go in batches, in outbox order; the server dedups them, so a batch whose answer was lost is
  simply sent again.
- Pulls run on a poke from the server's stream, when the stream (re)connects, after every push and
  on a slow timer, so a lost poke costs at most one timer period.
- Failures back off exponentially with full jitter, and every wait is cut short by new local work:
  a queue never waits for the *next* local op to be retried (the stuck-queue failure of sync.md §8).
The replica is SQLite and blocking, so every replica call runs in a worker thread: the UI's event
loop never waits on the disk.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, field

from console.domain.errors import KnownFailure
from console.store.replica import Replica
from console.sync.client import CursorExpired, Offline, ServerBusy, SyncClient, TokenRefused, UpgradeRequired
from console.sync.state import Status, SyncView, offline_message
from console.sync.wire import MAX_PUSH

log = logging.getLogger(__name__)


@dataclass(slots=True)
class SyncReport:
    """What one round did, for `python main.py sync`."""

    applied: int = 0
    noop: int = 0
    rejected: list[tuple[str, str, str]] = field(default_factory=list)  # (op type, incident id, reason)
    pulled: int = 0
    snapshots: int = 0
    pending: int = 0


@dataclass(frozen=True, slots=True)
class Backoff:
    base: float = 0.5
    cap: float = 30.0

    def delay(self, failures: int, rng: random.Random) -> float:
        """Full jitter: a random wait up to base·2ⁿ, capped, so consoles do not retry in step."""
        doublings = min(max(failures - 1, 0), 60)  # 2.0**n, bounded: a night offline is 1,000s of failures
        return rng.uniform(0, min(self.cap, self.base * 2.0**doublings))


class SyncEngine:
    def __init__(
        self,
        replica: Replica,
        client: SyncClient,
        *,
        on_change: Callable[[SyncView], None] = lambda view: None,
        slow_poll: float = 30.0,
        backoff: Backoff = Backoff(),
        rng: random.Random | None = None,
    ) -> None:
        self._replica = replica
        self._client = client
        self._on_change = on_change
        self._slow_poll = slow_poll
        self._backoff = backoff
        self._rng = rng or random.Random()
        self._wake = asyncio.Event()
        self._stopped = False
        self._view = SyncView(Status.OFFLINE, "Not synced yet.", 0, None, client.base_url)
        self._round = asyncio.Lock()
        self._page_seq = -1  # how far the replica has the server's changes; kept here for pokes

    @property
    def view(self) -> SyncView:
        return self._view

    def wake(self) -> None:
        """New local ops, or a poke: sync now rather than at the next timer. Call on the loop."""
        self._wake.set()

    def stop(self) -> None:
        self._stopped = True
        self._wake.set()

    async def _set(self, status: Status, message: str) -> None:
        state = await asyncio.to_thread(self._replica.state)
        pending = await asyncio.to_thread(self._replica.pending_count)
        self._page_seq = max(self._page_seq, state.page_seq)
        self._view = SyncView(status, message, pending, state.last_sync_at, self._client.base_url)
        self._on_change(self._view)

    def _announce(self, status: Status, message: str) -> None:
        """A new state with the last known counts: no trip to the disk on the way to the network."""
        view = self._view
        self._view = SyncView(status, message, view.pending, view.last_sync_at, view.server_url)
        self._on_change(self._view)

    # -- one round --

    async def sync_once(self) -> SyncReport:
        """Push everything pending, then pull until caught up. Raises KnownFailure subclasses."""
        async with self._round:
            report = SyncReport()
            await self._push_all(report)
            await self._pull_all(report)
            report.pending = await asyncio.to_thread(self._replica.pending_count)
            return report

    async def _push_all(self, report: SyncReport) -> None:
        while True:
            ops = await asyncio.to_thread(self._replica.pending_ops, MAX_PUSH)
            if not ops:
                return
            try:
                answer = await self._client.push(ops)
            except KnownFailure as exc:
                await asyncio.to_thread(self._replica.record_failure, [op.client_seq for op in ops], str(exc))
                raise
            results = answer.get("results", [])
            await asyncio.to_thread(self._replica.record_results, results, str(answer.get("hlc", "")))
            by_seq = {op.client_seq: op for op in ops}
            for result in results:
                status = result.get("status")
                if status == "applied":
                    report.applied += 1
                elif status == "noop":
                    report.noop += 1
                elif status == "rejected":
                    op = by_seq.get(result.get("client_seq", -1))
                    report.rejected.append(
                        (op.type if op else "?", op.entity_id if op else "?", str(result.get("reason", "")))
                    )
            if not results:  # the server took nothing from a non-empty batch: do not spin
                raise ServerBusy("The server processed none of the pushed changes; retrying later.")

    async def _pull_all(self, report: SyncReport) -> None:
        """Pull pages until caught up; the next page is fetched while this one is written, so the
        server's reading and the replica's writing overlap (a first sync is hundreds of pages)."""
        cursor = (await asyncio.to_thread(self._replica.state)).cursor
        fetching = asyncio.ensure_future(self._client.pull(cursor))
        try:
            while True:
                try:
                    page = await fetching
                except CursorExpired as exc:
                    log.info("new snapshot: %s", exc)
                    report.snapshots += 1
                    await asyncio.to_thread(self._replica.start_snapshot)
                    fetching = asyncio.ensure_future(self._client.pull(""))
                    continue
                more = bool(page.get("more"))
                if more:
                    fetching = asyncio.ensure_future(self._client.pull(str(page["cursor"])))
                report.pulled += await asyncio.to_thread(self._replica.apply_page, page)
                self._page_seq = max(self._page_seq, int(page.get("page_seq", -1)))
                if not more:
                    return
        finally:
            if not fetching.done():
                fetching.cancel()
                await asyncio.gather(fetching, return_exceptions=True)

    # -- running in the background --

    async def run(self) -> None:
        """Sync until stopped: after each local op, on pokes, on a timer; back off on failures."""
        listener = asyncio.create_task(self._listen(), name="sync-stream")
        failures = 0
        try:
            while not self._stopped:
                self._wake.clear()
                wait = self._slow_poll
                try:
                    self._announce(Status.SYNCING, "Syncing…")
                    await self.sync_once()
                    failures = 0
                    await self._set(Status.ONLINE, "In sync.")
                except (Offline, ServerBusy) as exc:
                    failures += 1
                    wait = self._retry_after(exc, failures)
                    await self._set(
                        Status.OFFLINE, offline_message(await asyncio.to_thread(self._replica.pending_count))
                    )
                except (TokenRefused, UpgradeRequired) as exc:
                    failures += 1
                    wait = max(self._retry_after(exc, failures), 60.0)
                    await self._set(Status.ERROR, str(exc))
                except KnownFailure as exc:
                    failures += 1
                    wait = self._retry_after(exc, failures)
                    await self._set(Status.ERROR, str(exc))
                await self._sleep(wait)
        finally:
            listener.cancel()
            await asyncio.gather(listener, return_exceptions=True)

    def _retry_after(self, exc: KnownFailure, failures: int) -> float:
        delay = self._backoff.delay(failures, self._rng)
        if isinstance(exc, ServerBusy) and exc.retry_after is not None:
            delay = max(delay, exc.retry_after)
        return delay

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)

    async def _listen(self) -> None:
        """Follow the server's pokes; each one that is news wakes the loop. The stream's first event
        after (re)connecting always wakes it: the link is back, so pending ops can go out now rather
        than when the loop's backoff ends. A broken stream is reopened with backoff."""
        failures = 0
        while not self._stopped:
            try:
                first = True
                async for seq in self._client.pokes():
                    failures = 0
                    if first or seq > self._page_seq:
                        self.wake()
                    first = False
            except KnownFailure as exc:
                log.debug("change stream: %s", exc)
            failures += 1
            await asyncio.sleep(self._backoff.delay(failures, self._rng))
