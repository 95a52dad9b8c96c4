"""What monitoring sends, and how a test looks at what the server stored (shared by server and e2e tests).

Bodies follow ../shared/reference/wire-formats.md: PagerDuty Events v2, Alertmanager webhook v4 and
Grafana's webhook. Stored state is read straight from the SQLite file, read-only, beside the server.
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

import httpx

TABLES = ("events", "alerts", "incidents", "timeline")
AM_ZERO_TIME = "0001-01-01T00:00:00Z"


def unique(prefix: str) -> str:
    """A name no other test uses, so tests can share one server."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


# -- PagerDuty Events API v2 --


def pd_trigger(
    routing_key: str,
    dedup_key: str | None = None,
    *,
    summary: str = "Disk 95% on db01",
    severity: str = "critical",
    source: str = "db01.example.net",
    **payload: Any,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "routing_key": routing_key,
        "event_action": "trigger",
        "payload": {"summary": summary, "source": source, "severity": severity, **payload},
    }
    if dedup_key is not None:
        body["dedup_key"] = dedup_key
    return body


def pd_full_trigger(routing_key: str, dedup_key: str, summary: str) -> dict[str, Any]:
    """The example trigger of the PagerDuty docs, every optional field set."""
    return {
        "routing_key": routing_key,
        "event_action": "trigger",
        "dedup_key": dedup_key,
        "payload": {
            "summary": summary,
            "source": "db01.example.net",
            "severity": "critical",
            "timestamp": "2015-07-17T08:42:58.315+0000",
            "component": "disk",
            "group": "db",
            "class": "disk usage",
            "custom_details": {"mount": "/var"},
        },
        "images": [
            {"src": "https://grafana.local/render/abc.png", "href": "https://grafana.local", "alt": "x"}
        ],
        "links": [{"href": "https://grafana.local/d/abc", "text": "Dashboard"}],
        "client": "Prometheus",
        "client_url": "http://am:9093",
    }


def pd_follow_up(routing_key: str, action: str, dedup_key: str) -> dict[str, Any]:
    """A minimal acknowledge or resolve: only routing_key, dedup_key and event_action."""
    return {"routing_key": routing_key, "dedup_key": dedup_key, "event_action": action}


def pd_change(routing_key: str, summary: str) -> dict[str, Any]:
    return {
        "routing_key": routing_key,
        "payload": {
            "summary": summary,
            "source": "deploy-bot",
            "timestamp": "2026-02-06T13:08:45Z",
            "custom_details": {"build": 812},
        },
        "links": [{"href": "https://ci.example.net/812", "text": "Build"}],
    }


# -- Alertmanager webhook v4 and Grafana --


def am_alert(
    fingerprint: str,
    *,
    status: str = "firing",
    alertname: str = "ProbeFailure",
    instance: str = "https://shop",
    severity: str = "critical",
    summary: str | None = None,
) -> dict[str, Any]:
    annotations = {"runbook_url": "https://wiki/runbooks/probe"}
    if summary is not None:
        annotations["summary"] = summary
    return {
        "status": status,
        "labels": {"alertname": alertname, "instance": instance, "severity": severity},
        "annotations": annotations,
        "startsAt": "2026-02-06T13:08:45.828Z",
        "endsAt": AM_ZERO_TIME if status == "firing" else "2026-02-06T13:20:45.828Z",
        "generatorURL": "http://prom:9090/graph?g0.expr=probe_success%3D%3D0",
        "fingerprint": fingerprint,
    }


def am_body(group_key: str, alerts: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """A version 4 message; the group is `resolved` only when every alert in it is."""
    resolved = all(alert["status"] == "resolved" for alert in alerts)
    return {
        "version": "4",
        "groupKey": group_key,
        "truncatedAlerts": 0,
        "status": "resolved" if resolved else "firing",
        "receiver": "console",
        "groupLabels": {"alertname": "ProbeFailure"},
        "commonLabels": {"alertname": "ProbeFailure", "severity": "critical"},
        "commonAnnotations": {"summary": "Probe failing"},
        "externalURL": "http://am:9093",
        "notification_reason": "first notification",
        "alerts": [dict(alert) for alert in alerts],
    }


def grafana_body(group_key: str, alerts: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Grafana-managed alerting: the Alertmanager shape with version "1", orgId and extra fields."""
    body = am_body(group_key, alerts)
    firing = body["status"] == "firing"
    body.update(
        version="1",
        orgId=1,
        title="[FIRING:1] ProbeFailure" if firing else "[RESOLVED] ProbeFailure",
        message="Probe failing on shop",
        state="alerting" if firing else "ok",
    )
    body.pop("notification_reason")
    for alert in body["alerts"]:
        alert.update(
            silenceURL="http://grafana/alerting/silence/new",
            dashboardURL="http://grafana/d/probe",
            panelURL="http://grafana/d/probe?viewPanel=2",
            values={"A": 0.0, "B": 1.5},
            valueString="[ var='A' value=0 ]",
            ruleUID="abc123",
            orgId=1,
        )
    return body


# -- stored state --


@contextmanager
def read_only(db: Path) -> Iterator[sqlite3.Connection]:
    """A read-only connection to the server's SQLite file (WAL: it never blocks the server)."""
    with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)) as conn:
        yield conn


def rows(db: Path, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    with read_only(db) as conn:
        return conn.execute(sql, params).fetchall()


def row_counts(db: Path) -> dict[str, int]:
    with read_only(db) as conn:
        return {table: conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0] for table in TABLES}


def events_with_dedup_key(db: Path, dedup_key: str) -> list[tuple[str, str, str]]:
    """(format, action, outcome) of each stored event carrying this dedup key, oldest first."""
    return [
        (str(f), str(a), str(o))
        for f, a, o in rows(
            db, "SELECT format, action, outcome FROM events WHERE dedup_key = ? ORDER BY id", (dedup_key,)
        )
    ]


# -- the read API --


class ReadApi:
    """`GET /api/v1/incidents[/{id}]` with a user token."""

    def __init__(self, client: httpx.Client, token: str) -> None:
        self.client = client
        self.headers = {"Authorization": f"Bearer {token}"}

    def page(self, **params: Any) -> dict[str, Any]:
        response = self.client.get("/api/v1/incidents", params=params, headers=self.headers)
        assert response.status_code == 200, response.text
        page: dict[str, Any] = response.json()
        return page

    def incidents(self, **params: Any) -> list[dict[str, Any]]:
        """Every incident matching `params`, newest first, following next_cursor to the end."""
        found: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            page = self.page(**params, limit=200, **({"cursor": cursor} if cursor else {}))
            found.extend(page["incidents"])
            cursor = page["next_cursor"]
            if cursor is None:
                return found

    def titled(self, title: str) -> list[dict[str, Any]]:
        return [incident for incident in self.incidents() if incident["title"] == title]

    def incident(self, incident_id: str) -> dict[str, Any]:
        response = self.client.get(f"/api/v1/incidents/{incident_id}", headers=self.headers)
        assert response.status_code == 200, response.text
        detail: dict[str, Any] = response.json()
        return detail

    def only_incident_titled(self, title: str) -> dict[str, Any]:
        matching = self.titled(title)
        assert len(matching) == 1, matching
        return self.incident(matching[0]["id"])


def kinds(detail: Mapping[str, Any]) -> list[str]:
    return [entry["kind"] for entry in detail["timeline"]]
