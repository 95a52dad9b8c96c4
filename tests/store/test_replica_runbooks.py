"""The replica as a RunbookSource, against a real server: runs pulled from it, this console's run ops
folded in before they sync (and not twice after), refusals raised before anything is recorded, and
a manager's runbook saves as outbox ops that show at once. And each incident's runbook progress in
its views (the incident row), on every read path, agreeing with the runs the runner shows, read in a
fixed number of queries whatever the number of incidents."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, update

from console.domain.clock import Hlc
from console.domain.runbook import (
    Progress,
    Run,
    RunOpKind,
    RunOpRejected,
    progress,
    runbook_from_annotation,
    step_state,
)
from console.domain.runbook_json import RUN_OP, RUNBOOK_SAVE, RunbookRejected, runbook_json
from console.domain.views import RunbookProgress
from console.server.tables import users
from console.store.replica import Replica
from console.ui.ports import RunbookSource
from tests.runbook_stack import RUNBOOK, add_console, import_into, wait_for_runs
from tests.stack import Stack
from tests.store.test_watch import T0, incident_id, incident_row, made_replica, page


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
    [view] = stack.replica.incidents()
    assert view.runbook == RunbookProgress(0, 4, 0, 1)  # the row: 0/4


def test_a_tick_shows_at_once_and_once_after_it_synced(stack: Stack, run: Run) -> None:
    replica = stack.replica
    watch = replica.watch()
    watch.take()  # a new watch starts with "everything may have changed"
    op = replica.act_on_run(run.id, RunOpKind.TICK, "dashboard")
    assert (op.type, op.entity_id, op.state) == (RUN_OP, run.id, "pending")
    assert op.args == {"step_id": "dashboard", "kind": "tick"}
    assert watch.take() == {run.incident_id}  # the window re-reads the incident
    row = replica.views([run.incident_id])[run.incident_id]
    assert row.runbook == RunbookProgress(1, 4, 0, 1)  # the unsynced tick is on the row at once
    [pending] = replica.runs(run.incident_id)
    assert RunbookProgress.of([progress(pending)]) == row.runbook  # as the runner counts it
    state = step_state(pending, "dashboard")
    assert state.done
    assert [(claim.op_id, claim.actor) for claim in state.claims] == [(op.op_id, "ann")]

    stack.sync()
    assert replica.pending_count() == 0
    assert replica.views([run.incident_id])[run.incident_id].runbook == RunbookProgress(1, 4, 0, 1)  # once
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
        assert mia.replica.views([run.incident_id])[run.incident_id].runbook == RunbookProgress(0, 4, 0, 1)
    finally:
        mia.replica.close()


# -- the incident row's progress, on a replica fed pull pages (no server: the cases the server makes
# slowly or never, such as a crossed tick and untick, or a runbook from a newer server) --

LINKED = runbook_from_annotation("https://wiki.example.com/shop")  # one step: open-runbook
RUN_COLUMNS = ["id", "incident_id", "runbook_id", "runbook_version", "runbook", "started_at", "started_by",
               "seq"]  # fmt: skip
RUN_OP_COLUMNS = ["id", "run_id", "incident_id", "kind", "step_id", "actor", "hlc", "observed", "role",
                  "text", "seq"]  # fmt: skip


def run_row(run_id: str, incident: str, body: Any = None, *, minutes: int = 0) -> list[Any]:
    body = runbook_json(RUNBOOK) if body is None else body
    at = T0.replace(minute=minutes).isoformat()
    return [run_id, incident, body.get("id", "?"), body.get("version", 1), body, at, "intake", 1]


def op_row(op_id: str, run_id: str, incident: str, kind: str, step: str, *, observed: Sequence[str] = (),
           minute: int = 1) -> list[Any]:  # fmt: skip
    hlc = Hlc(int(T0.timestamp() * 1000) + minute * 60_000, 0, "server").encode()
    return [op_id, run_id, incident, kind, step, "bob", hlc, list(observed), "", "", 1]


def runs_page(seq: int, runs: Sequence[list[Any]] = (), ops: Sequence[list[Any]] = ()) -> dict[str, Any]:
    made = page(seq=seq)
    if runs:
        made["tables"]["runs"] = {"columns": RUN_COLUMNS, "rows": [list(row) for row in runs]}
    if ops:
        made["tables"]["run_ops"] = {"columns": RUN_OP_COLUMNS, "rows": [list(row) for row in ops]}
    return made


# #1: the shop runbook (dashboard ticked) and a linked one; #2: the shop runbook, "deploys" ticked
# twice and unticked by someone who saw only the first tick (done, in conflict); #3: no run;
# #4: a run whose runbook this console cannot read (a newer server's), as the runner leaves it out.
ONE, TWO, THREE, FOUR = (incident_id(n) for n in range(1, 5))


@pytest.fixture
def runs_replica(tmp_path: Path) -> Iterator[Replica]:
    made = made_replica(tmp_path / "replica.db", [incident_row(n, minutes=n) for n in range(1, 5)])
    made.apply_page(
        runs_page(
            2,
            runs=[
                run_row("r1-shop", ONE),
                run_row("r1-link", ONE, runbook_json(LINKED), minutes=1),
                run_row("r2-shop", TWO),
                run_row("r4-new", FOUR, {"id": "from-the-future", "version": 1, "steps": "all of them"}),
            ],
            ops=[
                op_row("o1", "r1-shop", ONE, "tick", "dashboard"),
                op_row("o2", "r2-shop", TWO, "tick", "deploys"),
                op_row("o3", "r2-shop", TWO, "tick", "deploys", minute=2),
                op_row("o4", "r2-shop", TWO, "untick", "deploys", observed=["o2"], minute=3),
            ],
        )
    )
    yield made
    made.close()


EXPECTED = {
    ONE: RunbookProgress(1, 5, 0, 2),  # 1/4 + 0/1, summed
    TWO: RunbookProgress(1, 4, 1, 1),  # "deploys" stays done (o3 was not seen by the untick), flagged
    THREE: None,
    FOUR: None,
}


def progress_of(views: Any) -> dict[str, RunbookProgress | None]:
    return {view.id: view.runbook for view in views}


def test_every_read_path_gives_each_incident_its_runs_progress_summed(runs_replica: Replica) -> None:
    assert progress_of(runs_replica.views(EXPECTED).values()) == EXPECTED
    assert progress_of(runs_replica.incidents()) == EXPECTED
    batches = list(runs_replica.urgent_first(first=1, batch=2))  # runs read per batch: 1 + 2 + 1
    assert len(batches) == 3
    assert progress_of(view for batch in batches for view in batch) == EXPECTED
    assert runs_replica.incident(TWO).view.runbook == EXPECTED[TWO]
    assert progress_of(runs_replica.unacknowledged(10)) == EXPECTED


def test_the_row_counts_the_runs_the_runner_shows(runs_replica: Replica) -> None:
    for incident, expected in EXPECTED.items():
        shown = runs_replica.runs(incident)  # what the runner beside the detail shows
        assert RunbookProgress.of(progress(run) for run in shown) == expected
    assert [progress(run) for run in runs_replica.runs(TWO)] == [Progress(1, 4, 1)]
    # claims of every kind, a repeated one and a note, without an untick (counted without the domain)
    approve = [*op_row("o5", "r1-shop", ONE, "approve", "rollback", minute=2)[:8], "manager", "", 1]
    again = op_row("o6", "r1-shop", ONE, "tick", "dashboard", minute=3)
    note = [*op_row("o7", "r1-shop", ONE, "note", "status", minute=4)[:9], "drafting", 1]
    runs_replica.apply_page(runs_page(3, ops=[approve, again, note]))
    row = runs_replica.views([ONE])[ONE].runbook
    assert row == RunbookProgress(2, 5, 0, 2)
    assert RunbookProgress.of(progress(run) for run in runs_replica.runs(ONE)) == row


def test_a_tick_made_here_is_on_the_row_at_once_and_gone_if_the_server_refuses_it(
    runs_replica: Replica,
) -> None:
    watch = runs_replica.watch()
    watch.take()
    op = runs_replica.act_on_run("r1-shop", RunOpKind.TICK, "deploys")
    runs_replica.act_on_run("r1-link", RunOpKind.TICK, "open-runbook")
    assert watch.take() == {ONE}  # the window re-reads the row...
    assert runs_replica.views([ONE])[ONE].runbook == RunbookProgress(3, 5, 0, 2)  # ...and finds the ticks
    assert progress_of(runs_replica.incidents())[ONE] == RunbookProgress(3, 5, 0, 2)
    assert runs_replica.views([TWO])[TWO].runbook == EXPECTED[TWO]  # another incident's runs are its own
    runs_replica.record_results(
        [{"client_seq": 1, "op_id": op.op_id, "status": "rejected", "reason": "no", "seq": 9}]
    )
    assert watch.take() == {ONE}
    assert runs_replica.views([ONE])[ONE].runbook == RunbookProgress(2, 5, 0, 2)


def test_a_pulled_run_op_marks_its_incident_and_changes_the_row(runs_replica: Replica) -> None:
    watch = runs_replica.watch()
    watch.take()
    # someone who saw both ticks and the untick settles "deploys" on #2: no longer flagged
    settle = op_row("o5", "r2-shop", TWO, "tick", "deploys", observed=["o2", "o3", "o4"], minute=4)
    status = op_row("o6", "r2-shop", TWO, "tick", "status", minute=5)
    runs_replica.apply_page(runs_page(3, ops=[settle, status]))
    assert watch.take() == {TWO}
    assert runs_replica.views([TWO])[TWO].runbook == RunbookProgress(2, 4, 0, 1)
    # and the last steps, with the approval: every step done
    runs_replica.apply_page(
        runs_page(
            4,
            ops=[
                op_row("o7", "r2-shop", TWO, "tick", "dashboard", minute=6),
                [*op_row("o8", "r2-shop", TWO, "approve", "rollback", minute=7)[:8], "manager", "", 1],
            ],
        )
    )
    assert runs_replica.views([TWO])[TWO].runbook == RunbookProgress(4, 4, 0, 1)
    assert RunbookProgress(4, 4, 0, 1).complete


def test_an_op_this_console_cannot_read_is_left_out_not_a_failed_read(runs_replica: Replica) -> None:
    runs_replica.apply_page(runs_page(3, ops=[op_row("o9", "r1-shop", ONE, "scribble", "status")]))
    assert runs_replica.views([ONE])[ONE].runbook == EXPECTED[ONE]


def test_runs_are_read_in_a_few_queries_whatever_the_number_of_incidents(runs_replica: Replica) -> None:
    """No query per incident or per run: the 100,000-incident window reads them all at start."""
    more = range(5, 45)
    runs_replica.apply_page(page(seq=3, incidents=[incident_row(n, minutes=n) for n in more]))
    runs_replica.apply_page(
        runs_page(
            4,
            runs=[run_row(f"r{n}", incident_id(n)) for n in more],
            ops=[op_row(f"o{n}", f"r{n}", incident_id(n), "tick", "status") for n in more],
        )
    )
    runs_replica.act_on_run("r2-shop", RunOpKind.TICK, "status")  # an op of this console's to fold in
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if "FROM run" in statement or "type = 'run_op'" in statement:
            statements.append(statement)

    def queries(read: Callable[[], object]) -> int:
        statements.clear()
        read()
        return len(statements)

    engine = runs_replica._engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        every = [*EXPECTED, *(incident_id(n) for n in more)]
        # the runs, this console's run ops, the kind and step of every op, the ops of #2's run (an
        # untick and a pending tick: the domain works it out)
        assert queries(runs_replica.incidents) == 4
        assert queries(lambda: runs_replica.views(every)) == 4
        assert queries(lambda: list(runs_replica.urgent_first(first=100, batch=100))) == 4
        # in five batches: the first batch's (by its ids), then every run's once, not once a batch
        assert queries(lambda: list(runs_replica.urgent_first(first=4, batch=10))) <= 8
        assert queries(lambda: runs_replica.views([ONE])) == 3  # claims only: counted, not worked out
        assert queries(lambda: runs_replica.views([THREE])) == 1  # no run: nothing more to read
        views = runs_replica.views(every)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert views[TWO].runbook == RunbookProgress(2, 4, 1, 1)
    assert all(views[incident_id(n)].runbook == RunbookProgress(1, 4, 0, 1) for n in more)
