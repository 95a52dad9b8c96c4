"""A lean HTTP/1.1 load generator for the intake benchmark, run in its own process.

    python -m tests.perf.loadgen '<spec as JSON>'      # prints one JSON line with the results

Raw keep-alive sockets (asyncio protocols on uvloop), no pipelining, one request in flight per
connection. Two modes:

open    requests are due on a fixed schedule (`rate` per second) whether or not earlier ones were
        answered; one that finds no free connection waits in a backlog. Latency is measured from the
        scheduled time, so a stalled server shows up in the figures (no coordinated omission).
closed  every connection sends its next request as soon as the last one is answered (saturation).

Both stop sending at the end of the schedule, then wait (bounded) for every answer, so each request
is accounted for: answered with a status, or lost with its connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import resource
import sys
import time
from array import array
from collections import deque
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, TypedDict, cast

from tests.perf.workload import AlertmanagerGroups, PagerDutyMix, Workload


class Spec(TypedDict):
    port: int
    mode: str  # "open" | "closed"
    workload: dict[str, Any]
    connections: int
    rate: float  # open mode: requests per second
    warmup: float  # seconds sent but left out of the figures
    duration: float  # seconds measured after the warm-up
    drain_timeout: float


@dataclass(slots=True)
class Stats:
    """What happened to every request; times are time.perf_counter() seconds."""

    sent: int = 0  # scheduled (open) or sent (closed)
    written: int = 0  # put on a connection
    lost: int = 0
    status: dict[int, int] = field(default_factory=dict)
    items_ok: int = 0
    # per answered request
    started: array[float] = field(default_factory=lambda: array("d"))  # scheduled (open) or sent (closed)
    finished: array[float] = field(default_factory=lambda: array("d"))
    lag: array[float] = field(default_factory=lambda: array("d"))  # sent minus scheduled
    ok: array[int] = field(default_factory=lambda: array("b"))
    items: array[int] = field(default_factory=lambda: array("i"))
    max_backlog: int = 0
    reconnects: int = 0


class Client(asyncio.Protocol):
    """One keep-alive connection with at most one request in flight."""

    def __init__(self, on_answer: Callable[[Client, int], None], on_lost: Callable[[Client], None]) -> None:
        self._on_answer = on_answer
        self._on_lost = on_lost
        self._transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self.busy = False
        self.closed = False
        self.scheduled = 0.0
        self.sent_at = 0.0
        self.items = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's do not subclass asyncio's

    def send(self, request: bytes, items: int, scheduled: float) -> None:
        assert self._transport is not None
        self.busy = True
        self.items = items
        self.scheduled = scheduled
        self.sent_at = time.perf_counter()
        self._transport.write(request)

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer
        buffer += data
        while True:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(buffer[:end]).lower()
            at = head.find(b"\r\ncontent-length:")
            if at < 0:  # the server always sends a length; anything else is a broken answer
                self.close()
                return
            stop = head.find(b"\r\n", at + 2)
            length = int(head[at + 17 : stop if stop >= 0 else end])
            total = end + 4 + length
            if len(buffer) < total:
                return
            status = int(buffer[9:12])
            del buffer[:total]
            self.busy = False
            self._on_answer(self, status)

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._on_lost(self)


class Generator:
    def __init__(self, spec: Spec, workload: Workload) -> None:
        self.spec = spec
        self.workload = workload
        self.stats = Stats()
        self.clients: list[Client] = []
        self.idle: deque[Client] = deque()
        self.backlog: deque[tuple[bytes, int, float]] = deque()
        self.outstanding = 0
        self.deadline = 0.0
        self.closed_mode = spec["mode"] == "closed"
        self.stopping = False
        self._done = asyncio.Event()
        self._reconnects: set[asyncio.Task[None]] = set()

    async def connect(self) -> None:
        loop = asyncio.get_running_loop()
        _, client = await loop.create_connection(
            lambda: Client(self.answered, self.lost), "127.0.0.1", self.spec["port"]
        )
        self.clients.append(client)
        self.give(client)

    def give(self, client: Client) -> None:
        """A free connection: it takes the oldest waiting request, or the next one in closed mode."""
        if self.backlog:
            request, items, scheduled = self.backlog.popleft()
            self.stats.written += 1
            client.send(request, items, scheduled)
        elif self.closed_mode and not self.stopping and time.perf_counter() < self.deadline:
            request, items = self.workload.next()
            self.stats.sent += 1
            self.stats.written += 1
            self.outstanding += 1
            client.send(request, items, time.perf_counter())
        else:
            self.idle.append(client)

    def dispatch(self, request: bytes, items: int, scheduled: float) -> None:
        self.stats.sent += 1
        self.outstanding += 1
        while self.idle:
            client = self.idle.popleft()
            if not client.closed:
                self.stats.written += 1
                client.send(request, items, scheduled)
                return
        self.backlog.append((request, items, scheduled))
        self.stats.max_backlog = max(self.stats.max_backlog, len(self.backlog))

    def answered(self, client: Client, status: int) -> None:
        now = time.perf_counter()
        stats = self.stats
        stats.status[status] = stats.status.get(status, 0) + 1
        ok = 200 <= status < 300
        if ok:
            stats.items_ok += client.items
        stats.started.append(client.scheduled)
        stats.finished.append(now)
        stats.lag.append(client.sent_at - client.scheduled)
        stats.ok.append(1 if ok else 0)
        stats.items.append(client.items)
        self.outstanding -= 1
        self.give(client)
        self._check_done()

    def lost(self, client: Client) -> None:
        if client in self.clients:
            self.clients.remove(client)
        if client.busy:
            client.busy = False
            self.stats.lost += 1
            self.outstanding -= 1
        if not self.stopping and self.stats.reconnects < 1000:
            self.stats.reconnects += 1
            task = asyncio.get_running_loop().create_task(self.connect())
            self._reconnects.add(task)
            task.add_done_callback(self._reconnects.discard)
        self._check_done()

    def _check_done(self) -> None:
        if self.stopping and self.outstanding == 0:
            self._done.set()

    async def run(self) -> None:
        spec = self.spec
        for _ in range(spec["connections"]):
            await self.connect()
        start = time.perf_counter() + 0.05
        self.deadline = start + spec["warmup"] + spec["duration"]
        await asyncio.sleep(max(0.0, start - time.perf_counter()))
        if self.closed_mode:
            while self.idle:
                self.give(self.idle.popleft())
            await asyncio.sleep(max(0.0, self.deadline - time.perf_counter()))
        else:
            await self._schedule(start)
        self.stopping = True
        self._check_done()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._done.wait(), spec["drain_timeout"])
        for client in list(self.clients):
            client.close()
        await asyncio.sleep(0.05)

    async def _schedule(self, start: float) -> None:
        """Open loop: request i is due at start + i / rate, sent then or as soon as a connection is free."""
        rate = self.spec["rate"]
        total = int(rate * (self.spec["warmup"] + self.spec["duration"]))
        i = 0
        while i < total:
            now = time.perf_counter()
            while i < total and start + i / rate <= now:
                request, items = self.workload.next()
                self.dispatch(request, items, start + i / rate)
                i += 1
            if i < total:
                # Loop timers tick in whole milliseconds: a shorter sleep would spin. So requests go
                # out up to ~1 ms late, in small bursts; the lateness counts as latency.
                await asyncio.sleep(max(0.001, start + i / rate - time.perf_counter()))

    def report(self, cpu_seconds: float, wall_seconds: float) -> dict[str, Any]:
        stats, spec = self.stats, self.spec
        window_start = self.deadline - spec["duration"]
        latencies: list[float] = []
        lags: list[float] = []
        ok_in_window = items_in_window = 0
        for started, finished, lag, ok, items in zip(
            stats.started, stats.finished, stats.lag, stats.ok, stats.items, strict=True
        ):
            if ok and window_start <= finished < self.deadline:  # throughput: answered in the window
                ok_in_window += 1
                items_in_window += items
            if started >= window_start:  # latency: what was due (open) or sent (closed) in the window
                latencies.append(finished - started)
                lags.append(lag)
        answered = sum(stats.status.values())
        return {
            "mode": spec["mode"],
            "connections": spec["connections"],
            "rate": spec["rate"],
            "warmup": spec["warmup"],
            "duration": spec["duration"],
            "sent": stats.sent,
            "written": stats.written,
            "answered": answered,
            "ok": sum(n for status, n in stats.status.items() if 200 <= status < 300),
            "unanswered": stats.sent - answered,
            "lost_with_connection": stats.lost,
            "reconnects": stats.reconnects,
            "status": {str(k): v for k, v in sorted(stats.status.items())},
            "items_ok": stats.items_ok,
            "window_ok": ok_in_window,
            "window_items_ok": items_in_window,
            "latency_ms": percentiles(latencies),
            "send_lag_ms": percentiles(lags),
            "max_backlog": stats.max_backlog,
            "cpu_seconds": cpu_seconds,
            "wall_seconds": wall_seconds,
            "cores": cpu_seconds / wall_seconds,
            "groups_sent": getattr(self.workload, "groups_sent", 0),
        }


def percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {"count": 0}
    ordered = sorted(values)

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 3)

    return {
        "count": len(ordered),
        "p50": at(0.50),
        "p90": at(0.90),
        "p99": at(0.99),
        "p999": at(0.999),
        "max": round(ordered[-1] * 1000, 3),
        "mean": round(sum(ordered) / len(ordered) * 1000, 3),
    }


def make_workload(spec: Spec) -> Workload:
    w = spec["workload"]
    if w["kind"] == "pd":
        return PagerDutyMix(spec["port"], w["routing_key"], w["prefix"], w["seed"])
    if w["kind"] == "am":
        return AlertmanagerGroups(
            spec["port"],
            w["key"],
            w["run"],
            w["size"],
            w["starts_at"],
            first=w.get("first", 0),
            cycle=w.get("cycle", 0),
        )
    raise ValueError(f"unknown workload {w['kind']!r}")


def run(spec: Spec) -> dict[str, Any]:
    started = time.perf_counter()
    generator = Generator(spec, make_workload(spec))
    _run_loop(generator.run())
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return generator.report(usage.ru_utime + usage.ru_stime, time.perf_counter() - started)


def _run_loop(main: Coroutine[Any, Any, None]) -> None:
    try:
        import uvloop
    except ImportError:  # plain asyncio works too, at a higher CPU cost per request
        asyncio.run(main)
        return
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(main)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m tests.perf.loadgen '<spec as JSON>'", file=sys.stderr)
        return 2
    spec: Spec = json.loads(args[0])
    print(json.dumps(run(spec)), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
