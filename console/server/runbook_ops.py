"""Consoles' ops on runbooks, applied in the push's transaction (console.server.push.HANDLERS).

- A run op (tick, untick, approve, override, note) goes through the domain's rules against the
  runbook version the run started with, is stored as a row of the run's op set, and leaves an entry
  on the incident's timeline (its id the op's, as for incident ops). An approval also needs the
  person to hold the step's role here; a viewer works no runbook.
- A save from the editor carries the runbook's Markdown and is a compare-and-set on its version: it
  must go above the stored one, so of two managers saving version N+1, the second is refused.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import Connection, insert, select

from console.domain.clock import Hlc
from console.domain.incident import EntryKind, TimelineEntry
from console.domain.runbook import Run, RunOpKind, RunOpRejected, apply, timeline_body
from console.domain.runbook_json import run_op_from_outbox, runbook_from_json, runbook_json
from console.runbook_files import RunbookFileError, parse
from console.server.ingest import write_timeline
from console.server.runbooks import write_runbook
from console.server.tables import incidents, run_ops, runbooks, runs, users

if TYPE_CHECKING:  # push.py imports this module for its handlers
    from console.server.push import Applying, PushedOp

EDITORS = ("manager", "admin")  # who may save runbooks


def _role(conn: Connection, name: str) -> str | None:
    found: str | None = conn.execute(select(users.c.role).where(users.c.name == name)).scalar()
    return found


def run_op(applying: Applying, pushed: PushedOp, stamp: Hlc) -> tuple[str, str]:
    conn, actor = applying.conn, applying.push.user_name
    row = conn.execute(select(runs).where(runs.c.id == pushed.entity_id)).first()
    if row is None:
        return "rejected", "run_id: there is no such run"
    role = _role(conn, actor)
    if role is None or role == "viewer":
        return "rejected", f"{actor} may view runbooks but not work through them."
    if conn.execute(select(run_ops.c.id).where(run_ops.c.id == pushed.op_id)).first():
        return "noop", "This op was applied already."
    run = Run(row.id, row.incident_id, runbook_from_json(row.runbook))
    try:
        op = run_op_from_outbox(op_id=pushed.op_id, run_id=run.id, args=pushed.args, actor=actor, hlc=stamp)
        apply(run, op)  # the domain's checks: a step of this version, an approval of its role…
        if op.kind is RunOpKind.APPROVE and role.casefold() != op.role.casefold():
            raise RunOpRejected(f"{actor} is not a {op.role} here, so cannot approve as one.")
    except RunOpRejected as exc:
        return "rejected", str(exc)
    conn.execute(
        insert(run_ops).values(
            id=op.op_id,
            run_id=run.id,
            incident_id=run.incident_id,
            kind=op.kind.value,
            step_id=op.step_id,
            actor=actor,
            hlc=op.hlc.encode(),
            observed=sorted(op.observed),
            role=op.role,
            text=op.text,
            seq=applying.seq,
        )
    )
    service_id = conn.execute(
        select(incidents.c.service_id).where(incidents.c.id == run.incident_id)
    ).scalar_one()
    entry = TimelineEntry(
        op.op_id, run.incident_id, service_id, op.at, EntryKind.RUNBOOK, actor, timeline_body(run, op)
    )
    write_timeline(conn, applying.codec, applying.seq, [entry])
    return "applied", ""


def runbook_save(applying: Applying, pushed: PushedOp, stamp: Hlc) -> tuple[str, str]:
    conn, actor = applying.conn, applying.push.user_name
    if _role(conn, actor) not in EDITORS:
        return "rejected", "Only a manager can save runbooks."
    text, given_id = pushed.args.get("text"), pushed.args.get("id")
    if not isinstance(text, str):
        return "rejected", "text: must be the runbook's Markdown"
    try:
        runbook = parse(text, f"<{given_id if isinstance(given_id, str) else 'runbook'}>")
    except RunbookFileError as exc:
        return "rejected", str(exc)
    stored = conn.execute(select(runbooks).where(runbooks.c.id == runbook.id)).first()
    if stored is not None:
        if stored.body == runbook_json(runbook):
            return "noop", f"Version {stored.version} of {runbook.id} is saved already."
        if runbook.version <= stored.version:
            return "rejected", (
                f"version: {stored.version} of {runbook.id} was saved already by {stored.saved_by}; "
                f"open it again and save your change as version {stored.version + 1}."
            )
    write_runbook(conn, runbook, by=actor, at=applying.at, seq=applying.seq, exists=stored is not None)
    return "applied", ""
