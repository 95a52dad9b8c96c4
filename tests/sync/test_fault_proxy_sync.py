"""Must show (sync.md §6): with a fault-injecting TCP proxy between real sync engines and a real uvicorn
server (connection resets, stalls, truncated SSE streams, lost answers), it converges.

Two consoles, each a Replica file, a SyncClient pointed at the proxy and `SyncEngine.run()` in the
background as the app runs it (console A keeps connections alive in httpx's pool, console B opens one
per request), work through five phases while monitoring triggers incidents straight at the server (not
through the proxy) and both consoles acknowledge, note, resolve and report:

1. RESET: every new connection is reset, and the live ones (the SSE stream among them) again and again;
2. STALL: a half-open link, live connections frozen too (`stall_all`); requests time out;
3. TRUNCATE: every reply cut after 230 bytes, so SSE streams end just after their `retry:` line and
   push and pull bodies midway;
4. DROP_RESPONSE: pushes reach the server and are applied, their answers are lost;
5. chaos: a seeded mix of the four, the live connections reset now and then so pooled ones meet it.

During every phase both engines must say they are offline, and neither the engine nor its stream
listener may die. After healing, within a deadline: both engines ONLINE with nothing pending, every
replica table equal to the server's (times and JSON normalised), every op made exactly once in the
server's timeline and its sync results (or rejected with a reason), and a new event from monitoring
reaching both replicas through the SSE poke path: before either engine's slow timer was due, and
with a wake from the stream, with no wake() from the test.

A second test keeps one console cut off (every connection reset) for more than 1024 failed reconnects
in a row, hours at the default backoff, and checks that its engine and stream listener survive it.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import JSON

from console.domain.errors import DomainError
from console.domain.ops import OpType
from console.server.admin import add_user
from console.server.database import open_engine
from console.store.replica import Replica
from console.store.tables import REPLICA_TABLES, IsoTime
from console.sync.client import SyncClient
from console.sync.engine import Backoff, SyncEngine
from console.sync.state import Status, SyncView
from tests.faultproxy import Fault, FaultProxy, Stats
from tests.server.stack import Served, embedded
from tests.server.wire import pd_trigger, rows

SERVICE = "shop"
SLOW_POLL = 3.0  # the engines' timer; the last step tells a poke from it, so it must exceed POKE_MARGIN
BACKOFF = Backoff(base=0.05, cap=0.5)
CLIENT_TIMEOUT = 1.0  # read/write timeout of pushes and pulls: a stalled request fails after it
TRUNCATE_AFTER = 230  # SSE headers and `retry:` are ~208 bytes; an empty pull page is ~270
CHAOS_SEED = 20260206
TICK = 0.3  # the pace of monitoring and of the consoles' work during a phase
PHASE_DEADLINE = 15.0
CONVERGE_WITHIN = 20.0
POKE_MARGIN = 1.2  # the event is sent when each engine's slow timer is at least this far off


class WatchedEngine(SyncEngine):
    """The product's engine, remembering when it was woken (by the test, or by its stream's pokes)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.wakes: list[float] = []

    def wake(self) -> None:
        self.wakes.append(time.monotonic())
        super().wake()


@dataclass
class Console:
    name: str
    replica: Replica
    client: SyncClient
    engine: WatchedEngine
    history: list[tuple[float, SyncView]]
    rng: random.Random
    made: list[str] = field(default_factory=list)  # op ids, in the order made here
    task: asyncio.Task[None] | None = None
    listener: asyncio.Task[Any] | None = None  # the engine's "sync-stream" task

    @classmethod
    def open(
        cls,
        name: str,
        token: str,
        path: Path,
        url: str,
        *,
        keep_alive: bool,
        seed: int,
        backoff: Backoff = BACKOFF,
    ) -> Console:
        replica = Replica(path)
        try:
            replica.set_server(url, name)
            transport = (
                None
                if keep_alive
                else httpx.AsyncHTTPTransport(limits=httpx.Limits(max_keepalive_connections=0))
            )
            client = SyncClient(
                url, token, replica.state().client_id, timeout=CLIENT_TIMEOUT, transport=transport
            )
        except BaseException:
            replica.close()
            raise
        history: list[tuple[float, SyncView]] = []
        engine = WatchedEngine(
            replica,
            client,
            on_change=lambda view: history.append((time.monotonic(), view)),
            slow_poll=SLOW_POLL,
            backoff=backoff,
            rng=random.Random(seed),
        )
        return cls(name, replica, client, engine, history, random.Random(seed))

    async def start(self) -> None:
        """`run()` in the background; finds the stream listener it starts, to check it stays alive."""
        before = asyncio.all_tasks()
        self.task = asyncio.create_task(self.engine.run(), name=f"engine-{self.name}")
        deadline = time.monotonic() + 5
        while self.listener is None:
            assert time.monotonic() < deadline, f"{self.name}: run() started no stream listener"
            await asyncio.sleep(0)
            found = [t for t in asyncio.all_tasks() - before if t.get_name() == "sync-stream"]
            self.listener = found[0] if found else None

    async def close(self) -> None:
        """Stop the engine (re-raising what run() raises on the way out), then close the client and
        replica. An engine that died earlier is not raised again: check_alive() has said so."""
        try:
            if self.task is not None and self.task.done():
                if not self.task.cancelled():
                    self.task.exception()  # retrieved: reported by check_alive, not logged at exit
            elif self.task is not None:
                self.engine.stop()
                await asyncio.wait_for(self.task, 15)
        finally:
            try:
                await self.client.aclose()
            finally:
                self.replica.close()

    # -- what the engine said --

    def statuses(self, since: float) -> list[Status]:
        return [view.status for at, view in self.history if at >= since]

    def saw(self, status: Status, since: float) -> bool:
        return status in self.statuses(since)

    def last_online(self) -> float:
        at, view = self.history[-1]
        assert view.status is Status.ONLINE
        return at

    def check_alive(self) -> None:
        for what, task in (("engine (run())", self.task), ("stream listener", self.listener)):
            assert task is not None
            if task.done():
                error = None if task.cancelled() else task.exception()
                pytest.fail(f"{self.name}'s {what} ended during faults: {error!r}")

    # -- what the person does --

    def work(self, tag: str, report: bool) -> None:
        """A note, an acknowledge, maybe a resolve, maybe a report; what the console refuses is fine."""
        views = self.replica.incidents()
        unresolved = [view for view in views if view.incident.status.is_open]
        planned: list[tuple[OpType, str, dict[str, Any]]] = []
        if views:
            planned.append((OpType.NOTE, self.rng.choice(views).id, {"text": f"{self.name}: {tag}"}))
        if unresolved:
            planned.append((OpType.ACKNOWLEDGE, self.rng.choice(unresolved).id, {}))
            if self.rng.random() < 0.4:
                planned.append((OpType.RESOLVE, self.rng.choice(unresolved).id, {}))
        for kind, incident_id, args in planned:
            with contextlib.suppress(DomainError):
                self.made.append(self.replica.act(kind, incident_id, args).op_id)
        if report:
            self.made.append(self.replica.report(f"{self.name} reports: {tag}", SERVICE).op_id)


@dataclass
class Scenario:
    served: Served
    proxy: FaultProxy
    http: httpx.AsyncClient  # monitoring's, straight to the server
    consoles: list[Console]
    ticks: int = 0
    log: list[str] = field(default_factory=list)  # a line per phase: its fault counters

    async def trigger(self, dedup_key: str) -> None:
        body = pd_trigger(self.served.key, dedup_key, summary=f"{dedup_key} failing")
        response = await self.http.post("/v2/enqueue", json=body)
        assert response.status_code == 202, response.text

    def check_alive(self) -> None:
        for console in self.consoles:
            console.check_alive()

    async def tick(self, phase: str) -> None:
        """Monitoring triggers (a few dedup keys, so alerts repeat), each console works and wakes its
        engine as the app does after a local op."""
        self.ticks += 1
        await self.trigger(f"{phase}-{self.ticks % 3}")
        for console in self.consoles:
            console.work(f"{phase} #{self.ticks}", report=self.ticks % 4 == 0)
            console.engine.wake()

    async def phase(
        self,
        name: str,
        minimum: float,
        done: Callable[[float], str],
        every_tick: Callable[[], object] | None = None,
    ) -> None:
        """Work at the pace of TICK until `done(start)` has nothing left to wait for ("") and `minimum`
        seconds have passed; fails after PHASE_DEADLINE saying what it waited for."""
        start = time.monotonic()
        before = self.proxy.stats
        while True:
            await self.tick(name)
            if every_tick is not None:
                await asyncio.to_thread(every_tick)
            self.check_alive()
            waiting = done(start)
            elapsed = time.monotonic() - start
            if not waiting and elapsed >= minimum:
                break
            if elapsed > PHASE_DEADLINE:
                pytest.fail(
                    f"phase {name}: after {elapsed:.1f} s still waiting for {waiting}; {self.statuses()}"
                )
            await asyncio.sleep(TICK)
        self.log.append(f"{name}: {elapsed:.1f} s, {describe(delta(before, self.proxy.stats))}")

    def statuses(self) -> str:
        return "; ".join(f"{c.name}: {[v.status.value for _, v in c.history[-8:]]}" for c in self.consoles)

    def offline_in_all(self, since: float) -> str:
        missing = [c.name for c in self.consoles if not c.saw(Status.OFFLINE, since)]
        return f"OFFLINE from {missing}" if missing else ""


def delta(before: Stats, after: Stats) -> Stats:
    return Stats(
        accepted=after.accepted - before.accepted,
        resets=after.resets - before.resets,
        bytes_up=after.bytes_up - before.bytes_up,
        bytes_down=after.bytes_down - before.bytes_down,
        bytes_dropped=after.bytes_dropped - before.bytes_dropped,
        faults={
            fault: after.faults.get(fault, 0) - before.faults.get(fault, 0)
            for fault in Fault
            if after.faults.get(fault, 0) - before.faults.get(fault, 0)
        },
    )


def describe(stats: Stats) -> str:
    faults = ", ".join(f"{fault.value} {count}" for fault, count in stats.faults.items())
    return (
        f"connections {stats.accepted} ({faults}), resets {stats.resets}, bytes dropped {stats.bytes_dropped}"
    )


# -- comparing a replica with the server --


def _moment(value: Any) -> datetime | None:
    """Replica times are aware datetimes (ISO text with +00:00); the server's SQLite has naive UTC text
    'YYYY-MM-DD HH:MM:SS.ffffff'. Both become aware UTC datetimes."""
    if value is None:
        return None
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def by_id(name: str, found: Sequence[Sequence[Any]]) -> dict[Any, dict[str, Any]]:
    """Rows as {column: value} by id, whichever side they come from."""
    table = REPLICA_TABLES[name]
    out: dict[Any, dict[str, Any]] = {}
    for row in found:
        values: dict[str, Any] = {}
        for column, value in zip(table.columns, row, strict=True):
            if isinstance(column.type, IsoTime):
                value = _moment(value)
            elif isinstance(column.type, JSON) and isinstance(value, str | bytes):
                value = orjson.loads(value)
            values[column.name] = value
        out[values["id"]] = values
    return out


def server_table(db: Path, name: str) -> dict[Any, dict[str, Any]]:
    columns = ", ".join(column.name for column in REPLICA_TABLES[name].columns)
    return by_id(name, rows(db, f"SELECT {columns} FROM {name} ORDER BY id"))


def differences(expected: Mapping[Any, Mapping[str, Any]], actual: Mapping[Any, Mapping[str, Any]]) -> str:
    lines = [f"missing: {key}" for key in expected if key not in actual]
    lines += [f"extra: {key}" for key in actual if key not in expected]
    for key in expected.keys() & actual.keys():
        wrong = {c: (v, actual[key][c]) for c, v in expected[key].items() if actual[key][c] != v}
        if wrong:
            lines.append(f"{key}: (server, replica) {wrong}")
    return "\n".join(lines[:12])


def not_converged(db: Path, consoles: Sequence[Console]) -> str:
    """What still differs ("" when nothing): engine states, pending ops, then every replicated table."""
    for console in consoles:
        view = console.engine.view
        if view.status is not Status.ONLINE or view.pending or console.replica.pending_count():
            return f"{console.name} is {view.status.value} with {console.replica.pending_count()} pending"
    for name in REPLICA_TABLES:
        expected = server_table(db, name)
        for console in consoles:
            actual = by_id(name, console.replica.rows(name))
            if actual != expected:
                return f"{console.name}'s {name} differ from the server's:\n{differences(expected, actual)}"
    return ""


def applied_but_unanswered(db: Path, console: Console, since: int) -> list[str]:
    """Ops made here (from index `since`) that the server has in its timeline while the outbox still
    waits for their answer: a push applied whose response was lost."""
    pending = {op.op_id for op in console.replica.outbox(states=["pending"])}
    wanted = [op_id for op_id in console.made[since:] if op_id in pending]
    if not wanted:
        return []
    marks = ", ".join("?" * len(wanted))
    return [str(row[0]) for row in rows(db, f"SELECT id FROM timeline WHERE id IN ({marks})", wanted)]


def assert_ops_accounted(db: Path, consoles: Sequence[Console]) -> dict[str, int]:
    """Every op made is processed: once in sync_results with the outbox's own status and reason, and
    once in the server's timeline (timeline.id == op_id) unless rejected, with a reason."""
    states: dict[str, int] = {}
    for console in consoles:
        outbox = {op.op_id: op for op in console.replica.outbox(limit=100_000)}
        client_id = console.replica.state().client_id
        assert set(console.made) <= outbox.keys(), f"{console.name}: ops lost from the outbox"
        for op_id in console.made:
            op = outbox[op_id]
            states[op.state] = states.get(op.state, 0) + 1
            results = rows(
                db, "SELECT client_id, client_seq, status, reason FROM sync_results WHERE op_id = ?", [op_id]
            )
            assert results == [(client_id, op.client_seq, op.state, op.reason)], (console.name, op, results)
            entries = rows(db, "SELECT actor, incident_id FROM timeline WHERE id = ?", [op_id])
            if op.state == "rejected":
                assert op.reason, f"{console.name}: rejected without a reason: {op}"
                assert entries == [], f"{console.name}: a rejected op left a timeline entry: {op}"
            else:
                assert op.state in ("applied", "noop"), f"{console.name}: {op}"
                assert entries == [(console.name, op.entity_id)], (console.name, op, entries)
    return states


# -- the scenario --


async def scenario(served: Served, tokens: Mapping[str, str], proxy: FaultProxy, directory: Path) -> None:
    async with contextlib.AsyncExitStack() as stack:
        http = await stack.enter_async_context(httpx.AsyncClient(base_url=served.url, timeout=10))
        consoles: list[Console] = []
        for n, (user, token) in enumerate(tokens.items()):
            console = Console.open(
                user, token, directory / f"replica-{user}.db", proxy.url, keep_alive=n == 0, seed=n + 1
            )
            stack.push_async_callback(console.close)  # runs before `http` closes: engines stop first
            consoles.append(console)
        world = Scenario(served, proxy, http, consoles)
        await world.trigger("before-0")
        await world.trigger("before-1")
        for console in consoles:
            await console.start()
        await until(
            "both consoles synced once, their streams open",
            lambda: all(
                c.engine.view.status is Status.ONLINE and c.engine.wakes and len(c.replica.incidents()) >= 2
                for c in consoles
            ),
            10,
        )
        await run_faults(world)
        await heal_and_check(world)


async def until(what: str, condition: Callable[[], object], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"not within {seconds} s: {what}"
        await asyncio.sleep(0.02)


async def run_faults(world: Scenario) -> None:
    proxy, db, consoles = world.proxy, world.served.db, world.consoles

    # 1. resets: new connections, and the live ones (the streams, A's pooled connection) every tick
    proxy.set_fault(Fault.RESET)

    def offline_with_pending(since: float) -> str:
        waiting = world.offline_in_all(since)
        shown = all(
            any(v.status is Status.OFFLINE and v.pending > 0 for at, v in c.history if at >= since)
            for c in consoles
        )
        return waiting or ("" if shown else "an OFFLINE view that counts the pending ops")

    await world.phase("reset", 2.0, offline_with_pending, every_tick=proxy.reset_all)

    # the link comes back for a moment: both engines sync and their streams reconnect (each stream's
    # first event wakes its engine), so the stall below has live streams to freeze
    back = time.monotonic()
    proxy.set_fault(Fault.NONE)
    await until(
        "both engines back ONLINE with their streams reconnected after the resets",
        lambda: all(c.saw(Status.ONLINE, back) and c.engine.wakes[-1] > back for c in consoles),
        10,
    )

    # 2. a half-open link: nothing moves either way, live connections included; requests time out
    stalled = await asyncio.to_thread(proxy.stall_all)
    assert stalled >= len(consoles), f"only {stalled} live connections to stall: the streams are not open"
    await world.phase("stall", CLIENT_TIMEOUT + 1.5, world.offline_in_all)

    # 3. truncation: each reply cut after TRUNCATE_AFTER bytes (SSE streams right after `retry:`)
    proxy.set_fault(Fault.TRUNCATE, truncate_after=TRUNCATE_AFTER)  # releases the stalled links...
    await asyncio.to_thread(proxy.reset_all)  # ...and these go too, so every connection meets TRUNCATE
    await world.phase("truncate", 2.0, world.offline_in_all)

    # 4. lost answers: pushes are applied on the server, the consoles never hear back
    proxy.set_fault(Fault.DROP_RESPONSE)
    await asyncio.to_thread(proxy.reset_all)
    made_before = {c.name: len(c.made) for c in consoles}

    def applied_unanswered(since: float) -> str:
        missing = [c.name for c in consoles if not applied_but_unanswered(db, c, made_before[c.name])]
        return world.offline_in_all(since) or (
            f"a push applied but unanswered from {missing}" if missing else ""
        )

    await world.phase("drop_response", 2.0, applied_unanswered)

    # 5. seeded chaos: each new connection draws its fault; live ones are reset now and then
    chaos_start = proxy.stats
    proxy.set_chaos(
        CHAOS_SEED,
        p_reset=0.15,
        p_drop_response=0.15,
        p_stall=0.1,
        stall_seconds=1.5,
        p_truncate=0.15,
        truncate_after=400,
    )
    await asyncio.to_thread(proxy.reset_all)

    def every_fault_drawn(since: float) -> str:
        drawn = delta(chaos_start, proxy.stats).faults
        missing = [f.value for f in Fault if f is not Fault.REFUSE and not drawn.get(f)]
        return world.offline_in_all(since) or (f"chaos to draw {missing}" if missing else "")

    resets = 0

    def reset_now_and_then() -> None:
        nonlocal resets
        resets += 1
        if resets % 3 == 0:
            proxy.reset_all()

    await world.phase("chaos", 4.0, every_fault_drawn, every_tick=reset_now_and_then)


async def heal_and_check(world: Scenario) -> None:
    proxy, db, consoles = world.proxy, world.served.db, world.consoles
    healed_at = time.monotonic()
    proxy.set_fault(Fault.NONE)
    await asyncio.to_thread(proxy.reset_all)  # the connections chaos gave a fault to are gone as well
    for console in consoles:  # the last ops of the faults, sent at once rather than at the next timer
        console.engine.wake()

    # Converged: both ONLINE, nothing pending, every replicated table equal to the server's.
    deadline = healed_at + CONVERGE_WITHIN
    while differs := not_converged(db, consoles):
        world.check_alive()
        if time.monotonic() > deadline:
            pytest.fail(f"not converged {CONVERGE_WITHIN} s after healing: {differs}\n{world.statuses()}")
        await asyncio.sleep(0.05)
    converged_in = time.monotonic() - healed_at
    states = assert_ops_accounted(db, consoles)
    world.check_alive()

    # The poke path works again: an event reaches both replicas before either slow timer is due.
    await until(
        f"both engines idle with their slow timer at least {POKE_MARGIN} s off",
        lambda: all(
            c.engine.view.status is Status.ONLINE
            and time.monotonic() - c.last_online() < SLOW_POLL - POKE_MARGIN
            for c in consoles
        ),
        3 * SLOW_POLL,
    )
    timers = {c.name: c.last_online() + SLOW_POLL for c in consoles}  # when each would pull by itself
    woken = {c.name: len(c.engine.wakes) for c in consoles}
    sent = time.monotonic()
    await world.trigger("after-heal")
    arrived: dict[str, float] = {}
    while len(arrived) < len(consoles):
        for console in consoles:
            if console.name not in arrived and "after-heal" in dedup_keys(console.replica):
                arrived[console.name] = time.monotonic()
        assert time.monotonic() < sent + SLOW_POLL + 2, f"the event reached only {sorted(arrived)}"
        await asyncio.sleep(0.01)
    for console in consoles:
        late = arrived[console.name] - timers[console.name]
        assert late < 0, f"{console.name} got the event {late:.2f} s after its slow timer was due: no poke"
        pokes = [
            at for at in console.engine.wakes[woken[console.name] :] if sent < at <= arrived[console.name]
        ]
        assert pokes, f"{console.name} got the event without its stream waking it"
    world.check_alive()

    stats = proxy.stats
    world.log.append(
        f"healed: converged in {converged_in:.1f} s; ops {states}; poke latency "
        + ", ".join(f"{name} {at - sent:.3f} s" for name, at in arrived.items())
    )
    world.log.append(f"total: {describe(stats)}, bytes up {stats.bytes_up}, down {stats.bytes_down}")
    print("\n".join(["", *world.log]))
    assert stats.resets > 0
    assert stats.bytes_dropped > 0
    for fault in (Fault.RESET, Fault.STALL, Fault.TRUNCATE, Fault.DROP_RESPONSE):
        assert stats.faults.get(fault, 0) > 0, fault


def dedup_keys(replica: Replica) -> set[str]:
    names = [column.name for column in REPLICA_TABLES["alerts"].columns]
    at = names.index("dedup_key")
    return {str(row[at]) for row in replica.rows("alerts")}


@contextlib.contextmanager
def server_and_proxy(
    directory: Path, users: Sequence[str]
) -> Iterator[tuple[Served, dict[str, str], FaultProxy]]:
    """The server as the console embeds it, on a SQLite file with SERVICE and these users (responders),
    and a FaultProxy in front of it; everything stopped after, whatever happened."""
    (directory / "server").mkdir()
    with embedded(directory / "server", {SERVICE: None}) as served:
        admin = open_engine(f"sqlite:///{served.db}", writer=True)
        try:
            tokens = {name: add_user(admin, name) for name in users}
        finally:
            admin.dispose()
        port = httpx.URL(served.url).port
        assert port is not None
        with FaultProxy("127.0.0.1", port) as proxy:
            yield served, tokens, proxy


@pytest.mark.slow
def test_engines_converge_through_a_fault_injecting_proxy(tmp_path: Path) -> None:
    with server_and_proxy(tmp_path, ["alice", "bob"]) as (served, tokens, proxy):
        asyncio.run(scenario(served, tokens, proxy, tmp_path))


LONG_OUTAGE = (
    1100  # reconnects failed in a row: ~4.5 hours of outage at the default Backoff (0.5 s, 30 s cap)
)


async def long_outage(served: Served, token: str, proxy: FaultProxy, directory: Path) -> None:
    console = Console.open(
        "carol",
        token,
        directory / "replica-carol.db",
        proxy.url,
        keep_alive=False,
        seed=3,
        # waits of 0.1 ms, so LONG_OUTAGE failures take seconds rather than hours; nothing else differs
        backoff=Backoff(base=0.0001, cap=0.0001),
    )
    try:
        await console.start()
        await until("the first sync", lambda: console.engine.view.status is Status.ONLINE, 10)
        console.made.append(console.replica.report("reported while the server is down", SERVICE).op_id)
        down, before = time.monotonic(), proxy.stats
        proxy.set_fault(Fault.RESET)  # the server cannot be reached: every connection is reset...
        await asyncio.to_thread(proxy.reset_all)  # ...the open stream too
        console.engine.wake()
        while True:
            # Once a bug: at 1025 failures in a row the backoff overflowed a float, killing the stream
            # listener and then the engine (hours of outage at the default backoff).
            console.check_alive()
            rounds = console.statuses(down).count(Status.OFFLINE)  # failed rounds: one push each
            reconnects = delta(before, proxy.stats).accepted - rounds - 2  # the stream listener's, at least
            if reconnects >= LONG_OUTAGE:
                break
            assert time.monotonic() < down + 60, f"only {reconnects} stream reconnects and {rounds} rounds"
            await asyncio.sleep(0.02)
        assert console.saw(Status.OFFLINE, down)
        assert console.engine.view.pending == 1

        healed = time.monotonic()
        proxy.set_fault(Fault.NONE)
        await until(
            "the engine back ONLINE with nothing pending, woken by its stream",
            lambda: (
                console.engine.view.status is Status.ONLINE
                and console.engine.view.pending == 0
                and console.engine.wakes[-1] > healed  # the stream's first event after reconnecting
            ),
            10,
        )
        console.check_alive()
        assert_ops_accounted(served.db, [console])
    finally:
        await console.close()


@pytest.mark.slow
def test_an_engine_survives_a_long_outage(tmp_path: Path) -> None:
    """More than 1024 failed reconnects in a row (the proxy resetting every connection), then the link
    comes back: the engine and its stream listener still run, and the op made meanwhile goes out."""
    with server_and_proxy(tmp_path, ["carol"]) as (served, tokens, proxy):
        asyncio.run(long_outage(served, tokens["carol"], proxy, tmp_path))
