"""A small JSON form for scripts: `summary` required; `dedup`, `severity`, `action`, `details` optional."""

from __future__ import annotations

import hashlib
from typing import Any, Literal

import orjson
from pydantic import BaseModel, Field

from console.domain.intake import AlertEvent, EventAction
from console.domain.priority import severity_from_label


class GenericEvent(BaseModel):
    summary: str = Field(min_length=1, max_length=1024)
    dedup: str | None = Field(
        default=None, min_length=1, max_length=255, description="Defaults to a hash of summary and details"
    )
    severity: str | None = Field(default=None, description="critical, error, warning or info; missing pages")
    action: Literal["trigger", "resolve"] = "trigger"
    source: str | None = None
    details: Any = None


def dedup_key(event: GenericEvent) -> str:
    if event.dedup:
        return event.dedup
    text = event.summary.encode() + b"\x1f" + orjson.dumps(event.details, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(text).hexdigest()[:32]


def to_alert_event(event: GenericEvent) -> AlertEvent:
    return AlertEvent(
        action=EventAction(event.action),
        dedup_key=dedup_key(event),
        summary=event.summary,
        source=event.source or "",
        severity=severity_from_label(event.severity),
        details={"details": event.details} if event.details is not None else {},
    )
