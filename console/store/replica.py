"""The console's replica as the rest of the console sees it: ops recorded in one local transaction
each, server pages applied in one transaction each, and views that fold the outbox's unconfirmed
ops over the server-confirmed rows (Replicache's rebase, done at read time)."""

from __future__ import annotations

import time
import uuid
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any

import orjson
from sqlalchemy import Connection, Engine, and_, delete, func, insert, or_, select, text, update
from sqlalchemy.exc import OperationalError

from console.config_export import ONCALL_CONFIG, ONCALL_CONFIG_ENTITY
from console.config_file import TeamConfig
from console.domain.clock import Hlc, HybridClock
from console.domain.errors import DomainError, StorageFull
from console.domain.escalation import Policy
from console.domain.ids import uuid7
from console.domain.incident import EntryKind, Incident, TimelineEntry
from console.domain.oncall import (
    OVERRIDE_ADD,
    OVERRIDE_REMOVE,
    OnCallNow,
    PageRecord,
    PendingOverride,
    board,
    override_args,
)
from console.domain.ops import OpRejected, OpType, apply_op, normalize_args
from console.domain.priority import Priority
from console.domain.runbook import Run, Runbook, RunOpKind, RunOpRejected, make_op
from console.domain.runbook_json import (
    RUN_OP,
    RUNBOOK_SAVE,
    RunbookRejected,
    run_op_outbox_args,
    runbook_entity,
)
from console.domain.schedule import Override, Schedule, check_override
from console.domain.status import Rank, Status
from console.domain.views import (
    AlertView,
    EntryView,
    IncidentDetail,
    IncidentView,
    OutboxOp,
    RunbookProgress,
    SyncState,
)
from console.store import oncall
from console.store import runbooks as runbook_store
from console.store.database import migrate, open_replica, storage_error
from console.store.tables import (
    REPLICA_TABLES,
    URGENCY,
    alerts,
    incidents,
    outbox,
    services,
    sync_state,
    timeline,
    users,
)
from console.store.watch import ChangeWatch

REPLICA_FILE = "replica.db"
SCHEMA_VERSION = 3  # the sync protocol's; kept here so the store needs nothing from sync
KEEP_DONE_OPS = 2000  # processed ops kept for the outbox view; older ones are pruned

_INCIDENT_OPS = tuple(kind.value for kind in OpType)
_STATUS_OPS = (OpType.ACKNOWLEDGE, OpType.RESOLVE, OpType.REOPEN, OpType.SNOOZE, OpType.ESCALATE)


class NotFound(DomainError):
    """No incident (or service, or user) matches what was asked for."""


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class Replica:
    """One console's database. Thread-safe in the way SQLite is: each call is its own transaction."""

    def __init__(self, path: Path, *, now_ms: Callable[[], int] = _now_ms) -> None:
        self.path = path
        self._engine: Engine = open_replica(path)
        migrate(self._engine)
        self._now_ms = now_ms
        self._watches: weakref.WeakSet[ChangeWatch] = weakref.WeakSet()
        with self._write() as conn:
            if conn.execute(select(sync_state.c.id)).first() is None:
                conn.execute(insert(sync_state).values(id=1, client_id=str(uuid.uuid4())))

    @classmethod
    def in_dir(cls, data_dir: Path, **options: Any) -> Replica:
        return cls(data_dir / REPLICA_FILE, **options)

    def close(self) -> None:
        self._engine.dispose()

    def _write(self) -> Any:
        return _Transaction(self._engine)

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._now_ms() / 1000, UTC)

    def watch(self) -> ChangeWatch:
        """A watch marked with the incidents every later write touches (kept while referenced)."""
        made = ChangeWatch()
        self._watches.add(made)
        return made

    def _changed(self, incident_ids: Iterable[str] | None) -> None:
        """Called after a write committed: None when it may have changed any incident."""
        for watch in list(self._watches):
            if incident_ids is None:
                watch.mark_all()
            else:
                watch.mark(incident_ids)

    # -- identity and sync state --

    def state(self) -> SyncState:
        with self._engine.connect() as conn:
            row = conn.execute(select(sync_state)).one()
        return SyncState(
            row.client_id,
            row.server_url,
            row.user_name,
            row.cursor,
            row.page_seq,
            row.last_seq,
            row.last_sync_at,
        )

    def set_server(self, url: str, user_name: str) -> None:
        """Remember the server (and who this console signs in as). Another server means another
        replica: the rows of the old one are dropped; unsent ops stay, visible in the outbox."""
        with self._write() as conn:
            old = conn.execute(select(sync_state.c.server_url)).scalar_one()
            wiped = bool(old and old != url)
            if wiped:
                _wipe(conn)
            conn.execute(update(sync_state).values(server_url=url, user_name=user_name))
        if wiped:
            self._changed(None)

    # -- ops: each one local transaction (the op, its outbox row and the clock) --

    def act(self, kind: OpType, incident_id: str, args: Mapping[str, Any] | None = None) -> OutboxOp:
        """Record an op on an incident. Refused here, with the reason, when it could change nothing
        (acknowledging what is resolved, say); the server still has the last word."""
        if kind is OpType.REPORT:
            raise ValueError("use report()")
        given = normalize_args(kind, args or {})
        with self._write() as conn:
            view = self._views(conn, [incident_id])
            if incident_id not in view:
                raise NotFound("There is no such incident here.")
            incident = view[incident_id].incident
            if kind is OpType.REOPEN and incident.status.is_open:
                raise OpRejected("The incident is open; only a resolved incident can be reopened.")
            op = self._new_op(conn, kind, incident_id, given, incident.status.epoch)
            done = apply_op(op.as_op(""), incident, at=Hlc.decode(op.hlc).time, number=lambda: 0)
            if not done.changed and kind in _STATUS_OPS:
                raise OpRejected(done.reason)
            self._insert_op(conn, op)
        self._changed([incident_id])
        return op

    def report(
        self,
        title: str,
        service: str,
        *,
        priority: str = Priority.HIGH.value,
        category: str = "",
        description: str = "",
    ) -> OutboxOp:
        """Report a new incident; its id is made here (UUIDv7), so it exists before any sync."""
        with self._write() as conn:
            service_id = _service_id(conn, service)
            args = normalize_args(
                OpType.REPORT,
                {
                    "title": title,
                    "service_id": service_id,
                    "priority": priority,
                    "category": category,
                    "description": description,
                },
            )
            op = self._new_op(conn, OpType.REPORT, uuid7(), args, 0)
            self._insert_op(conn, op)
        self._changed([op.entity_id])
        return op

    def _new_op(
        self, conn: Connection, kind: OpType | str, entity_id: str, args: dict[str, Any], epoch: int
    ) -> OutboxOp:
        state = conn.execute(select(sync_state.c.client_id, sync_state.c.hlc)).one()
        clock = HybridClock(state.client_id, self._now_ms, Hlc.decode(state.hlc) if state.hlc else None)
        stamp = clock.tick().encode()
        conn.execute(update(sync_state).values(hlc=stamp))
        return OutboxOp(
            0, uuid7(), str(kind), entity_id, args, stamp, epoch, "pending", "", None, 0, "", self._now()
        )

    def _insert_op(self, conn: Connection, op: OutboxOp) -> None:
        conn.execute(
            insert(outbox).values(
                op_id=op.op_id,
                type=op.type,
                entity_id=op.entity_id,
                args=dict(op.args),
                hlc=op.hlc,
                base_epoch=op.base_epoch,
                schema_version=SCHEMA_VERSION,
                state="pending",
                created_at=op.created_at,
            )
        )

    # -- sync --

    def pending_ops(self, limit: int = 500) -> list[OutboxOp]:
        with self._engine.connect() as conn:
            rows = conn.execute(
                select(outbox).where(outbox.c.state == "pending").order_by(outbox.c.client_seq).limit(limit)
            )
            return [_op(row) for row in rows]

    def pending_count(self) -> int:
        with self._engine.connect() as conn:
            return int(conn.execute(select(func.count()).where(outbox.c.state == "pending")).scalar_one())

    def outbox(self, *, states: Iterable[str] | None = None, limit: int = 1000) -> list[OutboxOp]:
        query = select(outbox).order_by(outbox.c.client_seq.desc()).limit(limit)
        if states is not None:
            query = query.where(outbox.c.state.in_(list(states)))
        with self._engine.connect() as conn:
            return [_op(row) for row in conn.execute(query)]

    def record_results(self, results: Sequence[Mapping[str, Any]], server_hlc: str = "") -> None:
        """What the server answered for pushed ops, in one transaction."""
        with self._write() as conn:
            sent = [result["client_seq"] for result in results]
            sent_ops = conn.execute(
                select(outbox.c.entity_id, outbox.c.type).where(outbox.c.client_seq.in_(sent))
            ).all()
            touched = {row.entity_id for row in sent_ops if row.type != RUN_OP}
            # a run op's entity is its run: the window re-reads the run's incident
            touched |= runbook_store.incidents_of_runs(
                conn, [r.entity_id for r in sent_ops if r.type == RUN_OP]
            )
            for result in results:
                conn.execute(
                    update(outbox)
                    .where(outbox.c.client_seq == result["client_seq"], outbox.c.op_id == result["op_id"])
                    .values(
                        state=result["status"],
                        reason=result.get("reason", ""),
                        result_seq=result["seq"],
                        last_error="",
                    )
                )
            if server_hlc:
                self._observe(conn, server_hlc)
            done = conn.execute(
                select(outbox.c.client_seq)
                .where(outbox.c.state != "pending")
                .order_by(outbox.c.client_seq.desc())
                .offset(KEEP_DONE_OPS)
                .limit(1)
            ).scalar()
            if done is not None:  # but not an op whose effect the replica does not show yet
                page_seq = select(sync_state.c.page_seq).scalar_subquery()
                conn.execute(
                    delete(outbox).where(
                        outbox.c.state != "pending",
                        outbox.c.client_seq <= done,
                        or_(outbox.c.result_seq.is_(None), outbox.c.result_seq <= page_seq),
                    )
                )
        self._changed(touched)  # a rejected op is no longer folded in; an applied one is marked

    def record_failure(self, client_seqs: Sequence[int], error: str) -> None:
        with self._write() as conn:
            conn.execute(
                update(outbox)
                .where(outbox.c.client_seq.in_(list(client_seqs)))
                .values(attempts=outbox.c.attempts + 1, last_error=error[:500])
            )

    def apply_page(self, page: Mapping[str, Any]) -> int:
        """A pull page, in one transaction: rows upserted, tombstones deleted, the cursor moved.
        Returns the number of rows written."""
        written = 0
        tables = page.get("tables", {})
        touched = _touched(tables)
        with self._write() as conn:
            for name, rows in tables.items():
                written += _upsert(conn, name, rows["columns"], rows["rows"])
            values: dict[str, Any] = {"cursor": page["cursor"], "last_seq": page["last_seq"]}
            if page.get("page_seq") is not None:
                values["page_seq"] = func.max(sync_state.c.page_seq, page["page_seq"])
                # ops the replica now shows as confirmed: their incidents lose the unsynced mark
                touched.update(
                    conn.execute(
                        select(outbox.c.entity_id).where(
                            outbox.c.result_seq > select(sync_state.c.page_seq).scalar_subquery(),
                            outbox.c.result_seq <= page["page_seq"],
                        )
                    ).scalars()
                )
            if not page.get("more"):
                values["last_sync_at"] = self._now()
            conn.execute(update(sync_state).values(values))
            if page.get("hlc"):
                self._observe(conn, page["hlc"])
        self._changed(touched)
        return written

    def start_snapshot(self) -> None:
        """The server no longer serves this replica's cursor (410): drop the replica and pull
        everything again. The outbox is kept: nothing the person did is lost."""
        with self._write() as conn:
            _wipe(conn)
        self._changed(None)

    def _observe(self, conn: Connection, remote: str) -> None:
        state = conn.execute(select(sync_state.c.client_id, sync_state.c.hlc)).one()
        clock = HybridClock(state.client_id, self._now_ms, Hlc.decode(state.hlc) if state.hlc else None)
        try:
            clock.receive(Hlc.decode(remote))
        except ValueError:
            return
        conn.execute(update(sync_state).values(hlc=clock.last.encode()))

    # -- views: the replica with unconfirmed ops folded over it --

    def incidents(self, *, statuses: Iterable[str] | None = None, text: str = "") -> list[IncidentView]:
        """Incidents newest first, as this console sees them (its own unsynced ops included)."""
        wanted = set(statuses) if statuses is not None else None
        with self._engine.connect() as conn:
            actor = _actor(conn)
            views = _with_runbooks(conn, _fold(conn, _confirmed(conn), _unconfirmed(conn), actor), actor)
        out = [
            v
            for v in views.values()
            if (wanted is None or v.incident.status.rank.label in wanted)
            and (not text or text.lower() in v.incident.title.lower())
        ]
        out.sort(key=lambda v: (v.incident.created_at, v.incident.id), reverse=True)
        return out

    def urgent_first(self, *, first: int = 1000, batch: int = 2500) -> Iterator[list[IncidentView]]:
        """Every incident as this console sees it, in batches, most urgent first (open before
        done, high before low, newest first): the first batch small, so that a window shows the
        top of its list at once. Each batch is its own read; what changes meanwhile, a ChangeWatch
        taken before the first batch has marked."""
        with self._engine.connect() as conn:
            # Incidents with ops not confirmed yet are ordered by their rows, not by what those ops
            # made of them (reported here: no row at all): they lead the first batch instead.
            acted_on = list(_unconfirmed(conn))
            skipped = set(
                conn.execute(
                    select(text("rowid")).select_from(incidents).where(incidents.c.id.in_(acted_on))
                ).scalars()
            )
            ordered = conn.exec_driver_sql(_URGENCY_ORDER).scalars()
            order = [rowid for rowid in ordered if rowid not in skipped]
        start, size, leading = 0, first, acted_on
        # Runbook progress: the first batch's by its ids; then every incident's, read once (a few
        # queries, and a lookup per incident here, rather than those queries again in every batch).
        progress: dict[str, RunbookProgress] | None = None
        while True:
            part = order[start : start + size]
            with self._engine.connect() as conn:
                confirmed = _confirmed(conn, rowids=part)
                confirmed.update(_confirmed(conn, ids=leading))
                pending = _unconfirmed(conn, leading + list(confirmed))
                actor = _actor(conn)
                views = _fold(conn, confirmed, pending, actor)
                if start == 0:
                    views = _with_runbooks(conn, views, actor, list(views))
                else:
                    if progress is None:
                        progress = runbook_store.read_progress(conn, actor)
                    views = _attach(views, progress)
            yield sorted(views.values(), key=_urgency)
            start, size, leading = start + size, batch, []
            if start >= len(order):
                return

    def unacknowledged(self, limit: int, *, assignee: str | None = None) -> list[IncidentView]:
        """Triggered incidents as this console sees them (an acknowledgement made here counts),
        high priority first, then newest; only those assigned to `assignee` if given."""
        with self._engine.connect() as conn:
            pending = _unconfirmed(conn)
            # down the urgency index (open rows first, in this order): a few rows, not a sort of
            # every triggered incident on each read of a storm (70 ms -> 1 ms at 100,000)
            mine = "" if assignee is None else "AND assignee = ? "
            found = conn.exec_driver_sql(
                f"SELECT id FROM incidents INDEXED BY ix_incidents_urgency WHERE {URGENCY} < 2 "
                f"AND status = ? {mine}ORDER BY {URGENCY}, created_at DESC, id LIMIT ?",
                (Rank.TRIGGERED.label, *(() if assignee is None else (assignee,)), limit + len(pending)),
            )  # limit + pending: some may be acknowledged here
            ids = set(found.scalars()) | set(pending)
            views = self._views(conn, list(ids))
        waiting = [
            view
            for view in views.values()
            if view.incident.status.rank is Rank.TRIGGERED
            and (assignee is None or view.incident.assignee == assignee)
        ]
        waiting.sort(key=_urgency)
        return waiting[:limit]

    def views(self, incident_ids: Iterable[str]) -> dict[str, IncidentView]:
        """These incidents as this console sees them; an id missing from the answer is gone."""
        with self._engine.connect() as conn:
            return self._views(conn, list(incident_ids))

    def _views(self, conn: Connection, ids: Sequence[str]) -> dict[str, IncidentView]:
        actor = _actor(conn)
        views = _fold(conn, _confirmed(conn, ids=ids), _unconfirmed(conn, ids), actor)
        return _with_runbooks(conn, views, actor, ids)

    def incident(self, incident_id: str) -> IncidentDetail:
        with self._engine.connect() as conn:
            views = self._views(conn, [incident_id])
            if incident_id not in views:
                raise NotFound("There is no such incident here.")
            alert_rows = conn.execute(
                select(alerts).where(alerts.c.incident_id == incident_id).order_by(alerts.c.first_seen)
            )
            found_alerts = [
                AlertView(
                    a.id,
                    a.summary,
                    a.source,
                    a.status,
                    a.severity,
                    a.priority,
                    a.repeat_count,
                    a.first_seen,
                    a.last_seen,
                    a.labels or {},
                    a.details or {},
                    a.links or [],
                )
                for a in alert_rows
            ]
            entries = [
                EntryView(_entry(row))
                for row in conn.execute(select(timeline).where(timeline.c.incident_id == incident_id))
            ]
            ops = [
                _op(row)
                for row in conn.execute(
                    select(outbox).where(outbox.c.entity_id == incident_id).order_by(outbox.c.client_seq)
                )
            ]
            confirmed = _confirmed(conn, ids=[incident_id]).get(incident_id)
            actor = _actor(conn)
            page_seq = conn.execute(select(sync_state.c.page_seq)).scalar_one()
        known = {e.entry.id for e in entries}
        # The entries are those the ops make on the confirmed incident (as the server will apply
        # them), not on the view that has them folded in already: there each would have no effect.
        base = confirmed.incident if confirmed is not None else None
        for op in ops:  # the entries of unconfirmed ops, until the replica has them
            if op.op_id in known or not _is_unconfirmed(op, page_seq):
                continue
            try:
                done = apply_op(op.as_op(actor), base, at=Hlc.decode(op.hlc).time, number=lambda: 0)
            except OpRejected:
                continue
            base = done.incident
            entries.append(EntryView(done.entry, unsynced=True))
        entries.sort(key=lambda e: (e.entry.at, e.entry.id))
        return IncidentDetail(views[incident_id], found_alerts, entries, ops)

    def find(self, given: str) -> str:
        """An incident id from a unique prefix of its id, or its number ("42" or "#42")."""
        text = given.strip().lstrip("#")
        if not text:
            raise NotFound("Give an incident id, a prefix of one, or a number.")
        with self._engine.connect() as conn:
            if text.isdigit():
                found = conn.execute(select(incidents.c.id).where(incidents.c.number == int(text))).scalar()
                if found is not None:
                    return str(found)
            ids = {
                str(i)
                for i in conn.execute(
                    select(incidents.c.id).where(incidents.c.id.startswith(text, autoescape=True)).limit(3)
                ).scalars()
            }
            ids |= {
                str(i)
                for i in conn.execute(
                    select(outbox.c.entity_id).where(
                        outbox.c.type == OpType.REPORT.value,
                        outbox.c.entity_id.startswith(text, autoescape=True),
                    )
                ).scalars()
            }
        if len(ids) == 1:
            return ids.pop()
        if not ids:
            raise NotFound(f"No incident matches {given!r}.")
        raise NotFound(f"{given!r} matches several incidents; give more of the id.")

    def services(self) -> list[tuple[int, str]]:
        with self._engine.connect() as conn:
            return [
                (row.id, row.name)
                for row in conn.execute(select(services.c.id, services.c.name).order_by(services.c.name))
            ]

    def users(self) -> list[tuple[int, str, str]]:
        with self._engine.connect() as conn:
            return [
                (r.id, r.name, r.role) for r in conn.execute(select(users.c.id, users.c.name, users.c.role))
            ]

    # -- on-call (console.ui.ports.OnCallSource) --

    def schedules(self) -> list[Schedule]:
        """The schedules with the overrides the server accepted."""
        with self._engine.connect() as conn:
            return oncall.read_schedules(conn)

    def on_call_now(self, at: datetime) -> list[OnCallNow]:
        return board(self.schedules(), at)

    def escalation_policies(self) -> list[Policy]:
        with self._engine.connect() as conn:
            return oncall.read_policies(conn)

    def pending_overrides(self) -> list[PendingOverride]:
        with self._engine.connect() as conn:
            return oncall.read_pending_overrides(conn, self._now())

    def add_override(self, schedule: str, override: Override) -> OutboxOp:
        """Record an override (not in effect until the server accepts it). Refused here when it
        overlaps one the schedule has or one still pending from this console (OverrideRejected)."""
        with self._write() as conn:
            schedule_id = oncall.schedule_id(conn, schedule)
            if schedule_id is None:
                raise NotFound(f"There is no schedule named {schedule!r} here.")
            accepted = next(s for s in oncall.read_schedules(conn) if s.name == schedule).overrides
            pending = [p.override for p in oncall.read_pending_overrides(conn, self._now()) if not p.reason]
            check_override([*accepted, *(p for p in pending if p.id != override.id)], override)
            op = self._new_op(conn, OVERRIDE_ADD, override.id, override_args(schedule_id, override), 0)
            self._insert_op(conn, op)
        return op

    def remove_override(self, override_id: str) -> OutboxOp:
        with self._write() as conn:
            op = self._new_op(conn, OVERRIDE_REMOVE, override_id, {}, 0)
            self._insert_op(conn, op)
        return op

    def pages(self, *, since: datetime | None = None, user: str | None = None) -> list[PageRecord]:
        with self._engine.connect() as conn:
            return oncall.read_pages(conn, since, user)

    def team(self) -> TeamConfig:
        """The on-call configuration as the schedules-and-policies editor opens it (no overrides)."""
        with self._engine.connect() as conn:
            return oncall.read_team(conn)

    def save_oncall_config(self, text: str, base: str) -> OutboxOp:
        """Record an edit of schedules and policies: the whole team file and the fingerprint of the
        configuration it started from; the server applies it unless that moved meanwhile."""
        with self._write() as conn:
            held = runbook_store.role_of(conn, _actor(conn))
            if held is not None and held not in ("manager", "admin"):
                raise DomainError("Only a manager or an admin can change schedules and escalation policies.")
            op = self._new_op(conn, ONCALL_CONFIG, ONCALL_CONFIG_ENTITY, {"text": text, "base": base}, 0)
            self._insert_op(conn, op)
        return op

    def user_zones(self) -> dict[str, str | None]:
        """Each person's home time zone, where the team file gives one (night pages)."""
        with self._engine.connect() as conn:
            return {row.name: row.time_zone for row in conn.execute(select(users.c.name, users.c.time_zone))}

    def escalated_services(self) -> frozenset[str]:
        with self._engine.connect() as conn:
            return oncall.read_escalated_services(conn)

    def new_pages(self, user: str, after_seq: int) -> tuple[list[PageRecord], int]:
        """Pages to `user` pulled since `after_seq` (start with -1), and the seq to pass next time."""
        with self._engine.connect() as conn:
            return oncall.read_new_pages(conn, user, after_seq)

    # -- runbooks (console.ui.ports.RunbookSource) --

    def runs(self, incident_id: str) -> list[Run]:
        """The incident's runs as the replica holds them, with this console's run ops folded in."""
        with self._engine.connect() as conn:
            return runbook_store.read_runs(conn, _actor(conn), incident_id=incident_id)

    def act_on_run(
        self, run_id: str, kind: RunOpKind, step_id: str, *, role: str = "", text: str = ""
    ) -> OutboxOp:
        """Record a tick, untick, approval, override or note on a run (works offline). Refused here,
        with the reason, when it could never apply (RunOpRejected); the server has the last word."""
        with self._write() as conn:
            actor = _actor(conn)
            found = runbook_store.read_runs(conn, actor, run_id=run_id)
            if not found:
                raise RunOpRejected("There is no such run here.")
            run = found[0]
            held = runbook_store.role_of(conn, actor)
            if held == "viewer":
                raise RunOpRejected("A viewer cannot work through runbooks.")
            if kind is RunOpKind.APPROVE and held is not None and held.casefold() != role.strip().casefold():
                raise RunOpRejected(
                    f"You are a {held} here: only a {role.strip() or '?'} can approve as one."
                )
            made = self._new_op(conn, RUN_OP, run_id, {}, 0)  # its id and clock stamp are the op's
            op = make_op(
                run, kind, step_id, op_id=made.op_id, actor=actor, hlc=Hlc.decode(made.hlc),
                role=role.strip(), text=text.strip(),
            )  # fmt: skip
            made = replace(made, args=run_op_outbox_args(op))
            self._insert_op(conn, made)
        self._changed([run.incident_id])
        return made

    def runbooks(self) -> list[Runbook]:
        with self._engine.connect() as conn:
            return runbook_store.read_runbooks(conn)

    def save_runbook(self, runbook: Runbook) -> OutboxOp:
        """Save a manager's edit as a new version (an outbox op carrying its Markdown). Refused here
        when the version is not above the newest one this console knows (RunbookRejected)."""
        from console.runbook_files import export  # YAML: only when saving

        try:
            text = export(runbook)
        except ValueError as exc:
            raise RunbookRejected(str(exc)) from None
        with self._write() as conn:
            held = runbook_store.role_of(conn, _actor(conn))
            if held is not None and held not in ("manager", "admin"):
                raise RunbookRejected("Only a manager can save runbooks.")
            saved = next((each for each in runbook_store.read_runbooks(conn) if each.id == runbook.id), None)
            if saved is not None and runbook.version <= saved.version:
                raise RunbookRejected(
                    f"version: {saved.version} is saved already; raise it to {saved.version + 1}"
                )
            args = {"id": runbook.id, "version": runbook.version, "text": text}
            op = self._new_op(conn, RUNBOOK_SAVE, runbook_entity(runbook.id), args, 0)
            self._insert_op(conn, op)
        return op

    def rows(self, name: str) -> list[tuple[Any, ...]]:
        """Every row of a replica table, as stored, ordered by id: for comparing with the server."""
        table = REPLICA_TABLES[name]
        with self._engine.connect() as conn:
            return [tuple(row) for row in conn.execute(select(table).order_by(table.c.id))]


class _Transaction:
    """`with` a write transaction; a full disk becomes StorageFull and nothing is half-written."""

    def __init__(self, engine: Engine) -> None:
        self._context = engine.begin()

    def __enter__(self) -> Connection:
        try:
            return self._context.__enter__()
        except OperationalError as exc:
            raise storage_error(exc) from exc

    def __exit__(self, kind: Any, exc: BaseException | None, trace: Any) -> None:
        try:
            self._context.__exit__(kind, exc, trace)  # commits, or rolls back after an error
        except OperationalError as error:
            raise storage_error(error) from error
        if isinstance(exc, OperationalError) and isinstance(translated := storage_error(exc), StorageFull):
            raise translated from exc


def _wipe(conn: Connection) -> None:
    for table in REPLICA_TABLES.values():
        conn.execute(delete(table))
    conn.execute(update(sync_state).values(cursor="", page_seq=-1, last_seq=-1))


def _service_id(conn: Connection, service: str) -> int:
    by_name = conn.execute(select(services.c.id).where(services.c.name == service)).scalar()
    if by_name is not None:
        return int(by_name)
    if service.isdigit() and conn.execute(select(services.c.id).where(services.c.id == int(service))).first():
        return int(service)
    known = (
        ", ".join(conn.execute(select(services.c.name).order_by(services.c.name)).scalars())
        or "none yet (sync first)"
    )
    raise NotFound(f"There is no service {service!r}. Known services: {known}.")


def _actor(conn: Connection) -> str:
    return str(conn.execute(select(sync_state.c.user_name)).scalar_one())


def _is_unconfirmed(op: OutboxOp, page_seq: int) -> bool:
    if op.state == "pending":
        return True
    return op.state in ("applied", "noop") and op.result_seq is not None and op.result_seq > page_seq


def _unconfirmed(conn: Connection, ids: Sequence[str] | None = None) -> dict[str, list[OutboxOp]]:
    """The ops whose effect the replica may not show yet, by incident (of `ids` only, if given)."""
    page_seq = conn.execute(select(sync_state.c.page_seq)).scalar_one()
    query = (
        select(outbox)
        .where(
            or_(
                outbox.c.state == "pending",
                and_(outbox.c.state.in_(("applied", "noop")), outbox.c.result_seq > page_seq),
            ),
            outbox.c.type.in_(_INCIDENT_OPS),  # not overrides (console.store.oncall)
        )
        .order_by(outbox.c.client_seq)
    )
    if ids is not None:
        query = query.where(outbox.c.entity_id.in_(list(ids)))
    by_incident: dict[str, list[OutboxOp]] = {}
    for row in conn.execute(query):
        op = _op(row)
        by_incident.setdefault(op.entity_id, []).append(op)
    return by_incident


# The replica's incidents read with sqlite3 directly: 100,000 of them through SQLAlchemy's result
# processing (a Row, a type processor per time column) took 3-5 s, this way ~0.6 s (bench_window).
_INCIDENT_COLUMNS = (
    "id", "number", "service_id", "title", "priority", "category", "status", "epoch", "created_at",
    "updated_at", "alert_count", "open_alerts", "acknowledged_at", "resolved_at", "assignee",
    "description", "snoozed_until", "clocks",
)  # fmt: skip
_READ = (
    f"SELECT {', '.join('i.' + c for c in _INCIDENT_COLUMNS)}, s.name"
    " FROM incidents i LEFT JOIN services s ON s.id = i.service_id"
)
_BY_IDS = f"{_READ} WHERE i.id IN (SELECT value FROM json_each(?))"
_BY_ROWIDS = f"{_READ} WHERE i.rowid IN (SELECT value FROM json_each(?))"
# The window's default order (IncidentTableModel): open before done, high before low, newest first.
_URGENCY_ORDER = f"SELECT rowid FROM incidents ORDER BY {URGENCY}, created_at DESC, id"  # its index's order
_PRIORITIES = {priority.value: priority for priority in Priority}
_NO_CLOCKS: Mapping[str, str] = MappingProxyType({})  # read-only: shared by every incident without
_STATUSES: dict[tuple[int, str], Status] = {}


def _urgency(view: IncidentView) -> tuple[int, float, str]:
    incident = view.incident
    done = 0 if incident.status.is_open else 2
    return done + (incident.priority is not Priority.HIGH), -incident.created_at.timestamp(), incident.id


def _status(epoch: int, label: str) -> Status:
    found = _STATUSES.get((epoch, label))
    if found is None:  # a few epochs times four ranks: made once each
        found = _STATUSES[epoch, label] = Status(epoch, Rank.from_label(label))
    return found


def _confirmed(
    conn: Connection, *, ids: Sequence[str] | None = None, rowids: Sequence[int] | None = None
) -> dict[str, IncidentView]:
    """Incidents as the replica holds them (all, or these ids or rowids), before any op is folded."""
    if ids is not None:
        rows = conn.exec_driver_sql(_BY_IDS, (orjson.dumps(list(ids)).decode(),))
    elif rowids is not None:
        rows = conn.exec_driver_sql(_BY_ROWIDS, (orjson.dumps(list(rowids)).decode(),))
    else:
        rows = conn.exec_driver_sql(_READ)
    when = datetime.fromisoformat
    loads = orjson.loads
    priorities = _PRIORITIES
    # One string object per service name and category, and one empty clocks mapping, shared by
    # every incident that has them: sqlite3 makes a new string per row (~16 MB at 100,000 rows).
    shared: dict[str, str] = {}
    share = shared.setdefault
    return {
        r[0]: IncidentView(
            Incident(
                r[0], r[1], r[2], r[3], priorities[r[4]], share(r[5], r[5]), _status(r[7], r[6]), when(r[8]),
                when(r[9]), None, "", r[10], r[11], r[12] and when(r[12]), r[13] and when(r[13]),
                r[14] and share(r[14], r[14]), r[15] and share(r[15], r[15]), r[16] and when(r[16]),
                loads(r[17]) if r[17] and r[17] != "{}" else _NO_CLOCKS,
            ),
            share(r[18], r[18]) if r[18] else "",
        )
        for r in rows
    }  # fmt: skip


def _fold(
    conn: Connection, views: dict[str, IncidentView], pending: Mapping[str, list[OutboxOp]], actor: str
) -> dict[str, IncidentView]:
    """The views with the unconfirmed ops applied over them, as the server will apply them."""
    names: dict[int, str] | None = None
    for incident_id, ops in pending.items():
        current = views[incident_id].incident if incident_id in views else None
        for op in ops:
            try:
                current = apply_op(
                    op.as_op(actor), current, at=Hlc.decode(op.hlc).time, number=lambda: 0
                ).incident
            except OpRejected:
                continue  # the server will say why
        if current is not None:
            if names is None:
                names = {row.id: row.name for row in conn.execute(select(services.c.id, services.c.name))}
            views[incident_id] = IncidentView(current, names.get(current.service_id, ""), len(ops))
    return views


def _with_runbooks(
    conn: Connection, views: dict[str, IncidentView], actor: str, ids: Sequence[str] | None = None
) -> dict[str, IncidentView]:
    """The views with the progress of their runbook runs (this console's run ops folded in), read
    for `ids`, or for every run when None (a full read). Runs are few beside incidents: the runs and
    their ops are read in a few queries, and only the views of incidents that have runs are remade."""
    return _attach(views, runbook_store.read_progress(conn, actor, ids))


def _attach(
    views: dict[str, IncidentView], progress: Mapping[str, RunbookProgress]
) -> dict[str, IncidentView]:
    """The views with their incident's runbook progress, if it has any (a look-up per view or per
    progress, whichever are fewer: a batch of the window's full read looks up all of them)."""
    pairs: list[tuple[IncidentView | None, RunbookProgress | None]]
    if len(progress) < len(views):
        pairs = [(views.get(incident_id), summed) for incident_id, summed in progress.items()]
    else:
        pairs = [(view, progress.get(incident_id)) for incident_id, view in views.items()]
    for view, summed in pairs:
        if view is not None and summed is not None:
            views[view.id] = replace(view, runbook=summed)
    return views


def _entry(row: Any) -> TimelineEntry:
    try:
        kind = EntryKind(row.kind)
    except ValueError:  # a kind from a newer server: shown as a plain change
        kind = EntryKind.CHANGE
    return TimelineEntry(row.id, row.incident_id, row.service_id, row.at, kind, row.actor, row.body or {})


def _op(row: Any) -> OutboxOp:
    return OutboxOp(
        row.client_seq,
        row.op_id,
        row.type,
        row.entity_id,
        row.args or {},
        row.hlc,
        row.base_epoch,
        row.state,
        row.reason,
        row.result_seq,
        row.attempts,
        row.last_error,
        row.created_at,
    )


_JSON_COLUMNS = {
    name: {c.name for c in table.columns if c.type.__class__.__name__ == "JSON"}
    for name, table in REPLICA_TABLES.items()
}


# The incident each replicated table's rows belong to (tombstones: of incidents only).
_INCIDENT_OF = {
    "incidents": "id",
    "alerts": "incident_id",
    "timeline": "incident_id",
    "pages": "incident_id",
    "runs": "incident_id",
    "run_ops": "incident_id",
}


def _touched(tables: Mapping[str, Mapping[str, Any]]) -> set[str]:
    """The incidents a pull page changes."""
    touched: set[str] = set()
    for name, rows in tables.items():
        if name == "tombstones":
            touched.update(str(key) for entity, key, _seq in rows["rows"] if entity == "incidents")
        elif name in _INCIDENT_OF and _INCIDENT_OF[name] in rows["columns"]:
            at = rows["columns"].index(_INCIDENT_OF[name])
            touched.update(row[at] for row in rows["rows"] if row[at] is not None)
    return touched


def _upsert(conn: Connection, name: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> int:
    if name == "tombstones":
        for entity, entity_id, _seq in rows:
            table = REPLICA_TABLES.get(entity)
            if table is not None:
                key = int(entity_id) if table.c.id.type.python_type is int else entity_id
                conn.execute(delete(table).where(table.c.id == key))
        return len(rows)
    table = REPLICA_TABLES.get(name)
    if table is None or not rows:  # a table from a newer server: this console has no use for it yet
        return 0
    keep = [i for i, column in enumerate(columns) if column in table.c]
    names = [columns[i] for i in keep]
    json_at = [n for n, column in enumerate(names) if column in _JSON_COLUMNS[name]]
    sql = f"INSERT OR REPLACE INTO {table.name} ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})"
    every = len(keep) == len(columns)
    values: list[tuple[Any, ...]] = []
    dumps = orjson.dumps
    for row in rows:
        picked = list(row) if every else [row[i] for i in keep]
        for n in json_at:  # JSON text as it comes; a value sent as JSON itself is encoded here
            value = picked[n]
            if value is not None and not isinstance(value, str):
                picked[n] = dumps(value).decode()
        values.append(tuple(picked))
    conn.exec_driver_sql(sql, values)
    return len(rows)
