"""How an event from monitoring changes alerts and incidents (PagerDuty's dedup rules, plus grouping).

The caller looks up what the event may touch (the open alert with its dedup key, the open incident of
its group, the open incident of a parent service) and writes back what `fold` returns. A body of
events of one group (an Alertmanager notification) goes through `fold_group`, which applies the same
rules but changes the group's incident once and writes one timeline entry per kind of change.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from console.domain.clock import SERVER_NODE, stamp_at
from console.domain.incident import (
    Alert,
    AlertStatus,
    EntryKind,
    Incident,
    Link,
    TimelineEntry,
    quick_init,
)
from console.domain.priority import Priority, Severity, priority_for
from console.domain.status import Rank, Status

# A re-sent alert that brings nothing new (same summary and severity, not counted as a repeat) is not
# rewritten when it was last written this recently. Alertmanager re-posts whole groups, every
# group_interval (5 min by default) while anything in the group changes and every repeat_interval
# otherwise, and a group may hold hundreds of alerts: rewriting each row at every re-post only to move
# last_seen was most of the cost of storing a re-post. last_seen is then at most a minute stale, still
# plenty to tell an alert that is being re-sent from one whose sender went quiet.
REFRESH_AFTER = timedelta(seconds=60)

_TRIGGERED = Status()  # a new incident's status; immutable, so one value serves them all


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


@quick_init
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


@quick_init
@dataclass(frozen=True, slots=True)
class Context:
    """Where and when an event arrived, and how to make ids: everything `fold` must not invent."""

    service_id: int
    integration_id: int
    actor: str
    at: datetime
    new_id: Callable[[], str]
    next_number: Callable[[], int]


@quick_init
@dataclass(frozen=True, slots=True)
class Folded:
    outcome: Outcome
    alert: Alert | None = None  # new or changed
    incident: Incident | None = None  # new or changed
    timeline: tuple[TimelineEntry, ...] = ()


@dataclass(frozen=True, slots=True)
class GroupFolded:
    """What a body of events of one group did: an outcome per event, in order, and every alert and
    incident it created or changed, each once in its final state, in the order first touched."""

    outcomes: tuple[Outcome, ...]
    alerts: tuple[Alert, ...] = ()
    incidents: tuple[Incident, ...] = ()
    timeline: tuple[TimelineEntry, ...] = ()


def category_for(event: AlertEvent) -> str:
    """An explicit `category` label, else PagerDuty's class, component or group, else the job."""
    labels = event.labels
    return (
        labels.get("category")
        or event.klass
        or event.component
        or event.group
        or labels.get("job")
        or "general"
    )


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


def fold_group(
    events: Sequence[AlertEvent],
    *,
    alerts: Mapping[str, Alert],
    incident: Incident | None,
    incident_of: Callable[[str], Incident | None],
    parent_incidents: Callable[[], Iterable[Incident]],
    ctx: Context,
) -> GroupFolded:
    """Apply a body of events of one group (an Alertmanager notification) as one change.

    Each event follows the rules of `fold`, and the alerts and incidents come out as if the events
    had been folded one by one. But the group's incident is changed once, and its timeline gets one
    entry per kind of change the body brings (the alerts it added, those it resolved, a priority
    raised, the incident resolved) instead of one per alert: to the people reading the timeline a
    notification is one event. Events that are not about the group's own open incident (an alert
    attached to a parent service's incident, a first alert when the group has no open incident) and
    those the group path does not cover (acknowledge, counted repeats) go through `fold` one by one.

    Args:
        events: all with the same group_key.
        alerts: the open alerts of the group on this integration, by dedup key.
        incident: the open incident of the group, if any.
        incident_of: finds an incident by id (that of an alert in `alerts`).
        parent_incidents: the open incidents of the services this one depends on, nearest first; it
            may be lazy. Those the body itself resolves are passed over, as `fold` one by one would.
    """
    group_key = events[0].group_key if events else ""
    open_alerts = dict(alerts)
    outcomes: list[Outcome] = []
    changed_alerts: dict[str, Alert] = {}
    changed_incidents: dict[str, Incident] = {}
    timeline: list[TimelineEntry] = []
    unit = _Unit(incident, ctx) if incident is not None and incident.status.is_open else None

    def current(incident_id: str) -> Incident | None:
        if unit is not None and unit.id == incident_id:
            return unit.incident()
        changed = changed_incidents.get(incident_id)
        return changed if changed is not None else incident_of(incident_id)

    def parent() -> Incident | None:
        for found in parent_incidents():
            latest = current(found.id)
            if latest is not None and latest.status.is_open:
                return latest
        return None

    for event in events:
        if event.group_key != group_key:
            raise ValueError("fold_group takes the events of one group")
        key = event.dedup_key
        alert = open_alerts.get(key)
        action = event.action
        if alert is None and action is not EventAction.TRIGGER:
            outcomes.append(Outcome.DROPPED)
            continue
        if unit is not None and (alert is None or alert.incident_id == unit.id):
            if alert is None:  # a new alert of the group
                alert = _make_alert(event, unit.id, ctx)
                unit.add(alert)
                open_alerts[key] = changed_alerts[alert.id] = alert
                outcomes.append(Outcome.ADDED)
                continue
            if action is EventAction.TRIGGER and not event.counts_repeat:  # a re-send
                updated = _repeated(event, alert, ctx.at)
                if updated is not None:
                    open_alerts[key] = changed_alerts[alert.id] = alert = updated
                unit.refresh(alert)
                outcomes.append(Outcome.REFRESHED)
                continue
            if action is EventAction.RESOLVE:
                alert = changed_alerts[alert.id] = _resolved(alert, ctx.at)
                del open_alerts[key]
                outcomes.append(Outcome.RESOLVED)
                if unit.resolve(alert, timeline):  # the last open alert: the incident is resolved
                    changed_incidents[unit.id] = unit.incident()
                    unit = None
                continue
        # anything else, one event at a time
        if alert is not None:
            target = current(alert.incident_id)
        else:
            target = unit.incident() if unit is not None else None
        folded = fold(event, alert=alert, incident=target, parent_incident=parent, ctx=ctx)
        outcomes.append(folded.outcome)
        if folded.alert is not None:
            changed_alerts[folded.alert.id] = folded.alert
            if folded.alert.is_open:
                open_alerts[key] = folded.alert
            else:
                open_alerts.pop(key, None)
        changed = folded.incident
        if changed is not None:
            if unit is not None and changed.id == unit.id:
                unit.flush(timeline)  # what the body did before this event comes first
                unit = None
            changed_incidents[changed.id] = changed
            if (changed.integration_id, changed.group_key) == (ctx.integration_id, group_key):
                # now the group's incident, as the caller would find it for the next event
                if unit is not None:
                    unit.flush(timeline)
                    changed_incidents[unit.id] = unit.incident()
                unit = _Unit(changed, ctx, changed=True) if changed.status.is_open else None
        timeline.extend(folded.timeline)
    if unit is not None:
        unit.flush(timeline)
        if unit.changed:
            changed_incidents[unit.id] = unit.incident()
    return GroupFolded(
        tuple(outcomes), tuple(changed_alerts.values()), tuple(changed_incidents.values()), tuple(timeline)
    )


class _Unit:
    """The open incident of a group while a body is folded into it: counters change as events are
    applied; the Incident value is made when asked for, and the timeline entries when flushed."""

    __slots__ = (
        "_at",
        "_ctx",
        "_made",
        "added",
        "alert_count",
        "base",
        "changed",
        "clocks",
        "id",
        "open_alerts",
        "priority",
        "raised",
        "resolved",
        "resolved_open",
    )

    def __init__(self, incident: Incident, ctx: Context, *, changed: bool = False) -> None:
        self.base = incident
        self.id = incident.id
        self._ctx = ctx
        self._at = ctx.at
        self.changed = changed
        self._made: Incident | None = incident
        self.alert_count = incident.alert_count
        self.open_alerts = incident.open_alerts
        self.priority = incident.priority
        self.clocks = incident.clocks
        self.added: list[dict[str, str]] = []
        self.resolved: list[dict[str, str]] = []
        self.resolved_open = 0
        self.raised: Alert | None = None

    def _touch(self) -> None:
        self.changed = True
        self._made = None

    def _raise_for(self, alert: Alert) -> None:
        if _raises(self.priority, alert):
            self.priority = Priority.HIGH
            self.clocks = _priority_clock(self.base, self._ctx)
            self.raised = alert
            self._touch()

    def add(self, alert: Alert) -> None:
        self.alert_count += 1
        self.open_alerts += 1
        self.added.append({"alert_id": alert.id, "summary": alert.summary})
        self._touch()
        self._raise_for(alert)

    def refresh(self, alert: Alert) -> None:
        self._raise_for(alert)

    def resolve(self, alert: Alert, timeline: list[TimelineEntry]) -> bool:
        """Count a resolved alert; True when it was the last open one, and the incident resolved."""
        self.open_alerts = max(self.open_alerts - 1, 0)
        self._touch()
        if self.open_alerts:
            self.resolved.append({"alert_id": alert.id, "summary": alert.summary})
            self.resolved_open = self.open_alerts
            return False
        self.flush(timeline)
        base = self.incident()
        status = base.status.advance(Rank.RESOLVED, base_epoch=base.status.epoch)
        self.base = _updated(base, self._at, status=status, resolved_at=self._at)
        self._made = self.base
        timeline.append(_entry(self._ctx, self.base, EntryKind.RESOLVED, alert_id=alert.id))
        return True

    def incident(self) -> Incident:
        if self._made is None:
            self._made = _updated(
                self.base,
                self._at,
                alert_count=self.alert_count,
                open_alerts=self.open_alerts,
                priority=self.priority,
                clocks=self.clocks,
            )
        return self._made

    def flush(self, timeline: list[TimelineEntry]) -> None:
        """The body's entries so far, one per kind."""
        ctx, incident = self._ctx, self.base
        if self.added:
            timeline.append(self._list_entry(EntryKind.ALERT_ADDED, self.added, service_id=ctx.service_id))
            self.added = []
        if self.raised is not None:
            raised = self.raised
            timeline.append(
                _entry(ctx, incident, EntryKind.PRIORITY_RAISED, alert_id=raised.id, summary=raised.summary)
            )
            self.raised = None
        if self.resolved:
            timeline.append(
                self._list_entry(EntryKind.ALERT_RESOLVED, self.resolved, open_alerts=self.resolved_open)
            )
            self.resolved = []

    def _list_entry(self, kind: EntryKind, alerts: list[dict[str, str]], **more: Any) -> TimelineEntry:
        """One entry for the alerts of a body that changed the same way."""
        return _entry(self._ctx, self.base, kind, alerts=alerts, count=len(alerts), **more)


def _entry(ctx: Context, incident: Incident, kind: EntryKind, **body: Any) -> TimelineEntry:
    return TimelineEntry(ctx.new_id(), incident.id, incident.service_id, ctx.at, kind, ctx.actor, body)


def _priority_clock(incident: Incident, ctx: Context) -> dict[str, str]:
    """The incident's field clocks with priority stamped now: a raise by monitoring is an edit that a
    person's earlier (offline) priority change must not undo."""
    return {**incident.clocks, "priority": stamp_at(ctx.at, SERVER_NODE).encode()}


def _raise_priority(incident: Incident, alert: Alert, ctx: Context) -> tuple[Incident, list[TimelineEntry]]:
    if _raises(incident.priority, alert):
        raised = _updated(incident, ctx.at, priority=Priority.HIGH, clocks=_priority_clock(incident, ctx))
        return raised, [
            _entry(ctx, raised, EntryKind.PRIORITY_RAISED, alert_id=alert.id, summary=alert.summary)
        ]
    return incident, []


def _raises(priority: Priority, alert: Alert) -> bool:
    return priority is Priority.LOW and alert.priority is Priority.HIGH  # most incidents are high: one test


def _repeated(event: AlertEvent, alert: Alert, at: datetime) -> Alert | None:
    """The alert after a trigger for it, or None when there is nothing worth writing (REFRESH_AFTER)."""
    severity = event.severity if event.severity is not None else alert.severity
    summary = event.summary or alert.summary
    if (
        not event.counts_repeat
        and severity is alert.severity
        and summary == alert.summary
        and at - alert.last_seen < REFRESH_AFTER
    ):
        return None
    repeat_count = alert.repeat_count + (1 if event.counts_repeat else 0)
    return _moved(
        alert,
        alert.status,
        summary,
        severity,
        priority_for(severity),
        repeat_count,
        at,
        alert.acknowledged_at,
        alert.resolved_at,
    )


def _resolved(alert: Alert, at: datetime) -> Alert:
    return _moved(
        alert,
        AlertStatus.RESOLVED,
        alert.summary,
        alert.severity,
        alert.priority,
        alert.repeat_count,
        at,
        alert.acknowledged_at,
        at,
    )


def _moved(
    alert: Alert,
    status: AlertStatus,
    summary: str,
    severity: Severity | None,
    priority: Priority,
    repeat_count: int,
    last_seen: datetime,
    acknowledged_at: datetime | None,
    resolved_at: datetime | None,
) -> Alert:
    """`replace` for the fields an event can change, at half its cost: a re-sent group of a hundred
    alerts makes a hundred of these."""
    return Alert(
        alert.id,
        alert.incident_id,
        alert.service_id,
        alert.integration_id,
        alert.dedup_key,
        alert.group_key,
        status,
        summary,
        alert.source,
        severity,
        priority,
        alert.first_seen,
        last_seen,
        repeat_count,
        alert.component,
        alert.group,
        alert.klass,
        alert.labels,
        alert.details,
        alert.links,
        acknowledged_at,
        resolved_at,
    )


def _updated(
    incident: Incident,
    at: datetime,
    *,
    status: Status | None = None,
    priority: Priority | None = None,
    alert_count: int | None = None,
    open_alerts: int | None = None,
    acknowledged_at: datetime | None = None,
    resolved_at: datetime | None = None,
    clocks: Mapping[str, str] | None = None,
) -> Incident:
    """The incident as changed by monitoring at `at`: `replace` for the fields an event can change
    (those not given stay; none is ever cleared here), at a fraction of its cost."""
    return Incident(
        incident.id,
        incident.number,
        incident.service_id,
        incident.title,
        incident.priority if priority is None else priority,
        incident.category,
        incident.status if status is None else status,
        incident.created_at,
        at,
        incident.integration_id,
        incident.group_key,
        incident.alert_count if alert_count is None else alert_count,
        incident.open_alerts if open_alerts is None else open_alerts,
        incident.acknowledged_at if acknowledged_at is None else acknowledged_at,
        incident.resolved_at if resolved_at is None else resolved_at,
        incident.assignee,
        incident.description,
        incident.snoozed_until,
        incident.clocks if clocks is None else clocks,
    )


def _repeat(event: AlertEvent, alert: Alert, incident: Incident, ctx: Context) -> Folded:
    updated = _repeated(event, alert, ctx.at)
    entries: list[TimelineEntry] = []
    if event.counts_repeat and updated is not None:  # made first: ids order the timeline
        entries.append(
            _entry(
                ctx, incident, EntryKind.ALERT_REPEATED, alert_id=alert.id, repeat_count=updated.repeat_count
            )
        )
    incident, raised = _raise_priority(incident, updated or alert, ctx)
    entries += raised
    return Folded(
        Outcome.REPEATED if event.counts_repeat else Outcome.REFRESHED,
        updated,
        _updated(incident, ctx.at) if entries else None,
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
    raises = _raises(incident.priority, alert)
    incident = _updated(
        incident,
        ctx.at,
        alert_count=incident.alert_count + 1,
        open_alerts=incident.open_alerts + 1,
        priority=Priority.HIGH if raises else None,
        clocks=_priority_clock(incident, ctx) if raises else None,
    )
    entries = [
        _entry(ctx, incident, kind, alert_id=alert.id, summary=alert.summary, service_id=ctx.service_id)
    ]
    if raises:
        entries.append(
            _entry(ctx, incident, EntryKind.PRIORITY_RAISED, alert_id=alert.id, summary=alert.summary)
        )
    return Folded(outcome, alert, incident, tuple(entries))


def _new_incident(event: AlertEvent, ctx: Context) -> Folded:
    incident_id = ctx.new_id()
    alert = _make_alert(event, incident_id, ctx)
    # positional, in field order: keyword arguments cost a third more, once per new incident
    incident = Incident(
        incident_id,
        ctx.next_number(),
        ctx.service_id,
        alert.summary,  # title
        alert.priority,
        category_for(event),
        _TRIGGERED,
        ctx.at,  # created_at
        ctx.at,  # updated_at
        ctx.integration_id,
        event.group_key,
        1,  # alert_count
        1,  # open_alerts
    )
    severity = event.severity
    entry = _entry(
        ctx,
        incident,
        EntryKind.TRIGGERED,
        alert_id=alert.id,
        summary=alert.summary,
        severity=None if severity is None else severity._value_,  # not .value: a property, slower
    )
    return Folded(Outcome.CREATED, alert, incident, (entry,))


def _make_alert(event: AlertEvent, incident_id: str, ctx: Context) -> Alert:
    severity = event.severity
    # positional, in field order: keyword arguments cost a third more, once per new alert
    return Alert(
        ctx.new_id(),
        incident_id,
        ctx.service_id,
        ctx.integration_id,
        event.dedup_key,
        event.group_key,
        AlertStatus.TRIGGERED,
        event.summary or event.dedup_key,
        event.source,
        severity,
        priority_for(severity),
        ctx.at,  # first_seen
        ctx.at,  # last_seen
        0,  # repeat_count
        event.component,
        event.group,
        event.klass,
        event.labels,
        event.details,
        event.links,
    )


def _acknowledge(alert: Alert, incident: Incident, ctx: Context) -> Folded:
    if alert.status is not AlertStatus.TRIGGERED:
        return Folded(Outcome.UNCHANGED)
    alert = _moved(
        alert,
        AlertStatus.ACKNOWLEDGED,
        alert.summary,
        alert.severity,
        alert.priority,
        alert.repeat_count,
        ctx.at,
        ctx.at,
        alert.resolved_at,
    )
    status = incident.status.advance(Rank.ACKNOWLEDGED, base_epoch=incident.status.epoch)
    if status == incident.status:
        return Folded(Outcome.UNCHANGED, alert)
    incident = _updated(incident, ctx.at, status=status, acknowledged_at=incident.acknowledged_at or ctx.at)
    entry = _entry(ctx, incident, EntryKind.ACKNOWLEDGED, alert_id=alert.id)
    return Folded(Outcome.ACKNOWLEDGED, alert, incident, (entry,))


def _resolve(alert: Alert, incident: Incident, ctx: Context) -> Folded:
    alert = _resolved(alert, ctx.at)
    open_alerts = max(incident.open_alerts - 1, 0)
    if open_alerts:  # the incident resolves when all its alerts have
        incident = _updated(incident, ctx.at, open_alerts=open_alerts)
        entry = _entry(ctx, incident, EntryKind.ALERT_RESOLVED, alert_id=alert.id, open_alerts=open_alerts)
        return Folded(Outcome.RESOLVED, alert, incident, (entry,))
    incident = _updated(
        incident,
        ctx.at,
        open_alerts=0,
        status=incident.status.advance(Rank.RESOLVED, base_epoch=incident.status.epoch),
        resolved_at=ctx.at,
    )
    entry = _entry(ctx, incident, EntryKind.RESOLVED, alert_id=alert.id)
    return Folded(Outcome.RESOLVED, alert, incident, (entry,))
