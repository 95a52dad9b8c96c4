"""Ops pushed by consoles, applied exactly once in the writer's transaction (sync.md §4).

A console numbers its ops 1, 2, 3…; the server keeps, per console, the last number it processed and
what became of each op, in the same transaction as the ops' effects. An op re-sent after a lost
answer gets its stored result again; an op that cannot apply is answered "rejected" and still counts
as processed, so it never blocks the ops behind it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, delete, insert, select, update

from console.config_export import ONCALL_CONFIG
from console.domain.clock import Hlc
from console.domain.errors import DomainError
from console.domain.oncall import OVERRIDE_OPS, OVERRIDE_REMOVE, override_from_args
from console.domain.ops import Op, OpRejected, OpType, apply_op
from console.domain.runbook_json import RUN_OP, RUNBOOK_SAVE
from console.domain.schedule import Override, OverrideRejected, check_override
from console.domain.status import Rank
from console.server.bulk import Codec
from console.server.ingest import read_incident, write_incidents, write_timeline
from console.server.oncall import oncall_config_op
from console.server.runbook_ops import run_op, runbook_save
from console.server.tables import (
    alerts,
    overrides,
    schedules,
    services,
    sync_clients,
    sync_results,
    tombstones,
    users,
)

log = logging.getLogger(__name__)

# Built once: a push of hundreds of ops runs these for each (SQLAlchemy caches their compiled form).
_RECORD_RESULT = insert(sync_results)
_RESULT_OF_OP = select(sync_results.c.op_id).where(sync_results.c.op_id == bindparam("op")).limit(1)


@dataclass(frozen=True, slots=True)
class PushedOp:
    client_seq: int
    op_id: str
    type: str
    entity_id: str
    args: dict[str, Any]
    hlc: str
    base_epoch: int


@dataclass(frozen=True, slots=True)
class Push:
    client_id: str
    user_id: int
    user_name: str
    schema_version: int
    ops: Sequence[PushedOp]
    settled_through: int = 0  # the console had answers for all its ops up to this number


@dataclass(frozen=True, slots=True)
class Result:
    client_seq: int
    op_id: str
    status: str  # applied | noop | rejected
    reason: str
    seq: int


@dataclass(frozen=True, slots=True)
class PushOutcome:
    last_client_seq: int
    results: list[Result] = field(default_factory=list)


class OpsOutOfOrder(DomainError):
    """The console skipped op numbers: it sent an op whose predecessors the server never saw."""


class ClientOfAnotherUser(DomainError):
    """A console id that belongs to another user's login."""


def apply_push(
    conn: Connection, push: Push, *, at: datetime, seq: int, numbers: Callable[[], int]
) -> PushOutcome:
    codec = Codec(conn.dialect)
    client = conn.execute(select(sync_clients).where(sync_clients.c.client_id == push.client_id)).first()
    if client is None:
        conn.execute(
            insert(sync_clients).values(
                client_id=push.client_id,
                user_id=push.user_id,
                last_client_seq=0,
                schema_version=push.schema_version,
                first_seen=at,
                last_seen=at,
            )
        )
        last = 0
    else:
        if client.user_id != push.user_id:
            raise ClientOfAnotherUser("This console id is registered to another user; log in again.")
        last = client.last_client_seq
    results: list[Result] = []
    ops = sorted(push.ops, key=lambda op: op.client_seq)
    if ops and ops[0].client_seq > last + 1 and push.settled_through >= ops[0].client_seq - 1:
        # This database does not know ops the console had answers for: it was restored from a
        # backup, or replaced. Their effects are gone with it; the ops still pending are not.
        log.warning(
            "console %s: ops %d..%d unknown here; continuing", push.client_id, last + 1, ops[0].client_seq - 1
        )
        last = ops[0].client_seq - 1
    stored = _stored_results(conn, push.client_id, [op.client_seq for op in ops if op.client_seq <= last])
    for op in ops:
        if op.client_seq <= last:
            if (known := stored.get(op.client_seq)) is not None:
                results.append(known)
            continue
        if op.client_seq != last + 1:
            if not results:
                raise OpsOutOfOrder(
                    f"Expected op {last + 1} from this console next, got {op.client_seq}: ops were lost."
                )
            break  # answer what was processed; the console re-sends the rest
        result = _apply(conn, codec, push, op, at=at, seq=seq, numbers=numbers)
        conn.execute(
            _RECORD_RESULT,
            {
                "client_id": push.client_id,
                "client_seq": op.client_seq,
                "op_id": op.op_id,
                "status": result.status,
                "reason": result.reason,
                "seq": seq,
            },
        )
        results.append(result)
        last = op.client_seq
    conn.execute(
        update(sync_clients)
        .where(sync_clients.c.client_id == push.client_id)
        .values(last_client_seq=last, last_seen=at, schema_version=push.schema_version)
    )
    return PushOutcome(last, results)


def _stored_results(conn: Connection, client_id: str, client_seqs: list[int]) -> dict[int, Result]:
    if not client_seqs:
        return {}
    r = sync_results.c
    rows = conn.execute(
        select(r.client_seq, r.op_id, r.status, r.reason, r.seq).where(
            r.client_id == client_id, r.client_seq.in_(client_seqs)
        )
    )
    return {
        row.client_seq: Result(row.client_seq, row.op_id, row.status, row.reason, row.seq) for row in rows
    }


@dataclass(frozen=True, slots=True)
class Applying:
    """What an op handler gets: the transaction and the facts of this push."""

    conn: Connection
    codec: Codec
    push: Push
    at: datetime
    seq: int
    numbers: Callable[[], int]


# (what happened, why) from a handler; it raises nothing for an op that cannot apply.
OpHandler = Callable[[Applying, PushedOp, Hlc], tuple[str, str]]


def _apply(
    conn: Connection,
    codec: Codec,
    push: Push,
    pushed: PushedOp,
    *,
    at: datetime,
    seq: int,
    numbers: Callable[[], int],
) -> Result:
    def answer(status: str, reason: str = "") -> Result:
        return Result(pushed.client_seq, pushed.op_id, status, reason, seq)

    handler = HANDLERS.get(pushed.type)
    if handler is None:
        return answer("rejected", f"type: unknown op {pushed.type!r}")
    try:
        stamp = Hlc.decode(pushed.hlc).clamped(at)
    except ValueError:
        return answer("rejected", "hlc: not a clock stamp")
    if conn.execute(_RESULT_OF_OP, {"op": pushed.op_id}).first():
        return answer("noop", "This op was applied already.")  # re-sent under another number
    return answer(*handler(Applying(conn, codec, push, at, seq, numbers), pushed, stamp))


def _incident_op(applying: Applying, pushed: PushedOp, stamp: Hlc) -> tuple[str, str]:
    """Ops on incidents, through the domain's merge rules (console.domain.ops)."""
    conn, codec, seq = applying.conn, applying.codec, applying.seq
    op = Op(pushed.op_id, OpType(pushed.type), pushed.entity_id, pushed.args, stamp, pushed.base_epoch,
            applying.push.user_name)  # fmt: skip
    incident = read_incident(conn, op.incident_id, applying.codec)
    try:
        _check_references(conn, op)
        done = apply_op(op, incident, at=stamp.time, number=applying.numbers)
    except OpRejected as exc:
        return "rejected", str(exc)
    after = done.incident
    if op.type is OpType.RESOLVE and done.changed and after.open_alerts:
        _resolve_open_alerts(conn, after.id, stamp.time, seq)
        after = replace(after, open_alerts=0)
    if incident is None:
        write_incidents(conn, codec, seq, new=[after], changed=[])
    elif done.changed:
        write_incidents(conn, codec, seq, new=[], changed=[after])
    write_timeline(conn, codec, seq, [done.entry])
    return ("applied" if done.changed and not done.reason else "noop"), done.reason


def _override_op(applying: Applying, pushed: PushedOp, stamp: Hlc) -> tuple[str, str]:
    """An override made (or removed) on a console; one that overlaps another is refused, saying which."""
    conn, o = applying.conn, overrides.c
    if pushed.type == OVERRIDE_REMOVE:
        found = conn.execute(select(o.id).where(o.id == pushed.entity_id)).first()
        if found is None:
            return "noop", "There is no such override (removed already?)."
        conn.execute(delete(overrides).where(o.id == pushed.entity_id))
        conn.execute(
            insert(tombstones).values(seq=applying.seq, entity="overrides", entity_id=pushed.entity_id)
        )
        return "applied", ""
    if conn.execute(select(o.id).where(o.id == pushed.entity_id)).first():
        return "noop", "This override exists already."
    try:
        schedule_id, override = override_from_args(pushed.entity_id, pushed.args)
        if not conn.execute(select(schedules.c.id).where(schedules.c.id == schedule_id)).first():
            raise OverrideRejected("schedule_id: there is no such schedule")
        role = conn.execute(select(users.c.role).where(users.c.name == override.user)).scalar()
        if role is None or role == "viewer":
            raise OverrideRejected(f"user: {override.user!r} is not someone who can be on call")
        existing = [
            Override(row.id, row.user, row.start, row.end, row.replaces)
            for row in conn.execute(select(overrides).where(o.schedule_id == schedule_id))
        ]
        check_override(existing, override)
    except OverrideRejected as exc:
        return "rejected", str(exc)
    conn.execute(
        insert(overrides).values(
            id=override.id,
            schedule_id=schedule_id,
            label="",
            user=override.user,
            start=override.start,
            end=override.end,
            replaces=override.replaces,
            origin="console",
            created_by=applying.push.user_name,
            seq=applying.seq,
        )
    )
    return "applied", ""


# Op type → handler. A new replicated entity (schedules, runbooks…) brings its op types and a
# handler here, a `Replicated` table in console.server.pull and a console table: no new protocol.
HANDLERS: dict[str, OpHandler] = {
    **{kind.value: _incident_op for kind in OpType},
    **{kind: _override_op for kind in OVERRIDE_OPS},
    RUN_OP: run_op,
    RUNBOOK_SAVE: runbook_save,
    ONCALL_CONFIG: oncall_config_op,
}


def _check_references(conn: Connection, op: Op) -> None:
    """What the pure rules cannot know: that a named service or user exists."""
    if op.type is OpType.REPORT:
        service_id = op.args.get("service_id")
        if (
            isinstance(service_id, int)
            and not conn.execute(select(services.c.id).where(services.c.id == service_id)).first()
        ):
            raise OpRejected("service_id: there is no such service")
    elif op.type is OpType.ASSIGN:
        name = op.args.get("assignee")
        if isinstance(name, str) and not conn.execute(select(users.c.id).where(users.c.name == name)).first():
            raise OpRejected(f"assignee: there is no user named {name!r}")


def _resolve_open_alerts(conn: Connection, incident_id: str, at: datetime, seq: int) -> None:
    """A person resolving an incident resolves its alerts: the next trigger opens a new incident."""
    a = alerts.c
    conn.execute(
        update(alerts)
        .where(a.incident_id == incident_id, a.resolved_at.is_(None))
        .values(status=Rank.RESOLVED.label, resolved_at=at, seq=seq)
    )
