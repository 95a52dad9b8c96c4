"""PagerDuty Events API v2: alert events (/v2/enqueue) and change events (/v2/change/enqueue)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_core import TzInfo

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
        return _truncated(value)


def _truncated(summary: str) -> str:
    return summary if len(summary) <= SUMMARY_LIMIT else summary[: SUMMARY_LIMIT - 1] + "…"


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


# The fast path. pydantic's validation was most of the CPU of an event, so a body of the common,
# well-formed shape is read from orjson's dict by hand. It takes only bodies the model accepts as they
# stand and gives the same AlertEvent (tests/server/test_intake_fast_paths.py checks that with
# Hypothesis); for any other body it says None and the model decides, and words every error.

_ACTIONS = {action.value: action for action in EventAction}
_SEVERITIES = {severity.value: severity for severity in Severity}
_EMPTY: list[Any] = []  # only ever read

# pydantic's JSON parser refuses nesting deeper than about 200 levels, orjson only beyond 1024. A
# body with at most this many brackets cannot nest that deep, even in a key the model ignores.
_MAX_BRACKETS = 200
_INT_LIMIT = 2.0**63


def _ints_kept(value: object) -> bool:
    """False if orjson may have read an integer as a float: it does beyond 64 bits, where pydantic
    keeps the int. Floats that large are all left to the model, whatever they were."""
    if isinstance(value, float):
        return abs(value) < _INT_LIMIT
    if isinstance(value, dict):
        return all(_ints_kept(item) for item in value.values())
    if isinstance(value, list):
        return all(_ints_kept(item) for item in value)
    return True


_DATETIME = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]{1,6}))?"
    r"(?:Z|([+-])([0-9]{2}):([0-9]{2}))"
)
_UTC = TzInfo(0)


def plain_datetime(text: str) -> datetime | None:
    """RFC 3339 text as pydantic reads it (same value, same kind of tzinfo), or None for the forms
    pydantic may read differently or refuse."""
    match = _DATETIME.fullmatch(text)
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction, sign, tz_hours, tz_minutes = match.groups()
    if sign is None:
        tz = _UTC
    else:
        hours, minutes = int(tz_hours), int(tz_minutes)
        if hours > 23 or minutes > 59:
            return None
        offset = hours * 3600 + minutes * 60
        tz = TzInfo(-offset if sign == "-" else offset)
    micro = int(fraction.ljust(6, "0")) if fraction else 0
    try:
        return datetime(int(year), int(month), int(day), int(hour), int(minute), int(second), micro, tz)
    except ValueError:  # e.g. February 30th
        return None


def _optional_str(value: object) -> bool:
    return value is None or isinstance(value, str)


def _plain_payload(payload: object) -> bool:
    if payload is None:
        return True
    if not isinstance(payload, dict) or "class_" in payload:  # the field's name, accepted too
        return False
    summary, source, severity = payload.get("summary"), payload.get("source"), payload.get("severity")
    timestamp = payload.get("timestamp")
    return (
        isinstance(summary, str)
        and summary != ""
        and isinstance(source, str)
        and source != ""
        and isinstance(severity, str)
        and severity in _SEVERITIES
        and (timestamp is None or (isinstance(timestamp, str) and plain_datetime(timestamp) is not None))
        and _optional_str(payload.get("component"))
        and _optional_str(payload.get("group"))
        and _optional_str(payload.get("class"))
        and _ints_kept(payload.get("custom_details"))
    )


def _plain_links(links: object) -> bool:
    return isinstance(links, list) and all(
        isinstance(link, dict)
        and isinstance(link.get("href"), str)
        and link["href"] != ""
        and _optional_str(link.get("text"))
        for link in links
    )


def plain_event(body: bytes) -> dict[str, Any] | None:
    """The body as a dict if the fast path takes it: valid for the model, without images, and with
    what its action needs (a trigger its payload, a follow-up its dedup_key). Else None."""
    if body.count(b"{") + body.count(b"[") > _MAX_BRACKETS:
        return None
    try:
        data = orjson.loads(body)  # refuses NaN and Infinity, as JSON does
    except orjson.JSONDecodeError:
        return None
    if not isinstance(data, dict):
        return None
    key, action, dedup_key = data.get("routing_key"), data.get("event_action"), data.get("dedup_key")
    payload = data.get("payload")
    if (
        isinstance(key, str)
        and key != ""
        and isinstance(action, str)
        and action in _ACTIONS
        and (dedup_key is None or (isinstance(dedup_key, str) and 0 < len(dedup_key) <= 255))
        and (payload is not None if action == "trigger" else dedup_key is not None)
        and _plain_payload(payload)
        and data.get("images", _EMPTY) == []
        and _plain_links(data.get("links", _EMPTY))
        and _optional_str(data.get("client"))
        and _optional_str(data.get("client_url"))
    ):
        return data
    return None


def plain_alert_event(data: dict[str, Any], dedup_key: str) -> AlertEvent:
    """`to_alert_event` of a body that `plain_event` took."""
    client, client_url = data.get("client"), data.get("client_url")
    links = tuple(Link(link["href"], link.get("text") or "") for link in data.get("links", _EMPTY))
    if client_url:
        links += (Link(client_url, client or "Source"),)
    action = _ACTIONS[data["event_action"]]
    payload = data.get("payload")
    if payload is None:
        return AlertEvent(action, dedup_key, links=links)
    details: dict[str, Any] = {}
    custom_details = payload.get("custom_details")
    if custom_details is not None:
        details["custom_details"] = custom_details
    if client:
        details["client"] = client
    summary = _truncated(payload["summary"])
    source = payload["source"]
    severity = _SEVERITIES[payload["severity"]]
    component, group, klass = payload.get("component"), payload.get("group"), payload.get("class")
    timestamp = payload.get("timestamp")
    occurred_at = plain_datetime(timestamp) if timestamp is not None else None
    # By position, in AlertEvent's field order (keywords cost about 1 µs more; a test pins the order)
    return AlertEvent(
        action, dedup_key, summary, source, severity, component, group, klass,
        {}, details, links, occurred_at,
    )  # fmt: skip
