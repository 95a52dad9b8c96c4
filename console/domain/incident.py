"""Alerts, incidents and timeline entries as immutable values."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field, fields
from datetime import datetime
from typing import Any, TypeVar

from console.domain.priority import Priority, Severity
from console.domain.status import Status

JsonMap = Mapping[str, Any]
T = TypeVar("T")


def quick_init(cls: type[T]) -> type[T]:
    """Give a frozen slots dataclass an __init__ that sets each slot through its descriptor.

    dataclass's frozen __init__ calls object.__setattr__ per field, which looks the name up on the
    class every time: about twice the cost, paid for every alert, incident and timeline entry the
    intake makes (thousands a second), and again by every replace(). Same signature, defaults and
    default factories, so the class behaves as before; only how the slots get filled differs.
    Put it above @dataclass(frozen=True, slots=True).
    """
    names: dict[str, Any] = {"MISSING": MISSING}
    params: list[str] = []
    lines: list[str] = []
    for f in fields(cls):  # type: ignore[arg-type]  # a dataclass, as the docstring says
        if not f.init or f.kw_only:
            raise TypeError(f"{cls.__name__}.{f.name}: quick_init takes plain positional fields")
        name, value = f.name, f.name
        names[f"set_{name}"] = getattr(cls, name).__set__
        if f.default is not MISSING:
            names[f"default_{name}"] = f.default
            params.append(f"{name}=default_{name}")
        elif f.default_factory is not MISSING:
            names[f"factory_{name}"] = f.default_factory
            params.append(f"{name}=MISSING")
            value = f"factory_{name}() if {name} is MISSING else {name}"
        else:
            params.append(name)
        lines.append(f"    set_{name}(self, {value})\n")
    exec(f"def __init__(self, {', '.join(params)}):\n{''.join(lines)}", names)
    init = names["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    cls.__init__ = init  # type: ignore[method-assign]
    return cls


class AlertStatus(enum.Enum):
    TRIGGERED = "triggered"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


@quick_init
@dataclass(frozen=True, slots=True)
class Link:
    href: str
    text: str = ""


@quick_init
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


@quick_init
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


@quick_init
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
