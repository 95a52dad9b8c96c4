"""Wall benchmark: the NOC wall in an alert storm. It measures and prints; it asserts nothing.

    QT_QPA_PLATFORM=offscreen /work/venv/bin/python -m tests.perf.bench_wall                # 200/s for 30 s
    QT_QPA_PLATFORM=offscreen /work/venv/bin/python -m tests.perf.bench_wall --rate 400 --seconds 10

Set-up: a real replica (SQLite file) holding `--history` incidents resolved yesterday and `--open`
open ones; the WallWindow shown at 1920x1080 (offscreen: it lays out and paints as on a screen)
with the on-call panel, fed by WallFeeder (reads in a worker thread, only what the ChangeWatch
marked), on a qasync loop as app.py runs the console, with sys.setswitchinterval(0.001) as there.

The storm: a producer thread applies server pull pages to the replica, as the sync engine's worker
thread does, every 50 ms: `--rate` new incidents a second (a third high priority), and besides
acknowledgements and resolutions of earlier ones (10 % and 5 % of the rate), each page followed by
the "something changed" the engine gives the reader (feeder.request()). Meanwhile a 10 ms QTimer
records the event loop's lag. Printed: what was applied, the reads and the layouts (and the time a
layout takes on the UI thread), the lag (max, p99, stalls over 100 ms: the target is none), and how
long from a page applied to its incidents being held by the wall.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import random
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("QT_API", "pyside6")

import qasync
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication

from console.store.replica import Replica
from console.sync.state import Status, SyncView
from console.ui.wall import WallWindow
from console.ui.wall_feeder import WallFeeder
from tests.ui.test_wall import SERVER, Row, ScheduleBoard, demo_schedules, pull_page

TICK_MS = 10
TARGET_STALL_MS = 100.0
PAGE_EVERY = 0.05  # seconds between pages in the storm


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def say(text: str) -> None:
    print(text, flush=True)


class LagMeter:
    """A 10 ms timer on the UI thread: how late each tick is, is how long the loop was busy."""

    def __init__(self) -> None:
        self.lags: list[float] = []
        self.stalls: list[tuple[float, float]] = []  # (when it ended, lag ms)
        self._last = time.perf_counter()
        self._timer = QTimer()
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._timer.setInterval(TICK_MS)
        self._timer.timeout.connect(self._tick)

    def start(self) -> None:
        self.lags.clear()
        self.stalls.clear()
        self._last = time.perf_counter()
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop()

    def _tick(self) -> None:
        now = time.perf_counter()
        lag = max(0.0, (now - self._last) * 1000 - TICK_MS)
        self.lags.append(lag)
        if lag > TARGET_STALL_MS:
            self.stalls.append((now, lag))
        self._last = now


# (what, start, end) of everything that may hold the loop or the GIL, to explain each stall
ACTIVITY: list[tuple[str, float, float]] = []


def timed(record: list[float], method: Callable[..., None], what: str) -> Callable[..., None]:
    def wrapper(*args: object, **kwargs: object) -> None:
        start = time.perf_counter()
        method(*args, **kwargs)
        end = time.perf_counter()
        record.append((end - start) * 1000)
        ACTIVITY.append((what, start, end))

    return wrapper


def explain(stall_end: float, lag_ms: float) -> str:
    """What overlapped a stall of the loop (the UI thread's own work, or threads holding the GIL)."""
    start = stall_end - lag_ms / 1000
    found = [f"{what} {(end - begin) * 1000:.0f} ms" for what, begin, end in ACTIVITY
             if begin < stall_end and end > start]  # fmt: skip
    return ", ".join(found) or "nothing recorded (painting, Qt events)"


def seed(replica: Replica, history: int, opened: int) -> int:
    """Yesterday's resolved incidents and today's open ones; returns the next number."""
    rng = random.Random(7)
    rows = [Row(n, f"old incident {n}", "high" if n % 3 == 0 else "low", "resolved",
                age=24 * 60 + rng.uniform(0, 600), service=1 + n % 8, acked_by="sam")
            for n in range(1, history + 1)]  # fmt: skip
    rows += [Row(n, f"open incident {n}", "high" if n % 3 == 0 else "low",
                 "acknowledged" if n % 2 else "triggered", age=rng.uniform(1, 600), service=1 + n % 8,
                 acked_by="priya" if n % 2 else None)
             for n in range(history + 1, history + opened + 1)]  # fmt: skip
    now = datetime.now(UTC)
    for seq, start in enumerate(range(0, len(rows), 2000), start=1):
        replica.apply_page(pull_page(rows[start : start + 2000], now=now, seq=seq))
    return history + opened + 1


class Storm:
    """The producer: pages into the replica from a thread, as the sync engine's worker does."""

    def __init__(
        self, replica: Replica, first: int, rate: int, seconds: float, poke: Callable[[], object]
    ) -> None:
        self._replica = replica
        self._next = first
        self._rate = rate
        self._seconds = seconds
        self._poke = poke
        self._rng = random.Random(11)
        self._open: list[Row] = []
        self.applied: list[tuple[float, str]] = []  # (when applied, last new incident's id)
        self.counts = {"new": 0, "acknowledged": 0, "resolved": 0, "pages": 0}
        self.apply_ms: list[float] = []
        self.thread = threading.Thread(target=self._run, name="storm", daemon=True)

    def _run(self) -> None:
        per_page = self._rate * PAGE_EVERY
        owed = acks_owed = resolves_owed = 0.0
        seq = 1000
        start = time.perf_counter()
        while (elapsed := time.perf_counter() - start) < self._seconds:
            owed += per_page
            count, owed = int(owed), owed - int(owed)
            new = [Row(self._next + k, f"storm alert {self._next + k}: disk full on node-{k % 50}",
                       "high" if (self._next + k) % 3 == 0 else "low", age=0.0, service=1 + k % 8)
                   for k in range(count)]  # fmt: skip
            self._next += count
            changed: list[Row] = []
            acks_owed += per_page * 0.10
            resolves_owed += per_page * 0.05
            acks, resolves = int(acks_owed), int(resolves_owed)
            acks_owed -= acks
            resolves_owed -= resolves
            for _ in range(acks):
                if self._open:
                    row = self._open.pop(self._rng.randrange(len(self._open)))
                    changed.append(Row(row.number, row.title, row.priority, "acknowledged", age=0.1,
                                       service=row.service, acked_by="lee", acked_after=0.05))  # fmt: skip
                    self._open.append(changed[-1])
            for _ in range(resolves):
                if self._open:
                    row = self._open.pop(self._rng.randrange(len(self._open)))
                    changed.append(Row(row.number, row.title, row.priority, "resolved", age=0.2,
                                       service=row.service, resolved_after=0.1))  # fmt: skip
            self._open.extend(new)
            seq += 1
            began = time.perf_counter()
            self._replica.apply_page(pull_page([*new, *changed], now=datetime.now(UTC), seq=seq))
            done = time.perf_counter()
            self.apply_ms.append((done - began) * 1000)
            ACTIVITY.append(("apply_page (storm thread)", began, done))
            if new:
                self.applied.append((done, new[-1].id))
            self.counts["new"] += len(new)
            self.counts["acknowledged"] += sum(r.status == "acknowledged" for r in changed)
            self.counts["resolved"] += sum(r.status == "resolved" for r in changed)
            self.counts["pages"] += 1
            self._poke()
            time.sleep(max(0.0, start + (elapsed // PAGE_EVERY + 1) * PAGE_EVERY - time.perf_counter()))


async def bench(args: argparse.Namespace, root: Path) -> None:
    loop = asyncio.get_running_loop()
    replica = Replica(root / "replica.db")
    replica.set_server(SERVER, "wallboard")
    began = time.perf_counter()
    first = seed(replica, args.history, args.open)
    say(f"replica: {args.history:,} resolved yesterday + {args.open:,} open "
        f"({time.perf_counter() - began:.1f} s to write)")  # fmt: skip

    wall = WallWindow()
    wall.resize(1920, 1080)
    wall.show()
    layouts: list[float] = []
    wall.lay_out = timed(layouts, wall.lay_out, "layout (UI thread)")  # type: ignore[method-assign]
    feeder = WallFeeder(wall, replica, ScheduleBoard(demo_schedules()))
    on_call = asyncio.ensure_future(feeder.run_on_call())
    wall.set_sync_view(SyncView(Status.ONLINE, "In sync.", 0, datetime.now(UTC), SERVER))
    meter = LagMeter()

    meter.start()
    began = time.perf_counter()
    feeder.request()
    await feeder.idle()
    wall.refresh()
    await asyncio.sleep(0.5)
    meter.stop()
    say(
        f"first read: {(time.perf_counter() - began) * 1000:.0f} ms to the wall laid out "
        f"({len(wall.ordered):,} open tiles, {wall.pages} pages); loop lag max {max(meter.lags):.0f} ms"
    )

    reads = 0
    original = feeder.read

    read_ms: list[float] = []

    def counted_read() -> object:
        nonlocal reads
        reads += 1
        start = time.perf_counter()
        try:
            return original()
        finally:
            end = time.perf_counter()
            read_ms.append((end - start) * 1000)
            ACTIVITY.append(("read (worker)", start, end))

    feeder.read = counted_read  # type: ignore[assignment,method-assign]
    storm = Storm(replica, first, args.rate, args.seconds, lambda: loop.call_soon_threadsafe(feeder.request))
    layouts.clear()
    collections: list[tuple[int, float]] = []  # (generation, ms) of each garbage collection
    started: list[float] = []

    def on_gc(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            started.append(time.perf_counter())
        elif started:
            begin = started.pop()
            collections.append((info["generation"], (time.perf_counter() - begin) * 1000))
            ACTIVITY.append((f"gc gen {info['generation']}", begin, time.perf_counter()))

    gc.callbacks.append(on_gc)
    meter.start()
    began_storm = time.perf_counter()
    storm.thread.start()
    seen: list[float] = []
    pending = 0
    while storm.thread.is_alive() or pending < len(storm.applied):
        await asyncio.sleep(0.02)
        now = time.perf_counter()
        while pending < len(storm.applied) and wall.knows(storm.applied[pending][1]):
            seen.append((now - storm.applied[pending][0]) * 1000)
            pending += 1
        if not storm.thread.is_alive() and now - storm.applied[-1][0] > 10:
            break
    await feeder.idle()
    await asyncio.sleep(0.5)
    meter.stop()
    gc.callbacks.remove(on_gc)
    on_call.cancel()
    await asyncio.gather(on_call, return_exceptions=True)

    lags = meter.lags
    stalls = [lag for lag in lags if lag > TARGET_STALL_MS]
    c = storm.counts
    say(
        f"\nstorm: {c['new']:,} new incidents in {args.seconds:g} s ({c['new'] / args.seconds:.0f}/s), "
        f"{c['acknowledged']:,} acknowledged, {c['resolved']:,} resolved, in {c['pages']:,} pages "
        f"(apply p50 {percentile(storm.apply_ms, 50):.1f} ms, max {max(storm.apply_ms):.1f} ms, "
        "storm thread)"
    )
    say(
        f"wall: {reads:,} reads, {len(layouts):,} layouts; a layout on the UI thread p50 "
        f"{percentile(layouts, 50):.1f} ms, p99 {percentile(layouts, 99):.1f} ms, max {max(layouts):.1f} ms; "
        f"{len(wall.ordered):,} open tiles at the end, {wall.pages} pages"
    )
    say(
        f"reads in the worker thread: p50 {percentile(read_ms, 50):.1f} ms, max {max(read_ms):.1f} ms; "
        f"garbage collections: {len(collections)}, the longest "
        f"{max((ms for _, ms in collections), default=0):.0f} ms (generation "
        f"{max(collections, key=lambda c: c[1], default=(0, 0))[0]})"
    )
    say(
        f"event loop lag ({len(lags):,} ticks of {TICK_MS} ms): p50 {percentile(lags, 50):.1f} ms, "
        f"p99 {percentile(lags, 99):.1f} ms, max {max(lags):.1f} ms, stalls > {TARGET_STALL_MS:g} ms: "
        f"{len(stalls)}   target no stall > {TARGET_STALL_MS:g} ms: {'MET' if not stalls else 'NOT MET'}"
    )
    for end, lag in meter.stalls:
        say(f"  stall of {lag:.0f} ms at +{end - began_storm:.1f} s: {explain(end, lag)}")
    say(
        f"page applied -> held by the wall: p50 {percentile(seen, 50):.0f} ms, "
        f"p99 {percentile(seen, 99):.0f} ms, max {max(seen, default=0):.0f} ms "
        f"({len(seen):,} of {len(storm.applied):,} pages seen)"
    )
    wall.close()
    replica.close()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rate", type=int, default=200, help="new incidents a second (default 200)")
    parser.add_argument("--seconds", type=float, default=30.0, help="how long the storm lasts (default 30)")
    parser.add_argument("--history", type=int, default=20_000, help="incidents resolved yesterday")
    parser.add_argument("--open", type=int, default=500, help="incidents open before the storm")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    sys.setswitchinterval(0.001)  # as console/app.py: the UI thread gets the GIL back quickly
    app = QApplication.instance() or QApplication(sys.argv[:1])
    with (
        tempfile.TemporaryDirectory() as tmp,
        asyncio.Runner(loop_factory=lambda: qasync.QEventLoop(app)) as runner,
    ):
        runner.run(bench(args, Path(tmp)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
