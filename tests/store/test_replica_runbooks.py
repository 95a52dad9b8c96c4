"""The replica as a RunbookSource, against a real server: runs pulled from it, this console's run ops
folded in before they sync (and not twice after), refusals raised before anything is recorded, and
a manager's runbook saves as outbox ops that show at once."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import update

from console.domain.runbook import Run, RunOpKind, RunOpRejected, step_state
from console.domain.runbook_json import RUN_OP, RUNBOOK_SAVE, RunbookRejected
from console.server.tables import users
from console.store.replica import Replica
from console.ui.ports import RunbookSource
from tests.runbook_stack import RUNBOOK, add_console, import_into, wait_for_runs
from tests.stack import Stack


@pytest.fixture
def run(stack: Stack) -> Run:
    """The shop runbook's run on a new incident, pulled into ann's replica."""
    import_into(stack, RUNBOOK)
    stack.trigger("shop errors above 2%")
    wait_for_runs(stack, 1)
    stack.sync()
    [incident] = stack.replica.incidents()
    [found] = stack.replica.runs(incident.id)
    return found


def test_the_replica_is_a_runbook_source(stack: Stack) -> None:
    source: RunbookSource = stack.replica  # mypy checks the protocol; this checks it is the replica's
    assert source.runbooks() == []


def test_a_pulled_run_has_the_runbook_and_no_ops(stack: Stack, run: Run) -> None:
    assert run.runbook == RUNBOOK
    assert run.ops == {}
    assert stack.replica.runbooks() == [RUNBOOK]


def test_a_tick_shows_at_once_and_once_after_it_synced(stack: Stack, run: Run) -> None:
    replica = stack.replica
    watch = replica.watch()
    watch.take()  # a new watch starts with "everything may have changed"
    op = replica.act_on_run(run.id, RunOpKind.TICK, "dashboard")
    assert (op.type, op.entity_id, op.state) == (RUN_OP, run.id, "pending")
    assert op.args == {"step_id": "dashboard", "kind": "tick"}
    assert watch.take() == {run.incident_id}  # the window re-reads the incident
    [pending] = replica.runs(run.incident_id)
    state = step_state(pending, "dashboard")
    assert state.done
    assert [(claim.op_id, claim.actor) for claim in state.claims] == [(op.op_id, "ann")]

    stack.sync()
    assert replica.pending_count() == 0
    [synced] = replica.runs(run.incident_id)
    assert [(claim.op_id, claim.actor) for claim in step_state(synced, "dashboard").claims] == [
        (op.op_id, "ann")
    ]
    assert [row[0] for row in replica.rows("run_ops")] == [op.op_id]  # the server's copy


def test_an_untick_made_offline_observes_the_pending_tick(stack: Stack, run: Run) -> None:
    replica = stack.replica
    stack.stop()
    tick = replica.act_on_run(run.id, RunOpKind.TICK, "deploys")
    untick = replica.act_on_run(run.id, RunOpKind.UNTICK, "deploys")
    assert untick.args["observed"] == [tick.op_id]
    [folded] = replica.runs(run.incident_id)
    state = step_state(folded, "deploys")
    assert not state.done
    assert not state.conflict


REFUSALS = [
    (None, RunOpKind.TICK, "rollback", {}, "“Roll back the last deploy” needs approval by a manager"),
    (None, RunOpKind.UNTICK, "status", {}, "The step is not done: there is nothing to untick."),
    (None, RunOpKind.TICK, "nope", {}, "step_id: this runbook has no step 'nope'"),
    (None, RunOpKind.OVERRIDE, "rollback", {"text": "  "}, "reason: an emergency override needs a reason."),
    (None, RunOpKind.APPROVE, "rollback", {"role": "manager"}, "You are a responder here"),
    ("no-such-run", RunOpKind.TICK, "status", {}, "There is no such run here."),
]


def test_an_op_that_could_never_apply_is_refused_and_not_recorded(stack: Stack, run: Run) -> None:
    replica = stack.replica
    state_before = replica.state()
    for run_id, kind, step, options, reason in REFUSALS:  # one server start for all (a run takes seconds)
        with pytest.raises(RunOpRejected) as refused:
            replica.act_on_run(run_id or run.id, kind, step, **options)
        assert str(refused.value).startswith(reason)
    assert replica.outbox() == []
    assert replica.state() == state_before
    assert replica.runs(run.incident_id) == [run]


def test_a_pending_tick_survives_a_restart(stack: Stack, run: Run, tmp_path: Path) -> None:
    stack.stop()
    op = stack.replica.act_on_run(run.id, RunOpKind.NOTE, "status", text="drafted, waiting for comms")
    stack.replica.close()
    stack.replica = Replica(tmp_path / "replica.db")
    [again] = stack.replica.runs(run.incident_id)
    assert [(each.op_id, each.text) for each in step_state(again, "status").notes] == [
        (op.op_id, "drafted, waiting for comms")
    ]


def test_a_managers_save_shows_at_once_and_a_version_not_raised_is_refused(
    stack: Stack, tmp_path: Path
) -> None:
    import_into(stack, RUNBOOK)
    mia = add_console(stack, tmp_path, "mia", role="manager")
    try:
        mia.sync()
        assert mia.replica.runbooks() == [RUNBOOK]
        newer = replace(RUNBOOK, version=2, description="Usually a bad deploy.")
        op = mia.replica.save_runbook(newer)
        assert op.type == RUNBOOK_SAVE
        assert op.args["id"] == RUNBOOK.id
        assert mia.replica.runbooks() == [newer]  # before any sync
        with pytest.raises(RunbookRejected, match="version: 2 is saved already; raise it to 3"):
            mia.replica.save_runbook(replace(newer, description="Other."))
        report = mia.sync()
        assert (report.applied, report.rejected) == (1, [])
        assert mia.replica.runbooks() == [newer]
        stack.sync()
        assert stack.replica.runbooks() == [newer]
        with pytest.raises(RunbookRejected, match="Only a manager can save runbooks"):
            stack.replica.save_runbook(replace(newer, version=3))  # ann is a responder
    finally:
        mia.replica.close()


def test_an_approval_the_server_refuses_disappears_and_its_incident_is_marked(
    stack: Stack, run: Run, tmp_path: Path
) -> None:
    mia = add_console(stack, tmp_path, "mia", role="manager")
    try:
        mia.sync()
        op = mia.replica.act_on_run(run.id, RunOpKind.APPROVE, "rollback", role="manager")
        assert step_state(mia.replica.runs(run.incident_id)[0], "rollback").done
        with stack.engine.begin() as conn:  # meanwhile an admin makes mia a responder
            conn.execute(update(users).where(users.c.name == "mia").values(role="responder"))
        watch = mia.replica.watch()
        watch.take()
        report = mia.sync()
        assert report.rejected == [(RUN_OP, run.id, "mia is not a manager here, so cannot approve as one.")]
        assert [(each.op_id, each.state) for each in mia.replica.outbox()] == [(op.op_id, "rejected")]
        assert not step_state(mia.replica.runs(run.incident_id)[0], "rollback").done
        assert run.incident_id in (watch.take() or set())
    finally:
        mia.replica.close()
