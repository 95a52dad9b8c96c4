"""An in-memory RunbookSource over the domain's run functions, standing in for the replica's (the
lead writes the real one). Each instance is one console: its ops are "pending" in its outbox, and
`merge_from` folds in another console's runs, as a sync round would, so tests can make the
concurrent tick and untick that leave a step flagged."""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import replace
from datetime import UTC, date, datetime
from typing import Any

from console.domain.clock import Hlc, HybridClock, to_ms
from console.domain.incident import Link
from console.domain.runbook import (
    AppliesTo,
    Matcher,
    MatchOp,
    Run,
    Runbook,
    RunOpKind,
    RunOpRejected,
    Step,
    apply,
    make_op,
    merge,
    run_op_args,
    start_run,
)
from console.domain.views import OutboxOp

T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
INCIDENT_ID = "inc-1"
RUN_ID = "run-1"

RUNBOOK = Runbook(
    "checkout-errors",
    "checkout-api: high error rate",
    3,
    (
        Step(
            "dashboard",
            "Open the **checkout errors** dashboard\nLook for the first minute the error rate rose.",
            link=Link("https://grafana.example.com/d/checkout", "Checkout errors"),
        ),
        Step(
            "deploys",
            "Check recent deploys",
            command="kubectl -n checkout rollout history deploy/checkout-api",
        ),
        Step(
            "rollback",
            "Roll back the last deploy\nOnly if the errors started with it.",
            command="kubectl -n checkout rollout undo deploy/checkout-api",
            approval="manager",
        ),
        Step("status", "Post a status update in #incidents"),
    ),
    AppliesTo("checkout-api", (Matcher("alertname", MatchOp.REGEX, "CheckoutHigh.*"),)),
    last_reviewed=date(2026, 10, 1),
    description="Errors above 2% for 5 minutes. Most often a bad deploy.",
)


class FakeRunbooks:
    """One console's runs and runbooks in memory; every act is an outbox op, as offline."""

    def __init__(
        self,
        *,
        actor: str,
        runs: Iterable[Run] = (),
        runbooks: Iterable[Runbook] = (),
        start: datetime = T0,
    ) -> None:
        self.actor = actor
        self._runs: dict[str, Run] = {run.id: run for run in runs}
        self._runbooks: dict[str, Runbook] = {runbook.id: runbook for runbook in runbooks}
        self._ms = itertools.count(to_ms(start), 1000)  # each op a second after the last
        self.clock = HybridClock(actor, lambda: next(self._ms))
        self._seq = itertools.count(1)
        self.outbox: list[OutboxOp] = []
        self.saved: list[Runbook] = []
        self.refuse_save: str | None = None  # a reason to refuse the next saves with, as a server would

    @classmethod
    def with_run(cls, actor: str, runbook: Runbook = RUNBOOK) -> FakeRunbooks:
        run = start_run(runbook, run_id=RUN_ID, incident_id=INCIDENT_ID)
        return cls(actor=actor, runs=[run], runbooks=[runbook])

    def fork(self, actor: str) -> FakeRunbooks:
        """Another console that has synced with this one up to now."""
        other = FakeRunbooks(actor=actor, runs=self._runs.values(), runbooks=self._runbooks.values())
        other.clock.receive(self.clock.last)
        return other

    def merge_from(self, other: FakeRunbooks) -> None:
        """What a sync round brings: the other console's ops on the runs both hold."""
        for run_id, theirs in other._runs.items():
            mine = self._runs.get(run_id)
            self._runs[run_id] = theirs if mine is None else merge(mine, theirs)
        self.clock.receive(other.clock.last)

    def run(self, run_id: str = RUN_ID) -> Run:
        return self._runs[run_id]

    # -- RunbookSource --

    def runs(self, incident_id: str) -> list[Run]:
        return [run for run in self._runs.values() if run.incident_id == incident_id]

    def act_on_run(
        self, run_id: str, kind: RunOpKind, step_id: str, *, role: str = "", text: str = ""
    ) -> OutboxOp:
        run = self._runs.get(run_id)
        if run is None:
            raise RunOpRejected("run_id: no such run")
        seq = next(self._seq)
        op = make_op(
            run,
            kind,
            step_id,
            op_id=f"{self.actor}-{seq}",
            actor=self.actor,
            hlc=self.clock.tick(),
            role=role,
            text=text,
        )
        self._runs[run_id] = apply(run, op)
        return self._record(seq, op.op_id, f"run.{kind.value}", run_id, run_op_args(op), op.hlc)

    def runbooks(self) -> list[Runbook]:
        return list(self._runbooks.values())

    def save_runbook(self, runbook: Runbook) -> OutboxOp:
        if self.refuse_save is not None:
            raise RunOpRejected(self.refuse_save)
        self._runbooks[runbook.id] = runbook
        self.saved.append(runbook)
        seq = next(self._seq)
        args = {"version": runbook.version}
        return self._record(seq, f"{self.actor}-{seq}", "runbook.save", runbook.id, args, self.clock.tick())

    def _record(
        self, seq: int, op_id: str, kind: str, entity: str, args: dict[str, Any], hlc: Hlc
    ) -> OutboxOp:
        made = OutboxOp(
            client_seq=seq,
            op_id=op_id,
            type=kind,
            entity_id=entity,
            args=args,
            hlc=hlc.encode(),
            base_epoch=0,
            state="pending",
            reason="",
            result_seq=None,
            attempts=0,
            last_error="",
            created_at=hlc.time,
        )
        self.outbox.append(made)
        return made


def reviewed(runbook: Runbook, when: date) -> Runbook:
    return replace(runbook, last_reviewed=when)
