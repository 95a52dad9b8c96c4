"""Intake refusals: 401/403 for keys, 413 for size, 400 naming the field; a refusal stores nothing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.server.endpoints import ALERTMANAGER, CHANGE, ENDPOINTS, GENERIC, PAGERDUTY, WEBHOOKS, Endpoint
from tests.server.stack import Served
from tests.server.wire import am_alert, am_body, pd_follow_up, pd_trigger, row_counts, unique

MAX_BODY = 512 * 1024
UNKNOWN_KEY = "0123456789abcdef0123456789abcdef"

by_name = pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda e: e.name)


def error_body(response: httpx.Response) -> dict[str, Any]:
    """The JSON error of DESIGN.md §7: {"status", "message", "errors"}."""
    assert response.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = response.json()
    assert set(body) == {"status", "message", "errors"}, body
    assert isinstance(body["message"], str)
    assert body["message"]
    return body


def compact(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def padded(endpoint: Endpoint, key: str, size: int) -> bytes:
    """A valid body for `endpoint`, padded with a free-form string to exactly `size` bytes."""
    body = endpoint.valid(key)
    endpoint.filler(body, "")
    pad = size - len(compact(body))
    assert pad > 0
    endpoint.filler(body, "x" * pad)
    data = compact(body)
    assert len(data) == size
    return data


@by_name
def test_a_missing_key_is_refused_with_401_and_nothing_is_stored(served: Served, endpoint: Endpoint) -> None:
    body = endpoint.valid(served.key)
    body.pop("routing_key", None)
    before = row_counts(served.db)

    response = endpoint.post(served.client, None, json=body)

    assert response.status_code == 401
    error = error_body(response)
    assert error["status"] == "unauthorized"
    field = "routing_key" if endpoint.key_in_body else "Authorization"
    assert error["errors"] == [f"{field}: required"]
    assert row_counts(served.db) == before


def test_an_empty_routing_key_is_refused_with_401(served: Served) -> None:
    before = row_counts(served.db)

    response = PAGERDUTY.post(served.client, None, json=PAGERDUTY.valid(""))

    assert response.status_code == 401
    assert error_body(response)["errors"] == ["routing_key: required"]
    assert row_counts(served.db) == before


@pytest.mark.parametrize("endpoint", WEBHOOKS, ids=lambda e: e.name)
def test_a_webhook_without_a_key_is_told_to_send_a_bearer_token(served: Served, endpoint: Endpoint) -> None:
    response = endpoint.post(served.client, None, json=endpoint.valid(served.key))

    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


@by_name
def test_a_wrong_key_is_refused_with_403_naming_the_field_and_nothing_is_stored(
    served: Served, endpoint: Endpoint
) -> None:
    before = row_counts(served.db)

    response = endpoint.post(served.client, UNKNOWN_KEY, json=endpoint.valid(UNKNOWN_KEY))

    assert response.status_code == 403
    error = error_body(response)
    assert error["status"] == "forbidden"
    field = "routing_key" if endpoint.key_in_body else "Authorization"
    assert error["errors"] == [f"{field}: unknown key"]
    assert row_counts(served.db) == before


@pytest.mark.parametrize("endpoint", WEBHOOKS, ids=lambda e: e.name)
def test_a_wrong_key_in_the_query_string_is_refused_with_403_naming_key(
    served: Served, endpoint: Endpoint
) -> None:
    before = row_counts(served.db)

    response = served.client.post(endpoint.path, params={"key": UNKNOWN_KEY}, json=endpoint.valid(served.key))

    assert response.status_code == 403
    assert error_body(response)["errors"] == ["key: unknown key"]
    assert row_counts(served.db) == before


@pytest.mark.parametrize("endpoint", WEBHOOKS, ids=lambda e: e.name)
def test_a_webhook_key_may_be_sent_in_the_query_string(served: Served, endpoint: Endpoint) -> None:
    before = row_counts(served.db)

    response = served.client.post(endpoint.path, params={"key": served.key}, json=endpoint.valid(served.key))

    assert response.status_code == endpoint.accepted, response.text
    assert row_counts(served.db)["events"] == before["events"] + 1


@by_name
def test_a_body_over_512_kb_is_refused_with_413_and_nothing_is_stored(
    served: Served, endpoint: Endpoint
) -> None:
    before = row_counts(served.db)

    response = endpoint.post(served.client, served.key, content=padded(endpoint, served.key, MAX_BODY + 1))

    assert response.status_code == 413
    assert error_body(response)["status"] == "too large"
    assert row_counts(served.db) == before


@by_name
def test_a_chunked_body_over_512_kb_is_refused_with_413_and_nothing_is_stored(
    served: Served, endpoint: Endpoint
) -> None:
    """Without a Content-Length the server must count while it reads."""
    data = padded(endpoint, served.key, MAX_BODY + 64 * 1024)

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(data), 32 * 1024):
            yield data[start : start + 32 * 1024]

    before = row_counts(served.db)

    response = endpoint.post(served.client, served.key, content=chunks())

    assert response.status_code == 413
    assert error_body(response)["status"] == "too large"
    assert row_counts(served.db) == before


@by_name
def test_a_body_of_exactly_512_kb_is_accepted_and_stored(served: Served, endpoint: Endpoint) -> None:
    before = row_counts(served.db)

    response = endpoint.post(served.client, served.key, content=padded(endpoint, served.key, MAX_BODY))

    assert response.status_code == endpoint.accepted, response.text
    assert row_counts(served.db)["events"] == before["events"] + 1


@by_name
def test_bad_json_is_refused_with_400_naming_body_and_nothing_is_stored(
    served: Served, endpoint: Endpoint
) -> None:
    before = row_counts(served.db)

    response = endpoint.post(served.client, served.key, content=b'{"routing_key": "' + served.key.encode())

    assert response.status_code == 400
    error = error_body(response)
    assert error["status"] == "invalid event"
    assert len(error["errors"]) == 1
    assert error["errors"][0].startswith("body: ")
    assert row_counts(served.db) == before


@by_name
def test_an_empty_body_is_refused_with_400_naming_body(served: Served, endpoint: Endpoint) -> None:
    before = row_counts(served.db)

    response = endpoint.post(served.client, served.key, content=b"")

    assert response.status_code == 400
    assert error_body(response)["errors"][0].startswith("body: ")
    assert row_counts(served.db) == before


@pytest.mark.parametrize("endpoint", WEBHOOKS, ids=lambda e: e.name)
@pytest.mark.parametrize("value", [[], [1, 2], "text", 12, None, True], ids=repr)
def test_json_that_is_not_an_object_is_refused_with_400_naming_body(
    served: Served, endpoint: Endpoint, value: Any
) -> None:
    before = row_counts(served.db)

    response = endpoint.post(served.client, served.key, content=compact(value))

    assert response.status_code == 400
    assert error_body(response)["errors"] == ["body: expected an object"]
    assert row_counts(served.db) == before


def _pd(served: Served, **changes: Any) -> dict[str, Any]:
    body = pd_trigger(served.key, unique("dk"))
    body.update(changes)
    return body


def _severity(served: Served, severity: Any) -> dict[str, Any]:
    return pd_trigger(served.key, unique("dk"), severity=severity)


def _without(body: dict[str, Any], *path: str) -> dict[str, Any]:
    target = body
    for part in path[:-1]:
        target = target[part]
    del target[path[-1]]
    return body


BAD_FIELDS: list[tuple[str, Endpoint, Any, str]] = [
    ("pd-severity-capitalised", PAGERDUTY, lambda s: _severity(s, "Critical"), "payload.severity"),
    ("pd-severity-unknown", PAGERDUTY, lambda s: _severity(s, "sev1"), "payload.severity"),
    ("pd-severity-number", PAGERDUTY, lambda s: _severity(s, 1), "payload.severity"),
    ("pd-severity-missing", PAGERDUTY, lambda s: _without(_pd(s), "payload", "severity"), "payload.severity"),
    ("pd-summary-missing", PAGERDUTY, lambda s: _without(_pd(s), "payload", "summary"), "payload.summary"),
    ("pd-source-missing", PAGERDUTY, lambda s: _without(_pd(s), "payload", "source"), "payload.source"),
    ("pd-trigger-without-payload", PAGERDUTY, lambda s: _without(_pd(s), "payload"), "payload"),
    ("pd-payload-not-an-object", PAGERDUTY, lambda s: _pd(s, payload="disk full"), "payload"),
    ("pd-action-unknown", PAGERDUTY, lambda s: _pd(s, event_action="snooze"), "event_action"),
    ("pd-action-missing", PAGERDUTY, lambda s: _without(_pd(s), "event_action"), "event_action"),
    ("pd-dedup-key-too-long", PAGERDUTY, lambda s: _pd(s, dedup_key="k" * 256), "dedup_key"),
    ("pd-dedup-key-empty", PAGERDUTY, lambda s: _pd(s, dedup_key=""), "dedup_key"),
    ("pd-dedup-key-number", PAGERDUTY, lambda s: _pd(s, dedup_key=42), "dedup_key"),
    (
        "pd-resolve-without-key",
        PAGERDUTY,
        lambda s: _without(pd_follow_up(s.key, "resolve", "k"), "dedup_key"),
        "dedup_key",
    ),
    ("pd-link-without-href", PAGERDUTY, lambda s: _pd(s, links=[{"text": "x"}]), "links[0].href"),
    ("pd-image-without-src", PAGERDUTY, lambda s: _pd(s, images=[{"alt": "x"}]), "images[0].src"),
    (
        "pd-timestamp-not-a-time",
        PAGERDUTY,
        lambda s: pd_trigger(s.key, unique("dk"), timestamp="yesterday"),
        "payload.timestamp",
    ),
    (
        "change-without-summary",
        CHANGE,
        lambda s: {"routing_key": s.key, "payload": {"source": "ci"}},
        "payload.summary",
    ),
    ("change-without-payload", CHANGE, lambda s: {"routing_key": s.key}, "payload"),
    (
        "am-alert-status-unknown",
        ALERTMANAGER,
        lambda s: am_body(unique("g"), [am_alert("f1", status="pending")]),
        "alerts[0].status",
    ),
    (
        "am-group-key-missing",
        ALERTMANAGER,
        lambda s: _without(am_body(unique("g"), [am_alert("f1")]), "groupKey"),
        "groupKey",
    ),
    (
        "am-alerts-missing",
        ALERTMANAGER,
        lambda s: _without(am_body(unique("g"), [am_alert("f1")]), "alerts"),
        "alerts",
    ),
    (
        "am-label-not-a-string",
        ALERTMANAGER,
        lambda s: am_body(unique("g"), [{**am_alert("f1"), "labels": {"severity": 2}}]),
        "alerts[0].labels.severity",
    ),
    (
        "am-starts-at-not-a-time",
        ALERTMANAGER,
        lambda s: am_body(unique("g"), [{**am_alert("f1"), "startsAt": "soon"}]),
        "alerts[0].startsAt",
    ),
    ("generic-summary-missing", GENERIC, lambda s: {"dedup": "x"}, "summary"),
    ("generic-summary-empty", GENERIC, lambda s: {"summary": ""}, "summary"),
    ("generic-action-acknowledge", GENERIC, lambda s: {"summary": "x", "action": "acknowledge"}, "action"),
    ("generic-dedup-too-long", GENERIC, lambda s: {"summary": "x", "dedup": "d" * 256}, "dedup"),
]


@pytest.mark.parametrize(
    ("endpoint", "make", "field"), [c[1:] for c in BAD_FIELDS], ids=[c[0] for c in BAD_FIELDS]
)
def test_a_bad_field_is_refused_with_400_naming_the_field_and_nothing_is_stored(
    served: Served, endpoint: Endpoint, make: Any, field: str
) -> None:
    before = row_counts(served.db)

    response = endpoint.post(served.client, served.key, json=make(served))

    assert response.status_code == 400, response.text
    error = error_body(response)
    assert error["status"] == "invalid event"
    named = [message.partition(":")[0] for message in error["errors"]]
    assert field in named, error["errors"]
    assert row_counts(served.db) == before


@by_name
def test_deeply_nested_json_is_answered_without_a_server_error(served: Served, endpoint: Endpoint) -> None:
    """Valid JSON 300 levels deep in a free-form field: a sender retries a 5xx forever, so it must get
    a final answer; either it is refused (400, nothing stored) or stored like any other body."""
    body = endpoint.valid(served.key)
    nested: Any = []
    for _ in range(300):
        nested = [nested]
    endpoint.filler(body, nested)
    before = row_counts(served.db)

    response = endpoint.post(served.client, served.key, json=body)

    assert response.status_code < 500, response.text
    if response.status_code == 400:
        assert error_body(response)["errors"][0].startswith(("body", "payload", "details", "extra"))
        assert row_counts(served.db) == before
    else:
        assert response.status_code == endpoint.accepted
        assert row_counts(served.db)["events"] == before["events"] + 1


@by_name
@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity"])
def test_json_with_nan_or_infinity_is_refused_with_400_naming_body(
    served: Served, endpoint: Endpoint, token: str
) -> None:
    """NaN and Infinity are not JSON (RFC 8259): the raw body kept for audit must stay parseable."""
    body = endpoint.valid(served.key)
    endpoint.filler(body, 1.5)
    data = compact(body).replace(b"1.5", token.encode())
    before = row_counts(served.db)

    response = endpoint.post(served.client, served.key, content=data)

    assert response.status_code == 400, response.text
    assert error_body(response)["errors"][0].startswith("body")
    assert row_counts(served.db) == before
