"""Runbook reads of the replica with this console's unconfirmed ops folded in (ports.RunbookSource).

A run here is the server's op set plus the run ops this console made that the server has not
answered as rejected: the domain's `apply` is a set union, so folding them in at read time shows the
same run the server will have, and an op the replica already holds is simply skipped. Saves of
runbooks from this console show as the newest version until the server answers.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence

import orjson
from sqlalchemy import Connection, select

from console.domain.clock import Hlc
from console.domain.runbook import Run, Runbook, RunOp, RunOpKind, RunOpRejected, apply, progress
from console.domain.runbook_json import RUN_OP, RUNBOOK_SAVE, run_op_from_outbox, runbook_from_json
from console.domain.views import RunbookProgress
from console.store.tables import outbox, runbooks, runs, users

log = logging.getLogger(__name__)

_FOLDED = ("pending", "applied", "noop")  # a rejected op is no longer shown


def read_runs(
    conn: Connection, actor: str, *, incident_id: str | None = None, run_id: str | None = None
) -> list[Run]:
    """The runs of an incident (or the one run `run_id`), oldest first, with this console's ops."""
    where = []
    params: list[str] = []
    if incident_id is not None:
        where.append("incident_id = ?")
        params.append(incident_id)
    if run_id is not None:
        where.append("id = ?")
        params.append(run_id)
    return _read(conn, actor, " AND ".join(where), tuple(params))


def read_progress(
    conn: Connection, actor: str, incident_ids: Sequence[str] | None = None
) -> dict[str, RunbookProgress]:
    """The runbook progress of every incident that has runs (of `incident_ids` only, if given), with
    this console's run ops folded in, as the runner counts the runs read_runs gives (the row agrees
    with it). Read in three queries whatever the number of incidents (the runs; this console's run
    ops; the kind and step of every op on them), four when a run has an untick or an op made here.

    Cheap per run, for the 100,000-incident window: each runbook version is parsed once, and a run
    whose ops are all claims (ticks, approvals, overrides) and notes, the usual case, is counted
    without the domain: with no untick there is no conflict, and a step is done exactly when it has a
    claim. The domain works out the others (an untick, or ops this console has not synced yet).
    """
    if incident_ids is None:
        found = _runs(conn, "", ())
    elif incident_ids:
        found = _runs(conn, f"incident_id{_IN}", (orjson.dumps(list(incident_ids)).decode(),))
    else:
        return {}
    if not found:
        return {}
    ids = () if incident_ids is None else (orjson.dumps(list(found)).decode(),)
    mine = _mine(conn, actor, found, ids)
    worked_out = set(mine)  # the runs whose progress the domain works out
    claimed: dict[str, set[str]] = {}
    kinds = f"{_KINDS} WHERE run_id{_IN}" if ids else _KINDS
    for run_id, kind, step_id in conn.exec_driver_sql(kinds, ids):
        if kind in _CLAIMS:
            claimed.setdefault(run_id, set()).add(step_id)
        elif kind == _UNTICK:
            worked_out.add(run_id)
    worked_out &= found.keys()
    ops = _ops(conn, found, (orjson.dumps(list(worked_out)).decode(),)) if worked_out else {}
    sums: dict[str, list[int]] = {}
    for run_id, (incident_id, runbook, steps) in found.items():
        if run_id in worked_out:
            run = Run(run_id, incident_id, runbook, ops.get(run_id, {}))
            worked = progress(_fold(run, mine.get(run_id, ())))
            done, total, conflicts = worked.done, worked.total, worked.conflicts
        else:
            claims = claimed.get(run_id)
            done, total, conflicts = len(claims & steps) if claims else 0, len(steps), 0
        summed = sums.get(incident_id)
        if summed is None:
            sums[incident_id] = [done, total, conflicts, 1]
        else:
            summed[0] += done
            summed[1] += total
            summed[2] += conflicts
            summed[3] += 1
    return {incident_id: RunbookProgress(*summed) for incident_id, summed in sums.items()}


# Read with sqlite3 directly, as the incidents are (console.store.replica._confirmed): JSON as text.
_IN = " IN (SELECT value FROM json_each(?))"
_RUNS = "SELECT id, incident_id, runbook FROM runs"
_OPS = "SELECT id, run_id, kind, step_id, actor, hlc, observed, role, text FROM run_ops"
_KINDS = "SELECT run_id, kind, step_id FROM run_ops"
_MINE = (
    "SELECT op_id, entity_id, args, hlc FROM outbox"
    f" WHERE type = '{RUN_OP}' AND state IN ({', '.join(repr(state) for state in _FOLDED)})"
)
_CLAIMS = frozenset({RunOpKind.TICK.value, RunOpKind.APPROVE.value, RunOpKind.OVERRIDE.value})
_UNTICK = RunOpKind.UNTICK.value

_Found = dict[str, tuple[str, Runbook, frozenset[str]]]  # run id: incident id, runbook, its step ids


def _read(conn: Connection, actor: str, where: str, params: tuple[str, ...]) -> list[Run]:
    """The runs `where` selects (every run if empty), oldest first, with their ops and this
    console's unconfirmed ones folded in."""
    found = _runs(conn, where, params, ordered=True)
    if not found:
        return []
    ids = (orjson.dumps(list(found)).decode(),) if where else ()
    ops = _ops(conn, found, ids)
    mine = _mine(conn, actor, found, ids)
    return [
        _fold(Run(run_id, incident_id, runbook, ops.get(run_id, {})), mine.get(run_id, ()))
        for run_id, (incident_id, runbook, _steps) in found.items()
    ]


def _runs(conn: Connection, where: str, params: tuple[str, ...], *, ordered: bool = False) -> _Found:
    query = f"{_RUNS}{' WHERE ' + where if where else ''}{' ORDER BY started_at, id' if ordered else ''}"
    parsed: dict[str, tuple[Runbook, frozenset[str]] | None] = {}  # by JSON text: one per version
    found: _Found = {}
    for run_id, incident_id, body in conn.exec_driver_sql(query, params):
        if body not in parsed:
            runbook = _runbook(body)
            parsed[body] = None if runbook is None else (runbook, frozenset(s.id for s in runbook.steps))
        known = parsed[body]
        if known is None:  # a runbook from a newer server that this console cannot read
            log.warning("run %s: its runbook cannot be read here; not shown", run_id)
            continue
        found[run_id] = (incident_id, *known)
    return found


def _ops(conn: Connection, found: _Found, ids: tuple[str, ...]) -> dict[str, dict[str, RunOp]]:
    """The confirmed ops of the runs found, by run and op id (of the runs in `ids` if given)."""
    ops: dict[str, dict[str, RunOp]] = {}
    for row in conn.exec_driver_sql(f"{_OPS} WHERE run_id{_IN}" if ids else _OPS, ids):
        if row[1] in found and (op := _confirmed_op(*row)) is not None:
            ops.setdefault(row[1], {})[op.op_id] = op
    return ops


def _mine(conn: Connection, actor: str, found: _Found, ids: tuple[str, ...]) -> dict[str, list[RunOp]]:
    """This console's run ops on the runs found that the server has not refused, by run, in the
    order they were made (of the runs in `ids` if given)."""
    mine: dict[str, list[RunOp]] = {}
    query = f"{_MINE}{f' AND entity_id{_IN}' if ids else ''} ORDER BY client_seq"
    for op_id, run_id, args, hlc in conn.exec_driver_sql(query, ids):
        if run_id in found and (op := _unconfirmed_op(op_id, run_id, args, hlc, actor)) is not None:
            mine.setdefault(run_id, []).append(op)
    return mine


def _runbook(body: str | None) -> Runbook | None:
    try:
        return runbook_from_json(orjson.loads(body)) if body is not None else None
    except ValueError:  # not JSON, or not a runbook as this console knows them
        return None


def _confirmed_op(
    op_id: str,
    run_id: str,
    kind: str,
    step_id: str,
    actor: str,
    hlc: str,
    observed: str | None,
    role: str,
    text: str,
) -> RunOp | None:
    try:
        seen = orjson.loads(observed) if observed else None
        return RunOp(
            op_id, run_id, RunOpKind(kind), step_id, actor, Hlc.decode(hlc), frozenset(seen or ()), role, text
        )
    except (ValueError, TypeError):  # an op from a newer server: not shown
        log.warning("run op %s: cannot be read here; not shown", op_id)
        return None


def _unconfirmed_op(op_id: str, run_id: str, args: str | None, hlc: str, actor: str) -> RunOp | None:
    try:
        given = orjson.loads(args) if args else {}
        return run_op_from_outbox(
            op_id=op_id,
            run_id=run_id,
            args=given if isinstance(given, dict) else {},
            actor=actor,
            hlc=Hlc.decode(hlc),
        )
    except (RunOpRejected, ValueError):
        return None  # the server will say why


def _fold(run: Run, mine: Iterable[RunOp]) -> Run:
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
