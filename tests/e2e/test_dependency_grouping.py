"""Grouping by dependency, as the admin sets it up: `checkout` depends on `db` (`add-service --parent`)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.conftest import Deployment, deploy
from tests.server.wire import am_alert, am_body, kinds, pd_follow_up, pd_trigger, row_counts, rows, unique

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    yield from deploy(tmp_path_factory.mktemp("dependency"), [("db", None), ("checkout", "db")])


def service_id(deployment: Deployment, name: str) -> int:
    [(found,)] = rows(deployment.db, "SELECT id FROM services WHERE name = ?", (name,))
    return int(found)


def test_add_service_with_a_parent_records_the_dependency(deployment: Deployment) -> None:
    parents = rows(
        deployment.db, "SELECT c.name, p.name FROM services c JOIN services p ON c.parent_id = p.id"
    )

    assert parents == [("checkout", "db")]


def test_a_dependant_alert_attaches_to_the_open_incident_of_its_parent(deployment: Deployment) -> None:
    db, checkout = deployment.keys["db"], deployment.keys["checkout"]
    title = unique("db primary down")
    assert deployment.enqueue(pd_trigger(db, "db-primary", summary=title)).status_code == 202
    incident = deployment.api.only_incident_titled(title)
    before = row_counts(deployment.db)

    response = deployment.enqueue(pd_trigger(checkout, "checkout-errors", summary=unique("checkout errors")))
    assert response.status_code == 202
    body = am_body(unique("group"), [am_alert("4d63ed04ffd5c54f", summary=unique("checkout probe"))])
    assert deployment.alertmanager(body, "checkout").status_code == 200

    after = row_counts(deployment.db)
    assert after["incidents"] == before["incidents"]
    assert after["alerts"] == before["alerts"] + 2
    assert deployment.api.incidents(service="checkout") == []
    detail = deployment.api.incident(incident["id"])
    assert detail["service"]["name"] == "db"
    assert kinds(detail) == ["triggered", "alert_attached", "alert_attached"]
    for entry in detail["timeline"][1:]:
        assert entry["body"]["service_id"] == service_id(deployment, "checkout")
    assert detail["alert_count"] == detail["open_alerts"] == 3
    by_service = sorted(alert["service_id"] for alert in detail["alerts"])
    assert by_service == sorted([service_id(deployment, "db")] + [service_id(deployment, "checkout")] * 2)

    # a repeat of the attached alert stays on the parent's incident
    assert deployment.enqueue(pd_trigger(checkout, "checkout-errors", summary="again")).status_code == 202
    assert row_counts(deployment.db)["incidents"] == before["incidents"]
    assert kinds(deployment.api.incident(incident["id"]))[-1] == "alert_repeated"

    # the incident resolves when every alert on it has, dependants' included
    assert deployment.enqueue(pd_follow_up(db, "resolve", "db-primary")).status_code == 202
    assert deployment.api.incident(incident["id"])["status"] == "triggered"
    assert deployment.enqueue(pd_follow_up(checkout, "resolve", "checkout-errors")).status_code == 202
    resolved_body = am_body(
        body["groupKey"], [am_alert("4d63ed04ffd5c54f", summary="checkout probe", status="resolved")]
    )
    assert deployment.alertmanager(resolved_body, "checkout").status_code == 200
    assert deployment.api.incident(incident["id"])["status"] == "resolved"

    # with the parent healthy again, the dependant's next alert opens its own incident
    own = unique("checkout errors again")
    assert deployment.enqueue(pd_trigger(checkout, "checkout-errors", summary=own)).status_code == 202
    assert deployment.api.only_incident_titled(own)["service"]["name"] == "checkout"
