"""Prometheus Alertmanager webhook (version 4) and Grafana-managed alerting webhook bodies.

One incident per groupKey, one alert per fingerprint. Alertmanager re-posts whole groups, so a
firing alert that is already known is a re-send, not a repeat.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from console.domain.incident import Link
from console.domain.intake import AlertEvent, EventAction
from console.domain.priority import Severity, severity_from_label

# Alertmanager's zero time: "0001-01-01T00:00:00Z" while firing.
_ZERO_YEAR = 1


class WebhookAlert(BaseModel):
    model_config = ConfigDict(extra="allow")

    status: Literal["firing", "resolved"]
    labels: dict[str, str] = {}
    annotations: dict[str, str] = {}
    startsAt: datetime | None = None
    endsAt: datetime | None = None
    generatorURL: str = ""
    fingerprint: str | None = Field(default=None, min_length=1)
    # Grafana's additions
    dashboardURL: str | None = None
    panelURL: str | None = None
    silenceURL: str | None = None
    values: dict[str, Any] | None = None


class WebhookMessage(BaseModel):
    """Alertmanager's `version: "4"`; Grafana sends the same shape with `version: "1"` and extras."""

    model_config = ConfigDict(extra="allow")

    version: str | None = None
    groupKey: str = Field(min_length=1)
    truncatedAlerts: int = 0
    status: Literal["firing", "resolved"]
    receiver: str = ""
    groupLabels: dict[str, str] = {}
    commonLabels: dict[str, str] = {}
    commonAnnotations: dict[str, str] = {}
    externalURL: str = ""
    alerts: list[WebhookAlert]
    # Grafana's additions
    title: str | None = None
    message: str | None = None
    state: str | None = None
    orgId: int | None = None


def sender(message: WebhookMessage) -> str:
    return "Grafana" if message.version == "1" or message.orgId is not None else "Alertmanager"


def to_alert_events(message: WebhookMessage) -> list[AlertEvent]:
    return _Converter(message).events()


def _fingerprint(labels: dict[str, str]) -> str:
    """Alertmanager always sends one; a custom template may not, so derive it from the labels."""
    text = "\x1f".join(f"{k}\x1e{v}" for k, v in sorted(labels.items()))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _default_summary(labels: dict[str, str], common_labels: dict[str, str]) -> str:
    """For an alert whose annotations have no summary, title or description."""
    name = labels.get("alertname") or common_labels.get("alertname") or "Alert"
    where = labels.get("instance") or labels.get("job")
    return f"{name} on {where}" if where else name


class _Converter:
    """One body's alerts as events. The alerts of a group mostly share their links, severity and
    start time: those are made once per body and shared (they are immutable), not once per alert."""

    def __init__(self, message: WebhookMessage) -> None:
        self._message = message
        self._group_key = message.groupKey
        self._links: dict[tuple[str | None, ...], tuple[Link, ...]] = {}
        self._severities: dict[str | None, Severity | None] = {}
        self._starts: dict[datetime, str] = {}

    def events(self) -> list[AlertEvent]:
        return [self._event(alert) for alert in self._message.alerts]

    def _event(self, alert: WebhookAlert) -> AlertEvent:
        labels = alert.labels
        annotations = alert.annotations
        hrefs = (
            alert.generatorURL,
            annotations.get("runbook_url"),
            alert.dashboardURL,
            alert.panelURL,
            alert.silenceURL,
        )
        links = self._links.get(hrefs)
        if links is None:
            links = self._links[hrefs] = tuple(
                Link(href, text) for href, text in zip(hrefs, _LINK_TEXTS, strict=True) if href
            )
        # labels are stored in their own column; details keep the rest of what the alert said
        details: dict[str, Any] = {"annotations": annotations}
        if alert.values is not None:
            details["values"] = alert.values
        starts_at = alert.startsAt
        if starts_at is not None and starts_at.year > _ZERO_YEAR:
            text = self._starts.get(starts_at)
            if text is None:
                text = self._starts[starts_at] = starts_at.isoformat()
            details["startsAt"] = text
        else:
            starts_at = None
        label = labels.get("severity")
        if label in self._severities:
            severity = self._severities[label]
        else:
            severity = self._severities[label] = severity_from_label(label)
        action = EventAction.TRIGGER if alert.status == "firing" else EventAction.RESOLVE
        dedup_key = alert.fingerprint or _fingerprint(labels)
        summary = (
            annotations.get("summary")
            or annotations.get("title")
            or annotations.get("description")
            or _default_summary(labels, self._message.commonLabels)
        )
        job = labels.get("job")
        source = labels.get("instance") or labels.get("exported_instance") or job or ""
        component = labels.get("component") or job
        group = labels.get("group") or labels.get("namespace")
        # By position, in AlertEvent's field order (keywords cost about 1 µs more per alert; a test
        # pins the order). klass is None; counts_repeat is False: a re-sent alert is not a repeat.
        return AlertEvent(
            action, dedup_key, summary, source, severity, component, group, None,
            labels, details, links, starts_at, self._group_key, False,
        )  # fmt: skip


_LINK_TEXTS = ("Source", "Runbook", "Dashboard", "Panel", "Silence")
