"""PagerDuty Events v2 sequences replayed against `python main.py serve`, checked through the read API."""

from __future__ import annotations

import re

import pytest

from tests.e2e.conftest import Deployment
from tests.server.wire import events_with_dedup_key, kinds, pd_follow_up, pd_trigger, row_counts, unique

pytestmark = pytest.mark.e2e


def accepted(deployment: Deployment, body: dict[str, object]) -> str:
    """POST /v2/enqueue, check PagerDuty's 202 body, return the dedup_key it answered."""
    response = deployment.enqueue(body)
    assert response.status_code == 202, response.text
    answer = response.json()
    assert answer["status"] == "success"
    assert answer["message"] == "Event processed"
    dedup_key: str = answer["dedup_key"]
    if "dedup_key" in body:
        assert dedup_key == body["dedup_key"]
    return dedup_key


def test_a_trigger_opens_a_triggered_incident(deployment: Deployment) -> None:
    title, key = unique("Disk 95% on db01"), unique("db01/disk")

    accepted(deployment, pd_trigger(deployment.keys["shop"], key, summary=title, component="disk"))

    detail = deployment.api.only_incident_titled(title)
    assert detail["status"] == "triggered"
    assert detail["priority"] == "high"
    assert detail["category"] == "disk"
    assert detail["service"]["name"] == "shop"
    assert detail["alert_count"] == detail["open_alerts"] == 1
    [alert] = detail["alerts"]
    assert (alert["dedup_key"], alert["status"], alert["repeat_count"]) == (key, "triggered", 0)
    assert kinds(detail) == ["triggered"]
    assert events_with_dedup_key(deployment.db, key) == [("pagerduty", "trigger", "created")]


def test_a_trigger_with_the_same_dedup_key_repeats_on_the_same_alert(deployment: Deployment) -> None:
    title, key = unique("CPU hot"), unique("cpu")
    before = row_counts(deployment.db)

    for _ in range(3):
        accepted(deployment, pd_trigger(deployment.keys["shop"], key, summary=title))

    detail = deployment.api.only_incident_titled(title)
    [alert] = detail["alerts"]
    assert alert["dedup_key"] == key
    assert alert["repeat_count"] == 2
    assert alert["last_seen"] > alert["first_seen"]
    assert detail["alert_count"] == 1
    assert kinds(detail) == ["triggered", "alert_repeated", "alert_repeated"]
    assert [entry["body"]["repeat_count"] for entry in detail["timeline"][1:]] == [1, 2]
    assert events_with_dedup_key(deployment.db, key) == [
        ("pagerduty", "trigger", "created"),
        ("pagerduty", "trigger", "repeated"),
        ("pagerduty", "trigger", "repeated"),
    ]
    after = row_counts(deployment.db)
    assert after["incidents"] == before["incidents"] + 1
    assert after["alerts"] == before["alerts"] + 1


def test_a_trigger_without_a_dedup_key_creates_a_new_alert_each_time(deployment: Deployment) -> None:
    title = unique("Probe failing")

    first = accepted(deployment, pd_trigger(deployment.keys["shop"], summary=title))
    second = accepted(deployment, pd_trigger(deployment.keys["shop"], summary=title))

    assert first != second
    for generated in (first, second):
        assert re.fullmatch(r"[0-9a-f]{32}", generated), generated
    incidents = deployment.api.titled(title)
    assert len(incidents) == 2
    stored = {deployment.api.incident(incident["id"])["alerts"][0]["dedup_key"] for incident in incidents}
    assert stored == {first, second}
    # the generated key works for the follow-ups, as Alertmanager uses it
    accepted(deployment, pd_follow_up(deployment.keys["shop"], "resolve", first))
    details = [deployment.api.incident(incident["id"]) for incident in incidents]
    statuses = {detail["alerts"][0]["dedup_key"]: detail["status"] for detail in details}
    assert statuses == {first: "resolved", second: "triggered"}


def test_acknowledge_then_resolve_moves_the_incident_through_its_states(deployment: Deployment) -> None:
    title, key = unique("Replication lag"), unique("lag")
    shop = deployment.keys["shop"]
    accepted(deployment, pd_trigger(shop, key, summary=title))

    accepted(deployment, pd_follow_up(shop, "acknowledge", key))
    acknowledged = deployment.api.only_incident_titled(title)
    accepted(deployment, pd_trigger(shop, key, summary=title))  # a trigger after the ack: still acknowledged
    still = deployment.api.only_incident_titled(title)
    accepted(deployment, pd_follow_up(shop, "resolve", key))
    resolved = deployment.api.only_incident_titled(title)

    assert acknowledged["status"] == "acknowledged"
    assert acknowledged["acknowledged_at"] is not None
    assert acknowledged["alerts"][0]["status"] == "acknowledged"
    assert still["status"] == "acknowledged"
    assert still["alerts"][0]["repeat_count"] == 1
    assert resolved["status"] == "resolved"
    assert resolved["resolved_at"] is not None
    assert resolved["open_alerts"] == 0
    assert resolved["alerts"][0]["status"] == "resolved"
    assert kinds(resolved) == ["triggered", "acknowledged", "alert_repeated", "resolved"]
    assert [outcome for _, _, outcome in events_with_dedup_key(deployment.db, key)] == [
        "created",
        "acknowledged",
        "repeated",
        "resolved",
    ]


@pytest.mark.parametrize("action", ["acknowledge", "resolve"])
def test_a_follow_up_for_an_unknown_key_is_accepted_but_dropped(deployment: Deployment, action: str) -> None:
    key = unique("never-seen")
    before = row_counts(deployment.db)

    accepted(deployment, pd_follow_up(deployment.keys["shop"], action, key))

    assert events_with_dedup_key(deployment.db, key) == [("pagerduty", action, "dropped")]
    assert row_counts(deployment.db) == {**before, "events": before["events"] + 1}


@pytest.mark.parametrize("action", ["acknowledge", "resolve"])
def test_a_follow_up_for_a_resolved_key_is_accepted_but_dropped(deployment: Deployment, action: str) -> None:
    title, key = unique("Queue stuck"), unique("queue")
    shop = deployment.keys["shop"]
    accepted(deployment, pd_trigger(shop, key, summary=title))
    accepted(deployment, pd_follow_up(shop, "resolve", key))
    resolved = deployment.api.only_incident_titled(title)
    before = row_counts(deployment.db)

    accepted(deployment, pd_follow_up(shop, action, key))

    assert deployment.api.only_incident_titled(title) == resolved
    assert events_with_dedup_key(deployment.db, key)[-1] == ("pagerduty", action, "dropped")
    assert row_counts(deployment.db) == {**before, "events": before["events"] + 1}


def test_a_trigger_after_resolve_opens_a_new_incident(deployment: Deployment) -> None:
    title, key = unique("Checkout 500s"), unique("5xx")
    shop = deployment.keys["shop"]
    accepted(deployment, pd_trigger(shop, key, summary=title))
    accepted(deployment, pd_follow_up(shop, "resolve", key))

    accepted(deployment, pd_trigger(shop, key, summary=title))

    newer, older = deployment.api.titled(title)  # newest first
    assert newer["id"] != older["id"]
    assert newer["number"] > older["number"]
    assert older["status"] == "resolved"
    assert newer["status"] == "triggered"
    old_alert = deployment.api.incident(older["id"])["alerts"]
    new_alert = deployment.api.incident(newer["id"])["alerts"]
    assert [a["dedup_key"] for a in old_alert] == [a["dedup_key"] for a in new_alert] == [key]
    assert old_alert[0]["id"] != new_alert[0]["id"]
    assert old_alert[0]["status"] == "resolved"
    assert new_alert[0]["repeat_count"] == 0
    # and the follow-ups now go to the new incident only
    accepted(deployment, pd_follow_up(shop, "acknowledge", key))
    assert deployment.api.incident(newer["id"])["status"] == "acknowledged"
    assert deployment.api.incident(older["id"])["status"] == "resolved"


def test_follow_ups_match_only_the_routing_key_of_the_trigger(deployment: Deployment) -> None:
    title, key = unique("Shared key"), unique("same-key")
    shop, payments = deployment.keys["shop"], deployment.keys["payments"]
    accepted(deployment, pd_trigger(shop, key, summary=title))

    accepted(deployment, pd_follow_up(payments, "acknowledge", key))
    accepted(deployment, pd_follow_up(payments, "resolve", key))

    [incident] = deployment.api.titled(title)
    assert incident["status"] == "triggered"
    assert [outcome for _, _, outcome in events_with_dedup_key(deployment.db, key)] == [
        "created",
        "dropped",
        "dropped",
    ]

    # the same key on the other integration is another alert, on another service
    accepted(deployment, pd_trigger(payments, key, summary=title))
    incidents = deployment.api.titled(title)
    assert sorted(i["service"]["name"] for i in incidents) == ["payments", "shop"]
    accepted(deployment, pd_follow_up(payments, "resolve", key))
    by_service = {i["service"]["name"]: i["status"] for i in deployment.api.titled(title)}
    assert by_service == {"shop": "triggered", "payments": "resolved"}


@pytest.mark.parametrize(
    ("severity", "priority"), [("critical", "high"), ("error", "high"), ("warning", "low"), ("info", "low")]
)
def test_the_severity_of_the_trigger_sets_the_priority(
    deployment: Deployment, severity: str, priority: str
) -> None:
    title = unique("sev")

    accepted(deployment, pd_trigger(deployment.keys["shop"], unique("k"), summary=title, severity=severity))

    detail = deployment.api.only_incident_titled(title)
    assert detail["priority"] == priority
    assert detail["alerts"][0]["severity"] == severity


def test_a_repeat_with_a_higher_severity_raises_the_priority(deployment: Deployment) -> None:
    title, key = unique("Slow queries"), unique("slow")
    shop = deployment.keys["shop"]
    accepted(deployment, pd_trigger(shop, key, summary=title, severity="warning"))
    assert deployment.api.only_incident_titled(title)["priority"] == "low"

    accepted(deployment, pd_trigger(shop, key, summary=title, severity="critical"))

    detail = deployment.api.only_incident_titled(title)
    assert detail["priority"] == "high"
    assert kinds(detail) == ["triggered", "alert_repeated", "priority_raised"]
