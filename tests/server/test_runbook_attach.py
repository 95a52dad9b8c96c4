"""Runs attached to new incidents by the escalation engine's pass: each matching runbook once per
incident, whatever later writes to it; an Alertmanager `runbook_url` becomes a one-step link run.
First with passes at chosen instants, then through a real server taking Alertmanager webhooks."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Select, insert, select

from console.domain.ids import uuid7
from console.domain.runbook import AppliesTo, Runbook, Step, parse_matcher, runbook_from_annotation
from console.domain.runbook_json import runbook_from_json
from console.server.database import open_engine
from console.server.runbooks import import_runbooks
from console.server.tables import alerts, integrations, runs
from tests.server.runbook_server import RUNBOOK, T0, RunbookServer
from tests.server.stack import Served, embedded
from tests.server.wire import am_alert, am_body, pd_trigger

PROBE_URL = "https://wiki/runbooks/probe"  # what am_alert annotates every alert with
PROBES = Runbook(
    "probe-failures",
    "Probe failures",
    2,
    (Step("check", "Check the target by hand"), Step("escalate", "Call the network team")),
    AppliesTo(None, (parse_matcher('alertname=~"Probe.*"'), parse_matcher('severity="critical"'))),
)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RunbookServer]:
    made = RunbookServer(tmp_path / "server.db")
    try:
        yield made
    finally:
        made.close()


def test_a_new_incident_gets_a_run_of_each_matching_runbook_once(server: RunbookServer) -> None:
    incident_id = server.report()
    elsewhere = server.report(service="quiet")
    server.engine_pass()
    [run] = server.runs_of(incident_id)
    assert run.runbook == RUNBOOK
    assert not run.ops
    assert server.runs_of(elsewhere) == []  # no runbook applies to `quiet`
    # later writes to the incident, and passes after them, start nothing again
    assert (
        server.push("sam", "acknowledge", incident_id, {}, at=T0 + timedelta(minutes=1)).status == "applied"
    )
    server.engine_pass(T0 + timedelta(minutes=1))
    server.engine_pass(T0 + timedelta(minutes=2))
    assert [each.id for each in server.runs_of(incident_id)] == [run.id]
    with server.engine.connect() as conn:
        row = conn.execute(select(runs).where(runs.c.id == run.id)).one()
    assert (row.runbook_id, row.runbook_version, row.started_by) == ("checkout-errors", 1, "auto")


def test_an_incident_resolved_before_the_pass_gets_no_run(server: RunbookServer) -> None:
    incident_id = server.report()
    assert server.push("sam", "resolve", incident_id, {}).status == "applied"
    server.engine_pass()
    assert server.runs_of(incident_id) == []


def add_alert(server: RunbookServer, incident_id: str, **labels: str) -> None:
    """A new alert on the incident, as the intake stores one (the runbook tests need no sender)."""
    with server.engine.connect() as conn:
        integration = conn.execute(select(integrations.c.id)).scalars().first()
    with server.transaction(T0) as (conn, seq):
        conn.execute(
            insert(alerts).values(
                id=uuid7(), incident_id=incident_id, service_id=server.service_ids["quiet"],
                integration_id=integration, dedup_key=uuid7(), group_key="", status="triggered",
                summary="probe failing", source="blackbox", severity="critical", priority="high",
                labels=labels, details={}, links=[], repeat_count=0, first_seen=T0, last_seen=T0, seq=seq,
            )
        )  # fmt: skip


def test_alerts_in_one_pass_each_get_the_runbooks_their_own_labels_match(server: RunbookServer) -> None:
    import_runbooks(server.engine, [RUNBOOK, PROBES])
    critical, warning, other_host = (server.report(service="quiet") for _ in range(3))
    add_alert(server, critical, alertname="ProbeFailure", severity="critical", instance="a")
    add_alert(server, warning, alertname="ProbeFailure", severity="warning", instance="a")
    add_alert(server, other_host, alertname="ProbeFailure", severity="critical", instance="b")
    server.engine_pass()
    assert [run.runbook.id for run in server.runs_of(critical)] == ["probe-failures"]
    assert server.runs_of(warning) == []  # the label wins over the alert's severity field
    assert [run.runbook.id for run in server.runs_of(other_host)] == ["probe-failures"]


def runs_of_incidents(served: Served, expected: int, timeout: float = 15.0) -> list[tuple[str, Runbook]]:
    """(incident id, runbook) of every run, once `expected` runs exist (the pass runs after writes)."""
    engine = open_engine(f"sqlite:///{served.db}")
    try:
        deadline = time.monotonic() + timeout
        while True:
            with engine.connect() as conn:
                found = [
                    (row.incident_id, runbook_from_json(row.runbook))
                    for row in conn.execute(select(runs).order_by(runs.c.started_at, runs.c.runbook_id))
                ]
            if len(found) >= expected or time.monotonic() > deadline:
                return found
            time.sleep(0.05)
    finally:
        engine.dispose()


def read_column(served: Served, query: Select[Any]) -> list[Any]:
    """The first column of `query`'s rows, read beside the running server."""
    engine = open_engine(f"sqlite:///{served.db}")
    try:
        with engine.connect() as conn:
            return list(conn.execute(query).scalars())
    finally:
        engine.dispose()


def send(served: Served, group: str, *fingerprints: str, alertname: str = "ProbeFailure") -> None:
    body = am_body(group, [am_alert(f, alertname=alertname) for f in fingerprints])
    answer = served.client.post("/integrations/alertmanager", json=body, headers=served.bearer("shop"))
    assert answer.status_code == 200, answer.text


def test_a_runbook_url_annotation_becomes_a_link_run(tmp_path: Path) -> None:
    with embedded(tmp_path, {"shop": None}) as served:  # no runbook stored at all
        send(served, "g-url", "f1")
        found = runs_of_incidents(served, 1)
        assert len(found) == 1
        [(_incident, runbook)] = found
        assert runbook == runbook_from_annotation(PROBE_URL)
        [step] = runbook.steps
        assert step.link is not None
        assert step.link.href == PROBE_URL


def test_a_pagerduty_link_named_runbook_becomes_a_link_run_and_a_dashboard_link_does_not(
    tmp_path: Path,
) -> None:
    url = "https://wiki/runbooks/disk"
    with embedded(tmp_path, {"shop": None}) as served:  # no runbook stored at all
        for dedup_key, text in (("disk", "Runbook"), ("graph", "Dashboard")):
            event = pd_trigger(served.keys["shop"], dedup_key)
            event["links"] = [{"href": url, "text": text}]
            assert served.client.post("/v2/enqueue", json=event).status_code == 202
        [(incident, runbook)] = runs_of_incidents(served, 1)
        time.sleep(0.5)  # a pass that would attach the dashboard has run by now
        assert len(runs_of_incidents(served, 2, timeout=0)) == 1
        assert runbook == runbook_from_annotation(url)
        query = select(alerts.c.dedup_key).where(alerts.c.incident_id == incident)
        assert read_column(served, query)[0] == "disk"


def test_a_group_with_two_runbook_urls_gets_one_link_run_for_each_in_the_order_they_came(
    tmp_path: Path,
) -> None:
    urls = [" https://wiki/runbooks/disk ", "https://wiki/runbooks/probe", "https://wiki/runbooks/probe"]
    with embedded(tmp_path, {"shop": None}) as served:  # no runbook stored: only the URLs attach
        alerts = [am_alert(f"f{n}") for n in range(len(urls))]
        for alert, url in zip(alerts, urls, strict=True):
            alert["annotations"]["runbook_url"] = url
        answer = served.client.post(
            "/integrations/alertmanager", json=am_body("g-two", alerts), headers=served.bearer("shop")
        )
        assert answer.status_code == 200, answer.text
        found = runs_of_incidents(served, 2)
        time.sleep(0.5)  # a pass that would attach a URL twice has run by now
        assert runs_of_incidents(served, 3, timeout=0) == found
        assert len({incident for incident, _runbook in found}) == 1
        order = read_column(served, select(runs.c.runbook_id).order_by(runs.c.id))
        disk, probe = (runbook_from_annotation(url.strip()) for url in urls[:2])
        assert order == [disk.id, probe.id]
        assert sorted(runbook.id for _incident, runbook in found) == sorted([disk.id, probe.id])


def test_alerts_get_matching_runbooks_and_their_link_once_per_incident(tmp_path: Path) -> None:
    with embedded(tmp_path, {"shop": None}) as served:
        engine = open_engine(f"sqlite:///{served.db}", writer=True)  # beside the server, as `admin` does
        try:
            import_runbooks(engine, [RUNBOOK, PROBES])
        finally:
            engine.dispose()
        send(served, "g-probe", "f1")
        first = runs_of_incidents(served, 2)
        assert sorted(runbook.id for _incident, runbook in first) == sorted(
            ["probe-failures", runbook_from_annotation(PROBE_URL).id]
        )  # not checkout-errors: it applies to the service `checkout`
        assert len({incident for incident, _runbook in first}) == 1
        # a second alert of the group joins the same incident: nothing is attached twice
        send(served, "g-probe", "f1", "f2")
        send(served, "g-other", "f3", alertname="DiskFull")  # matches no runbook: only its link
        runs_of_incidents(served, 3)
        time.sleep(0.5)  # a pass that would attach twice has run by now
        found = runs_of_incidents(served, 3)
        assert len(found) == 3
        assert found[:2] == first
        assert found[2][1].id == runbook_from_annotation(PROBE_URL).id
        assert found[2][0] != first[0][0]
