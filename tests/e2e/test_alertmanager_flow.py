"""Alertmanager v4 and Grafana webhook bodies (firing, re-sent, resolved) against `python main.py serve`."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.conftest import Deployment
from tests.server.wire import am_alert, am_body, grafana_body, kinds, row_counts, rows, unique

pytestmark = pytest.mark.e2e

FP_A, FP_B, FP_C = "1a30ba71cca2921f", "2b41cb82ddb3a32f", "3c52dc93eec4b43f"


def post(deployment: Deployment, body: dict[str, Any], alerts: int) -> None:
    response = deployment.alertmanager(body, "shop")
    assert response.status_code == 200, response.text
    assert response.json() == {"status": "success", "message": "Alerts processed", "alerts": alerts}


def last_event(deployment: Deployment) -> tuple[str, str, str | None, str]:
    [(fmt, action, dedup_key, outcome)] = rows(
        deployment.db, "SELECT format, action, dedup_key, outcome FROM events ORDER BY id DESC LIMIT 1"
    )
    return str(fmt), str(action), dedup_key, str(outcome)


def without_last_seen(detail: dict[str, Any]) -> dict[str, Any]:
    return {**detail, "alerts": [{k: v for k, v in a.items() if k != "last_seen"} for a in detail["alerts"]]}


def test_a_firing_group_opens_one_incident_with_one_alert_per_fingerprint(deployment: Deployment) -> None:
    title = unique("Probe failing")
    group = unique('{}/{severity="critical"}:{alertname="ProbeFailure"}')
    alerts = [
        am_alert(FP_A, summary=title, instance="https://a"),
        am_alert(FP_B, instance="https://b", severity="warning"),
    ]

    post(deployment, am_body(group, alerts), 2)

    detail = deployment.api.only_incident_titled(title)
    assert detail["status"] == "triggered"
    assert detail["priority"] == "high"
    assert detail["alert_count"] == detail["open_alerts"] == 2
    by_fingerprint = {alert["dedup_key"]: alert for alert in detail["alerts"]}
    assert set(by_fingerprint) == {FP_A, FP_B}
    assert by_fingerprint[FP_B]["summary"] == "ProbeFailure on https://b"
    assert by_fingerprint[FP_B]["priority"] == "low"
    assert by_fingerprint[FP_A]["source"] == "https://a"
    links = by_fingerprint[FP_A]["links"]
    assert {"href": "https://wiki/runbooks/probe", "text": "Runbook"} in links
    assert any(link["text"] == "Source" and link["href"].startswith("http://prom:9090/") for link in links)
    assert kinds(detail) == ["triggered", "alert_added"]
    assert {entry["actor"] for entry in detail["timeline"]} == {"Alertmanager (console)"}
    assert last_event(deployment) == ("alertmanager", "firing", None, "1 created, 1 added")


def test_reposting_the_same_body_creates_nothing_new(deployment: Deployment) -> None:
    title, group = unique("Probe failing"), unique("group")
    body = am_body(group, [am_alert(FP_A, summary=title), am_alert(FP_B, instance="https://b")])
    post(deployment, body, 2)
    first = deployment.api.only_incident_titled(title)
    before = row_counts(deployment.db)

    for _ in range(3):  # group_interval and repeat_interval re-sends
        post(deployment, body, 2)

    again = deployment.api.only_incident_titled(title)
    assert without_last_seen(again) == without_last_seen(first)
    assert [alert["repeat_count"] for alert in again["alerts"]] == [0, 0]
    assert row_counts(deployment.db) == {**before, "events": before["events"] + 3}
    assert last_event(deployment)[3] == "2 refreshed"


def test_a_new_alert_in_a_known_group_joins_its_incident(deployment: Deployment) -> None:
    title, group = unique("Probe failing"), unique("group")
    post(deployment, am_body(group, [am_alert(FP_A, summary=title)]), 1)

    post(deployment, am_body(group, [am_alert(FP_A, summary=title), am_alert(FP_C, instance="https://c")]), 2)

    detail = deployment.api.only_incident_titled(title)
    assert {alert["dedup_key"] for alert in detail["alerts"]} == {FP_A, FP_C}
    assert detail["alert_count"] == detail["open_alerts"] == 2
    assert kinds(detail) == ["triggered", "alert_added"]
    assert last_event(deployment)[3] == "1 refreshed, 1 added"


def test_the_same_fingerprint_in_another_group_is_another_incident(deployment: Deployment) -> None:
    title = unique("Probe failing")

    post(deployment, am_body(unique("group"), [am_alert(FP_A, summary=title)]), 1)
    post(deployment, am_body(unique("group"), [am_alert(FP_A, summary=title)]), 1)

    assert len(deployment.api.titled(title)) == 2


def test_a_resolved_alert_resolves_and_the_incident_resolves_when_all_have(deployment: Deployment) -> None:
    title, group = unique("Probe failing"), unique("group")
    a, b = am_alert(FP_A, summary=title), am_alert(FP_B, instance="https://b")
    a_resolved = am_alert(FP_A, summary=title, status="resolved")
    b_resolved = am_alert(FP_B, instance="https://b", status="resolved")
    post(deployment, am_body(group, [a, b]), 2)

    post(deployment, am_body(group, [a_resolved, b]), 2)
    partly = deployment.api.only_incident_titled(title)
    resolved_body = am_body(group, [a_resolved, b_resolved])
    assert resolved_body["status"] == "resolved"
    post(deployment, resolved_body, 2)
    resolved = deployment.api.only_incident_titled(title)
    before = row_counts(deployment.db)
    post(deployment, resolved_body, 2)  # re-sent: nothing to do

    assert partly["status"] == "triggered"
    assert partly["open_alerts"] == 1
    assert {alert["dedup_key"]: alert["status"] for alert in partly["alerts"]} == {
        FP_A: "resolved",
        FP_B: "triggered",
    }
    assert kinds(partly) == ["triggered", "alert_added", "alert_resolved"]
    assert resolved["status"] == "resolved"
    assert resolved["resolved_at"] is not None
    assert resolved["open_alerts"] == 0
    assert {alert["status"] for alert in resolved["alerts"]} == {"resolved"}
    assert kinds(resolved) == ["triggered", "alert_added", "alert_resolved", "resolved"]
    assert deployment.api.only_incident_titled(title) == resolved
    assert row_counts(deployment.db) == {**before, "events": before["events"] + 1}
    assert last_event(deployment) == ("alertmanager", "resolved", None, "2 dropped")


def test_a_group_firing_again_after_it_resolved_opens_a_new_incident(deployment: Deployment) -> None:
    title, group = unique("Probe failing"), unique("group")
    post(deployment, am_body(group, [am_alert(FP_A, summary=title)]), 1)
    post(deployment, am_body(group, [am_alert(FP_A, summary=title, status="resolved")]), 1)

    post(deployment, am_body(group, [am_alert(FP_A, summary=title)]), 1)

    newer, older = deployment.api.titled(title)
    assert (newer["status"], older["status"]) == ("triggered", "resolved")
    assert newer["number"] > older["number"]


def test_a_grafana_body_works_the_same(deployment: Deployment) -> None:
    title, group = unique("Grafana: probe failing"), unique("grafana-group")
    firing = grafana_body(group, [am_alert(FP_A, summary=title), am_alert(FP_B, instance="https://b")])
    assert firing["version"] == "1"
    assert firing["orgId"] == 1

    post(deployment, firing, 2)
    first = deployment.api.only_incident_titled(title)
    post(deployment, firing, 2)
    again = deployment.api.only_incident_titled(title)
    resolved_body = grafana_body(
        group,
        [
            am_alert(FP_A, summary=title, status="resolved"),
            am_alert(FP_B, instance="https://b", status="resolved"),
        ],
    )
    post(deployment, resolved_body, 2)
    resolved = deployment.api.only_incident_titled(title)

    assert first["alert_count"] == 2
    assert kinds(first) == ["triggered", "alert_added"]
    assert {entry["actor"] for entry in first["timeline"]} == {"Grafana (console)"}
    alert = next(alert for alert in first["alerts"] if alert["dedup_key"] == FP_A)
    assert {"href": "http://grafana/d/probe", "text": "Dashboard"} in alert["links"]
    assert {"href": "http://grafana/d/probe?viewPanel=2", "text": "Panel"} in alert["links"]
    assert alert["details"]["values"] == {"A": 0.0, "B": 1.5}
    assert without_last_seen(again) == without_last_seen(first)
    assert resolved["status"] == "resolved"
    assert kinds(resolved) == ["triggered", "alert_added", "alert_resolved", "resolved"]
    assert last_event(deployment)[:2] == ("grafana", "resolved")
