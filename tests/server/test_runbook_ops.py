"""Consoles' runbook ops through the push path on a real SQLite file: ticks, unticks, approvals by
role, overrides with their reason on the timeline, repeats answered noop, refusals with reasons, and
runbook saves as a compare-and-set on the version."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import select

from console.domain.ids import uuid7
from console.domain.runbook import Run, step_state
from console.domain.runbook_json import RUN_OP, RUNBOOK_SAVE, runbook_from_json
from console.runbook_files import export
from console.server.tables import runbooks
from tests.server.runbook_server import RUNBOOK, RUNBOOK_TEXT, RunbookServer


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RunbookServer]:
    made = RunbookServer(tmp_path / "server.db")
    try:
        yield made
    finally:
        made.close()


@pytest.fixture
def run(server: RunbookServer) -> Run:
    """The checkout runbook's run on a new incident, attached by an engine pass."""
    incident_id = server.report()
    server.engine_pass()
    [found] = server.runs_of(incident_id)
    return found


def act(server: RunbookServer, user: str, run: Run, kind: str, step: str, **args: object) -> tuple[str, str]:
    result = server.push(user, RUN_OP, run.id, {"kind": kind, "step_id": step, **args})
    return result.status, result.reason


def now(server: RunbookServer, run: Run) -> Run:
    return next(each for each in server.runs_of(run.incident_id) if each.id == run.id)


def test_a_tick_is_stored_with_its_actor_and_leaves_a_timeline_entry(server: RunbookServer, run: Run) -> None:
    op_id = uuid7()
    result = server.push("sam", RUN_OP, run.id, {"kind": "tick", "step_id": "dashboard"}, op_id=op_id)
    assert (result.status, result.reason) == ("applied", "")
    state = step_state(now(server, run), "dashboard")
    assert state.done
    assert [claim.actor for claim in state.claims] == ["sam"]
    [entry] = server.timeline_of(run.incident_id, "runbook")
    assert entry.id == op_id  # the op's id, as for incident ops
    assert entry.actor == "sam"
    assert entry.body["action"] == "tick"
    assert entry.body["step"] == "Open the checkout dashboard"
    assert entry.body["runbook_version"] == 1


def test_the_same_op_again_is_a_noop(server: RunbookServer, run: Run) -> None:
    op_id = uuid7()
    args = {"kind": "tick", "step_id": "status"}
    assert server.push("sam", RUN_OP, run.id, args, op_id=op_id).status == "applied"
    again = server.push("sam", RUN_OP, run.id, args, op_id=op_id)  # re-sent under a new number
    assert again.status == "noop"
    assert len(now(server, run).ops) == 1
    assert len(server.timeline_of(run.incident_id, "runbook")) == 1


def test_an_untick_removes_the_ticks_it_observed(server: RunbookServer, run: Run) -> None:
    tick = uuid7()
    assert (
        server.push("sam", RUN_OP, run.id, {"kind": "tick", "step_id": "status"}, op_id=tick).status
        == "applied"
    )
    assert act(server, "jordan", run, "untick", "status", observed=[tick]) == ("applied", "")
    state = step_state(now(server, run), "status")
    assert not state.done
    assert not state.conflict


def test_a_step_that_needs_approval_cannot_be_ticked(server: RunbookServer, run: Run) -> None:
    status, reason = act(server, "sam", run, "tick", "rollback")
    assert status == "rejected"
    assert "needs approval by a manager" in reason
    assert not now(server, run).ops


def test_only_someone_holding_the_role_approves(server: RunbookServer, run: Run) -> None:
    status, reason = act(server, "sam", run, "approve", "rollback", role="manager")  # sam is a responder
    assert status == "rejected"
    assert reason == "sam is not a manager here, so cannot approve as one."
    status, reason = act(server, "jordan", run, "approve", "rollback", role="responder")
    assert status == "rejected"
    assert "Only a manager can approve" in reason
    assert act(server, "jordan", run, "approve", "rollback", role="manager") == ("applied", "")
    state = step_state(now(server, run), "rollback")
    assert state.done
    assert [(claim.actor, claim.role) for claim in state.claims] == [("jordan", "manager")]


def test_an_emergency_override_needs_a_reason_which_goes_on_the_timeline(
    server: RunbookServer, run: Run
) -> None:
    status, reason = act(server, "sam", run, "override", "rollback", reason="   ")
    assert status == "rejected"
    assert "needs a reason" in reason
    assert act(server, "sam", run, "override", "rollback", reason=" site is down ") == ("applied", "")
    assert step_state(now(server, run), "rollback").done
    [entry] = server.timeline_of(run.incident_id, "runbook")
    assert entry.body["action"] == "override"
    assert entry.body["reason"] == "site is down"


@pytest.mark.parametrize(
    ("user", "entity", "args", "reason"),
    [
        (
            "vic",
            None,
            {"kind": "tick", "step_id": "status"},
            "vic may view runbooks but not work through them.",
        ),
        ("sam", "no-such-run", {"kind": "tick", "step_id": "status"}, "run_id: there is no such run"),
        ("sam", None, {"kind": "tick", "step_id": "nope"}, "step_id: this runbook has no step 'nope'"),
        ("sam", None, {"kind": "wave", "step_id": "status"}, "type: unknown runbook op 'wave'"),
        ("sam", None, {"step_id": "status"}, "type: unknown runbook op ''"),
        (
            "sam",
            None,
            {"kind": "untick", "step_id": "status"},
            "observed: an untick must name the ticks it undoes",
        ),
        ("sam", None, {"kind": "note", "step_id": "status", "text": 3}, "text: must be text"),
    ],
)
def test_ops_that_can_never_apply_are_rejected_with_the_reason(
    server: RunbookServer, run: Run, user: str, entity: str | None, args: dict[str, object], reason: str
) -> None:
    result = server.push(user, RUN_OP, entity or run.id, args)
    assert (result.status, result.reason) == ("rejected", reason)
    assert not now(server, run).ops
    assert not server.timeline_of(run.incident_id, "runbook")


def stored(server: RunbookServer) -> tuple[int, str]:
    with server.engine.connect() as conn:
        row = conn.execute(select(runbooks).where(runbooks.c.id == RUNBOOK.id)).one()
    return runbook_from_json(row.body).version, row.saved_by


def save(server: RunbookServer, user: str, text: str) -> tuple[str, str]:
    result = server.push(user, RUNBOOK_SAVE, uuid7(), {"id": RUNBOOK.id, "version": 2, "text": text})
    return result.status, result.reason


def test_a_save_must_raise_the_version_so_a_second_save_of_it_is_refused(server: RunbookServer) -> None:
    mine = export(replace(RUNBOOK, version=2, description="Mine."))
    theirs = export(replace(RUNBOOK, version=2, description="Theirs."))
    assert save(server, "jordan", mine) == ("applied", "")
    assert stored(server) == (2, "jordan")
    status, reason = save(server, "jordan", theirs)  # made from version 1, like the first one
    assert status == "rejected"
    assert reason == (
        "version: 2 of checkout-errors was saved already by jordan; "
        "open it again and save your change as version 3."
    )
    assert save(server, "jordan", mine)[0] == "noop"  # the same text again changes nothing
    assert save(server, "jordan", RUNBOOK_TEXT)[0] == "rejected"  # version 1: below the stored one
    assert stored(server) == (2, "jordan")


def test_only_managers_save_and_a_bad_text_is_refused_with_its_line(server: RunbookServer) -> None:
    assert save(server, "sam", export(replace(RUNBOOK, version=2))) == (
        "rejected",
        "Only a manager can save runbooks.",
    )
    status, reason = save(server, "jordan", RUNBOOK_TEXT.replace("version: 1", "version: two"))
    assert status == "rejected"
    assert reason.startswith("<checkout-errors>:4: version")
    assert stored(server) == (1, "admin")


def test_a_run_keeps_the_version_it_started_with(server: RunbookServer, run: Run) -> None:
    changed = replace(RUNBOOK, version=2, steps=RUNBOOK.steps[:1])
    assert save(server, "jordan", export(changed)) == ("applied", "")
    assert now(server, run).runbook == RUNBOOK  # three steps, version 1
    assert act(server, "sam", run, "tick", "status") == ("applied", "")  # a step only version 1 has
