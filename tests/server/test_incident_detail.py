"""One incident read back with everything the PagerDuty example trigger carried."""

from __future__ import annotations

from tests.server.stack import Served
from tests.server.wire import pd_full_trigger


def test_an_incident_is_read_with_its_alerts_and_timeline(served: Served) -> None:
    key = served.keys["shop"]
    response = served.client.post("/v2/enqueue", json=pd_full_trigger(key, "full-1", "Disk 95% on db01"))
    assert response.status_code == 202
    [listed] = served.api.titled("Disk 95% on db01")

    detail = served.api.incident(listed["id"])

    assert {k: v for k, v in detail.items() if k not in ("alerts", "timeline")} == listed
    assert detail["service"] == {"id": served.service_ids["shop"], "name": "shop"}
    assert detail["priority"] == "high"
    assert detail["category"] == "disk usage"
    assert detail["status"] == "triggered"
    [alert] = detail["alerts"]
    assert alert["dedup_key"] == "full-1"
    assert alert["summary"] == "Disk 95% on db01"
    assert alert["source"] == "db01.example.net"
    assert alert["severity"] == "critical"
    assert alert["component"] == "disk"
    assert alert["group"] == "db"
    assert alert["class_"] == "disk usage"
    assert alert["details"]["custom_details"] == {"mount": "/var"}
    assert {"href": "https://grafana.local/d/abc", "text": "Dashboard"} in alert["links"]
    assert {"href": "http://am:9093", "text": "Prometheus"} in alert["links"]
    [entry] = detail["timeline"]
    assert entry["kind"] == "triggered"
    assert entry["actor"] == "Prometheus"
    assert entry["body"]["severity"] == "critical"
