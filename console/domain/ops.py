"""What a person can do to an incident from a console, and how each op merges (sync.md §3).

Ops are made offline, carried in a console's outbox and applied by the server in whatever order
consoles reconnect; the same function folds pending ops over a console's replica for display.
- Status ops (acknowledge, resolve, reopen) act on the (epoch, rank) lattice with the epoch their
  author saw: a resolve made before a reopen cannot close the reopened incident, and a late
  acknowledge cannot move a resolved one back. They are recorded as "late" instead.
- Descriptive fields (assignee, priority, snooze) are last-writer-wins by hybrid logical clock.
- Every op, applied or not, leaves exactly one timeline entry whose id is the op's id, so a note or
  an acknowledgement delivered twice appears once.
An op that cannot apply at all (an unknown incident, a malformed argument) raises OpRejected.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from console.domain.clock import Hlc
from console.domain.errors import DomainError
from console.domain.incident import EntryKind, Incident, TimelineEntry
from console.domain.priority import Priority
from console.domain.status import Rank, Status

MAX_NOTE = 20_000
MAX_TITLE = 1_024


class OpType(enum.StrEnum):
    ACKNOWLEDGE = "acknowledge"
    RESOLVE = "resolve"
    REOPEN = "reopen"
    NOTE = "note"
    ASSIGN = "assign"
    PRIORITY = "priority"
    SNOOZE = "snooze"
    ESCALATE = "escalate"
    REPORT = "report"


class OpRejected(DomainError):
    """The op can never apply; its reason is shown to the person who made it."""


@dataclass(frozen=True, slots=True)
class Op:
    op_id: str
    type: OpType
    incident_id: str
    args: Mapping[str, Any]
    hlc: Hlc
    base_epoch: int = 0
    actor: str = ""


@dataclass(frozen=True, slots=True)
class Applied:
    incident: Incident  # the incident after the op (the same value when nothing changed)
    entry: TimelineEntry
    changed: bool
    reason: str = ""  # why nothing changed, in words


_KIND = {
    OpType.ACKNOWLEDGE: EntryKind.ACKNOWLEDGED,
    OpType.RESOLVE: EntryKind.RESOLVED,
    OpType.REOPEN: EntryKind.REOPENED,
    OpType.NOTE: EntryKind.NOTE,
    OpType.ASSIGN: EntryKind.ASSIGNED,
    OpType.PRIORITY: EntryKind.PRIORITY_CHANGED,
    OpType.SNOOZE: EntryKind.SNOOZED,
    OpType.ESCALATE: EntryKind.ESCALATION_REQUESTED,
    OpType.REPORT: EntryKind.REPORTED,
}


# -- parsing: what crosses the wire is checked here, naming the field that is wrong --


def _text(args: Mapping[str, Any], key: str, *, limit: int, required: bool = True) -> str:
    value = args.get(key, "")
    if not isinstance(value, str):
        raise OpRejected(f"{key}: must be text")
    value = value.strip()
    if required and not value:
        raise OpRejected(f"{key}: must not be empty")
    if len(value) > limit:
        raise OpRejected(f"{key}: longer than {limit} characters")
    return value


def _priority(args: Mapping[str, Any]) -> str:
    value = args.get("priority", "high")
    if value not in (Priority.HIGH.value, Priority.LOW.value):
        raise OpRejected("priority: must be 'high' or 'low'")
    return str(value)


def _time(args: Mapping[str, Any], key: str) -> str:
    value = args.get(key)
    try:
        parsed = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        raise OpRejected(f"{key}: must be a time with a UTC offset (ISO 8601)")
    return parsed.isoformat()


def normalize_args(kind: OpType, args: Mapping[str, Any]) -> dict[str, Any]:
    """The arguments of an op of `kind`, checked and reduced to what it uses."""
    match kind:
        case OpType.NOTE:
            return {"text": _text(args, "text", limit=MAX_NOTE)}
        case OpType.ASSIGN:
            assignee = args.get("assignee")
            if assignee is not None and (not isinstance(assignee, str) or not assignee.strip()):
                raise OpRejected("assignee: must be a user name, or null to unassign")
            return {"assignee": assignee.strip() if isinstance(assignee, str) else None}
        case OpType.PRIORITY:
            return {"priority": _priority(args)}
        case OpType.SNOOZE:
            return {"until": _time(args, "until")}
        case OpType.REPORT:
            service_id = args.get("service_id")
            if not isinstance(service_id, int) or isinstance(service_id, bool):
                raise OpRejected("service_id: must be a service's id")
            return {
                "title": _text(args, "title", limit=MAX_TITLE),
                "service_id": service_id,
                "priority": _priority(args),
                "category": _text(args, "category", limit=200, required=False) or "reported",
                "description": _text(args, "description", limit=MAX_NOTE, required=False),
            }
        case _:
            return {}


# -- applying --


def apply_op(op: Op, incident: Incident | None, *, at: datetime, number: Callable[[], int]) -> Applied:
    """`op` applied to `incident` (None if it does not exist) at `at`, the op's own time.

    `number` hands out an incident number for a report (the server's; a console shows none yet).
    """
    if op.type is OpType.REPORT:
        return _report(op, incident, at, number)
    if incident is None:
        raise OpRejected("There is no such incident.")
    args = normalize_args(op.type, op.args)
    match op.type:
        case OpType.ACKNOWLEDGE | OpType.RESOLVE:
            return _advance(op, incident, at)
        case OpType.REOPEN:
            return _reopen(op, incident, at)
        case OpType.NOTE:
            return _done(op, replace(incident, updated_at=max(incident.updated_at, at)), at, args)
        case OpType.ASSIGN:
            return _last_writer_wins(op, incident, at, args, "assignee", args["assignee"])
        case OpType.PRIORITY:
            return _last_writer_wins(op, incident, at, args, "priority", Priority(args["priority"]))
        case OpType.SNOOZE:
            if not incident.status.is_open:
                return _noop(op, incident, at, args, "The incident is not open.")
            until = datetime.fromisoformat(args["until"])
            result = _last_writer_wins(op, incident, at, args, "snoozed_until", until)
            if result.changed:  # snoozing a triggered incident acknowledges it (PagerDuty's rule)
                status = result.incident.status.advance(Rank.ACKNOWLEDGED, base_epoch=incident.status.epoch)
                acked = result.incident.acknowledged_at or at
                return replace(
                    result, incident=replace(result.incident, status=status, acknowledged_at=acked)
                )
            return result
        case OpType.ESCALATE:
            if not incident.status.is_open:
                return _noop(op, incident, at, args, "The incident is not open.")
            return _done(op, incident, at, args)
    raise OpRejected(f"type: unknown op {op.type!r}")  # pragma: no cover - OpType is closed


def _entry(op: Op, incident: Incident, at: datetime, body: Mapping[str, Any]) -> TimelineEntry:
    return TimelineEntry(op.op_id, incident.id, incident.service_id, at, _KIND[op.type], op.actor, body)


def _done(op: Op, incident: Incident, at: datetime, args: Mapping[str, Any]) -> Applied:
    return Applied(incident, _entry(op, incident, at, {**args, "epoch": op.base_epoch}), changed=True)


def _noop(op: Op, incident: Incident, at: datetime, args: Mapping[str, Any], reason: str) -> Applied:
    body = {**args, "epoch": op.base_epoch, "no_effect": True, "reason": reason}
    return Applied(incident, _entry(op, incident, at, body), changed=False, reason=reason)


def _advance(op: Op, incident: Incident, at: datetime) -> Applied:
    rank = Rank.ACKNOWLEDGED if op.type is OpType.ACKNOWLEDGE else Rank.RESOLVED
    current = incident.status
    if op.base_epoch < current.epoch:
        return _noop(op, incident, at, {}, "The incident was reopened after this was done.")
    if op.base_epoch > current.epoch:
        raise OpRejected("epoch: newer than the incident's; the console's view is inconsistent")
    if current.rank >= rank:
        # Still the first acknowledgement if it was made earlier (MTTA counts the first).
        if rank is Rank.ACKNOWLEDGED and incident.acknowledged_at and at < incident.acknowledged_at:
            earlier = replace(incident, acknowledged_at=at)
            late = _noop(op, incident, at, {}, _already(current))
            return Applied(
                earlier, late.entry, changed=True, reason=late.reason
            )  # a row change, no status change
        return _noop(op, incident, at, {}, _already(current))
    status = current.advance(rank, base_epoch=op.base_epoch)
    changed = replace(
        incident,
        status=status,
        updated_at=max(incident.updated_at, at),
        acknowledged_at=incident.acknowledged_at or at,
        resolved_at=at if rank is Rank.RESOLVED else incident.resolved_at,
    )
    return _done(op, changed, at, {})


def _already(status: Status) -> str:
    return f"The incident was already {status.rank.label}."


def _reopen(op: Op, incident: Incident, at: datetime) -> Applied:
    """A reopen of epoch e contributes (e + 1, triggered) to the lattice, whatever the rank, so the
    order in which status ops arrive never changes where an incident ends (consoles offer reopen
    only on resolved incidents)."""
    current = incident.status
    if op.base_epoch < current.epoch:
        return _noop(op, incident, at, {}, "The incident was reopened already.")
    if op.base_epoch > current.epoch:
        raise OpRejected("epoch: newer than the incident's; the console's view is inconsistent")
    reopened = replace(
        incident,
        status=current.reopen(base_epoch=op.base_epoch),
        updated_at=max(incident.updated_at, at),
        acknowledged_at=None,
        resolved_at=None,
        snoozed_until=None,
    )
    return _done(op, reopened, at, {})


def _last_writer_wins(
    op: Op, incident: Incident, at: datetime, args: Mapping[str, Any], name: str, value: Any
) -> Applied:
    stamp = op.hlc.encode()
    if stamp <= incident.clocks.get(name, ""):
        return _noop(op, incident, at, args, "A later change of the same field won.")
    changed = replace(
        incident,
        **{name: value},
        clocks={**incident.clocks, name: stamp},
        updated_at=max(incident.updated_at, at),
    )
    return _done(op, changed, at, args)


def _report(op: Op, incident: Incident | None, at: datetime, number: Callable[[], int]) -> Applied:
    args = normalize_args(OpType.REPORT, op.args)
    if incident is not None:  # the same report delivered again
        return _noop(op, incident, at, args, "The incident was reported already.")
    stamp = op.hlc.encode()
    created = Incident(
        id=op.incident_id,
        number=number(),
        service_id=args["service_id"],
        title=args["title"],
        priority=Priority(args["priority"]),
        category=args["category"],
        status=Status(),
        created_at=at,
        updated_at=at,
        description=args["description"],
        clocks={"title": stamp, "priority": stamp, "description": stamp},
    )
    return _done(op, created, at, args)
