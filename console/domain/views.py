"""What a console shows of its incidents: plain values the replica produces and the UI displays
(the UI never sees the store or SQLAlchemy, only these)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from console.domain.clock import Hlc
from console.domain.incident import Incident, TimelineEntry
from console.domain.ops import Op, OpType
from console.domain.runbook import Progress


@dataclass(frozen=True, slots=True)
class SyncState:
    client_id: str
    server_url: str
    user_name: str
    cursor: str
    page_seq: int
    last_seq: int
    last_sync_at: datetime | None


@dataclass(frozen=True, slots=True)
class OutboxOp:
    client_seq: int
    op_id: str
    type: str
    entity_id: str
    args: Mapping[str, Any]
    hlc: str
    base_epoch: int
    state: str
    reason: str
    result_seq: int | None
    attempts: int
    last_error: str
    created_at: datetime

    def as_op(self, actor: str) -> Op:
        return Op(
            self.op_id,
            OpType(self.type),
            self.entity_id,
            self.args,
            Hlc.decode(self.hlc),
            self.base_epoch,
            actor,
        )


@dataclass(frozen=True, slots=True)
class RunbookProgress:
    """An incident's runbook runs as its row shows them: the steps done out of the steps of all its
    runs, summed (a step is the unit of work whichever run holds it, and the sum is complete exactly
    when every run is), and how many done steps are flagged because a tick and an untick crossed."""

    done: int
    total: int
    conflicts: int = 0
    runs: int = 1

    @property
    def complete(self) -> bool:
        return self.done >= self.total

    @classmethod
    def of(cls, progresses: Iterable[Progress]) -> RunbookProgress | None:
        """The sum of these runs' progress; None without any run."""
        found = list(progresses)
        if not found:
            return None
        return cls(
            sum(each.done for each in found),
            sum(each.total for each in found),
            sum(each.conflicts for each in found),
            len(found),
        )


@dataclass(frozen=True, slots=True)
class IncidentView:
    incident: Incident
    service: str
    unsynced: int = 0  # ops on it that the server has not confirmed yet
    runbook: RunbookProgress | None = None  # its runs, this console's unsynced run ops included

    @property
    def id(self) -> str:
        return self.incident.id


@dataclass(frozen=True, slots=True)
class AlertView:
    id: str
    summary: str
    source: str
    status: str
    severity: str | None
    priority: str
    repeat_count: int
    first_seen: datetime
    last_seen: datetime
    labels: Mapping[str, Any] = field(default_factory=dict)
    details: Mapping[str, Any] = field(default_factory=dict)
    links: Sequence[Any] = ()


@dataclass(frozen=True, slots=True)
class EntryView:
    entry: TimelineEntry
    unsynced: bool = False


@dataclass(frozen=True, slots=True)
class IncidentDetail:
    view: IncidentView
    alerts: list[AlertView]
    timeline: list[EntryView]
    ops: list[OutboxOp]  # everything done here on this incident that is still in the outbox
