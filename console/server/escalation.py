"""The escalation engine: who is paged, when, for each triggered incident (console.domain.escalation
plans; this module keeps the plan in the database and carries it out).

Each pass (`run_engine`) runs inside one write transaction, the group-commit writer's in the server:
1. Plan: incidents written since the last pass (their seq past the engine's cursor) get their next
   job: triggered → page level 1 now (a new epoch starts afresh); acknowledged → an acknowledgement
   timeout if the service has one; resolved → no job. An "Escalate" from a console makes the next
   level due now.
2. Fire every job due by `now`, in due order, each followed by its next step. A page is a row keyed
   by (incident, epoch, level, repeat, person), so a pass repeated after a crash pages nobody twice;
   the job and its pages commit together, so none is skipped either. After the server was down,
   every step that fell due meanwhile fires at start, in order.
The clock is a parameter: tests drive passes at chosen instants, without sleeping.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import Connection, Engine, bindparam, delete, func, insert, select, update

from console.domain.escalation import (
    PageStep,
    Policy,
    ack_timeout_due,
    escalate_now,
    next_step,
    nobody_on_call,
    resolve_targets,
)
from console.domain.ids import uuid7
from console.domain.incident import EntryKind, TimelineEntry
from console.domain.oncall_json import policy_from_json
from console.domain.priority import Priority
from console.domain.schedule import Schedule
from console.domain.status import Rank, Status
from console.server.bulk import Codec, chunks, fetch, insert_rows, raw
from console.server.changes import ChangeFeed, last_seq, read_meta
from console.server.ingest import read_incident, write_incidents, write_timeline
from console.server.oncall import read_schedules
from console.server.runbooks import attach_runs
from console.server.tables import (
    escalation_policies,
    escalations,
    incidents,
    pages,
    server_meta,
    services,
    timeline,
)

log = logging.getLogger(__name__)

CURSOR_KEY = "escalation_seq"  # in server_meta: the change-log seq the engine has planned through
ACTOR = "escalation"
PAGE = "page"
ACK_TIMEOUT = "ack-timeout"
DONE = "done"  # every step paged: kept, so that a later write to the incident does not start again
# What counts as progress on an acknowledged incident (an acknowledgement timeout restarts from it).
_PROGRESS = tuple(
    kind.value
    for kind in (
        EntryKind.NOTE,
        EntryKind.ASSIGNED,
        EntryKind.PRIORITY_CHANGED,
        EntryKind.SNOOZED,
        EntryKind.RUNBOOK,  # a runbook step ticked or noted
    )
)
_MAX_FIRED = 10_000  # jobs in one pass; the rest wait for the next (a backlog after a long outage)


@dataclass(frozen=True, slots=True)
class EngineRun:
    planned: int  # incidents looked at
    fired: int  # jobs carried out
    pages: tuple[tuple[str, str, int], ...]  # (incident id, person, level from 0) paged in this pass


@dataclass(frozen=True, slots=True)
class _ServicePlan:
    policy: Policy | None
    ack_timeout: timedelta | None


def run_engine(conn: Connection, *, at: datetime, seq: int) -> EngineRun:
    """One pass at `at` in the current write transaction, whose change-log seq is `seq`."""
    codec = Codec(conn.dialect)
    plans = _service_plans(conn)
    meta = read_meta(conn)
    if CURSOR_KEY not in meta:
        conn.execute(insert(server_meta).values(key=CURSOR_KEY, value="0"))
    cursor = int(meta.get(CURSOR_KEY, "0"))  # everything up to it was planned by earlier passes
    planned = _plan(conn, plans, codec, cursor, at=at)
    attach_runs(conn, since=cursor, at=at, seq=seq)  # runbooks
    fired, paged = _fire(conn, codec, plans, at=at, seq=seq)
    conn.execute(_MOVE_CURSOR, {"cursor": str(seq)})
    return EngineRun(planned, fired, tuple(paged))


def work_waiting(conn: Connection, at: datetime) -> bool:
    """Whether a pass would do anything: something was written since the last one, or a job is due.
    A cheap read, so an idle server does not write an empty change every second."""
    cursor = int(read_meta(conn).get(CURSOR_KEY, "0"))
    if last_seq(conn) > cursor:
        return True
    due = next_due(conn)
    return due is not None and due <= at


def next_due(conn: Connection) -> datetime | None:
    due: datetime | None = conn.execute(
        select(func.min(escalations.c.due_at)).where(escalations.c.kind != DONE)
    ).scalar()
    return due


def _service_plans(conn: Connection) -> dict[int, _ServicePlan]:
    policies = {
        row.id: policy_from_json(row.name, row.repeats, row.levels) for row in conn.execute(_POLICIES)
    }
    return {
        row.id: _ServicePlan(
            policies.get(row.escalation_policy_id) if row.escalation_policy_id else None,
            timedelta(minutes=row.ack_timeout_minutes) if row.ack_timeout_minutes else None,
        )
        for row in conn.execute(_SERVICES)
    }


# Statements a pass runs every time, built once (building them cost a pass more than running them).
_POLICIES = select(escalation_policies)
_SERVICES = select(services.c.id, services.c.escalation_policy_id, services.c.ack_timeout_minutes)
_MOVE_CURSOR = update(server_meta).where(server_meta.c.key == CURSOR_KEY).values(value=bindparam("cursor"))


def _plan(
    conn: Connection, plans: dict[int, _ServicePlan], codec: Codec, cursor: int, *, at: datetime
) -> int:
    # Only incidents the engine has business with: on a service with a policy or an acknowledgement
    # timeout, or with a job already (their service lost its policy). They are found by their seq
    # alone: asked by service as well, SQLite walked all of those services' incidents on every pass.
    # With no such service and no job at all, nothing written since the cursor is even read (an
    # alert storm on a service without a policy); the cursor moves past it all the same.
    planned = {service for service, plan in plans.items() if plan.policy or plan.ack_timeout}
    any_jobs = bool(fetch(conn, _ANY_JOB, {}))
    if not planned and not any_jobs:
        return 0
    # First the two columns that decide (a storm's worth of rows, through the driver), then the jobs
    # and the rest of the rows of only the incidents that pass.
    written: list[tuple[str, int]] = [(row[0], row[1]) for row in fetch(conn, _WRITTEN, {"cursor": cursor})]
    if not written:
        return 0
    jobs: dict[str, _Job] = {}
    for chunk in chunks([incident_id for incident_id, _service in written] if any_jobs else []):
        for incident_id, epoch, kind, stored_due in fetch(conn, _JOBS_OF, {"ids": chunk}):
            due_at = codec.load_time(stored_due)
            assert due_at is not None
            jobs[incident_id] = _Job(incident_id, epoch, kind, due_at)
    wanted = [incident_id for incident_id, service in written if service in planned or incident_id in jobs]
    if not wanted:
        return 0
    found: dict[str, Any] = {}
    for chunk in chunks(wanted):
        found.update((row[0], row) for row in fetch(conn, _PLANNED, {"ids": chunk}))
    requested: set[tuple[str, int]] | None = None  # read when first needed: most passes never do
    new_jobs: list[dict[str, Any]] = []
    moved_jobs: list[dict[str, Any]] = []
    ended: list[str] = []
    services_of = dict(written)
    for wanted_id in wanted:
        incident_id, status, epoch, created_at, updated_at, acknowledged_at = found[wanted_id]
        job = jobs.get(incident_id)
        plan = plans.get(services_of[incident_id], _NO_PLAN)
        same_epoch = job is not None and job.epoch == epoch
        kind = job.kind if job is not None else None
        if status == Rank.TRIGGERED.label and plan.policy is not None:
            if same_epoch and kind in (PAGE, DONE):
                assert job is not None
                if requested is None:
                    requested = _escalation_requests(conn, cursor)
                if (incident_id, epoch) in requested:
                    _escalate_now(conn, job, plan.policy, at)
                continue
            began = codec.load_time(created_at if epoch == 0 else updated_at)  # this epoch's start
            assert began is not None
            _keep(new_jobs, moved_jobs, incident_id, job, {"epoch": epoch, "kind": PAGE, "due_at": began})
        elif status == Rank.ACKNOWLEDGED.label and plan.ack_timeout is not None:
            if same_epoch and kind == ACK_TIMEOUT:
                continue
            due = ack_timeout_due(codec.load_time(acknowledged_at) or at, None, plan.ack_timeout)
            assert due is not None
            _keep(
                new_jobs, moved_jobs, incident_id, job, {"epoch": epoch, "kind": ACK_TIMEOUT, "due_at": due}
            )
        elif job is not None:  # acknowledged (no timeout), resolved, or its service has no policy
            ended.append(incident_id)
    _write_jobs(conn, new_jobs, moved_jobs, ended)
    return len(wanted)


class _Job(NamedTuple):
    """What planning reads of an incident's job."""

    incident_id: str
    epoch: int
    kind: str
    due_at: datetime


_i, _e = incidents.c, escalations.c
_ANY_JOB = select(raw(_e.incident_id)).limit(1)
_WRITTEN = select(raw(_i.id), raw(_i.service_id)).where(_i.seq > bindparam("cursor"))
_PLANNED = select(
    *(raw(_i[name]) for name in ("id", "status", "epoch", "created_at", "updated_at", "acknowledged_at"))
).where(_i.id.in_(bindparam("ids", expanding=True)))
_JOBS_OF = select(*(raw(_e[name]) for name in ("incident_id", "epoch", "kind", "due_at"))).where(
    _e.incident_id.in_(bindparam("ids", expanding=True))
)
_JOB_UPDATE = update(escalations).where(_e.incident_id == bindparam("_incident_id"))


def _keep(
    new: list[dict[str, Any]], moved: list[dict[str, Any]], incident_id: str, job: _Job | None,
    values: dict[str, Any],
) -> None:  # fmt: skip
    """A job planned from its first step (level 1 of pass 1), as `_set_job` writes it."""
    values.update(level=0, repeat=0)
    if job is None:
        new.append({"incident_id": incident_id, **values})
    else:
        moved.append({"_incident_id": incident_id, **values})


def _write_jobs(
    conn: Connection, new: list[dict[str, Any]], moved: list[dict[str, Any]], ended: list[str]
) -> None:
    """The jobs planning made, each statement once for all of them."""
    if new:
        conn.execute(insert(escalations), new)
    if moved:
        conn.execute(_JOB_UPDATE, moved)
    for chunk in chunks(ended):
        conn.execute(delete(escalations).where(_e.incident_id.in_(chunk)))


_NO_PLAN = _ServicePlan(None, None)


def _escalation_requests(conn: Connection, cursor: int) -> set[tuple[str, int]]:
    """(incident, epoch) pairs someone pressed Escalate on since the last pass."""
    t = timeline.c
    found = conn.execute(
        select(t.incident_id, t.body).where(t.seq > cursor, t.kind == EntryKind.ESCALATION_REQUESTED.value)
    )
    return {(row.incident_id, int(row.body.get("epoch", 0))) for row in found if row.incident_id}


def _escalate_now(conn: Connection, job: _Job, policy: Policy, at: datetime) -> None:
    """Someone pressed Escalate: the job's step (the next level) is due now. When the ladder was
    done (low priority, or every pass paged), the step after the last one paged."""
    if job.kind == PAGE:
        if job.due_at > at:
            conn.execute(
                update(escalations).where(escalations.c.incident_id == job.incident_id).values(due_at=at)
            )
        return
    last = conn.execute(
        select(pages.c.level, pages.c.repeat)
        .where(pages.c.incident_id == job.incident_id, pages.c.epoch == job.epoch)
        .order_by(pages.c.repeat.desc(), pages.c.level.desc())
        .limit(1)
    ).first()
    fired = PageStep(last.level, last.repeat, at, ()) if last else PageStep(0, 0, at, ())
    step = escalate_now(policy, fired, at)
    if step is not None:
        conn.execute(
            update(escalations)
            .where(escalations.c.incident_id == job.incident_id)
            .values(kind=PAGE, level=step.level, repeat=step.repeat, due_at=step.due_at)
        )


def _set_job(
    conn: Connection, incident_id: str, *, exists: bool, epoch: int, kind: str, due_at: datetime,
    level: int = 0, repeat: int = 0,
) -> None:  # fmt: skip
    values = {"epoch": epoch, "kind": kind, "level": level, "repeat": repeat, "due_at": due_at}
    if exists:
        conn.execute(update(escalations).where(escalations.c.incident_id == incident_id).values(values))
    else:
        conn.execute(insert(escalations).values(incident_id=incident_id, **values))


def _fire(
    conn: Connection, codec: Codec, plans: dict[int, _ServicePlan], *, at: datetime, seq: int
) -> tuple[int, list[tuple[str, str, int]]]:
    fired = 0
    paged: list[tuple[str, str, int]] = []
    schedules: dict[str, Schedule] | None = None
    while fired < _MAX_FIRED:
        due = conn.execute(_DUE, {"at": at}).all()
        if not due:
            break
        moved: list[dict[str, Any]] = []  # the pages' next steps: written together, before the next read
        for job in due:
            fired += 1
            incident = read_incident(conn, job.incident_id, codec)
            plan = plans.get(incident.service_id, _NO_PLAN) if incident else _NO_PLAN
            if incident is None or incident.status.epoch != job.epoch:
                conn.execute(delete(escalations).where(escalations.c.incident_id == job.incident_id))
            elif job.kind == PAGE:
                if incident.status.rank is not Rank.TRIGGERED or plan.policy is None:
                    conn.execute(delete(escalations).where(escalations.c.incident_id == job.incident_id))
                    continue
                if schedules is None:
                    schedules = read_schedules(conn)
                paged += _page(conn, codec, job, incident, plan.policy, schedules, moved, at=at, seq=seq)
            else:
                _ack_timeout(conn, codec, job, incident, plan, at=at, seq=seq)
        for keys in {tuple(values) for values in moved}:  # one statement per set of columns
            conn.execute(_JOB_UPDATE, [values for values in moved if tuple(values) == keys])
    return fired, paged


_DUE = (
    select(escalations)
    .where(escalations.c.due_at <= bindparam("at"), escalations.c.kind != DONE)
    .order_by(escalations.c.due_at, escalations.c.incident_id)
    .limit(100)
)


def _page(
    conn: Connection,
    codec: Codec,
    job: Any,
    incident: Any,
    policy: Policy,
    schedules: dict[str, Schedule],
    moved: list[dict[str, Any]],
    *,
    at: datetime,
    seq: int,
) -> list[tuple[str, str, int]]:
    """Page the job's step; the job moves on to the next step, or is done (added to `moved`, for
    the caller to write)."""
    level = min(job.level, len(policy.levels) - 1)  # a policy edited mid-escalation may be shorter
    step = PageStep(level, job.repeat, job.due_at, policy.levels[level].targets)
    # Whoever is on call now: for a step that fell due while the server was down, the person who
    # can answer now, not the one whose shift has ended.
    people = resolve_targets(step.targets, schedules, at)
    nobody = [target.schedule for target in nobody_on_call(step.targets, schedules, at)]
    low = incident.priority is Priority.LOW
    reason = "notify" if low else "escalation"
    key = step.key(incident.id, job.epoch)
    known = {row[0] for row in fetch(conn, _KNOWN_PAGES, {"incident": incident.id, "step": f"{key}/%"})}
    paged = [person for person in people if person not in known]
    if paged:
        when = codec.time(at)
        rows = [
            (uuid7(), f"{key}/{person}", incident.id, job.epoch, level, job.repeat, person, when, reason, seq)
            for person in paged
        ]
        insert_rows(conn, pages, _PAGE_COLUMNS, rows)
    if paged or not known:  # one timeline entry per step, also when nobody could be paged
        body = {"level": level + 1, "repeat": job.repeat, "users": list(people), "epoch": job.epoch}
        if nobody:
            body["nobody_on_call"] = nobody
        entry = TimelineEntry(uuid7(), incident.id, incident.service_id, at, EntryKind.PAGED, ACTOR, body)
        write_timeline(conn, codec, seq, [entry])
    following = next_step(policy, incident.priority, step)
    if following is None:
        moved.append({"_incident_id": incident.id, "kind": DONE})
    else:
        step_values = {"level": following.level, "repeat": following.repeat, "due_at": following.due_at}
        moved.append({"_incident_id": incident.id, **step_values})
    return [(incident.id, person, level) for person in paged]


# By the incident too: its index finds the step's few pages (`key LIKE` alone read every page).
_KNOWN_PAGES = select(raw(pages.c.user)).where(
    pages.c.incident_id == bindparam("incident"), pages.c.key.like(bindparam("step"))
)
_PAGE_COLUMNS = ("id", "key", "incident_id", "epoch", "level", "repeat", "user", "at", "reason", "seq")


def _ack_timeout(
    conn: Connection, codec: Codec, job: Any, incident: Any, plan: _ServicePlan, *, at: datetime, seq: int
) -> None:
    """Acknowledged, and no progress since: back to triggered in a new epoch, paging from level 1."""
    if incident.status.rank is not Rank.ACKNOWLEDGED or plan.ack_timeout is None:
        conn.execute(delete(escalations).where(escalations.c.incident_id == incident.id))
        return
    t = timeline.c
    progress = conn.execute(
        select(func.max(t.at)).where(t.incident_id == incident.id, t.kind.in_(_PROGRESS))
    ).scalar()
    due = ack_timeout_due(incident.acknowledged_at or job.due_at, progress, plan.ack_timeout)
    assert due is not None
    if due > at:  # someone worked on it meanwhile: wait from their last step
        conn.execute(update(escalations).where(escalations.c.incident_id == incident.id).values(due_at=due))
        return
    epoch = incident.status.epoch + 1
    again = replace(incident, status=Status(epoch, Rank.TRIGGERED), acknowledged_at=None, updated_at=at)
    write_incidents(conn, codec, seq, new=[], changed=[again])
    minutes = int(plan.ack_timeout.total_seconds() // 60)
    body = {"minutes": minutes, "epoch": epoch}
    entry = TimelineEntry(uuid7(), incident.id, incident.service_id, at, EntryKind.ACK_TIMED_OUT, ACTOR, body)
    write_timeline(conn, codec, seq, [entry])
    _set_job(conn, incident.id, exists=True, epoch=epoch, kind=PAGE, due_at=at)


class EscalationDriver:
    """Runs engine passes in the server: after writes (the change feed moved) and when a job falls
    due, at most every `min_gap` seconds, through the writer so passes commit like everything else."""

    def __init__(
        self,
        engine: Engine,
        submit: Callable[[Callable[[Connection, datetime, int], Any]], Any],
        feed: ChangeFeed,
        *,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        min_gap: float = 0.5,  # in an alert storm a pass costs intake ~5 % at 0.25 s (bench_intake)
        idle: float = 5.0,
    ) -> None:
        self._engine = engine
        self._submit = submit
        self._feed = feed
        self._now = now
        self._min_gap = min_gap
        self._idle = idle
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="escalation-engine")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while not self._feed.is_closed():
            seen = self._feed.seq  # a commit after this wakes the next round, even one during this
            due: datetime | None = None
            try:
                waiting, due = await asyncio.to_thread(self._look)
                if waiting:
                    await self._submit(lambda conn, at, seq: run_engine(conn, at=at, seq=seq))
            except asyncio.CancelledError:
                raise
            except Exception:  # a busy or failing database: the next round tries again
                log.warning("escalation pass failed", exc_info=True)
            await asyncio.sleep(self._min_gap)
            wait = self._idle
            if due is not None:
                wait = max(0.0, min(wait, (due - self._now()).total_seconds()))
            await self._feed.wait_beyond(seen, wait)

    def _look(self) -> tuple[bool, datetime | None]:
        with self._engine.connect() as conn:
            at = self._now()
            return work_waiting(conn, at), next_due(conn)
