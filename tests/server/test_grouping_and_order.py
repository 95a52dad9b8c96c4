"""Grouping by dependency along a chain of parents, and the order of what an incident shows."""

from __future__ import annotations

from tests.server.stack import Served
from tests.server.wire import am_alert, am_body, kinds, pd_follow_up, pd_trigger, row_counts, unique


def trigger(served: Served, service: str, dedup_key: str, summary: str) -> None:
    response = served.client.post(
        "/v2/enqueue", json=pd_trigger(served.keys[service], dedup_key, summary=summary)
    )
    assert response.status_code == 202, response.text


def resolve(served: Served, service: str, dedup_key: str) -> None:
    response = served.client.post(
        "/v2/enqueue", json=pd_follow_up(served.keys[service], "resolve", dedup_key)
    )
    assert response.status_code == 202, response.text


def test_alerts_of_dependants_attach_to_the_open_incident_of_an_ancestor(served: Served) -> None:
    title = unique("db down")
    trigger(served, "db", "db-down", title)
    before = row_counts(served.db)

    trigger(served, "checkout", "checkout-5xx", unique("checkout 5xx"))
    trigger(served, "cart", "cart-slow", unique("cart slow"))  # cart → checkout → db

    assert row_counts(served.db)["incidents"] == before["incidents"]
    detail = served.api.only_incident_titled(title)
    assert detail["service"]["name"] == "db"
    assert detail["alert_count"] == detail["open_alerts"] == 3
    assert kinds(detail) == ["triggered", "alert_attached", "alert_attached"]
    attached = [entry["body"]["service_id"] for entry in detail["timeline"][1:]]
    assert attached == [served.service_ids["checkout"], served.service_ids["cart"]]
    assert {alert["service_id"] for alert in detail["alerts"]} == {
        served.service_ids[name] for name in ("db", "checkout", "cart")
    }

    # the parent's own resolve leaves the incident open while its dependants' alerts are
    resolve(served, "db", "db-down")
    assert served.api.incident(detail["id"])["status"] == "triggered"
    resolve(served, "checkout", "checkout-5xx")
    resolve(served, "cart", "cart-slow")
    assert served.api.incident(detail["id"])["status"] == "resolved"

    # with no open incident upstream, a dependant's alert opens its own incident
    own = unique("checkout 5xx again")
    trigger(served, "checkout", "checkout-5xx", own)
    assert served.api.only_incident_titled(own)["service"]["name"] == "checkout"


def test_a_parent_alert_does_not_attach_to_a_dependant_incident(served: Served) -> None:
    child, parent = unique("checkout slow"), unique("db slow")
    trigger(served, "checkout", "checkout-slow", child)

    trigger(served, "db", "db-slow", parent)

    assert served.api.only_incident_titled(child)["alert_count"] == 1
    assert served.api.only_incident_titled(parent)["service"]["name"] == "db"
    resolve(served, "checkout", "checkout-slow")
    resolve(served, "db", "db-slow")


def test_the_timeline_lists_entries_in_the_order_they_were_made(served: Served) -> None:
    """Thirty alerts in one body are stored in one transaction, at one time: the body is one event, so
    it writes one entry per kind of change, and they come back in the order the server made them
    (triggered first, then the alerts added, listed in the body's order)."""
    title = unique("step")
    alerts = [am_alert(f"{n:016x}", summary=f"{title}-{n:02d}", instance=f"host-{n}") for n in range(30)]
    response = served.client.post(
        "/integrations/alertmanager", json=am_body(unique("group"), alerts), headers=served.bearer("shop")
    )
    assert response.status_code == 200, response.text

    detail = served.api.only_incident_titled(f"{title}-00")

    assert kinds(detail) == ["triggered", "alert_added"]
    triggered, added = detail["timeline"]
    assert triggered["body"]["summary"] == f"{title}-00"
    assert added["body"]["count"] == 29
    assert [alert["summary"] for alert in added["body"]["alerts"]] == [
        f"{title}-{n:02d}" for n in range(1, 30)
    ]
