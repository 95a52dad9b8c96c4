"""Consoles converge with the server whatever the network does (sync.md §6, "Must show").

A Hypothesis state machine drives 3 to 5 consoles (each its own replica file, user token and clock,
skewed by up to an hour) against one real server (uvicorn on 127.0.0.1, SQLite file):
- monitoring triggers and resolves alerts through the real intake, opening incidents;
- consoles act on the incidents they know (acknowledge, resolve, reopen, note, assign, priority,
  snooze, escalate) and report new ones; what a console refuses locally is fine;
- a console syncs one round through a flaky transport (request lost, response lost after the server
  processed the request, request delivered twice), is partitioned and healed, or is restarted on the
  same replica file.
After healing and quiescing, every replica equals the server, every op was processed exactly once
(or rejected with a reason), and each incident's status is what the lattice rules give when its
events are replayed in the server's order. Cursors never go backwards (checked at every sync).

The server starts once for the module; each example gets a fresh service and users, and consoles
that start from an empty replica (so they also pull the earlier examples' rows: a bigger snapshot).
"""

from __future__ import annotations

import contextlib
import functools
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any, ClassVar, Concatenate, ParamSpec, TypeVar

import orjson
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, rule, run_state_machine_as_test

from console.domain.errors import DomainError
from console.domain.ops import OpType
from console.domain.status import Rank, Status
from console.domain.views import IncidentView
from console.sync.client import Offline
from tests.sync.harness import (
    Console,
    Fault,
    Team,
    World,
    assert_all,
    close_loop,
    consoles,
    heal_and_quiesce,
    new_loop,
)

HOUR_MS = 3_600_000
DEDUP_KEYS = 4  # monitoring's alerts per example: few, so triggers repeat and resolves find them
FIELD_OPS = (OpType.NOTE, OpType.ASSIGN, OpType.PRIORITY)
ACTS = (OpType.ACKNOWLEDGE, OpType.RESOLVE, OpType.SNOOZE, OpType.ESCALATE, *FIELD_OPS)  # and reopen

console_index = st.integers(0, 4)  # taken modulo the number of consoles


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with World.start(tmp_path_factory.mktemp("convergence")) as started:
        yield started


def team_incidents(console: Console, team: Team) -> list[IncidentView]:
    """The incidents of this test's service as the console sees them (its unsynced ops included)."""
    return [
        view
        for view in console.replica.incidents(text=team.tag)  # the earlier tests' are not folded
        if view.incident.service_id == team.service_id
    ]


# -- the state machine --

M = TypeVar("M", bound="Convergence")
P = ParamSpec("P")


def step(function: Callable[Concatenate[M, P], None]) -> Callable[Concatenate[M, P], None]:
    """A rule that notes when it fails: the final checks are then skipped, so that Hypothesis reports
    (and shrinks) the step's own failure rather than one that follows from it."""

    @functools.wraps(function)
    def run(machine: M, /, *args: P.args, **kwargs: P.kwargs) -> None:
        try:
            function(machine, *args, **kwargs)
        except BaseException:
            machine.failed = True
            raise

    return run


class Convergence(RuleBasedStateMachine):
    world: ClassVar[World]
    final_checks: ClassVar[int] = 0  # examples that got to heal, quiesce and check

    def __init__(self) -> None:
        super().__init__()
        self.failed = False
        self.loop = new_loop()
        self.team: Team | None = None
        self.consoles: list[Console] = []
        self.counter = 0

    def _next(self) -> int:
        self.counter += 1
        return self.counter

    def _console(self, index: int) -> Console:
        return self.consoles[index % len(self.consoles)]

    @property
    def _team(self) -> Team:
        assert self.team is not None
        return self.team

    @initialize(
        offsets=st.lists(st.integers(-HOUR_MS, HOUR_MS), min_size=3, max_size=5),
        alerts=st.integers(1, 3),
        page_limits=st.lists(st.sampled_from([5, 40, None]), min_size=5, max_size=5),
    )
    @step
    def log_in(self, offsets: list[int], alerts: int, page_limits: list[int | None]) -> None:
        """Consoles with skewed clocks, each logged in as its own user and synced once, after
        monitoring opened `alerts` incidents; then some pull in small pages (the first snapshot
        holds the earlier examples' rows too, so it is taken in the default pages)."""
        self.team = self.world.new_team(len(offsets))
        for alert in range(alerts):
            self.world.monitor(self.team, "trigger", f"dk{alert}-{self.team.tag}")
        for user, offset in zip(self.team.tokens, offsets, strict=True):
            self.consoles.append(Console(self.world, self.team, user, offset, self.loop))
        for console, rows in zip(self.consoles, page_limits, strict=False):
            console.clean_sync()
            console.page_limit = rows

    @rule(alert=st.integers(0, DEDUP_KEYS - 1), action=st.sampled_from(["trigger", "trigger", "resolve"]))
    @step
    def monitoring(self, alert: int, action: str) -> None:
        self.world.monitor(self._team, action, f"dk{alert}-{self._team.tag}")

    def _act(self, console: Console, pick: int, kind: OpType, who: int, priority: str, minutes: int) -> None:
        known = team_incidents(console, self._team)
        # Mostly incidents the op can change as far as this console knows (a reopen needs a resolved
        # one); the server may still find the op late. With none, any: the console refuses it.
        fitting = [view for view in known if _fits(kind, view)] or known
        if not fitting:
            return
        incident = fitting[pick % len(fitting)]
        users = self._team.users
        args: dict[str, Any] = {}
        if kind is OpType.NOTE:
            args = {"text": f"note {self._next()} by {console.user}"}
        elif kind is OpType.ASSIGN:  # now and then a name the server does not know: it rejects the op
            names = [*users, "nobody-by-that-name"]
            args = {"assignee": names[who % len(names)]}
        elif kind is OpType.PRIORITY:
            args = {"priority": priority}
        elif kind is OpType.SNOOZE:  # a future time, by the console's own clock
            args = {"until": (console.now() + timedelta(minutes=minutes)).isoformat()}
        with contextlib.suppress(DomainError):  # refused here (it could change nothing): fine
            console.act(kind, incident.id, args)

    @rule(
        index=console_index,
        pick=st.integers(0, 20),
        kind=st.sampled_from(ACTS),
        who=st.integers(0, 5),
        priority=st.sampled_from(["high", "low"]),
        minutes=st.integers(1, 24 * 60),
    )
    @step
    def act(self, index: int, pick: int, kind: OpType, who: int, priority: str, minutes: int) -> None:
        self._act(self._console(index), pick, kind, who, priority, minutes)

    @rule(index=console_index, pick=st.integers(0, 20))
    @step
    def reopen(self, index: int, pick: int) -> None:
        """A rule of its own: reopens (new epochs) are what stale offline ops race against."""
        self._act(self._console(index), pick, OpType.REOPEN, 0, "high", 0)

    @rule(index=console_index, priority=st.sampled_from(["high", "low"]))
    @step
    def report(self, index: int, priority: str) -> None:
        console = self._console(index)
        title = f"{self._team.tag}: reported {self._next()} by {console.user}"
        with contextlib.suppress(DomainError):
            console.report(title, self._team.service, priority=priority)

    @rule(index=console_index, faults=st.lists(st.sampled_from(Fault), max_size=2))
    @step
    def sync(self, index: int, faults: list[Fault]) -> None:
        """One round, the faults hitting its first requests in turn; it fails (KnownFailure) or
        succeeds. Cursor monotonicity and the outbox states are checked inside."""
        self._console(index).sync(faults)

    @rule(index=console_index, what=st.sampled_from(["partition", "heal", "restart"]))
    @step
    def nemesis(self, index: int, what: str) -> None:
        """Cut a console off (its syncs all fail until healed), heal it, or restart it on its file.
        One rule for the three, so that restarts (0.1 s each) do not take a third of the steps."""
        console = self._console(index)
        if what == "restart":
            console.restart()
        else:
            console.offline = what == "partition"

    def teardown(self) -> None:
        try:
            if self.consoles and not self.failed:
                heal_and_quiesce(self.consoles)
                assert_all(self.world, self._team, self.consoles)
                Convergence.final_checks += 1
        finally:
            try:
                for console in self.consoles:
                    console.close()
            finally:
                close_loop(self.loop)
                for console in self.consoles:
                    _remove(console.path)


def _fits(kind: OpType, view: IncidentView) -> bool:
    is_open = view.incident.status.is_open
    return not is_open if kind is OpType.REOPEN else is_open or kind in FIELD_OPS


def _remove(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


@pytest.mark.slow
@pytest.mark.timeout(900)  # green in ~40 s; a failure is shrunk for up to 5 more minutes
def test_consoles_converge_whatever_the_network_does(world: World) -> None:
    Convergence.world = world
    Convergence.final_checks = 0
    run_state_machine_as_test(
        Convergence,
        settings=settings(
            max_examples=25,
            stateful_step_count=30,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        ),
    )
    assert Convergence.final_checks > 0, "no example got as far as the final checks"


# -- the headline cases, without randomness --


def _only_incident(console: Console, team: Team) -> str:
    (view,) = team_incidents(console, team)
    return view.id


def _server_incident(world: World, incident_id: str) -> tuple[str, int, str | None]:
    (row,) = world.query("SELECT status, epoch, acknowledged_at FROM incidents WHERE id = ?", (incident_id,))
    return str(row[0]), int(row[1]), row[2]


def test_offline_acknowledge_and_resolve_with_notes_converge(world: World) -> None:
    team = world.new_team(2)
    with consoles(world, team) as (a, b):
        world.monitor(team, "trigger", f"disk-{uuid.uuid4().hex[:8]}")
        a.clean_sync()
        b.clean_sync()
        incident = _only_incident(a, team)
        a.offline = b.offline = True

        ack = a.act(OpType.ACKNOWLEDGE, incident)
        a.act(OpType.NOTE, incident, {"text": "A: looking at the disk"})
        resolve = b.act(OpType.RESOLVE, incident)
        b.act(OpType.NOTE, incident, {"text": "B: freed 20 GB"})
        report = b.report("Checkout slow", team.service)
        assert isinstance(a.sync(), Offline)
        assert isinstance(b.sync(), Offline)

        heal_and_quiesce([a, b])

        assert_all(world, team, [a, b])
        status, epoch, acknowledged_at = _server_incident(world, incident)
        assert (status, epoch) == ("resolved", 0)
        assert acknowledged_at is not None
        notes = world.query("SELECT body FROM timeline WHERE incident_id = ? AND kind = 'note'", (incident,))
        assert sorted(orjson.loads(body)["text"] for (body,) in notes) == [
            "A: looking at the disk",
            "B: freed 20 GB",
        ]
        for console in (a, b):
            detail = console.replica.incident(incident)
            texts = sorted(e.entry.body["text"] for e in detail.timeline if e.entry.kind.value == "note")
            assert texts == ["A: looking at the disk", "B: freed 20 GB"]
            assert detail.view.incident.status == Status(0, Rank.RESOLVED)
            assert console.replica.incident(report.entity_id).view.incident.title == "Checkout slow"
        assert [op.state for op in a.replica.outbox() if op.op_id == ack.op_id] == ["applied"]
        assert [op.state for op in b.replica.outbox() if op.op_id == resolve.op_id] == ["applied"]


@pytest.mark.parametrize("fault", [Fault.DROP_RESPONSE, Fault.DUPLICATE], ids=lambda f: f.name.lower())
def test_a_push_whose_answer_is_lost_or_doubled_applies_once(world: World, fault: Fault) -> None:
    team = world.new_team(1)
    with consoles(world, team) as (a,):
        world.monitor(team, "trigger", f"cpu-{uuid.uuid4().hex[:8]}")
        a.clean_sync()
        incident = _only_incident(a, team)
        note = a.act(OpType.NOTE, incident, {"text": "restarting the pod"})
        ack = a.act(OpType.ACKNOWLEDGE, incident)
        ids = (note.op_id, ack.op_id)

        first = a.sync([fault])  # the push

        applied = world.query("SELECT id FROM timeline WHERE id IN (?, ?)", ids)
        assert sorted(row[0] for row in applied) == sorted(ids)  # the server applied them either way
        if fault is Fault.DROP_RESPONSE:
            assert isinstance(first, Offline)
            assert {op.op_id: op.state for op in a.replica.outbox()} == dict.fromkeys(ids, "pending")
            assert a.clean_sync().applied == 2  # sent again: answered from the server's record
        heal_and_quiesce([a])

        assert {op.op_id: op.state for op in a.replica.outbox()} == dict.fromkeys(ids, "applied")
        assert world.query("SELECT count(*) FROM timeline WHERE id IN (?, ?)", ids) == [(2,)]
        assert world.query("SELECT count(*) FROM sync_results WHERE op_id IN (?, ?)", ids) == [(2,)]
        assert_all(world, team, [a])


def test_a_stale_offline_resolve_does_not_close_a_reopened_incident(world: World) -> None:
    team = world.new_team(2)
    with consoles(world, team) as (a, b):
        world.monitor(team, "trigger", f"db-{uuid.uuid4().hex[:8]}")
        a.clean_sync()
        b.clean_sync()
        incident = _only_incident(a, team)
        a.offline = True
        stale = a.act(OpType.RESOLVE, incident)  # made against epoch 0, then stuck offline
        assert stale.base_epoch == 0

        b.act(OpType.RESOLVE, incident)
        b.clean_sync()
        b.act(OpType.REOPEN, incident)
        b.clean_sync()
        assert _server_incident(world, incident)[:2] == ("triggered", 1)

        heal_and_quiesce([a, b])

        assert _server_incident(world, incident)[:2] == ("triggered", 1)
        (done,) = [op for op in a.replica.outbox() if op.op_id == stale.op_id]
        assert (done.state, done.reason) == ("noop", "The incident was reopened after this was done.")
        ((body,),) = world.query("SELECT body FROM timeline WHERE id = ?", (stale.op_id,))
        assert orjson.loads(body)["no_effect"] is True
        for console in (a, b):
            assert console.replica.incident(incident).view.incident.status == Status(1, Rank.TRIGGERED)
        assert_all(world, team, [a, b])
