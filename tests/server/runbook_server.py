"""A server database on a real SQLite file with a team, a runbook and pushes as consoles make them, for
the runbook tests: ops go through `apply_push` and engine passes through `run_engine`, at chosen
instants, in write transactions as the server's writer runs them."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, select

from console.config_file import parse as parse_team
from console.domain.clock import Hlc, stamp_at
from console.domain.ids import uuid7
from console.domain.runbook import Run, RunOp, RunOpKind
from console.domain.runbook_json import runbook_from_json
from console.runbook_files import parse as parse_runbook
from console.server.changes import next_seq
from console.server.database import migrate, open_engine
from console.server.escalation import EngineRun, run_engine
from console.server.ingest import incident_numbers
from console.server.oncall import apply_config
from console.server.push import Push, PushedOp, Result, apply_push
from console.server.runbooks import import_runbooks
from console.server.tables import run_ops, runs, services, timeline, users

T0 = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)

TEAM = """
[[users]]
name = "sam"
[[users]]
name = "jordan"
role = "manager"
[[users]]
name = "vic"
role = "viewer"

[[services]]
name = "checkout"

[[services]]
name = "quiet"
"""

RUNBOOK_TEXT = """---
id: checkout-errors
title: "checkout: high error rate"
version: 1
last_reviewed: 2026-11-01
applies_to:
  service: checkout
---

Errors above 2% for five minutes; most often a bad deploy.

- [ ] Open the checkout dashboard {#dashboard}
  <https://grafana.example.com/d/checkout>
- [ ] Roll back the last deploy (approval: manager) {#rollback}
  `kubectl -n checkout rollout undo deploy/checkout-api`
- [ ] Post a status update {#status}
"""
RUNBOOK = parse_runbook(RUNBOOK_TEXT)


class RunbookServer:
    def __init__(self, path: Path) -> None:
        self.engine = open_engine(f"sqlite:///{path}", writer=True)
        migrate(self.engine)
        apply_config(self.engine, parse_team(TEAM))
        import_runbooks(self.engine, [RUNBOOK])
        self._seqs: dict[str, Iterator[int]] = {}
        with self.engine.connect() as conn:
            self.user_ids = {row.name: row.id for row in conn.execute(select(users.c.id, users.c.name))}
            self.service_ids = {
                row.name: row.id for row in conn.execute(select(services.c.id, services.c.name))
            }

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def transaction(self, at: datetime) -> Iterator[tuple[Connection, int]]:
        with self.engine.begin() as conn:
            yield conn, next_seq(conn, at, "test")

    def push(
        self, user: str, kind: str, entity_id: str, args: dict[str, Any], *, op_id: str | None = None,
        at: datetime = T0,
    ) -> Result:  # fmt: skip
        """One op from `user`'s console; what the server answered."""
        client = f"console-{user}"
        number = next(self._seqs.setdefault(client, itertools.count(1)))
        pushed = PushedOp(number, op_id or uuid7(), kind, entity_id, args, stamp_at(at, client).encode(), 0)
        with self.transaction(at) as (conn, seq):
            push = Push(client, self.user_ids[user], user, 3, [pushed])
            outcome = apply_push(conn, push, at=at, seq=seq, numbers=incident_numbers(conn))
        [result] = outcome.results
        return result

    def report(self, *, service: str = "checkout", title: str = "checkout is down", at: datetime = T0) -> str:
        incident_id = uuid7()
        args = {"title": title, "service_id": self.service_ids[service], "priority": "high"}
        result = self.push("jordan", "report", incident_id, args, at=at)
        assert result.status == "applied", result.reason
        return incident_id

    def engine_pass(self, at: datetime = T0) -> EngineRun:
        with self.transaction(at) as (conn, seq):
            return run_engine(conn, at=at, seq=seq)

    def runs_of(self, incident_id: str) -> list[Run]:
        """The incident's runs as the server holds them, with their ops."""
        with self.engine.connect() as conn:
            found = []
            for row in conn.execute(
                select(runs).where(runs.c.incident_id == incident_id).order_by(runs.c.id)
            ):
                ops = {
                    op.id: RunOp(
                        op.id,
                        op.run_id,
                        RunOpKind(op.kind),
                        op.step_id,
                        op.actor,
                        Hlc.decode(op.hlc),
                        frozenset(op.observed),
                        op.role,
                        op.text,
                    )
                    for op in conn.execute(select(run_ops).where(run_ops.c.run_id == row.id))
                }
                found.append(Run(row.id, row.incident_id, runbook_from_json(row.runbook), ops))
            return found

    def timeline_of(self, incident_id: str, kind: str) -> list[Any]:
        with self.engine.connect() as conn:
            t = timeline.c
            return list(conn.execute(select(timeline).where(t.incident_id == incident_id, t.kind == kind)))
