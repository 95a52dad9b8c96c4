"""How an event from monitoring changes alerts and incidents (PagerDuty's dedup rules, plus grouping).

The caller looks up what the event may touch (the open alert with its dedup key, the open incident of
its group, the open incident of a parent service) and writes back what `fold` returns.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from console.domain.incident import Alert, AlertStatus, EntryKind, Incident, Link, TimelineEntry
from console.domain.priority import Priority, Severity, priority_for
from console.domain.status import Rank, Status


class EventAction(enum.Enum):
    TRIGGER = "trigger"
    ACKNOWLEDGE = "acknowledge"
    RESOLVE = "resolve"


class Outcome(enum.Enum):
    """What an event did, recorded beside the raw event for audit."""

    CREATED = "created"  # a new incident
    ADDED = "added"  # a new alert on its group's open incident
    ATTACHED = "attached"  # a new alert on a parent service's open incident: not paged again
    REPEATED = "repeated"  # a trigger for an open alert
    REFRESHED = "refreshed"  # a re-sent alert that is still firing: nothing new
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"
    UNCHANGED = "unchanged"  # e.g. acknowledging what is already acknowledged
    DROPPED = "dropped"  # acknowledge/resolve of an unknown or closed key


@dataclass(frozen=True, slots=True)
class AlertEvent:
    """One event from monitoring, whatever its wire format."""

    action: EventAction
    dedup_key: str
    summary: str = ""
    source: str = ""
    severity: Severity | None = None
    component: str | None = None
    group: str | None = None
    klass: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    details: Mapping[str, Any] = field(default_factory=dict)
    links: tuple[Link, ...] = ()
    occurred_at: datetime | None = None
    group_key: str = ""  # Alertmanager's groupKey: alerts sharing it form one incident
    counts_repeat: bool = True  # False for re-sends: Alertmanager re-posts whole groups


@dataclass(frozen=True, slots=True)
class Context:
    """Where and when an event arrived, and how to make ids: everything `fold` must not invent."""

    service_id: int
    integration_id: int
    actor: str
    at: datetime
    new_id: Callable[[], str]
    next_number: Callable[[], int]


@dataclass(frozen=True, slots=True)
class Folded:
    outcome: Outcome
    alert: Alert | None = None  # new or changed
    incident: Incident | None = None  # new or changed
    timeline: tuple[TimelineEntry, ...] = ()


def category_for(event: AlertEvent) -> str:
    """An explicit `category` label, else PagerDuty's class, component or group, else the job."""
    for value in (
        event.labels.get("category"),
        event.klass,
        event.component,
        event.group,
        event.labels.get("job"),
    ):
        if value:
            return value
    return "general"


def fold(
    event: AlertEvent,
    *,
    alert: Alert | None,
    incident: Incident | None,
    parent_incident: Callable[[], Incident | None],
    ctx: Context,
) -> Folded:
    """Apply one event.

    Args:
        alert: the open alert with the event's dedup key on this integration, if any.
        incident: the alert's incident when there is an alert; otherwise the open incident of the
            event's group (Alertmanager), if any.
        parent_incident: finds an open incident of a service this one depends on; only called for
            an alert that would otherwise open a new incident.
    """
    if alert is not None and (incident is None or not incident.status.is_open):
        alert = None  # the incident was closed under it: treat the key as fresh
        incident = None
    if event.action is EventAction.TRIGGER:
        if alert is not None and incident is not None:
            return _repeat(event, alert, incident, ctx)
        return _new_alert(event, incident, parent_incident, ctx)
    if alert is None or incident is None:
        return Folded(Outcome.DROPPED)
    if event.action is EventAction.ACKNOWLEDGE:
        return _acknowledge(alert, incident, ctx)
    return _resolve(alert, incident, ctx)


def _entry(ctx: Context, incident: Incident, kind: EntryKind, **body: Any) -> TimelineEntry:
    return TimelineEntry(ctx.new_id(), incident.id, incident.service_id, ctx.at, kind, ctx.actor, body)


def _raise_priority(incident: Incident, alert: Alert, ctx: Context) -> tuple[Incident, list[TimelineEntry]]:
    if alert.priority is Priority.HIGH and incident.priority is Priority.LOW:
        raised = replace(incident, priority=Priority.HIGH)
        return raised, [
            _entry(ctx, raised, EntryKind.PRIORITY_RAISED, alert_id=alert.id, summary=alert.summary)
        ]
    return incident, []


def _repeat(event: AlertEvent, alert: Alert, incident: Incident, ctx: Context) -> Folded:
    severity = event.severity if event.severity is not None else alert.severity
    updated = replace(
        alert,
        last_seen=ctx.at,
        summary=event.summary or alert.summary,
        severity=severity,
        priority=priority_for(severity),
        repeat_count=alert.repeat_count + (1 if event.counts_repeat else 0),
    )
    incident, entries = _raise_priority(incident, updated, ctx)
    if event.counts_repeat:
        entries.insert(
            0,
            _entry(
                ctx, incident, EntryKind.ALERT_REPEATED, alert_id=alert.id, repeat_count=updated.repeat_count
            ),
        )
    incident = replace(incident, updated_at=ctx.at) if entries else incident
    return Folded(
        Outcome.REPEATED if event.counts_repeat else Outcome.REFRESHED,
        updated,
        incident if entries else None,
        tuple(entries),
    )


def _new_alert(
    event: AlertEvent,
    incident: Incident | None,
    parent_incident: Callable[[], Incident | None],
    ctx: Context,
) -> Folded:
    outcome, kind = Outcome.ADDED, EntryKind.ALERT_ADDED
    if incident is None or not incident.status.is_open:
        incident = parent_incident()
        outcome, kind = Outcome.ATTACHED, EntryKind.ALERT_ATTACHED
    if incident is None or not incident.status.is_open:
        return _new_incident(event, ctx)
    alert = _make_alert(event, incident.id, ctx)
    incident = replace(
        incident,
        alert_count=incident.alert_count + 1,
        open_alerts=incident.open_alerts + 1,
        updated_at=ctx.at,
    )
    entries = [
        _entry(ctx, incident, kind, alert_id=alert.id, summary=alert.summary, service_id=ctx.service_id)
    ]
    incident, raised = _raise_priority(incident, alert, ctx)
    return Folded(outcome, alert, incident, (*entries, *raised))


def _new_incident(event: AlertEvent, ctx: Context) -> Folded:
    incident_id = ctx.new_id()
    alert = _make_alert(event, incident_id, ctx)
    incident = Incident(
        id=incident_id,
        number=ctx.next_number(),
        service_id=ctx.service_id,
        title=alert.summary,
        priority=alert.priority,
        category=category_for(event),
        status=Status(),
        created_at=ctx.at,
        updated_at=ctx.at,
        integration_id=ctx.integration_id,
        group_key=event.group_key,
        alert_count=1,
        open_alerts=1,
    )
    entry = _entry(
        ctx,
        incident,
        EntryKind.TRIGGERED,
        alert_id=alert.id,
        summary=alert.summary,
        severity=event.severity.value if event.severity else None,
    )
    return Folded(Outcome.CREATED, alert, incident, (entry,))


def _make_alert(event: AlertEvent, incident_id: str, ctx: Context) -> Alert:
    summary = event.summary or event.dedup_key
    return Alert(
        id=ctx.new_id(),
        incident_id=incident_id,
        service_id=ctx.service_id,
        integration_id=ctx.integration_id,
        dedup_key=event.dedup_key,
        group_key=event.group_key,
        status=AlertStatus.TRIGGERED,
        summary=summary,
        source=event.source,
        severity=event.severity,
        priority=priority_for(event.severity),
        first_seen=ctx.at,
        last_seen=ctx.at,
        component=event.component,
        group=event.group,
        klass=event.klass,
        labels=event.labels,
        details=event.details,
        links=event.links,
    )


def _acknowledge(alert: Alert, incident: Incident, ctx: Context) -> Folded:
    if alert.status is not AlertStatus.TRIGGERED:
        return Folded(Outcome.UNCHANGED)
    alert = replace(alert, status=AlertStatus.ACKNOWLEDGED, acknowledged_at=ctx.at, last_seen=ctx.at)
    status = incident.status.advance(Rank.ACKNOWLEDGED, base_epoch=incident.status.epoch)
    if status == incident.status:
        return Folded(Outcome.UNCHANGED, alert)
    incident = replace(
        incident, status=status, updated_at=ctx.at, acknowledged_at=incident.acknowledged_at or ctx.at
    )
    entry = _entry(ctx, incident, EntryKind.ACKNOWLEDGED, alert_id=alert.id)
    return Folded(Outcome.ACKNOWLEDGED, alert, incident, (entry,))


def _resolve(alert: Alert, incident: Incident, ctx: Context) -> Folded:
    alert = replace(alert, status=AlertStatus.RESOLVED, resolved_at=ctx.at, last_seen=ctx.at)
    open_alerts = max(incident.open_alerts - 1, 0)
    incident = replace(incident, open_alerts=open_alerts, updated_at=ctx.at)
    if open_alerts:  # the incident resolves when all its alerts have
        entry = _entry(ctx, incident, EntryKind.ALERT_RESOLVED, alert_id=alert.id, open_alerts=open_alerts)
        return Folded(Outcome.RESOLVED, alert, incident, (entry,))
    incident = replace(
        incident,
        status=incident.status.advance(Rank.RESOLVED, base_epoch=incident.status.epoch),
        resolved_at=ctx.at,
    )
    entry = _entry(ctx, incident, EntryKind.RESOLVED, alert_id=alert.id)
    return Folded(Outcome.RESOLVED, alert, incident, (entry,))
