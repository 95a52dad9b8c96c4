"""The read API: user tokens, filters, newest first, cursor pagination, errors naming the field."""

from __future__ import annotations

import base64
import json
from datetime import datetime
from typing import Any

import httpx
import pytest

from tests.server.stack import Served
from tests.server.wire import pd_follow_up, pd_trigger

# (service, title, severity, what happens after the trigger)
POPULATION = [
    ("shop", "shop-a", "critical", None),
    ("shop", "shop-b", "warning", "acknowledge"),
    ("shop", "shop-c", "info", "resolve"),
    ("payments", "pay-a", "error", None),
    ("payments", "pay-b", "critical", "resolve"),
    ("payments", "pay-c", "warning", "acknowledge"),
]
ALL = {title for _, title, _, _ in POPULATION}


@pytest.fixture(scope="module")
def population(served: Served) -> Served:
    """Six incidents, made one after the other (so their creation times differ)."""
    for service, title, severity, then in POPULATION:
        key = served.keys[service]
        response = served.client.post(
            "/v2/enqueue", json=pd_trigger(key, title, summary=title, severity=severity)
        )
        assert response.status_code == 202, response.text
        if then:
            response = served.client.post("/v2/enqueue", json=pd_follow_up(key, then, title))
            assert response.status_code == 202, response.text
    return served


def titles(incidents: list[dict[str, Any]]) -> set[str]:
    return {incident["title"] for incident in incidents}


def get(served: Served, path: str, token: str | None = None, **params: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token or served.token}"}
    return served.client.get(path, params=params, headers=headers)


def error(response: httpx.Response) -> dict[str, Any]:
    body: dict[str, Any] = response.json()
    assert set(body) == {"status", "message", "errors"}, body
    return body


@pytest.mark.parametrize("path", ["/api/v1/incidents", "/api/v1/incidents/some-id"])
def test_reading_without_a_token_is_refused_with_401(population: Served, path: str) -> None:
    response = population.client.get(path)

    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert error(response)["errors"] == ["Authorization: required"]


def test_reading_with_a_basic_authorization_is_refused_with_401(population: Served) -> None:
    response = population.client.get("/api/v1/incidents", headers={"Authorization": "Basic dXNlcjpwYXNz"})

    assert response.status_code == 401


@pytest.mark.parametrize("path", ["/api/v1/incidents", "/api/v1/incidents/some-id"])
def test_reading_with_a_wrong_token_is_refused_with_403(population: Served, path: str) -> None:
    response = get(population, path, token="not-a-token-anyone-was-given")

    assert response.status_code == 403
    assert error(response)["errors"] == ["Authorization: unknown token"]


def test_an_integration_key_is_not_a_user_token(population: Served) -> None:
    response = get(population, "/api/v1/incidents", token=population.key)

    assert response.status_code == 403


def test_incidents_come_newest_first(population: Served) -> None:
    incidents = population.api.incidents()

    assert titles(incidents) == ALL
    created = [datetime.fromisoformat(incident["created_at"]) for incident in incidents]
    assert created == sorted(created, reverse=True)
    assert [incident["title"] for incident in incidents] == [title for _, title, _, _ in reversed(POPULATION)]
    numbers = [incident["number"] for incident in incidents]
    assert numbers == sorted(numbers, reverse=True)
    assert len(set(numbers)) == len(numbers)


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("triggered", {"shop-a", "pay-a"}),
        ("acknowledged", {"shop-b", "pay-c"}),
        ("resolved", {"shop-c", "pay-b"}),
        ("closed", set()),
        ("open", {"shop-a", "pay-a", "shop-b", "pay-c"}),
        ("triggered,acknowledged", {"shop-a", "pay-a", "shop-b", "pay-c"}),
        ("open,resolved", ALL),
        (" resolved , triggered ", {"shop-c", "pay-b", "shop-a", "pay-a"}),
    ],
)
def test_incidents_can_be_filtered_by_status(population: Served, status: str, expected: set[str]) -> None:
    incidents = population.api.incidents(status=status)

    assert titles(incidents) == expected
    asked = {part.strip() for part in status.split(",")}
    if "open" in asked:
        asked |= {"triggered", "acknowledged"}
    assert {incident["status"] for incident in incidents} <= asked


@pytest.mark.parametrize(
    ("priority", "expected"),
    [("high", {"shop-a", "pay-a", "pay-b"}), ("low", {"shop-b", "shop-c", "pay-c"})],
)
def test_incidents_can_be_filtered_by_priority(population: Served, priority: str, expected: set[str]) -> None:
    incidents = population.api.incidents(priority=priority)

    assert titles(incidents) == expected
    assert {incident["priority"] for incident in incidents} == {priority}


@pytest.mark.parametrize("by", ["name", "id"])
def test_incidents_can_be_filtered_by_service_name_or_id(population: Served, by: str) -> None:
    service = "payments" if by == "name" else str(population.service_ids["payments"])

    incidents = population.api.incidents(service=service)

    assert titles(incidents) == {"pay-a", "pay-b", "pay-c"}
    assert {incident["service"]["name"] for incident in incidents} == {"payments"}
    assert {incident["service"]["id"] for incident in incidents} == {population.service_ids["payments"]}


def test_a_service_without_incidents_lists_none(population: Served) -> None:
    assert population.api.incidents(service="checkout") == []
    assert population.api.incidents(service="no-such-service") == []
    assert population.api.incidents(service="987654") == []


def test_filters_combine(population: Served) -> None:
    incidents = population.api.incidents(service="shop", status="open", priority="low")

    assert titles(incidents) == {"shop-b"}


@pytest.mark.parametrize("limit", [1, 2, 4, 5, 6, 7])
def test_cursor_pagination_walks_every_incident_exactly_once(population: Served, limit: int) -> None:
    everything = population.api.page(limit=500)["incidents"]
    walked: list[dict[str, Any]] = []
    cursor: str | None = None
    pages = 0
    while True:
        page = population.api.page(limit=limit, **({"cursor": cursor} if cursor else {}))
        pages += 1
        assert len(page["incidents"]) <= limit
        walked += page["incidents"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
        assert len(page["incidents"]) == limit
        assert pages <= len(POPULATION)

    assert [incident["id"] for incident in walked] == [incident["id"] for incident in everything]
    assert len({incident["id"] for incident in walked}) == len(POPULATION)


def test_cursor_pagination_keeps_the_filters(population: Served) -> None:
    walked: list[str] = []
    cursor: str | None = None
    while True:
        page = population.api.page(limit=1, status="open", **({"cursor": cursor} if cursor else {}))
        walked += [incident["title"] for incident in page["incidents"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break

    assert walked == ["pay-c", "pay-a", "shop-b", "shop-a"]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"status": "bogus"}, "status"),
        ({"status": "open,snoozed"}, "status"),
        ({"priority": "urgent"}, "priority"),
        ({"cursor": "!!!"}, "cursor"),
        ({"cursor": "bm90IGpzb24"}, "cursor"),  # base64 of "not json"
        ({"cursor": base64.urlsafe_b64encode(b'{"a": 1}').decode()}, "cursor"),
        ({"cursor": base64.urlsafe_b64encode(b'["yesterday", "x"]').decode()}, "cursor"),
        ({"limit": "0"}, "limit"),
        ({"limit": "501"}, "limit"),
        ({"limit": "ten"}, "limit"),
    ],
)
def test_a_bad_query_parameter_is_refused_with_400_naming_it(
    population: Served, params: dict[str, str], field: str
) -> None:
    response = get(population, "/api/v1/incidents", **params)

    assert response.status_code == 400
    body = error(response)
    assert body["status"] == "invalid request"
    assert [message.partition(":")[0] for message in body["errors"]] == [field]


def test_a_forged_cursor_without_a_time_zone_is_refused_naming_cursor(population: Served) -> None:
    """The server's cursors carry UTC times; one made by hand with a naive time is not one of them."""
    cursor = base64.urlsafe_b64encode(json.dumps(["2026-01-01T00:00:00", "x"]).encode()).decode()

    response = get(population, "/api/v1/incidents", cursor=cursor)

    assert response.status_code in (200, 400), response.text
    if response.status_code == 400:
        assert [message.partition(":")[0] for message in error(response)["errors"]] == ["cursor"]


@pytest.mark.parametrize("service", ["99999999999999999999999", "²", "١٢"])
def test_a_service_filter_of_odd_digits_is_answered_without_a_server_error(
    population: Served, service: str
) -> None:
    """Huge numbers and non-ASCII digits are no service id here: no incident matches, or 400."""
    response = get(population, "/api/v1/incidents", service=service)

    assert response.status_code in (200, 400), response.text
    if response.status_code == 200:
        assert response.json()["incidents"] == []
    else:
        assert [message.partition(":")[0] for message in error(response)["errors"]] == ["service"]


def test_an_unknown_incident_is_answered_404_in_json(population: Served) -> None:
    response = get(population, "/api/v1/incidents/0190a0c0-0000-7000-8000-000000000000")

    assert response.status_code == 404
    assert error(response)["status"] == "not found"


def test_health_is_answered_without_a_token(population: Served) -> None:
    response = population.client.get("/healthz")

    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_the_openapi_document_lists_the_intake_and_read_paths(population: Served) -> None:
    response = population.client.get("/openapi.json")

    assert response.status_code == 200
    document = response.json()
    paths = document["paths"]
    for path in ("/v2/enqueue", "/v2/change/enqueue", "/integrations/alertmanager", "/integrations/generic"):
        assert "post" in paths[path], path
        ref = paths[path]["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
        assert ref.removeprefix("#/components/schemas/") in document["components"]["schemas"], ref
    assert "get" in paths["/api/v1/incidents"]
    assert "get" in paths["/api/v1/incidents/{incident_id}"]
    parameters = {parameter["name"] for parameter in paths["/api/v1/incidents"]["get"]["parameters"]}
    assert {"status", "priority", "service", "limit", "cursor"} <= parameters
