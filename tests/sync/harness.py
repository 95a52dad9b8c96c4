"""Consoles against one real server, for the convergence tests (sync.md §6).

- `World`: the server as the console embeds it (`EmbeddedServer`, real uvicorn on 127.0.0.1) on a
  SQLite file, an admin engine to add services and users, and monitoring's real intake.
- `FlakyTransport`: an httpx transport that drops a request before the server sees it, drops the
  response after the server has processed the request, delivers a request twice, or is cut off.
- `Console`: a Replica file with a skewed clock, its SyncClient and SyncEngine, synced one round at
  a time on an event loop the test owns (never the engine's background `run()`); it can be
  restarted on the same file. Every round checks that the pull cursor did not go backwards and that
  no outbox entry went back to "pending".
- Checks after heal and quiesce: replicas equal to the server's rows, every op accounted for
  exactly once, and the incident status lattice replayed from the server's timeline.
"""

from __future__ import annotations

import asyncio
import enum
import functools
import shutil
import ssl
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
from sqlalchemy import JSON, Engine

from console.domain.errors import KnownFailure
from console.domain.ops import OpType
from console.domain.status import Rank
from console.domain.views import OutboxOp, SyncState
from console.server.admin import add_service, add_user
from console.server.database import open_engine
from console.server.pull import Cursor
from console.store.database import migrate as migrate_replica
from console.store.database import open_replica
from console.store.replica import Replica
from console.store.tables import REPLICA_TABLES, IsoTime
from console.sync.client import SyncClient
from console.sync.engine import SyncEngine, SyncReport
from tests.server.stack import embedded
from tests.server.wire import pd_follow_up, pd_trigger, read_only

PROCESSED = ("applied", "noop", "rejected")


# -- the server --


@dataclass(frozen=True, slots=True)
class Team:
    """One service and the users of one test's consoles (fresh names, so tests share the server)."""

    tag: str  # in every name and title of the team's
    service: str
    service_id: int
    key: str  # the service's integration (routing) key
    tokens: dict[str, str]  # user name → token, one per console
    bystander: str  # a user with no console, to assign incidents to

    @property
    def users(self) -> list[str]:
        return [*self.tokens, self.bystander]


@dataclass(frozen=True, slots=True)
class World:
    url: str
    db: Path
    directory: Path  # where consoles keep their replica files
    admin: Engine
    http: httpx.Client
    template: Path  # an empty, migrated replica file

    @classmethod
    @contextmanager
    def start(cls, directory: Path) -> Iterator[World]:
        with embedded(directory / "server", {"base": None}) as served:
            admin = open_engine(f"sqlite:///{served.db}", writer=True)
            template = directory / "template-replica.db"
            empty = open_replica(template)
            try:
                migrate_replica(empty)
            finally:
                empty.dispose()  # the last connection checkpoints the WAL into the file
            try:
                yield cls(served.url, served.db, directory, admin, served.client, template)
            finally:
                admin.dispose()

    def new_team(self, consoles: int) -> Team:
        tag = uuid.uuid4().hex[:8]
        service = f"svc-{tag}"
        key = add_service(self.admin, service)
        tokens = {f"u{n}-{tag}": add_user(self.admin, f"u{n}-{tag}") for n in range(consoles)}
        bystander = f"bystander-{tag}"
        add_user(self.admin, bystander)
        (service_id,) = self.query("SELECT id FROM services WHERE name = ?", (service,))[0]
        return Team(tag, service, int(service_id), key, tokens, bystander)

    def monitor(self, team: Team, action: str, dedup_key: str) -> None:
        """An event from monitoring through the real intake (PagerDuty Events v2)."""
        if action == "trigger":
            body = pd_trigger(team.key, dedup_key, summary=f"{dedup_key} failing ({team.tag})")
        else:
            body = pd_follow_up(team.key, action, dedup_key)
        response = self.http.post("/v2/enqueue", json=body)
        assert response.status_code == 202, response.text

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with read_only(self.db) as conn:
            return conn.execute(sql, params).fetchall()

    def table(self, name: str, columns: Sequence[str]) -> list[tuple[Any, ...]]:
        return self.query(f"SELECT {', '.join(columns)} FROM {name} ORDER BY id")

    def replica_file(self) -> Path:
        path = self.directory / f"replica-{uuid.uuid4().hex[:12]}.db"
        shutil.copyfile(self.template, path)  # migrating a new file costs ~0.1 s; copying, nothing
        return path


# -- the network between a console and the server --


class Fault(enum.Enum):
    PASS = "pass"
    DROP_REQUEST = "drop request"  # lost before reaching the server
    DROP_RESPONSE = "drop response"  # the server processed it; the answer is lost
    DUPLICATE = "duplicate"  # delivered twice; the console sees the second answer


@functools.cache
def _tls_context() -> ssl.SSLContext:
    return ssl.create_default_context()


class FlakyTransport(httpx.AsyncBaseTransport):
    """Real HTTP to the server, with the next requests' faults planned by the test."""

    def __init__(self) -> None:
        # One TLS context for all (the server is plain HTTP; making one per transport costs 0.1 s).
        self._inner = httpx.AsyncHTTPTransport(verify=_tls_context())
        self.plan: list[Fault] = []
        self.offline = False  # partitioned: nothing gets through
        self.page_limit: int | None = None  # rows per pull page, if not the console's default

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self.offline:
            raise httpx.ConnectError("partitioned from the server", request=request)
        if self.page_limit is not None and request.url.path == "/sync/pull":
            request.url = request.url.copy_set_param("limit", str(self.page_limit))
        fault = self.plan.pop(0) if self.plan else Fault.PASS
        if fault is Fault.DROP_REQUEST:
            raise httpx.ConnectError("the request was lost", request=request)
        if fault is Fault.DUPLICATE:
            first = await self._inner.handle_async_request(request)
            await first.aread()
            await first.aclose()
        response = await self._inner.handle_async_request(request)
        if fault is Fault.DROP_RESPONSE:
            await response.aread()  # the server has answered: it processed the request
            await response.aclose()
            raise httpx.ReadError("the response was lost", request=request)
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()


# -- a console --


def _cursor_position(state: SyncState) -> tuple[int, int]:
    if not state.cursor:
        return (-1, -1)
    cursor = Cursor.decode(state.cursor)
    return (cursor.seq, cursor.table)


class Console:
    """One console: its replica file, clock offset, token, and sync client."""

    def __init__(
        self,
        world: World,
        team: Team,
        user: str,
        offset_ms: int,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self.world = world
        self.user = user
        self.token = team.tokens[user]
        self.offset_ms = offset_ms
        self.loop = loop
        self._page_limit: int | None = None
        self.path = world.replica_file()
        self.made: list[str] = []  # op ids, in the order made here
        self.states: dict[str, str] = {}  # op id → outbox state when last looked at
        self.replica = Replica(self.path, now_ms=self.now_ms)
        self.replica.set_server(world.url, user)
        self.seen = self.replica.state()
        self.client_id = self.seen.client_id
        self._connect()

    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000 + self.offset_ms

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.now_ms() / 1000, UTC)

    def _connect(self) -> None:
        self.transport = FlakyTransport()
        self.transport.page_limit = self._page_limit
        self.client = SyncClient(self.world.url, self.token, self.client_id, transport=self.transport)
        self.engine = SyncEngine(self.replica, self.client)

    @property
    def page_limit(self) -> int | None:
        return self._page_limit

    @page_limit.setter
    def page_limit(self, rows: int | None) -> None:
        """Pull pages of at most `rows` rows (the transport rewrites the request), to page more."""
        self._page_limit = self.transport.page_limit = rows

    @property
    def offline(self) -> bool:
        return self.transport.offline

    @offline.setter
    def offline(self, value: bool) -> None:
        self.transport.offline = value

    def recorded(self, op: OutboxOp) -> OutboxOp:
        self.made.append(op.op_id)
        self.states[op.op_id] = "pending"
        return op

    def act(self, kind: OpType, incident_id: str, args: Mapping[str, Any] | None = None) -> OutboxOp:
        return self.recorded(self.replica.act(kind, incident_id, args))

    def report(self, title: str, service: str, *, priority: str = "high") -> OutboxOp:
        return self.recorded(self.replica.report(title, service, priority=priority))

    def sync(self, faults: Sequence[Fault] = ()) -> SyncReport | KnownFailure:
        """One round (push all, pull until caught up) through the planned faults."""
        self.transport.plan = list(faults)
        try:
            result: SyncReport | KnownFailure = self.loop.run_until_complete(self.engine.sync_once())
        except KnownFailure as exc:
            result = exc
        finally:
            self.transport.plan = []
        self.check_state()
        self.check_outbox()
        return result

    def check_state(self) -> None:
        """Monotonic reads: the console's cursor and what it has seen never go back, restarts included."""
        before, after = self.seen, self.replica.state()
        assert after.client_id == self.client_id
        assert _cursor_position(after) >= _cursor_position(before), (self.user, before.cursor, after.cursor)
        assert after.page_seq >= before.page_seq, (self.user, before.page_seq, after.page_seq)
        assert after.last_seq >= before.last_seq, (self.user, before.last_seq, after.last_seq)
        self.seen = after

    def clean_sync(self) -> SyncReport:
        """A round on a healthy network: any failure is a bug."""
        self.offline = False
        result = self.sync()
        assert isinstance(result, SyncReport), f"{self.user}: a clean sync failed: {result!r}"
        return result

    def check_outbox(self) -> None:
        """Every op made here is still in the outbox, and none went from processed back to pending."""
        found = {op.op_id: op for op in self.replica.outbox()}
        for op_id in self.made:
            assert op_id in found, f"{self.user}: op {op_id} vanished from the outbox"
            state, before = found[op_id].state, self.states[op_id]
            assert state in ("pending", *PROCESSED), state
            assert before == "pending" or state == before, f"{self.user}: op {op_id} went {before} → {state}"
            self.states[op_id] = state

    def restart(self) -> None:
        """Close the console and open it again on the same file (a new process, in effect). The
        network stays as it was: a partitioned console restarts partitioned."""
        offline = self.offline
        self.loop.run_until_complete(self.client.aclose())
        self.replica.close()
        self.replica = Replica(self.path, now_ms=self.now_ms)
        self._connect()
        self.offline = offline
        assert self.replica.state() == self.seen, "the replica's sync state changed across a restart"
        self.check_outbox()

    def close(self) -> None:
        self.loop.run_until_complete(self.client.aclose())
        self.replica.close()


def new_loop() -> asyncio.AbstractEventLoop:
    return asyncio.new_event_loop()


def close_loop(loop: asyncio.AbstractEventLoop) -> None:
    try:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.run_until_complete(loop.shutdown_default_executor())  # SyncEngine's to_thread workers
    finally:
        loop.close()


@contextmanager
def event_loop() -> Iterator[asyncio.AbstractEventLoop]:
    """A loop the test drives itself (`run_until_complete`), shut down cleanly after."""
    loop = new_loop()
    try:
        yield loop
    finally:
        close_loop(loop)


@contextmanager
def consoles(world: World, team: Team, offsets_ms: Sequence[int] = ()) -> Iterator[list[Console]]:
    """A console per user of `team` (clock offsets in order, 0 for the rest), closed after."""
    with event_loop() as loop:
        made: list[Console] = []
        try:
            for n, user in enumerate(team.tokens):
                made.append(Console(world, team, user, offsets_ms[n] if n < len(offsets_ms) else 0, loop))
            yield made
        finally:
            for console in made:
                console.close()


# -- after heal and quiesce --


def heal_and_quiesce(consoles: Sequence[Console], rounds: int = 3) -> None:
    """Every console syncs cleanly until nothing is pending, then once more to pull everyone's ops."""
    for console in consoles:
        console.offline = False
    for _ in range(rounds):
        pending = [console for console in consoles if console.replica.pending_count()]
        if not pending:
            break
        for console in pending:
            console.clean_sync()
    left = {console.user: console.replica.pending_count() for console in consoles}
    assert not any(left.values()), f"ops still pending after {rounds} clean rounds: {left}"
    for console in consoles:
        console.clean_sync()


def _time(value: Any) -> str | None:
    if value is None:
        return None
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    if moment.tzinfo is None:  # the server's SQLite text is UTC without an offset
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def _normalise(name: str, rows: Sequence[Sequence[Any]]) -> dict[Any, dict[str, Any]]:
    """Rows by id, as {column: value}, times as ISO UTC text and JSON parsed, whichever side."""
    table = REPLICA_TABLES[name]
    out: dict[Any, dict[str, Any]] = {}
    for row in rows:
        values: dict[str, Any] = {}
        for column, value in zip(table.columns, row, strict=True):
            if isinstance(column.type, IsoTime):
                value = _time(value)
            elif isinstance(column.type, JSON) and isinstance(value, str | bytes):
                value = orjson.loads(value)
            values[column.name] = value
        out[values["id"]] = values
    return out


def _differences(expected: Mapping[Any, Mapping[str, Any]], actual: Mapping[Any, Mapping[str, Any]]) -> str:
    lines = [f"missing: {key}" for key in expected if key not in actual]
    lines += [f"extra: {key} {actual[key]}" for key in actual if key not in expected]
    for key in expected.keys() & actual.keys():
        wrong = {
            column: (value, actual[key][column])
            for column, value in expected[key].items()
            if actual[key][column] != value
        }
        if wrong:
            lines.append(f"{key}: (server, replica) {wrong}")
    return "\n".join(lines[:20])


def assert_converged(world: World, consoles: Sequence[Console]) -> None:
    """1. Every replica table equals the server's rows, column for column."""
    for name, table in REPLICA_TABLES.items():
        columns = [column.name for column in table.columns]
        expected = _normalise(name, world.table(name, columns))
        for console in consoles:
            actual = _normalise(name, console.replica.rows(name))
            assert actual == expected, f"{console.user}'s {name} differ from the server's:\n" + _differences(
                expected, actual
            )


def assert_ops_accounted(world: World, consoles: Sequence[Console]) -> dict[str, OutboxOp]:
    """2. Nothing pending; each op processed exactly once and in the server's timeline once, unless
    rejected (then with a reason). Returns every op by id, for the lattice check."""
    every: dict[str, OutboxOp] = {}
    for console in consoles:
        outbox = {op.op_id: op for op in console.replica.outbox()}
        assert not [op for op in outbox.values() if op.state == "pending"], f"{console.user}: ops pending"
        assert set(console.made) <= outbox.keys(), f"{console.user}: ops lost from the outbox"
        for op_id in console.made:
            op = outbox[op_id]
            results = world.query(
                "SELECT client_id, client_seq, status, reason FROM sync_results WHERE op_id = ?", (op_id,)
            )
            assert results == [(console.client_id, op.client_seq, op.state, op.reason)], (op, results)
            entries = world.query("SELECT kind, actor, incident_id FROM timeline WHERE id = ?", (op_id,))
            if op.state == "rejected":
                assert op.reason, f"rejected without a reason: {op}"
                assert entries == [], f"a rejected op left a timeline entry: {op}"
            else:
                assert len(entries) == 1, f"{op.state} op {op}: {len(entries)} times in the server's timeline"
                assert entries[0][1:] == (console.user, op.entity_id), (op, entries)
            every[op_id] = op
    return every


@dataclass(slots=True)
class _Replay:
    epoch: int = 0
    rank: Rank = Rank.TRIGGERED
    steps: list[str] = field(default_factory=list)


_RANK_OF = {OpType.ACKNOWLEDGE.value: Rank.ACKNOWLEDGED, OpType.RESOLVE.value: Rank.RESOLVED}


def assert_status_lattice(world: World, team: Team, ops: Mapping[str, OutboxOp]) -> None:
    """4. Each incident's (epoch, rank) is what its status events give, replayed in the server's order.

    The order is the change log's: each test request is its own transaction (syncs and intake are
    awaited one at a time), a push's ops apply in client_seq order, and intake goes first in a batch.
    The rules are sync.md §3's, written out again here: ack/resolve(e) raise the rank only in epoch e;
    reopen(e) of a resolved epoch e starts epoch e + 1; a stale op is recorded with no effect.
    """
    rows = world.query("SELECT id, epoch, status FROM incidents WHERE service_id = ?", (team.service_id,))
    incidents = {str(row[0]): (int(row[1]), Rank.from_label(str(row[2]))) for row in rows}
    entries = world.query(
        "SELECT t.id, t.incident_id, t.kind, t.body, t.seq FROM timeline t JOIN incidents i "
        "ON t.incident_id = i.id WHERE i.service_id = ?",
        (team.service_id,),
    )
    ordered = sorted(entries, key=lambda e: (e[4], ops[e[0]].client_seq if e[0] in ops else -1, str(e[0])))
    replays = {incident_id: _Replay() for incident_id in incidents}
    for entry_id, incident_id, kind, body_text, seq in ordered:
        replay = replays[incident_id]
        body = orjson.loads(body_text) if body_text else {}
        no_effect = bool(body.get("no_effect"))
        op = ops.get(entry_id)
        made = f" by {op.type}({op.base_epoch})" if op else ""
        replay.steps.append(f"seq {seq}: {kind}{made}{' (no effect)' if no_effect else ''}")
        state = f"{incident_id} at ({replay.epoch}, {replay.rank.label}): {replay.steps}"
        if op is None:  # monitoring's own entries (intake only resolves an open incident)
            if kind == "resolved":
                assert replay.rank < Rank.RESOLVED, state
                replay.rank = Rank.RESOLVED
            elif kind == "acknowledged":
                replay.rank = max(replay.rank, Rank.ACKNOWLEDGED)
            continue
        if op.type in _RANK_OF:
            rank = _RANK_OF[op.type]
            effective = op.base_epoch == replay.epoch and replay.rank < rank
            # A stale resolve (made before a reopen) must not close the reopened incident, and a late
            # acknowledge must not move a resolved one back.
            assert no_effect != effective, f"{op.type} of epoch {op.base_epoch}: {state}"
            if effective:
                replay.rank = rank
        elif op.type == OpType.REOPEN.value:
            effective = op.base_epoch == replay.epoch and replay.rank >= Rank.RESOLVED
            assert no_effect != effective, f"reopen of epoch {op.base_epoch}: {state}"
            if effective:
                replay.epoch, replay.rank = replay.epoch + 1, Rank.TRIGGERED
        elif op.type == OpType.SNOOZE.value:  # last writer wins decides; an effective snooze acknowledges
            if replay.rank >= Rank.RESOLVED:
                assert no_effect, f"snooze of a closed incident took effect: {state}"
            elif not no_effect:
                replay.rank = max(replay.rank, Rank.ACKNOWLEDGED)
        elif op.type == OpType.ESCALATE.value:
            assert no_effect == (replay.rank >= Rank.RESOLVED), state
    for incident_id, (epoch, rank) in incidents.items():
        replay = replays[incident_id]
        assert (epoch, rank) == (replay.epoch, replay.rank), (
            f"{incident_id} is ({epoch}, {rank.label}) on the server; its events give "
            f"({replay.epoch}, {replay.rank.label}): {replay.steps}"
        )


def assert_all(world: World, team: Team, consoles: Sequence[Console]) -> None:
    assert_converged(world, consoles)
    ops = assert_ops_accounted(world, consoles)
    assert_status_lattice(world, team, ops)
