"""Hypothesis: malformed bodies on every intake endpoint get a 4xx, never a 5xx, and change nothing.

A sender retries a 5xx forever, and a 4xx must not have stored anything (the sender will not retry it,
and a half-stored event would be an incident nobody asked for). Every body generated here is invalid
by construction: a required field is removed, a field gets a type it cannot be coerced from, and so on.
"""

from __future__ import annotations

import copy
import json
import string
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlencode

import httpx
import orjson
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from tests.server.endpoints import ALERTMANAGER, CHANGE, ENDPOINTS, GENERIC, PAGERDUTY, Endpoint
from tests.server.stack import Served
from tests.server.wire import grafana_body, pd_follow_up, pd_full_trigger, row_counts

SETTINGS = settings(max_examples=50, deadline=None)
Path = tuple[str | int, ...]

# -- JSON values --

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=20,
)
small_lists = st.lists(scalars, max_size=3)
small_dicts = st.dictionaries(st.text(max_size=5), scalars, max_size=3)
letters = st.text(alphabet=string.ascii_letters, min_size=1, max_size=12)

# Values pydantic's lax mode cannot turn into the field's type (null only where the field needs a value).
not_str = st.one_of(
    st.integers(), st.floats(allow_nan=False, allow_infinity=False), st.booleans(), small_lists, small_dicts
)
not_object = st.one_of(st.integers(), st.text(max_size=10), st.booleans(), small_lists)
not_list = st.one_of(st.integers(), st.text(max_size=10), st.booleans(), small_dicts)
not_str_map = st.one_of(
    st.integers(),
    st.text(max_size=10),
    small_lists,
    st.dictionaries(st.text(max_size=5), not_str, min_size=1),
)
not_datetime = st.one_of(letters, st.booleans(), small_lists, small_dicts)
not_int = st.one_of(
    letters,
    small_lists,
    small_dicts,
    st.floats(allow_nan=False, allow_infinity=False).filter(lambda f: not f.is_integer()),
)


def not_one_of(*allowed: str) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.text(max_size=20).filter(lambda s: s not in allowed), st.none(), st.integers(), small_lists
    )


required_str = st.one_of(not_str, st.none(), st.just(""))
too_long_key = st.text(min_size=256, max_size=400)

PD_WRONG: dict[Path, st.SearchStrategy[Any]] = {
    ("routing_key",): st.one_of(not_str, st.none()),
    ("event_action",): not_one_of("trigger", "acknowledge", "resolve"),
    ("dedup_key",): st.one_of(not_str, st.just(""), too_long_key),
    ("payload",): st.one_of(st.none(), not_object),
    ("payload", "summary"): required_str,
    ("payload", "source"): required_str,
    ("payload", "severity"): not_one_of("critical", "error", "warning", "info"),
    ("payload", "timestamp"): not_datetime,
    ("payload", "component"): not_str,
    ("payload", "group"): not_str,
    ("payload", "class"): not_str,
    ("images",): st.one_of(st.none(), not_list),
    ("images", 0): st.one_of(st.none(), not_object),
    ("images", 0, "src"): required_str,
    ("images", 0, "alt"): not_str,
    ("links",): st.one_of(st.none(), not_list),
    ("links", 0, "href"): required_str,
    ("links", 0, "text"): not_str,
    ("client",): not_str,
    ("client_url",): not_str,
}
CHANGE_WRONG: dict[Path, st.SearchStrategy[Any]] = {
    ("routing_key",): st.one_of(not_str, st.none()),
    ("payload",): st.one_of(st.none(), not_object),
    ("payload", "summary"): st.one_of(required_str, st.text(min_size=1025, max_size=1100)),
    ("payload", "source"): not_str,
    ("payload", "timestamp"): not_datetime,
    ("links",): st.one_of(st.none(), not_list),
    ("links", 0, "href"): required_str,
}
AM_WRONG: dict[Path, st.SearchStrategy[Any]] = {
    ("version",): not_str,
    ("groupKey",): required_str,
    ("truncatedAlerts",): st.one_of(st.none(), not_int),
    ("status",): not_one_of("firing", "resolved"),
    ("receiver",): st.one_of(st.none(), not_str),
    ("groupLabels",): st.one_of(st.none(), not_str_map),
    ("commonLabels",): st.one_of(st.none(), not_str_map),
    ("commonAnnotations",): st.one_of(st.none(), not_str_map),
    ("externalURL",): st.one_of(st.none(), not_str),
    ("alerts",): st.one_of(st.none(), not_list),
    ("alerts", 0): st.one_of(st.none(), not_object),
    ("alerts", 0, "status"): not_one_of("firing", "resolved"),
    ("alerts", 0, "labels"): st.one_of(st.none(), not_str_map),
    ("alerts", 0, "annotations"): st.one_of(st.none(), not_str_map),
    ("alerts", 0, "startsAt"): not_datetime,
    ("alerts", 0, "endsAt"): not_datetime,
    ("alerts", 0, "generatorURL"): st.one_of(st.none(), not_str),
    ("alerts", 0, "fingerprint"): st.one_of(not_str, st.just("")),
    ("alerts", 0, "dashboardURL"): not_str,
    ("alerts", 0, "values"): st.one_of(st.integers(), st.text(max_size=5), small_lists, st.booleans()),
    ("orgId",): not_int,
    ("title",): not_str,
    ("message",): not_str,
    ("state",): not_str,
}
GENERIC_WRONG: dict[Path, st.SearchStrategy[Any]] = {
    ("summary",): st.one_of(required_str, st.text(min_size=1025, max_size=1100)),
    ("dedup",): st.one_of(not_str, st.just(""), too_long_key),
    ("severity",): not_str,
    ("action",): not_one_of("trigger", "resolve"),
    ("source",): not_str,
}

PD_REQUIRED: list[Path] = [
    ("routing_key",),
    ("event_action",),
    ("payload",),
    ("payload", "summary"),
    ("payload", "source"),
    ("payload", "severity"),
    ("images", 0, "src"),
    ("links", 0, "href"),
]
CHANGE_REQUIRED: list[Path] = [("routing_key",), ("payload",), ("payload", "summary"), ("links", 0, "href")]
AM_REQUIRED: list[Path] = [("groupKey",), ("status",), ("alerts",), ("alerts", 0, "status")]
GENERIC_REQUIRED: list[Path] = [("summary",)]


def full_body(endpoint: Endpoint, key: str) -> dict[str, Any]:
    """A valid body with every optional field present, so any of them can be spoiled."""
    if endpoint is PAGERDUTY:
        return pd_full_trigger(key, "hypothesis-dk", "hypothesis")
    if endpoint is CHANGE:
        body = CHANGE.valid(key)
        body["payload"]["summary"] = "hypothesis change"
        return body
    if endpoint is ALERTMANAGER:
        return grafana_body("hypothesis-group", [ALERTMANAGER.valid(key)["alerts"][0]])
    return {
        "summary": "hypothesis",
        "dedup": "hypothesis-dk",
        "severity": "warning",
        "action": "trigger",
        "source": "h",
        "details": {"a": 1},
    }


WRONG = {PAGERDUTY: PD_WRONG, CHANGE: CHANGE_WRONG, ALERTMANAGER: AM_WRONG, GENERIC: GENERIC_WRONG}
REQUIRED = {
    PAGERDUTY: PD_REQUIRED,
    CHANGE: CHANGE_REQUIRED,
    ALERTMANAGER: AM_REQUIRED,
    GENERIC: GENERIC_REQUIRED,
}
DROP_TO_SPOIL = {PAGERDUTY: "event_action", CHANGE: "payload", ALERTMANAGER: "alerts", GENERIC: "summary"}

each_endpoint = pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda e: e.name)


def set_path(body: dict[str, Any], path: Path, value: Any) -> None:
    target: Any = body
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value


def delete_path(body: dict[str, Any], path: Path) -> None:
    target: Any = body
    for part in path[:-1]:
        if isinstance(target, dict) and part not in target:
            return  # a parent was removed already
        target = target[part]
    if isinstance(target, dict):
        target.pop(path[-1], None)


def assert_refused_and_nothing_changed(served: Served, send: Any) -> None:
    before = row_counts(served.db)
    response: httpx.Response = send()
    assert 400 <= response.status_code < 500, (response.status_code, response.text)
    body = response.json()
    assert set(body) == {"status", "message", "errors"}, body
    assert row_counts(served.db) == before


def post(served: Served, endpoint: Endpoint, content: bytes, headers: dict[str, str] | None = None) -> Any:
    return lambda: endpoint.post(served.client, served.key, content=content, headers=headers)


@each_endpoint
@SETTINGS
@given(value=json_values)
def test_random_json_values_are_refused_and_change_nothing(
    served: Served, endpoint: Endpoint, value: Any
) -> None:
    if isinstance(value, dict):  # with the right key, so validation is reached, but a required field gone
        value.pop(DROP_TO_SPOIL[endpoint], None)
        if endpoint.key_in_body:
            value["routing_key"] = served.key
    assert_refused_and_nothing_changed(served, post(served, endpoint, json.dumps(value).encode()))


@each_endpoint
@SETTINGS
@given(data=st.data())
def test_a_known_field_of_a_wrong_type_is_refused_and_changes_nothing(
    served: Served, endpoint: Endpoint, data: st.DataObject
) -> None:
    wrong = WRONG[endpoint]
    path = data.draw(st.sampled_from(sorted(wrong, key=str)), label="field")
    value = data.draw(wrong[path], label="value")
    body = full_body(endpoint, served.key)
    set_path(body, path, value)
    assert_refused_and_nothing_changed(served, post(served, endpoint, json.dumps(body).encode()))


@each_endpoint
@SETTINGS
@given(data=st.data())
def test_a_body_missing_required_fields_is_refused_and_changes_nothing(
    served: Served, endpoint: Endpoint, data: st.DataObject
) -> None:
    paths: Sequence[Path] = data.draw(
        st.lists(st.sampled_from(REQUIRED[endpoint]), min_size=1, max_size=3, unique=True), label="missing"
    )
    body = full_body(endpoint, served.key)
    for path in paths:
        delete_path(body, path)
    assert_refused_and_nothing_changed(served, post(served, endpoint, json.dumps(body).encode()))


@SETTINGS
@given(
    severity=st.one_of(
        st.text(max_size=12),
        st.sampled_from(["Critical", "CRITICAL", " critical", "error ", "warn", "high", "sev1", "p1", ""]),
    ).filter(lambda s: s not in ("critical", "error", "warning", "info"))
)
def test_a_pagerduty_trigger_with_an_invalid_severity_is_refused_and_changes_nothing(
    served: Served, severity: str
) -> None:
    body = full_body(PAGERDUTY, served.key)
    body["payload"]["severity"] = severity
    assert_refused_and_nothing_changed(served, post(served, PAGERDUTY, json.dumps(body).encode()))


@SETTINGS
@given(dedup_key=too_long_key, action=st.sampled_from(["trigger", "acknowledge", "resolve"]))
def test_a_pagerduty_dedup_key_over_255_characters_is_refused_and_changes_nothing(
    served: Served, dedup_key: str, action: str
) -> None:
    body = full_body(PAGERDUTY, served.key) if action == "trigger" else pd_follow_up(served.key, action, "")
    body["dedup_key"] = dedup_key
    assert_refused_and_nothing_changed(served, post(served, PAGERDUTY, json.dumps(body).encode()))


@SETTINGS
@given(dedup=too_long_key)
def test_a_generic_dedup_over_255_characters_is_refused_and_changes_nothing(
    served: Served, dedup: str
) -> None:
    body = {"summary": "hypothesis", "dedup": dedup}
    assert_refused_and_nothing_changed(served, post(served, GENERIC, json.dumps(body).encode()))


def is_json(data: bytes) -> bool:
    try:
        orjson.loads(data)
    except orjson.JSONDecodeError:
        return False
    return True


@each_endpoint
@SETTINGS
@given(data=st.binary(max_size=300))
def test_random_bytes_that_are_not_json_are_refused_and_change_nothing(
    served: Served, endpoint: Endpoint, data: bytes
) -> None:
    assume(not is_json(data))
    assert_refused_and_nothing_changed(served, post(served, endpoint, data))


def _form(key: str, summary: str) -> tuple[bytes, str]:
    fields = {"routing_key": key, "event_action": "trigger", "summary": summary, "severity": "critical"}
    return urlencode(fields).encode(), "application/x-www-form-urlencoded"


def _xml(key: str, summary: str) -> tuple[bytes, str]:
    text = f"<event><routing_key>{key}</routing_key><summary>{summary}</summary></event>"
    return text.encode(), "application/xml"


def _yaml(key: str, summary: str) -> tuple[bytes, str]:
    return f"routing_key: {key}\nevent_action: trigger\nsummary: {summary!r}\n".encode(), "application/yaml"


def _text(_key: str, summary: str) -> tuple[bytes, str]:
    return f"ALERT {summary}".encode(), "text/plain"


@each_endpoint
@SETTINGS
@given(shape=st.sampled_from([_form, _xml, _yaml, _text]), summary=st.text(max_size=30))
def test_a_body_in_another_format_than_json_is_refused_and_changes_nothing(
    served: Served, endpoint: Endpoint, shape: Any, summary: str
) -> None:
    content, content_type = shape(served.key, summary)
    assume(not is_json(content))
    send = post(served, endpoint, content, {"Content-Type": content_type})
    assert_refused_and_nothing_changed(served, send)


def test_the_unspoiled_bodies_are_accepted(served: Served) -> None:
    """The bodies spoiled above are themselves valid, so what is refused is the spoiling."""
    for endpoint in ENDPOINTS:
        body = copy.deepcopy(full_body(endpoint, served.key))
        response = endpoint.post(served.client, served.key, json=body)
        assert response.status_code == endpoint.accepted, (endpoint.name, response.text)
