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
from console.domain.priority import severity_from_label

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
    return [_event(message, alert) for alert in message.alerts]


def _fingerprint(alert: WebhookAlert) -> str:
    """Alertmanager always sends one; a custom template may not, so derive it from the labels."""
    if alert.fingerprint:
        return alert.fingerprint
    text = "\x1f".join(f"{k}\x1e{v}" for k, v in sorted(alert.labels.items()))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _summary(message: WebhookMessage, alert: WebhookAlert) -> str:
    annotations, labels = alert.annotations, alert.labels
    for text in (annotations.get("summary"), annotations.get("title"), annotations.get("description")):
        if text:
            return text
    name = labels.get("alertname") or message.commonLabels.get("alertname") or "Alert"
    where = labels.get("instance") or labels.get("job")
    return f"{name} on {where}" if where else name


def _event(message: WebhookMessage, alert: WebhookAlert) -> AlertEvent:
    labels = alert.labels
    links: list[Link] = []
    for href, text in (
        (alert.generatorURL, "Source"),
        (alert.annotations.get("runbook_url"), "Runbook"),
        (alert.dashboardURL, "Dashboard"),
        (alert.panelURL, "Panel"),
        (alert.silenceURL, "Silence"),
    ):
        if href:
            links.append(Link(href, text))
    details: dict[str, Any] = {"labels": labels, "annotations": alert.annotations}
    if alert.values is not None:
        details["values"] = alert.values
    if alert.startsAt is not None and alert.startsAt.year > _ZERO_YEAR:
        details["startsAt"] = alert.startsAt.isoformat()
    return AlertEvent(
        action=EventAction.TRIGGER if alert.status == "firing" else EventAction.RESOLVE,
        dedup_key=_fingerprint(alert),
        group_key=message.groupKey,
        summary=_summary(message, alert),
        source=labels.get("instance") or labels.get("exported_instance") or labels.get("job") or "",
        severity=severity_from_label(labels.get("severity")),
        component=labels.get("component") or labels.get("job"),
        group=labels.get("group") or labels.get("namespace"),
        labels=labels,
        details=details,
        links=tuple(links),
        occurred_at=alert.startsAt if alert.startsAt and alert.startsAt.year > _ZERO_YEAR else None,
        counts_repeat=False,
    )
