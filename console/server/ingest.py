"""Applies intake commands to the database in one transaction per batch (the group-commit unit).

Lookups go to the database once per key and are then served from this transaction's own view, so
several events for one key in a batch see each other. Writes are collected and sent as a few
executemany statements at the end: that is what lets one SQLite writer keep thousands of events a
second durable.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, RowMapping, bindparam, func, select

from console.domain.incident import Alert, AlertStatus, Incident, Link, TimelineEntry
from console.domain.intake import AlertEvent, Context, Outcome, fold
from console.domain.priority import Priority, Severity
from console.domain.status import Rank, Status
from console.server.bulk import Codec, insert_many, update_many
from console.server.tables import alerts, events, incidents, timeline
from console.server.tables import change_log as changes

log = logging.getLogger(__name__)

OPEN_STATUSES = (Rank.TRIGGERED.label, Rank.ACKNOWLEDGED.label)


@dataclass(frozen=True, slots=True)
class Integration:
    id: int
    service_id: int
    ancestors: tuple[int, ...] = ()  # parent service first


@dataclass(frozen=True, slots=True)
class Ingest:
    """One accepted body: its events, applied in order, and the raw text kept for audit."""

    integration: Integration
    format: str
    actor: str
    events: Sequence[AlertEvent]
    raw: str
    action: str


@dataclass(frozen=True, slots=True)
class ServiceNote:
    """A timeline entry on a service, not on an incident (PagerDuty change events)."""

    integration: Integration
    entry: Callable[[str, datetime], TimelineEntry]  # (id, at) → entry
    raw: str


Command = Ingest | ServiceNote


@dataclass(slots=True)
class _Pending:
    new_incidents: dict[str, Incident] = field(default_factory=dict)
    changed_incidents: dict[str, Incident] = field(default_factory=dict)
    new_alerts: dict[str, Alert] = field(default_factory=dict)
    changed_alerts: dict[str, Alert] = field(default_factory=dict)
    timeline: list[TimelineEntry] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)


_ALERT_BY_KEY = select(alerts).where(
    alerts.c.integration_id == bindparam("i"),
    alerts.c.group_key == bindparam("g"),
    alerts.c.dedup_key == bindparam("d"),
    alerts.c.resolved_at.is_(None),
)
_OPEN_ALERTS_BY_KEYS = select(alerts).where(
    alerts.c.dedup_key.in_(bindparam("keys", expanding=True)), alerts.c.resolved_at.is_(None)
)
_INCIDENTS_BY_IDS = select(incidents).where(incidents.c.id.in_(bindparam("ids", expanding=True)))
_ALERTS_OF_GROUP = select(alerts).where(
    alerts.c.integration_id == bindparam("i"),
    alerts.c.group_key == bindparam("g"),
    alerts.c.resolved_at.is_(None),
)
_INCIDENT_BY_ID = select(incidents).where(incidents.c.id == bindparam("id"))
_OPEN_INCIDENT_OF_GROUP = (
    select(incidents)
    .where(
        incidents.c.integration_id == bindparam("i"),
        incidents.c.group_key == bindparam("g"),
        incidents.c.status.in_(OPEN_STATUSES),
    )
    .order_by(incidents.c.created_at.desc())
    .limit(1)
)
_OPEN_INCIDENT_OF_SERVICE = (
    select(incidents)
    .where(incidents.c.service_id == bindparam("s"), incidents.c.status.in_(OPEN_STATUSES))
    .order_by(incidents.c.created_at.desc())
    .limit(1)
)


class IngestTransaction:
    """One batch of commands inside one database transaction."""

    def __init__(
        self, conn: Connection, *, at: datetime, new_id: Callable[[], str], numbers: Callable[[], int]
    ):
        self._conn = conn
        self._at = at
        self._new_id = new_id
        self._numbers = numbers
        self._alerts: dict[tuple[int, str, str], Alert | None] = {}  # open alert per key, or known none
        self._groups_loaded: set[tuple[int, str]] = set()
        self._incidents: dict[str, Incident] = {}
        self._group_incident: dict[tuple[int, str], str | None] = {}
        self._service_incident: dict[int, str | None] = {}
        self._pending = _Pending()

    # -- lookups, served from this transaction's view once loaded --

    def prefetch(self, commands: Sequence[Command]) -> None:
        """Load what a batch will look up in a few queries instead of one or two per event."""
        wanted: set[tuple[int, str, str]] = set()
        for command in commands:
            if not isinstance(command, Ingest):
                continue
            for event in command.events:
                if event.group_key:
                    self._load_group(command.integration.id, event.group_key)
                else:
                    wanted.add((command.integration.id, "", event.dedup_key))
        wanted -= self._alerts.keys()
        dedup_keys = sorted({key[2] for key in wanted})
        for chunk in _chunks(dedup_keys):
            for row in self._conn.execute(_OPEN_ALERTS_BY_KEYS, {"keys": chunk}).mappings():
                key = (row["integration_id"], row["group_key"], row["dedup_key"])
                if key in wanted:
                    self._alerts[key] = _alert(row)
        for key in wanted:
            self._alerts.setdefault(key, None)
        incident_ids = sorted({a.incident_id for a in self._alerts.values() if a} - self._incidents.keys())
        for chunk in _chunks(incident_ids):
            for row in self._conn.execute(_INCIDENTS_BY_IDS, {"ids": chunk}).mappings():
                self._remember(row)

    def _open_alert(self, integration_id: int, group_key: str, dedup_key: str) -> Alert | None:
        key = (integration_id, group_key, dedup_key)
        if key not in self._alerts:
            if (integration_id, group_key) in self._groups_loaded:
                return None
            row = self._conn.execute(
                _ALERT_BY_KEY, {"i": integration_id, "g": group_key, "d": dedup_key}
            ).first()
            self._alerts[key] = _alert(row._mapping) if row else None
        return self._alerts[key]

    def _load_group(self, integration_id: int, group_key: str) -> None:
        """Alertmanager posts whole groups: one query loads every open alert of the group."""
        if (integration_id, group_key) in self._groups_loaded:
            return
        for row in self._conn.execute(_ALERTS_OF_GROUP, {"i": integration_id, "g": group_key}).mappings():
            alert = _alert(row)
            self._alerts.setdefault((integration_id, group_key, alert.dedup_key), alert)
        self._groups_loaded.add((integration_id, group_key))

    def _incident(self, incident_id: str) -> Incident | None:
        if incident_id not in self._incidents:
            row = self._conn.execute(_INCIDENT_BY_ID, {"id": incident_id}).first()
            if row is None:
                return None
            self._incidents[incident_id] = _incident(row._mapping)
        return self._incidents[incident_id]

    def _cached_open(self, incident_id: str | None) -> Incident | None:
        incident = self._incident(incident_id) if incident_id else None
        return incident if incident is not None and incident.status.is_open else None

    def _open_incident_of_group(self, integration_id: int, group_key: str) -> Incident | None:
        key = (integration_id, group_key)
        if key not in self._group_incident:
            row = self._conn.execute(_OPEN_INCIDENT_OF_GROUP, {"i": integration_id, "g": group_key}).first()
            self._group_incident[key] = self._remember(row._mapping) if row else None
        return self._cached_open(self._group_incident[key])

    def _open_incident_of_services(self, service_ids: Iterable[int]) -> Incident | None:
        for service_id in service_ids:
            if service_id not in self._service_incident:
                row = self._conn.execute(_OPEN_INCIDENT_OF_SERVICE, {"s": service_id}).first()
                self._service_incident[service_id] = self._remember(row._mapping) if row else None
            incident = self._cached_open(self._service_incident[service_id])
            if incident is not None:
                return incident
        return None

    def _remember(self, row: RowMapping) -> str:
        incident = _incident(row)
        self._incidents.setdefault(incident.id, incident)
        return incident.id

    # -- commands --

    def apply(self, command: Command) -> list[Outcome]:
        if isinstance(command, ServiceNote):
            self._pending.timeline.append(command.entry(self._new_id(), self._at))
            self._record_event(command.integration, "pagerduty-change", "change", None, "stored", command.raw)
            return []
        integration = command.integration
        ctx = Context(
            service_id=integration.service_id,
            integration_id=integration.id,
            actor=command.actor,
            at=self._at,
            new_id=self._new_id,
            next_number=self._numbers,
        )
        outcomes = []
        for event in command.events:
            if event.group_key:
                self._load_group(integration.id, event.group_key)
            alert = self._open_alert(integration.id, event.group_key, event.dedup_key)
            if alert is not None:
                incident = self._incident(alert.incident_id)
            elif event.group_key:
                incident = self._open_incident_of_group(integration.id, event.group_key)
            else:
                incident = None
            folded = fold(
                event,
                alert=alert,
                incident=incident,
                parent_incident=lambda: self._open_incident_of_services(integration.ancestors),
                ctx=ctx,
            )
            self._keep(folded.alert, folded.incident, folded.timeline, integration)
            outcomes.append(folded.outcome)
        dedup = command.events[0].dedup_key if len(command.events) == 1 else None
        self._record_event(
            integration, command.format, command.action, dedup, _summary(outcomes), command.raw
        )
        return outcomes

    def _keep(
        self,
        alert: Alert | None,
        incident: Incident | None,
        entries: Sequence[TimelineEntry],
        where: Integration,
    ) -> None:
        pending = self._pending
        if incident is not None:
            known = incident.id in self._incidents and incident.id not in pending.new_incidents
            self._incidents[incident.id] = incident
            (pending.changed_incidents if known else pending.new_incidents)[incident.id] = incident
            if incident.group_key and incident.integration_id is not None:
                self._group_incident[(incident.integration_id, incident.group_key)] = incident.id
            if incident.status.is_open:
                self._service_incident[incident.service_id] = incident.id
            else:  # another incident of the service may still be open: ask again next time
                self._service_incident.pop(incident.service_id, None)
        if alert is not None:
            key = (alert.integration_id, alert.group_key, alert.dedup_key)
            known = (
                key in self._alerts and self._alerts[key] is not None and alert.id not in pending.new_alerts
            )
            (pending.changed_alerts if known else pending.new_alerts)[alert.id] = alert
            self._alerts[key] = alert if alert.is_open else None
        pending.timeline.extend(entries)

    def _record_event(
        self, integration: Integration, fmt: str, action: str, dedup_key: str | None, outcome: str, raw: str
    ) -> None:
        self._pending.events.append(
            {
                "received_at": None,  # filled in at flush
                "integration_id": integration.id,
                "format": fmt,
                "action": action,
                "dedup_key": dedup_key,
                "outcome": outcome,
                "raw": raw,
            }
        )

    def flush(self) -> None:
        """Write what the batch changed; updates first, so a resolved key can be opened again."""
        pending, conn, codec = self._pending, self._conn, Codec(self._conn.dialect)
        insert_many(conn, incidents, [_incident_row(i, codec) for i in pending.new_incidents.values()])
        update_many(
            conn, incidents, [_incident_row(i, codec, "_id") for i in pending.changed_incidents.values()]
        )
        update_many(conn, alerts, [_alert_row(a, codec, "_id") for a in pending.changed_alerts.values()])
        insert_many(conn, alerts, [_alert_row(a, codec) for a in pending.new_alerts.values()])
        insert_many(conn, timeline, [_timeline_row(e, codec) for e in pending.timeline])
        at = codec.time(self._at)
        insert_many(conn, events, [{**event, "received_at": at} for event in pending.events])
        touched = [*pending.new_incidents, *pending.changed_incidents]
        insert_many(conn, changes, [{"entity": "incident", "entity_id": i, "at": at} for i in touched])
        self._pending = _Pending()


def _chunks(values: list[str], size: int = 500) -> Iterable[list[str]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def next_incident_number(conn: Connection) -> int:
    return int(conn.execute(select(func.coalesce(func.max(incidents.c.number), 0))).scalar_one()) + 1


def _summary(outcomes: Sequence[Outcome]) -> str:
    if len(outcomes) == 1:
        return outcomes[0].value
    counts: dict[str, int] = {}
    for outcome in outcomes:
        counts[outcome.value] = counts.get(outcome.value, 0) + 1
    return ", ".join(f"{n} {name}" for name, n in counts.items()) or "empty"


# -- rows ↔ domain values --


def _alert(row: RowMapping) -> Alert:
    return Alert(
        id=row["id"],
        incident_id=row["incident_id"],
        service_id=row["service_id"],
        integration_id=row["integration_id"],
        dedup_key=row["dedup_key"],
        group_key=row["group_key"],
        status=AlertStatus(row["status"]),
        summary=row["summary"],
        source=row["source"],
        severity=Severity(row["severity"]) if row["severity"] else None,
        priority=Priority(row["priority"]),
        first_seen=row["first_seen"],
        last_seen=row["last_seen"],
        repeat_count=row["repeat_count"],
        component=row["component"],
        group=row["group_name"],
        klass=row["class_name"],
        labels=row["labels"],
        details=row["details"],
        links=tuple(Link(link["href"], link.get("text", "")) for link in row["links"]),
        acknowledged_at=row["acknowledged_at"],
        resolved_at=row["resolved_at"],
    )


def _alert_row(alert: Alert, codec: Codec, id_key: str = "id") -> dict[str, Any]:
    return {
        id_key: alert.id,
        "incident_id": alert.incident_id,
        "service_id": alert.service_id,
        "integration_id": alert.integration_id,
        "dedup_key": alert.dedup_key,
        "group_key": alert.group_key,
        "status": alert.status.value,
        "summary": alert.summary,
        "source": alert.source,
        "severity": alert.severity.value if alert.severity else None,
        "priority": alert.priority.value,
        "component": alert.component,
        "group_name": alert.group,
        "class_name": alert.klass,
        "labels": codec.json(alert.labels),
        "details": codec.json(alert.details),
        "links": codec.json([{"href": link.href, "text": link.text} for link in alert.links]),
        "repeat_count": alert.repeat_count,
        "first_seen": codec.time(alert.first_seen),
        "last_seen": codec.time(alert.last_seen),
        "acknowledged_at": codec.time(alert.acknowledged_at),
        "resolved_at": codec.time(alert.resolved_at),
    }


def _incident(row: RowMapping) -> Incident:
    return Incident(
        id=row["id"],
        number=row["number"],
        service_id=row["service_id"],
        title=row["title"],
        priority=Priority(row["priority"]),
        category=row["category"],
        status=Status(row["epoch"], Rank.from_label(row["status"])),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        integration_id=row["integration_id"],
        group_key=row["group_key"],
        alert_count=row["alert_count"],
        open_alerts=row["open_alerts"],
        acknowledged_at=row["acknowledged_at"],
        resolved_at=row["resolved_at"],
    )


def _incident_row(incident: Incident, codec: Codec, id_key: str = "id") -> dict[str, Any]:
    return {
        id_key: incident.id,
        "number": incident.number,
        "service_id": incident.service_id,
        "integration_id": incident.integration_id,
        "group_key": incident.group_key,
        "title": incident.title,
        "priority": incident.priority.value,
        "category": incident.category,
        "status": incident.status.rank.label,
        "epoch": incident.status.epoch,
        "alert_count": incident.alert_count,
        "open_alerts": incident.open_alerts,
        "created_at": codec.time(incident.created_at),
        "updated_at": codec.time(incident.updated_at),
        "acknowledged_at": codec.time(incident.acknowledged_at),
        "resolved_at": codec.time(incident.resolved_at),
    }


def _timeline_row(entry: TimelineEntry, codec: Codec) -> dict[str, Any]:
    return {
        "id": entry.id,
        "incident_id": entry.incident_id,
        "service_id": entry.service_id,
        "at": codec.time(entry.at),
        "kind": entry.kind.value,
        "actor": entry.actor,
        "body": codec.json(entry.body),
    }
