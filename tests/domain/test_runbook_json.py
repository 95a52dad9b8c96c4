"""Runbooks as stored and replicated (JSON) and run ops as outbox args: what goes out comes back the
same, and what does not read as one is refused with ValueError or RunOpRejected."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from console.domain.clock import Hlc, to_ms
from console.domain.runbook import Run, RunOpKind, RunOpRejected, make_op, runbook_from_annotation, start_run
from console.domain.runbook_json import (
    run_op_from_outbox,
    run_op_outbox_args,
    runbook_entity,
    runbook_from_json,
    runbook_json,
)
from tests.domain.test_runbook import RUNBOOK
from tests.test_runbook_files import IDS, URL, runbooks

T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(runbooks() | st.builds(runbook_from_annotation, URL))
def test_a_runbook_stored_as_json_reads_back_the_same(runbook: Any) -> None:
    stored = json.loads(json.dumps(runbook_json(runbook)))  # as a JSON column gives it back
    assert runbook_from_json(stored) == runbook
    assert runbook_json(runbook_from_json(stored)) == stored


@pytest.mark.parametrize(
    "change",
    [
        lambda v: v.pop("steps"),
        lambda v: v.update(version="3"),
        lambda v: v.update(version=True),
        lambda v: v.update(steps=[]),
        lambda v: v.update(steps=["open the dashboard"]),
        lambda v: v["steps"][0].update(id="Not An Id"),
        lambda v: v["steps"][0].update(link={"text": "no href"}),
        lambda v: v["applies_to"]["matchers"].append({"name": "x", "op": "~=", "value": "y"}),
        lambda v: v.update(last_reviewed="last week"),
        lambda v: v.update(title=None),
    ],
)
def test_what_is_not_a_runbook_is_refused(change: Any) -> None:
    value = runbook_json(RUNBOOK)
    change(value)
    with pytest.raises(ValueError):  # noqa: PT011 - the message depends on which constructor refused
        runbook_from_json(value)


def made(kind: RunOpKind, step: str, **more: str) -> tuple[Run, Any]:
    run = start_run(RUNBOOK, run_id="run1", incident_id="i1")
    if kind is RunOpKind.UNTICK:
        tick = make_op(run, RunOpKind.TICK, step, op_id="t1", actor="ann", hlc=Hlc(to_ms(T0), 0, "a"))
        run = Run(run.id, run.incident_id, run.runbook, {"t1": tick})
    hlc = Hlc(to_ms(T0) + 1000, 0, "a")
    return run, make_op(run, kind, step, op_id="op1", actor="ann", hlc=hlc, **more)


@settings(max_examples=100, deadline=None)
@given(
    st.sampled_from(
        [
            (RunOpKind.TICK, "dashboard", {}),
            (RunOpKind.UNTICK, "deploys", {}),
            (RunOpKind.APPROVE, "failover", {"role": "manager"}),
            (RunOpKind.OVERRIDE, "failover", {"text": "REASON"}),
            (RunOpKind.NOTE, "deploys", {"text": "REASON"}),
        ]
    ),
    st.text(min_size=1, max_size=40).map(str.strip).filter(bool),
)
def test_a_run_op_through_the_outbox_is_the_same_op(
    case: tuple[RunOpKind, str, dict[str, str]], text: str
) -> None:
    kind, step, more = case
    _run, op = made(kind, step, **{key: text if value == "REASON" else value for key, value in more.items()})
    args = json.loads(json.dumps(run_op_outbox_args(op)))
    assert args["kind"] == kind.value
    back = run_op_from_outbox(op_id=op.op_id, run_id=op.run_id, args=args, actor=op.actor, hlc=op.hlc)
    assert back == op


@pytest.mark.parametrize("kind", [None, 3, "wave", ["tick"]])
def test_an_outbox_op_of_no_known_kind_is_rejected(kind: object) -> None:
    with pytest.raises(RunOpRejected, match="type: unknown runbook op"):
        run_op_from_outbox(
            op_id="op1", run_id="run1", args={"kind": kind, "step_id": "x"}, actor="ann", hlc=Hlc(0, 0, "a")
        )


@given(IDS, IDS)
def test_a_runbooks_saves_share_one_entity_id_that_fits_the_outbox(one: str, other: str) -> None:
    assert runbook_entity(one) == runbook_entity(one)
    assert len(runbook_entity(one + "x" * 90)) == 36  # an id of 100 characters still fits
    assert (runbook_entity(one) == runbook_entity(other)) == (one == other)
