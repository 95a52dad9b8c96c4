"""The PagerDuty fast path (a hand-written reader of orjson's dict) against the pydantic model.

It must take only bodies the model accepts, and give the same AlertEvent down to the types and the
time zone; whatever it declines goes to the model, which words the errors. Bodies here are mostly
valid with a few fields off, so that both sides of every check get exercised.
"""

from __future__ import annotations

import json
from dataclasses import fields
from datetime import datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from console.domain.intake import AlertEvent
from console.server.intake import alertmanager, pagerduty
from console.server.intake.handlers import IntakeError, _parse
from tests.perf.workload import PagerDutyMix, am_message
from tests.server.json_strategies import Spec, big_ints, valid_fields, wrong
from tests.server.json_strategies import json_values as json_of
from tests.server.time_texts import datetime_texts, one_in_four, valid_times

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    big_ints,
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([0.0, -0.0, 1.0, 1e19, -1e19, 9.3e18, 2.0**63, 2.0**63 - 1024]),
    st.text(max_size=8),
)
json_values = json_of(scalars)
texts = st.text(max_size=12) | st.sampled_from(["", "x", "api-1.prod", "é", "\x00"])
words = st.text(min_size=1, max_size=12) | st.sampled_from(["x", "api-1.prod", "é", "\x00"])
OPTIONAL_TEXT = (st.none() | texts, wrong.filter(lambda v: v is not None and v != ""), True)


@st.composite
def objects(draw: st.DrawFn, spec: Spec, extra_keys: tuple[str, ...]) -> dict[str, Any]:
    """A valid object (optional fields now and then left out), or now and then one with a field broken."""
    out = valid_fields(draw, spec)
    if draw(one_in_four):
        name = draw(st.sampled_from(sorted(spec)))
        if draw(st.booleans()):
            out.pop(name, None)
        else:
            out[name] = draw(spec[name][1])
    out.update(draw(st.dictionaries(st.sampled_from(extra_keys), texts | json_values, max_size=1)))
    return out


links = objects(
    {"href": (words, wrong, False), "text": OPTIONAL_TEXT},
    ("rel", "x"),
)
images = objects(
    {"src": (words, wrong, False), "href": OPTIONAL_TEXT, "alt": OPTIONAL_TEXT},
    ("x",),
)
payloads = objects(
    {
        "summary": (words | st.text(min_size=1020, max_size=1030), wrong, False),
        "source": (words, wrong, False),
        "severity": (
            st.sampled_from(["critical", "error", "warning", "info"]),
            st.sampled_from(["Critical", "fatal", "", 1]),
            False,
        ),
        "timestamp": (
            valid_times | st.none() | valid_times | datetime_texts(),
            wrong | st.integers(0, 2**31),
            True,
        ),
        "component": OPTIONAL_TEXT,
        "group": OPTIONAL_TEXT,
        "class": OPTIONAL_TEXT,
        "custom_details": (json_values, st.nothing(), True),
    },
    ("class_", "extra", "summary_"),
)
events = objects(
    {
        "routing_key": (words, wrong, False),
        "event_action": (
            st.sampled_from(["trigger", "acknowledge", "resolve"]),
            st.sampled_from(["Trigger", "", "ack", 1]),
            False,
        ),
        "dedup_key": (
            words | st.text(min_size=254, max_size=256),  # 256 is one too long
            wrong | st.text(min_size=256, max_size=260),
            True,
        ),
        "payload": (payloads, wrong, True),
        "images": (st.lists(images, max_size=1), wrong, True),
        "links": (st.lists(links, max_size=3), wrong, True),
        "client": OPTIONAL_TEXT,
        "client_url": OPTIONAL_TEXT,
    },
    ("extra", "severity", "summary"),
)


@st.composite
def bodies(draw: st.DrawFn) -> bytes:
    """JSON text of an event, sometimes with a duplicate key, NaN, odd spacing or deep nesting."""
    event = draw(events)
    text = json.dumps(
        event, ensure_ascii=draw(st.booleans()), separators=draw(st.sampled_from([(",", ":"), (", ", ": ")]))
    )
    twist = draw(st.sampled_from(range(12)))
    if twist == 0 and text != "{}":  # a key twice: both parsers keep the last
        key = draw(st.sampled_from(["routing_key", "event_action", "dedup_key", "payload", "ignored"]))
        text = "{" + json.dumps(key) + ":" + json.dumps(draw(json_values | texts)) + "," + text[1:]
    elif twist == 1:  # nesting beyond what pydantic's parser takes, in a key the model ignores
        depth = draw(st.sampled_from([150, 199, 200, 201, 202, 260, 1000]))
        text = '{"deep":' + "[" * depth + "]" * depth + "," + text[1:] if text != "{}" else text
    elif twist == 2:
        text = text.replace(
            draw(st.sampled_from(["0", "1", "null"])), draw(st.sampled_from(["NaN", "Infinity", "1e400"])), 1
        )
    elif twist == 3:
        text = " \n" + text + "\t"
    return text.encode()


def model_reading(body: bytes) -> pagerduty.PagerDutyEvent | None:
    """What the slow path makes of the body: the model, or None where it answers 400."""
    try:
        event = _parse(pagerduty.PagerDutyEvent, body)
    except (ValidationError, IntakeError):
        return None
    return None if pagerduty.missing_fields(event) else event


@settings(max_examples=1500, deadline=None)
@given(bodies())
def test_the_fast_path_takes_only_what_the_model_takes_and_reads_it_the_same(body: bytes) -> None:
    data = pagerduty.plain_event(body)
    if data is None:
        return
    event = model_reading(body)
    assert event is not None, body
    assert not event.images
    assert (data["routing_key"], data["event_action"], data.get("dedup_key"), data.get("client")) == (
        event.routing_key,
        event.event_action,
        event.dedup_key,
        event.client,
    )
    fast, slow = pagerduty.plain_alert_event(data, "key"), pagerduty.to_alert_event(event, "key")
    assert fast == slow
    assert repr(fast) == repr(slow)  # also the types (1 vs 1.0), key order and the tzinfo


@settings(max_examples=1000)
@given(datetime_texts() | valid_times)
def test_plain_datetimes_read_as_pydantic_reads_them(text: str) -> None:
    fast = pagerduty.plain_datetime(text)
    if fast is None:
        return
    slow = TypeAdapter(datetime).validate_json(json.dumps(text))
    assert fast == slow
    assert repr(fast) == repr(slow)
    assert fast.tzname() == slow.tzname()
    assert fast.isoformat() == slow.isoformat()


def test_the_benchmark_bodies_take_the_fast_path() -> None:
    mix = PagerDutyMix(0, "R0UT1NGKEY", "p", 7)
    for _ in range(300):
        body = mix.next()[0].split(b"\r\n\r\n", 1)[1]
        data = pagerduty.plain_event(body)
        assert data is not None
        event = model_reading(body)
        assert event is not None
        assert pagerduty.plain_alert_event(data, "k") == pagerduty.to_alert_event(event, "k")


@pytest.mark.parametrize(
    "body",
    [
        b'{"routing_key":"k","event_action":"resolve"}',  # no dedup_key: the model words it
        b'{"routing_key":"k","event_action":"trigger"}',  # no payload
        b'{"routing_key":"k","event_action":"resolve","dedup_key":"d","images":[{"src":"s"}]}',
        b'{"routing_key":"k","event_action":"resolve","dedup_key":"d","x":NaN}',
        b'{"routing_key":"k","event_action":"resolve","dedup_key":"d","payload":{"summary":"s","source":"s",'
        b'"severity":"info","custom_details":[123456789012345678901234567890]}}',  # orjson: a float
        b'{"routing_key":"k","event_action":"resolve","dedup_key":"d"',
        b'["routing_key"]',
    ],
)
def test_the_fast_path_leaves_these_to_the_model(body: bytes) -> None:
    assert pagerduty.plain_event(body) is None


def test_alert_event_fields_are_in_the_order_the_converters_pass_them() -> None:
    """pagerduty.plain_alert_event and alertmanager's converter call AlertEvent by position."""
    assert [f.name for f in fields(AlertEvent)] == [
        "action",
        "dedup_key",
        "summary",
        "source",
        "severity",
        "component",
        "group",
        "klass",
        "labels",
        "details",
        "links",
        "occurred_at",
        "group_key",
        "counts_repeat",
    ]


def test_alertmanager_events_keep_every_field() -> None:
    message = am_message("r", 3, 6, "2026-11-27T09:00:00Z")
    message["alerts"][1]["annotations"] = {}
    del message["alerts"][2]["fingerprint"]
    body = json.dumps(message).encode()
    events = alertmanager.to_alert_events(alertmanager.WebhookMessage.model_validate_json(body))
    first, second, third = events[0], events[1], events[2]
    assert first.summary == "Disk 80% full on node-3-0"
    assert second.summary == "NodeDiskPressure3 on node-3-1.prod.example.net:9100"
    assert first.source == "node-3-0.prod.example.net:9100"
    assert (first.component, first.group, first.klass) == ("node-exporter", "monitoring", None)
    assert first.group_key == message["groupKey"]
    assert first.counts_repeat is False
    assert first.dedup_key == message["alerts"][0]["fingerprint"]
    assert len(third.dedup_key) == 16
    assert third.dedup_key != first.dedup_key
    assert first.details["startsAt"] == "2026-11-27T09:00:00+00:00"
    assert first.occurred_at is not None
    assert first.occurred_at.isoformat() == "2026-11-27T09:00:00+00:00"
    assert [link.text for link in first.links] == ["Source", "Runbook"]
    assert first.labels["severity"] == "critical"
    assert first.severity is not None
