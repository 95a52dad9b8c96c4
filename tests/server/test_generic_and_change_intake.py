"""The generic JSON form for scripts, and PagerDuty change events (stored on the timeline, never paging)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.server.stack import Served
from tests.server.wire import events_with_dedup_key, kinds, pd_change, pd_trigger, row_counts, rows, unique


def post_generic(served: Served, body: dict[str, Any]) -> dict[str, Any]:
    response = served.client.post("/integrations/generic", json=body, headers=served.bearer())
    assert response.status_code == 202, response.text
    answer: dict[str, Any] = response.json()
    return answer


def test_a_generic_trigger_opens_an_incident_and_answers_its_dedup_key(served: Served) -> None:
    summary, dedup = unique("backup failed"), unique("backup")
    body = {
        "summary": summary,
        "dedup": dedup,
        "severity": "warning",
        "source": "cron@host",
        "details": {"n": 3},
    }

    answer = post_generic(served, body)

    assert answer == {"status": "success", "message": "Event processed", "dedup_key": dedup}
    detail = served.api.only_incident_titled(summary)
    assert detail["priority"] == "low"
    assert detail["service"]["name"] == "shop"
    [alert] = detail["alerts"]
    assert alert["dedup_key"] == dedup
    assert alert["source"] == "cron@host"
    assert alert["details"] == {"details": {"n": 3}}
    assert kinds(detail) == ["triggered"]
    [(fmt, action, outcome)] = events_with_dedup_key(served.db, dedup)
    assert (fmt, action, outcome) == ("generic", "trigger", "created")


def test_a_generic_event_without_dedup_is_keyed_by_its_summary_and_details(served: Served) -> None:
    summary = unique("queue backlog")

    first = post_generic(served, {"summary": summary, "details": {"queue": "mail"}})
    again = post_generic(served, {"summary": summary, "details": {"queue": "mail"}})
    other = post_generic(served, {"summary": summary, "details": {"queue": "sms"}})

    assert first["dedup_key"] == again["dedup_key"] != other["dedup_key"]
    incidents = served.api.titled(summary)
    assert len(incidents) == 2
    repeats = sorted(
        served.api.incident(incident["id"])["alerts"][0]["repeat_count"] for incident in incidents
    )
    assert repeats == [0, 1]


def test_a_generic_resolve_resolves_the_alert_and_its_incident(served: Served) -> None:
    summary, dedup = unique("cert expiring"), unique("cert")
    post_generic(served, {"summary": summary, "dedup": dedup})

    post_generic(served, {"summary": summary, "dedup": dedup, "action": "resolve"})

    detail = served.api.only_incident_titled(summary)
    assert detail["status"] == "resolved"
    assert detail["resolved_at"] is not None
    assert detail["alerts"][0]["status"] == "resolved"
    assert kinds(detail) == ["triggered", "resolved"]


def test_a_generic_resolve_of_an_unknown_key_is_accepted_but_dropped(served: Served) -> None:
    dedup = unique("never-triggered")
    before = row_counts(served.db)

    answer = post_generic(served, {"summary": "whatever", "dedup": dedup, "action": "resolve"})

    assert answer["dedup_key"] == dedup
    assert events_with_dedup_key(served.db, dedup) == [("generic", "resolve", "dropped")]
    after = row_counts(served.db)
    assert after == {**before, "events": before["events"] + 1}


@pytest.mark.parametrize(
    ("severity", "priority"),
    [
        ("critical", "high"),
        ("error", "high"),
        ("warning", "low"),
        ("info", "low"),
        (None, "high"),
        ("P3", "low"),
        ("something-new", "high"),
    ],
)
def test_a_generic_severity_label_sets_the_priority(
    served: Served, severity: str | None, priority: str
) -> None:
    summary = unique("sev")
    body: dict[str, Any] = {"summary": summary}
    if severity is not None:
        body["severity"] = severity

    post_generic(served, body)

    assert served.api.only_incident_titled(summary)["priority"] == priority


def test_a_change_event_is_stored_on_the_service_timeline_and_opens_no_incident(served: Served) -> None:
    summary = unique("deployed checkout v2")
    body = pd_change(served.keys["payments"], summary)
    incidents_before = served.api.incidents()
    before = row_counts(served.db)

    response = served.client.post("/v2/change/enqueue", json=body)

    assert response.status_code == 202
    assert response.json() == {"status": "success", "message": "Change event processed"}
    after = row_counts(served.db)
    assert after == {**before, "events": before["events"] + 1, "timeline": before["timeline"] + 1}
    assert served.api.incidents() == incidents_before
    [(incident_id, service_id, kind, entry_body)] = rows(
        served.db,
        "SELECT incident_id, service_id, kind, body FROM timeline WHERE kind = 'change' AND body LIKE ?",
        (f"%{summary}%",),
    )
    assert incident_id is None
    assert service_id == served.service_ids["payments"]
    assert kind == "change"
    stored = json.loads(entry_body)
    assert stored["summary"] == summary
    assert stored["source"] == "deploy-bot"
    assert stored["custom_details"] == {"build": 812}
    assert stored["links"] == [{"href": "https://ci.example.net/812", "text": "Build"}]
    [(fmt, action, outcome, raw)] = rows(
        served.db, "SELECT format, action, outcome, raw FROM events ORDER BY id DESC LIMIT 1"
    )
    assert (fmt, action, outcome) == ("pagerduty-change", "change", "stored")
    assert json.loads(raw) == body


def test_a_change_event_does_not_touch_the_open_incident_of_its_service(served: Served) -> None:
    summary = unique("payments down")
    trigger = pd_trigger(served.keys["payments"], unique("dk"), summary=summary)
    assert served.client.post("/v2/enqueue", json=trigger).status_code == 202
    incident = served.api.only_incident_titled(summary)

    response = served.client.post(
        "/v2/change/enqueue", json=pd_change(served.keys["payments"], unique("deploy"))
    )

    assert response.status_code == 202
    assert served.api.incident(incident["id"]) == incident


def test_integers_beyond_64_bits_in_details_are_stored_as_sent(served: Served) -> None:
    # JSON and the models take them; orjson writes none, and the batch holding one failed with a 500
    big = 2**64 + 1
    summary = unique("big value")
    body = {
        "version": "4",
        "groupKey": unique("big"),
        "status": "firing",
        "receiver": "r",
        "alerts": [
            {
                "status": "firing",
                "labels": {"alertname": "Big"},
                "annotations": {"summary": summary},
                "startsAt": "2026-11-28T05:00:00Z",
                "values": {"A": big},
            }
        ],
    }
    answer = served.client.post("/integrations/alertmanager", json=body, headers=served.bearer("shop"))
    assert answer.status_code == 200, answer.text
    trigger = pd_trigger(served.keys["shop"], unique("dk"), summary=unique("big detail"))
    trigger["payload"]["custom_details"] = {"bytes": big}
    assert served.client.post("/v2/enqueue", json=trigger).status_code == 202
    [(details,)] = rows(served.db, f"SELECT details FROM alerts WHERE summary = '{summary}'")
    assert f'"A":{big}' in details
    [(pd_details,)] = rows(
        served.db, f"SELECT details FROM alerts WHERE summary = '{trigger['payload']['summary']}'"
    )
    assert f'"bytes":{big}' in pd_details
