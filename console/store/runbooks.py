"""Runbook reads of the replica with this console's unconfirmed ops folded in (ports.RunbookSource).

A run here is the server's op set plus the run ops this console made that the server has not
answered as rejected: the domain's `apply` is a set union, so folding them in at read time shows the
same run the server will have, and an op the replica already holds is simply skipped. Saves of
runbooks from this console show as the newest version until the server answers.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, select

from console.domain.clock import Hlc
from console.domain.runbook import Run, Runbook, RunOp, RunOpKind, RunOpRejected, apply
from console.domain.runbook_json import RUN_OP, RUNBOOK_SAVE, run_op_from_outbox, runbook_from_json
from console.store.tables import outbox, run_ops, runbooks, runs, users

log = logging.getLogger(__name__)

_FOLDED = ("pending", "applied", "noop")  # a rejected op is no longer shown


def read_runs(
    conn: Connection, actor: str, *, incident_id: str | None = None, run_id: str | None = None
) -> list[Run]:
    """The runs of an incident (or the one run `run_id`), oldest first, with this console's ops."""
    query = select(runs).order_by(runs.c.started_at, runs.c.id)
    query = query.where(runs.c.incident_id == incident_id) if incident_id is not None else query
    query = query.where(runs.c.id == run_id) if run_id is not None else query
    found: dict[str, Run] = {}
    for row in conn.execute(query):
        try:
            found[row.id] = Run(row.id, row.incident_id, runbook_from_json(row.runbook))
        except ValueError:  # a runbook from a newer server that this console cannot read
            log.warning("run %s: its runbook cannot be read here; not shown", row.id)
    if not found:
        return []
    ids = list(found)
    ops: dict[str, dict[str, RunOp]] = {run_id: {} for run_id in ids}
    for row in conn.execute(select(run_ops).where(run_ops.c.run_id.in_(ids))):
        ops[row.run_id][row.id] = _confirmed_op(row)
    runs_with_ops = {key: Run(run.id, run.incident_id, run.runbook, ops[key]) for key, run in found.items()}
    return [_fold(run, _unconfirmed_ops(conn, run.id, actor)) for run in runs_with_ops.values()]


def _confirmed_op(row: Any) -> RunOp:
    return RunOp(
        row.id,
        row.run_id,
        RunOpKind(row.kind),
        row.step_id,
        row.actor,
        Hlc.decode(row.hlc),
        frozenset(row.observed or ()),
        row.role,
        row.text,
    )


def _unconfirmed_ops(conn: Connection, run_id: str, actor: str) -> list[RunOp]:
    o = outbox.c
    rows = conn.execute(
        select(o.op_id, o.args, o.hlc)
        .where(o.type == RUN_OP, o.entity_id == run_id, o.state.in_(_FOLDED))
        .order_by(o.client_seq)
    )
    made = []
    for row in rows:
        try:
            made.append(
                run_op_from_outbox(
                    op_id=row.op_id, run_id=run_id, args=row.args or {}, actor=actor, hlc=Hlc.decode(row.hlc)
                )
            )
        except (RunOpRejected, ValueError):
            continue  # the server will say why
    return made


def _fold(run: Run, mine: Sequence[RunOp]) -> Run:
    for op in mine:
        if op.op_id in run.ops:  # the server's copy is here (its clock stamp may be clamped)
            continue
        try:
            run = apply(run, op)
        except RunOpRejected:
            continue
    return run


def incidents_of_runs(conn: Connection, run_ids: Sequence[str]) -> set[str]:
    if not run_ids:
        return set()
    return set(conn.execute(select(runs.c.incident_id).where(runs.c.id.in_(list(run_ids)))).scalars())


def role_of(conn: Connection, name: str) -> str | None:
    """The person's role as the replica knows it (None before the first sync)."""
    found: str | None = conn.execute(select(users.c.role).where(users.c.name == name)).scalar()
    return found


def read_runbooks(conn: Connection) -> list[Runbook]:
    """The runbooks by title, each at its newest version: the server's, or one saved here since."""
    newest: dict[str, Runbook] = {}
    for row in conn.execute(select(runbooks.c.body)):
        try:
            runbook = runbook_from_json(row.body)
        except ValueError:
            continue
        newest[runbook.id] = runbook
    for runbook in pending_saves(conn):
        known = newest.get(runbook.id)
        if known is None or runbook.version > known.version:
            newest[runbook.id] = runbook
    return sorted(newest.values(), key=lambda each: (each.title.casefold(), each.id))


def pending_saves(conn: Connection) -> list[Runbook]:
    o = outbox.c
    texts = list(
        conn.execute(
            select(o.args).where(o.type == RUNBOOK_SAVE, o.state.in_(_FOLDED)).order_by(o.client_seq)
        ).scalars()
    )
    if not texts:
        return []
    from console.runbook_files import RunbookFileError, parse  # YAML: only when there is a save to read

    saved = []
    for args in texts:
        try:
            saved.append(parse(str((args or {}).get("text", "")), "<outbox>"))
        except RunbookFileError:
            continue
    return saved
