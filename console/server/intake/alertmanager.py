"""Prometheus Alertmanager webhook (version 4) and Grafana-managed alerting webhook bodies.

One incident per groupKey, one alert per fingerprint. Alertmanager re-posts whole groups, so a
firing alert that is already known is a re-send, not a repeat.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field

from console.domain.incident import Link
from console.domain.intake import AlertEvent, EventAction
from console.domain.priority import Severity, severity_from_label
from console.server.intake.pagerduty import plain_datetime

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
    start time: those are made once per body and shared (they are immutable), not once per alert.
    `plain_message` makes the same events from orjson's dicts: keep the two in step (a Hypothesis
    test compares them)."""

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


# The fast path. Most of a re-posted group's CPU went to the models above (a pydantic instance per
# alert, a datetime parsed twice per alert) and to converting them. A body of the common shape is
# read with orjson and checked by hand instead, and converted straight from orjson's dicts: only a
# body the model accepts as it stands is taken, and it gives the same events as the model path
# (tests/server/test_alertmanager_fast_path.py checks that with Hypothesis). For any other body
# `plain_message` says None and the model decides, and words every error.

_MESSAGE_FIELDS = frozenset(WebhookMessage.model_fields)
_ALERT_FIELDS = frozenset(WebhookAlert.model_fields)
_INT_LIMIT = 2.0**63

# Nesting. pydantic's JSON parser refuses a body nested deeper than about 200 levels. orjson takes 1024,
# and keeps only the last value of a key said twice, so its dicts may not show how deep the body went.
# The fast path takes a body with fewer than _PARSER_DEPTH "{" and "[" (it cannot nest that deep), or
# one whose "{" and "[" are all but _SLACK accounted for: by the objects and arrays orjson gave, then
# if need be by those in some of its texts (if none was written as an escape, \u005b or \u007b).
# What is left (in a discarded value, or in a text not counted) is at most _SLACK levels below
# something the fast path saw, and it sees at most 4 + _NESTING levels: the message, its alerts, an
# alert, its labels, and `values` and unknown keys nested up to _NESTING deep.
_PARSER_DEPTH = 190
_NESTING = 16
_SLACK = _PARSER_DEPTH - 4 - _NESTING
_NOT_OPENERS = bytes(byte for byte in range(256) if byte not in b"{[")
_ESCAPES = (b"\\u005", b"\\u007")


def _openers(text: str) -> int:
    return text.count("{") + text.count("[")


def _plain_json(value: object, tally: list[int], depth: int = _NESTING) -> bool:
    """Whether the fast path takes an unchecked value (`values`, an unknown key's): False if nested
    deeper than `depth`, or with a float that may have been an integer (orjson reads those beyond 64
    bits as floats, pydantic as ints). Adds its objects and arrays, and the "{" and "[" of its texts,
    to the tally."""
    if type(value) is str:
        tally[1] += _openers(value)
        return True
    if type(value) is float:
        return abs(value) < _INT_LIMIT
    if type(value) is dict:
        if depth == 0:
            return False
        tally[0] += 1
        for key, item in value.items():
            tally[1] += _openers(key)
            if not _plain_json(item, tally, depth - 1):
                return False
        return True
    if type(value) is list:
        if depth == 0:
            return False
        tally[0] += 1
        return all(_plain_json(item, tally, depth - 1) for item in value)
    return True


def _plain_extras(data: dict[str, Any], fields: frozenset[str], tally: list[int]) -> bool:
    """`_plain_json` of each unknown key of a message or an alert (and of its name)."""
    for key, value in data.items():
        if key not in fields:
            tally[1] += _openers(key)
            if not _plain_json(value, tally):
                return False
    return True


def _plain_texts(value: object) -> bool:
    """A labels or annotations object as the model takes it: all its values text."""
    if type(value) is not dict:
        return False
    for text in value.values():  # noqa: SIM110  # all() over a generator takes twice as long
        if type(text) is not str:
            return False
    return True


@dataclass(frozen=True, slots=True)
class PlainMessage:
    """What the intake needs of a body that `plain_message` took."""

    events: list[AlertEvent]
    sender: str  # as `sender` says
    receiver: str
    status: Literal["firing", "resolved"]


_TRIGGER, _RESOLVE = EventAction.TRIGGER, EventAction.RESOLVE  # an Enum's attributes are slow to read
_UNSEEN: Any = object()


def _read_time(text: object, times: dict[str, datetime]) -> datetime | None:
    """A startsAt or endsAt text as pydantic reads it (once per body), or None: left to the model."""
    if type(text) is not str:
        return None
    read = times.get(text)
    if read is None:
        read = plain_datetime(text)
        if read is None:
            return None
        times[text] = read
    return read


def _text_map(alert: dict[str, Any], name: str, tally: list[int]) -> dict[str, Any] | None:
    """An alert's labels or annotations if every value is text, {} when the key is left out (one
    object fewer on the nesting tally); None leaves the body to the model."""
    value = alert.get(name)
    if type(value) is dict:
        for text in value.values():
            if type(text) is not str:
                return None
        return value
    if value is None and name not in alert:
        tally[0] -= 1
        return {}
    return None


def plain_message(body: bytes) -> PlainMessage | None:
    """The body's events, sender, receiver and status, as the model path gives them; None if the fast
    path leaves the body to the model."""
    try:
        data = orjson.loads(body)  # refuses NaN and Infinity, as JSON does
    except orjson.JSONDecodeError:
        return None
    if type(data) is not dict:
        return None
    get = data.get
    version, group_key, status, receiver = get("version"), get("groupKey"), get("status"), get("receiver", "")
    title, said, state, org_id = get("title"), get("message"), get("state"), get("orgId")
    alerts = get("alerts")
    group_labels = get("groupLabels", _UNSEEN)
    common_labels = get("commonLabels", _UNSEEN)
    common_annotations = get("commonAnnotations", _UNSEEN)
    if not (
        (version is None or type(version) is str)
        and type(group_key) is str
        and group_key != ""
        and type(get("truncatedAlerts", 0)) is int
        and (status == "firing" or status == "resolved")
        and type(receiver) is str
        and (group_labels is _UNSEEN or _plain_texts(group_labels))
        and (common_labels is _UNSEEN or _plain_texts(common_labels))
        and (common_annotations is _UNSEEN or _plain_texts(common_annotations))
        and type(get("externalURL", "")) is str
        and type(alerts) is list
        and (title is None or type(title) is str)
        and (said is None or type(said) is str)
        and (state is None or type(state) is str)
        and (org_id is None or type(org_id) is int)
    ):
        return None
    # The body's objects and arrays (the message, its alerts, each alert and its labels and annotations,
    # less those missing, below) and the "{" and "[" in the texts that are counted
    tally = [2 + 3 * len(alerts), _openers(group_key) + _openers(title or "") + _openers(said or "")]
    tally[0] += (group_labels is not _UNSEEN) + (common_labels is not _UNSEEN)
    tally[0] += common_annotations is not _UNSEEN
    tally[1] += _openers(state or "")
    if not (_MESSAGE_FIELDS.issuperset(data) or _plain_extras(data, _MESSAGE_FIELDS, tally)):
        return None
    if common_labels is _UNSEEN:
        common_labels = {}
    # A group's alerts mostly share their startsAt, endsAt (the zero time while firing) and links:
    # each is read or made once, and kept while the next alert has the same.
    times: dict[str, datetime] = {}
    starts_texts: dict[datetime, str] = {}  # as _Converter's: by instant, the first alert's text
    last_starts: object = None
    starts_at: datetime | None = None
    starts_text: str | None = None
    last_ends: object = None
    last_hrefs: tuple[str | None, ...] = ()
    links: tuple[Link, ...] = ()
    all_links: dict[tuple[str | None, ...], tuple[Link, ...]] = {}
    severities: dict[str | None, Severity | None] = {}
    last_label: object = _UNSEEN
    severity: Severity | None = None
    events: list[AlertEvent] = []
    append, known_only, new_event = events.append, _ALERT_FIELDS.issuperset, AlertEvent
    for alert in alerts:
        if type(alert) is not dict:
            return None
        if not (known_only(alert) or _plain_extras(alert, _ALERT_FIELDS, tally)):
            return None
        get = alert.get
        alert_status = get("status")
        if alert_status == "firing":
            action = _TRIGGER
        elif alert_status == "resolved":
            action = _RESOLVE
        else:
            return None
        starts = get("startsAt")
        if starts != last_starts:  # (only ever None or text)
            if starts is None:
                starts_at = starts_text = None
            else:
                starts_at = _read_time(starts, times)
                if starts_at is None:
                    return None
                if starts_at.year > _ZERO_YEAR:
                    starts_text = starts_texts.get(starts_at)
                    if starts_text is None:
                        starts_text = starts_texts[starts_at] = starts_at.isoformat()
                else:
                    starts_at = starts_text = None
            last_starts = starts
        ends = get("endsAt")
        if ends != last_ends:
            if ends is not None and _read_time(ends, times) is None:
                return None
            last_ends = ends
        labels, annotations = _text_map(alert, "labels", tally), _text_map(alert, "annotations", tally)
        if labels is None or annotations is None:
            return None
        generator_url, fingerprint = get("generatorURL", ""), get("fingerprint")
        dashboard_url, panel_url, silence_url = get("dashboardURL"), get("panelURL"), get("silenceURL")
        values = get("values")
        if not (
            type(generator_url) is str
            and (fingerprint is None or (type(fingerprint) is str and fingerprint != ""))
            and (dashboard_url is None or type(dashboard_url) is str)
            and (panel_url is None or type(panel_url) is str)
            and (silence_url is None or type(silence_url) is str)
            and (values is None or (type(values) is dict and _plain_json(values, tally)))
        ):
            return None
        # the rest as _Converter._event
        hrefs = (generator_url, annotations.get("runbook_url"), dashboard_url, panel_url, silence_url)
        if hrefs != last_hrefs:
            made = all_links.get(hrefs)
            if made is None:
                made = all_links[hrefs] = tuple(
                    Link(href, text) for href, text in zip(hrefs, _LINK_TEXTS, strict=True) if href
                )
            links, last_hrefs = made, hrefs
        details: dict[str, Any]
        if values is not None:
            details = {"annotations": annotations, "values": values}
            if starts_text is not None:
                details["startsAt"] = starts_text
        elif starts_text is not None:
            details = {"annotations": annotations, "startsAt": starts_text}
        else:
            details = {"annotations": annotations}
        label = labels.get("severity")
        if label != last_label:
            severity = severities.get(label, _UNSEEN)
            if severity is _UNSEEN:
                severity = severities[label] = severity_from_label(label)
            last_label = label
        summary = (
            annotations.get("summary")
            or annotations.get("title")
            or annotations.get("description")
            or _default_summary(labels, common_labels)
        )
        job = labels.get("job")
        append(
            new_event(
                action,
                fingerprint or _fingerprint(labels),
                summary,
                labels.get("instance") or labels.get("exported_instance") or job or "",
                severity,
                labels.get("component") or job,
                labels.get("group") or labels.get("namespace"),
                None,
                labels,
                details,
                links,
                starts_at,
                group_key,
                False,
            )
        )
    openers = len(body.translate(None, _NOT_OPENERS))
    if openers >= _PARSER_DEPTH:
        unaccounted = openers - tally[0]
        if unaccounted > _SLACK and (
            unaccounted - tally[1] > _SLACK or _ESCAPES[0] in body or _ESCAPES[1] in body
        ):
            return None
    who = "Grafana" if version == "1" or org_id is not None else "Alertmanager"
    return PlainMessage(events, who, receiver, status)
