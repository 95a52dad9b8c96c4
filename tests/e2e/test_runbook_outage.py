"""A runbook worked through a server outage: two consoles (two replica files, two people) tick
different steps of the same run while the server is down; a manager approves the step that needs it
and unticks one done before the outage. When the server is back on the same database, both consoles
sync and both show every tick with the right person, and the server holds each op once."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from console.domain.errors import KnownFailure
from console.domain.runbook import Run, RunOpKind, step_states
from console.server.tables import run_ops, timeline
from tests.runbook_stack import RUNBOOK, Console, add_console, import_into, wait_for_runs
from tests.stack import Stack

pytestmark = pytest.mark.e2e


@pytest.fixture
def consoles(stack: Stack, tmp_path: Path) -> Iterator[tuple[Console, Console]]:
    alice = add_console(stack, tmp_path, "alice")
    bob = add_console(stack, tmp_path, "bob", role="manager")
    try:
        yield alice, bob
    finally:
        alice.replica.close()
        bob.replica.close()


def only_run(console: Console) -> Run:
    [incident] = console.replica.incidents()
    [run] = console.replica.runs(incident.id)
    return run


def shown(run: Run) -> dict[str, tuple[bool, list[tuple[str, str]]]]:
    """Per step: done, and who claimed it how ((actor, kind), oldest first)."""
    return {
        state.step.id: (state.done, [(claim.actor, claim.kind.value) for claim in state.claims])
        for state in step_states(run)
    }


def test_two_consoles_tick_different_steps_offline_and_both_show_all_ticks(
    stack: Stack, consoles: tuple[Console, Console]
) -> None:
    alice, bob = consoles
    import_into(stack, RUNBOOK)
    stack.trigger("shop: error rate 7%")
    wait_for_runs(stack, 1)
    alice.sync()
    bob.sync()
    run = only_run(alice)
    assert only_run(bob) == run
    alice.replica.act_on_run(run.id, RunOpKind.TICK, "deploys")  # before the outage, synced
    alice.sync()
    bob.sync()
    assert shown(only_run(bob))["deploys"] == (True, [("alice", "tick")])

    # -- the outage --
    stack.stop()
    alice.replica.act_on_run(run.id, RunOpKind.TICK, "dashboard")
    alice.replica.act_on_run(run.id, RunOpKind.TICK, "status")
    bob.replica.act_on_run(run.id, RunOpKind.APPROVE, "rollback", role="manager")
    bob.replica.act_on_run(run.id, RunOpKind.UNTICK, "deploys")
    for console in (alice, bob):
        with pytest.raises(KnownFailure):
            console.sync()
        assert console.replica.pending_count() == 2  # the failed attempt lost nothing
    # each console shows its own work at once, and not yet the other's
    assert shown(only_run(alice)) == {
        "dashboard": (True, [("alice", "tick")]),
        "deploys": (True, [("alice", "tick")]),
        "rollback": (False, []),
        "status": (True, [("alice", "tick")]),
    }
    assert shown(only_run(bob)) == {
        "dashboard": (False, []),
        "deploys": (False, []),
        "rollback": (True, [("bob", "approve")]),
        "status": (False, []),
    }

    # -- the server is back, on the same database and port --
    stack.start()
    alice.sync()
    bob.sync()
    alice.sync()  # bob's ops reached the server after alice's first round
    expected = {
        "dashboard": (True, [("alice", "tick")]),
        "deploys": (False, []),  # bob had seen alice's tick when he unticked it: no conflict
        "rollback": (True, [("bob", "approve")]),
        "status": (True, [("alice", "tick")]),
    }
    for console in (alice, bob):
        assert console.replica.pending_count() == 0
        assert shown(only_run(console)) == expected
        assert not any(state.conflict for state in step_states(only_run(console)))
    assert only_run(alice) == only_run(bob)
    assert alice.replica.rows("run_ops") == bob.replica.rows("run_ops")

    with stack.engine.connect() as conn:
        stored = conn.execute(select(run_ops.c.id, run_ops.c.actor, run_ops.c.kind)).all()
        entries = conn.execute(
            select(timeline.c.id, timeline.c.actor, timeline.c.body).where(timeline.c.kind == "runbook")
        ).all()
    assert Counter((actor, kind) for _id, actor, kind in stored) == Counter(
        {("alice", "tick"): 3, ("bob", "approve"): 1, ("bob", "untick"): 1}
    )
    assert len({op_id for op_id, _actor, _kind in stored}) == 5  # each op once
    assert sorted((entry.id, entry.actor) for entry in entries) == sorted(
        (op_id, actor) for op_id, actor, _kind in stored
    )  # one timeline entry per op, by its person
