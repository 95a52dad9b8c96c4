"""Alerts, incidents and timeline entries as immutable values."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from console.domain.priority import Priority, Severity
from console.domain.status import Status

JsonMap = Mapping[str, Any]


class AlertStatus(enum.Enum):
    TRIGGERED = "triggered"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


@dataclass(frozen=True, slots=True)
class Link:
    href: str
    text: str = ""


@dataclass(frozen=True, slots=True)
class Alert:
    """Events folded by dedup key on one integration: one thing that is wrong, however often it is said."""

    id: str
    incident_id: str
    service_id: int
    integration_id: int
    dedup_key: str
    group_key: str
    status: AlertStatus
    summary: str
    source: str
    severity: Severity | None
    priority: Priority
    first_seen: datetime
    last_seen: datetime
    repeat_count: int = 0
    component: str | None = None
    group: str | None = None
    klass: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    details: JsonMap = field(default_factory=dict)
    links: tuple[Link, ...] = ()
    acknowledged_at: datetime | None = None
    resolved_at: datetime | None = None

    @property
    def is_open(self) -> bool:
        return self.status is not AlertStatus.RESOLVED


@dataclass(frozen=True, slots=True)
class Incident:
    """One or more alerts grouped: the unit people work."""

    id: str
    number: int
    service_id: int
    title: str
    priority: Priority
    category: str
    status: Status
    created_at: datetime
    updated_at: datetime
    integration_id: int | None = None
    group_key: str = ""
    alert_count: int = 0
    open_alerts: int = 0
    acknowledged_at: datetime | None = None
    resolved_at: datetime | None = None
    assignee: str | None = None
    description: str = ""
    snoozed_until: datetime | None = None
    clocks: Mapping[str, str] = field(default_factory=dict)  # field -> encoded Hlc of its last edit


class EntryKind(enum.Enum):
    TRIGGERED = "triggered"
    ALERT_ADDED = "alert_added"
    ALERT_ATTACHED = "alert_attached"
    ALERT_REPEATED = "alert_repeated"
    ALERT_RESOLVED = "alert_resolved"
    PRIORITY_RAISED = "priority_raised"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"
    CHANGE = "change"
    # made by people, through console ops (one entry per op, its id the op's id)
    REPORTED = "reported"
    REOPENED = "reopened"
    NOTE = "note"
    ASSIGNED = "assigned"
    PRIORITY_CHANGED = "priority_changed"
    SNOOZED = "snoozed"
    ESCALATION_REQUESTED = "escalation_requested"
    # made by the server's escalation engine
    PAGED = "paged"
    ACK_TIMED_OUT = "ack_timed_out"
    # a console's op on a runbook run (tick, approval, override…): its id is the op's id
    RUNBOOK = "runbook"


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    """An append-only record on an incident's timeline, or on a service's when incident_id is None."""

    id: str
    incident_id: str | None
    service_id: int
    at: datetime
    kind: EntryKind
    actor: str
    body: JsonMap = field(default_factory=dict)
