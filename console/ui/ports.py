"""What the window needs from the rest of the console, as protocols: app.py hands in the concrete
objects (the replica, the sync engine), and tests hand in the same ones."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from typing import Any, Protocol

from console.domain.oncall import OnCallNow, PageRecord, PendingOverride
from console.domain.ops import OpType
from console.domain.runbook import Run, Runbook, RunOpKind
from console.domain.schedule import Override, Schedule
from console.domain.views import IncidentDetail, IncidentView, OutboxOp


class IncidentWatch(Protocol):
    """Which incidents changed since the last take() (console.store.watch.ChangeWatch)."""

    def take(self) -> set[str] | None: ...


class IncidentSource(Protocol):
    """The local replica with the person's unsynced ops folded in (console.store.replica.Replica)."""

    def incidents(self, *, statuses: Iterable[str] | None = None, text: str = "") -> list[IncidentView]: ...

    def urgent_first(self, *, first: int = ..., batch: int = ...) -> Iterator[list[IncidentView]]: ...

    def views(self, incident_ids: Iterable[str]) -> dict[str, IncidentView]: ...

    def watch(self) -> IncidentWatch: ...

    def incident(self, incident_id: str) -> IncidentDetail: ...

    def act(self, kind: OpType, incident_id: str, args: Mapping[str, Any] | None = None) -> OutboxOp: ...

    def report(
        self, title: str, service: str, *, priority: str = ..., category: str = ..., description: str = ...
    ) -> OutboxOp: ...

    def services(self) -> list[tuple[int, str]]: ...

    def pending_count(self) -> int: ...


class OnCallBoard(Protocol):
    """Who is on call now and next, per schedule, from the replica (works offline)."""

    def on_call_now(self, at: datetime) -> list[OnCallNow]: ...


class OnCallSource(OnCallBoard, Protocol):
    """The replicated schedules, overrides and pages, and making an override (an outbox op: pending,
    not in effect, until the server accepts it)."""

    def schedules(self) -> list[Schedule]: ...  # with the overrides the server accepted

    def pending_overrides(self) -> list[PendingOverride]: ...  # made here, not accepted yet (or rejected)

    def add_override(self, schedule: str, override: Override) -> OutboxOp: ...  # raises OverrideRejected

    def pages(self, *, since: datetime | None = None) -> list[PageRecord]: ...

    def users(self) -> list[tuple[int, str, str]]: ...  # (id, name, role)


class RunbookSource(Protocol):
    """Runbook runs on incidents, ticked through the outbox (works offline), and the runbooks."""

    def runs(self, incident_id: str) -> list[Run]: ...  # the replica's runs with this console's ops folded in

    def act_on_run(
        self, run_id: str, kind: RunOpKind, step_id: str, *, role: str = "", text: str = ""
    ) -> OutboxOp: ...  # raises RunOpRejected

    def runbooks(self) -> list[Runbook]: ...

    def save_runbook(self, runbook: Runbook) -> OutboxOp: ...  # a manager's edit: a new version
