"""PagerDuty Events API v2: alert events (/v2/enqueue) and change events (/v2/change/enqueue)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from console.domain.incident import Link
from console.domain.intake import AlertEvent, EventAction
from console.domain.priority import Severity

SUMMARY_LIMIT = 1024


class PagerDutyLink(BaseModel):
    href: str = Field(min_length=1)
    text: str | None = None


class PagerDutyImage(BaseModel):
    src: str = Field(min_length=1)
    href: str | None = None
    alt: str | None = None


class PagerDutyPayload(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    summary: str = Field(min_length=1, description="Truncated to 1024 characters, as PagerDuty does")
    source: str = Field(min_length=1)
    severity: Literal["critical", "error", "warning", "info"]
    timestamp: datetime | None = None
    component: str | None = None
    group: str | None = None
    class_: str | None = Field(default=None, alias="class")
    custom_details: Any = None

    @field_validator("summary")
    @classmethod
    def _truncate(cls, value: str) -> str:
        return value if len(value) <= SUMMARY_LIMIT else value[: SUMMARY_LIMIT - 1] + "…"


class PagerDutyEvent(BaseModel):
    """An alert event; acknowledge and resolve need only routing_key, dedup_key and event_action."""

    routing_key: str = Field(min_length=1)
    event_action: Literal["trigger", "acknowledge", "resolve"]
    dedup_key: str | None = Field(default=None, min_length=1, max_length=255)
    payload: PagerDutyPayload | None = None
    images: list[PagerDutyImage] = []
    links: list[PagerDutyLink] = []
    client: str | None = None
    client_url: str | None = None


class PagerDutyChangePayload(BaseModel):
    summary: str = Field(min_length=1, max_length=SUMMARY_LIMIT)
    source: str | None = None
    timestamp: datetime | None = None
    custom_details: Any = None


class PagerDutyChangeEvent(BaseModel):
    routing_key: str = Field(min_length=1)
    payload: PagerDutyChangePayload
    links: list[PagerDutyLink] = []


def missing_fields(event: PagerDutyEvent) -> list[str]:
    """Rules that depend on the action: a trigger needs its payload; follow-ups need their key."""
    if event.event_action == "trigger":
        return [] if event.payload is not None else ["payload: required for a trigger"]
    return [] if event.dedup_key else [f"dedup_key: required to {event.event_action}"]


def to_alert_event(event: PagerDutyEvent, dedup_key: str) -> AlertEvent:
    payload = event.payload
    links = tuple(Link(link.href, link.text or "") for link in event.links)
    if event.client_url:
        links += (Link(event.client_url, event.client or "Source"),)
    if payload is None:
        return AlertEvent(EventAction(event.event_action), dedup_key, links=links)
    details: dict[str, Any] = {}
    if payload.custom_details is not None:
        details["custom_details"] = payload.custom_details
    if event.images:
        details["images"] = [image.model_dump(exclude_none=True) for image in event.images]
    if event.client:
        details["client"] = event.client
    return AlertEvent(
        action=EventAction(event.event_action),
        dedup_key=dedup_key,
        summary=payload.summary,
        source=payload.source,
        severity=Severity(payload.severity),
        component=payload.component,
        group=payload.group,
        klass=payload.class_,
        details=details,
        links=links,
        occurred_at=payload.timestamp,
    )
