"""Intake load for the sync benchmark, run in its own process so it does not share the console's GIL.

    python -m tests.perf.sync_load < spec.json      # prints one JSON line with the results

The spec (JSON on stdin: a list of 10,000 items is too long for one command-line argument):
  port, connections, and one of
  - "pd_seed": {"routing_key", "prefix", "first", "count"}: PagerDuty triggers with new dedup keys
    `{prefix}-{n}`, n = first … first+count-1: each opens an incident with one alert.
  - "am_seed": {"key", "run", "size", "first", "count"}: Alertmanager bodies of `size` alerts, each
    body a new group (groupKey): each opens an incident with `size` alerts.
  - "pd_items": {"routing_key", "items": [[action, dedup_key], …]}: PagerDuty events as given
    (trigger, acknowledge, resolve); a trigger's summary names its dedup key.
  "rate": 0 sends closed-loop (each connection sends its next request when answered, as fast as the
  server takes them); a rate > 0 sends open-loop, request i due at start + i / rate, on the first free
  connection, and records every request's send and answer times (time.monotonic, CLOCK_MONOTONIC: the
  same clock in every process of the machine), for latency figures measured in another process.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import resource
import sys
import time
from collections import deque
from collections.abc import Iterator
from typing import Any

import orjson

from tests.perf.loadgen import Client
from tests.perf.workload import am_message, http_post, pd_follow_up, pd_trigger

Request = tuple[str, bytes, int]  # (label: the dedup key or group, HTTP bytes, alerts carried)


def probe_trigger(routing_key: str, dedup_key: str) -> bytes:
    """A small trigger whose summary (so the new incident's title) is its dedup key."""
    return orjson.dumps(
        {
            "routing_key": routing_key,
            "event_action": "trigger",
            "dedup_key": dedup_key,
            "payload": {"summary": dedup_key, "source": "bench-sync", "severity": "critical"},
            "client": "bench-sync",
        }
    )


def requests(spec: dict[str, Any]) -> Iterator[Request]:
    port = spec["port"]
    if "pd_seed" in spec:
        s = spec["pd_seed"]
        for n in range(s["first"], s["first"] + s["count"]):
            key = f"{s['prefix']}-{n}"
            yield key, http_post(port, "/v2/enqueue", pd_trigger(s["routing_key"], key, n)), 1
    elif "am_seed" in spec:
        s = spec["am_seed"]
        target = f"/integrations/alertmanager?key={s['key']}"
        starts_at = "2026-01-01T00:00:00.000Z"
        for group in range(s["first"], s["first"] + s["count"]):
            body = orjson.dumps(am_message(s["run"], group, s["size"], starts_at))
            yield str(group), http_post(port, target, body), s["size"]
    elif "pd_items" in spec:
        s = spec["pd_items"]
        for action, key in s["items"]:
            if action == "trigger":
                body = probe_trigger(s["routing_key"], key)
            else:
                body = pd_follow_up(s["routing_key"], action, key)
            yield key, http_post(port, "/v2/enqueue", body), 1
    else:
        raise ValueError("the spec names no requests (pd_seed, am_seed or pd_items)")


class Driver:
    """Sends every request once; closed loop (rate 0) or open loop at a fixed rate."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.todo = requests(spec)
        self.rate = float(spec.get("rate", 0))
        self.idle: deque[Client] = deque()
        self.backlog: deque[tuple[Request, float]] = deque()
        self.current: dict[int, tuple[str, float, float, int]] = {}  # id(client) → (label, due, sent, items)
        self.status: dict[int, int] = {}
        self.items_ok = 0
        self.lost = 0
        self.outstanding = 0
        self.records: list[tuple[str, float, float, float, int]] = []  # label, due, sent, answered, status
        self.exhausted = False
        self.done = asyncio.Event()

    async def connect(self) -> Client:
        loop = asyncio.get_running_loop()
        _, client = await loop.create_connection(
            lambda: Client(self.answered, self.lost_connection), "127.0.0.1", self.spec["port"]
        )
        return client

    def send(self, client: Client, request: Request, due: float) -> None:
        label, data, items = request
        now = time.monotonic()
        self.current[id(client)] = (label, due, now, items)
        client.send(data, items, due)

    def give(self, client: Client) -> None:
        if self.backlog:
            request, due = self.backlog.popleft()
            self.send(client, request, due)
            return
        if self.rate <= 0 and not self.exhausted:
            request_or_none = next(self.todo, None)
            if request_or_none is not None:
                self.outstanding += 1
                self.send(client, request_or_none, time.monotonic())
                return
            self.exhausted = True
        self.idle.append(client)
        self.check_done()

    def dispatch(self, request: Request, due: float) -> None:
        self.outstanding += 1
        while self.idle:
            client = self.idle.popleft()
            if not client.closed:
                self.send(client, request, due)
                return
        self.backlog.append((request, due))

    def answered(self, client: Client, status: int) -> None:
        now = time.monotonic()
        label, due, sent, items = self.current.pop(id(client))
        self.status[status] = self.status.get(status, 0) + 1
        if 200 <= status < 300:
            self.items_ok += items
        if self.rate > 0:
            self.records.append((label, due, sent, now, status))
        self.outstanding -= 1
        self.give(client)

    def lost_connection(self, client: Client) -> None:
        if id(client) in self.current:
            self.current.pop(id(client))
            self.lost += 1
            self.outstanding -= 1
        self.check_done()

    def check_done(self) -> None:
        if self.exhausted and self.outstanding == 0 and not self.backlog:
            self.done.set()

    async def run(self) -> float:
        clients = [await self.connect() for _ in range(self.spec["connections"])]
        started = time.monotonic()
        if self.rate <= 0:
            for client in clients:
                self.give(client)
        else:
            self.idle.extend(clients)
            for i, request in enumerate(self.todo):
                due = started + i / self.rate
                delay = due - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                self.dispatch(request, due)
            self.exhausted = True
            self.check_done()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.done.wait(), self.spec.get("drain_timeout", 120.0))
        elapsed = time.monotonic() - started
        for client in clients:
            client.close()
        await asyncio.sleep(0.02)
        return elapsed


def run(spec: dict[str, Any]) -> dict[str, Any]:
    driver = Driver(spec)

    async def main() -> float:
        return await driver.run()

    try:
        import uvloop
    except ImportError:
        elapsed = asyncio.run(main())
    else:
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            elapsed = runner.run(main())
    usage = resource.getrusage(resource.RUSAGE_SELF)
    answered = sum(driver.status.values())
    return {
        "seconds": elapsed,
        "answered": answered,
        "ok": sum(n for code, n in driver.status.items() if 200 <= code < 300),
        "status": {str(k): v for k, v in sorted(driver.status.items())},
        "lost": driver.lost,
        "unanswered": driver.outstanding,
        "items_ok": driver.items_ok,
        "cpu_seconds": usage.ru_utime + usage.ru_stime,
        "records": driver.records,
    }


def main() -> int:
    spec = json.loads(sys.stdin.buffer.read())
    sys.stdout.write(json.dumps(run(spec)) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
