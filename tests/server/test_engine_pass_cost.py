"""What an escalation pass reads when it has little to do: the shortcuts of `_plan` (no policy, no
acknowledgement timeout and no job: the incidents written since the cursor are not read) and of
`attach_runs` (no runbook stored: only alerts that may carry a runbook_url), pinned by behaviour.

Run as a module, it measures one pass after an alert storm instead (not a test: the figures depend
on the machine):  python -m tests.server.test_engine_pass_cost
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, select, update

from console.config_file import parse
from console.domain.clock import stamp_at
from console.domain.ids import uuid7
from console.domain.incident import Link
from console.domain.intake import AlertEvent, EventAction
from console.domain.priority import Severity
from console.domain.runbook import runbook_from_annotation
from console.server.changes import next_seq
from console.server.database import migrate, open_engine
from console.server.escalation import CURSOR_KEY, EngineRun, run_engine
from console.server.ingest import Ingest, IngestTransaction, Integration, incident_numbers
from console.server.oncall import apply_config
from console.server.push import Push, PushedOp, apply_push
from console.server.runbooks import import_runbooks
from console.server.tables import (
    escalations,
    incidents,
    integrations,
    pages,
    runs,
    server_meta,
    services,
    users,
)
from tests.server.runbook_server import RUNBOOK

T0 = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)  # a Monday: sam's week

PEOPLE = """
[[users]]
name = "sam"
[[users]]
name = "morgan"
[[users]]
name = "jordan"
role = "manager"

[[schedules]]
name = "primary"
time_zone = "Europe/Berlin"
[[schedules.layers]]
name = "weekly"
participants = ["sam", "morgan"]
turn = "weekly"
anchor = 2026-11-30

[[escalation_policies]]
name = "payments"
repeats = 0
[[escalation_policies.levels]]
targets = ["schedule:primary"]
delay_minutes = 10

[[escalation_policies]]
name = "two-levels"
repeats = 0
[[escalation_policies.levels]]
targets = ["schedule:primary"]
delay_minutes = 10
[[escalation_policies.levels]]
targets = ["user:morgan"]
delay_minutes = 10
"""


def team(*, storm: str = "", checkout: str = "") -> str:
    """`storm` takes the alert storm; `checkout` is another service. Each with the given settings."""
    return (
        PEOPLE
        + f'\n[[services]]\nname = "storm"\n{storm}\n'
        + f'\n[[services]]\nname = "checkout"\n{checkout}\n'
    )


POLICY = 'escalation_policy = "payments"'


class Storm:
    """A server database on a real SQLite file that takes PagerDuty triggers as the intake stores
    them (each a new alert and incident) and runs engine passes as the writer does."""

    def __init__(self, path: Path, config: str) -> None:
        self.engine = open_engine(f"sqlite:///{path}", writer=True)
        migrate(self.engine)
        apply_config(self.engine, parse(config))
        self._count = 0
        self._ops = 0
        with self.engine.connect() as conn:
            self.integrations = {
                name: Integration(integration_id, service_id)
                for name, service_id, integration_id in conn.execute(
                    select(services.c.name, services.c.id, integrations.c.id).join(
                        integrations, integrations.c.service_id == services.c.id
                    )
                )
            }

    def close(self) -> None:
        self.engine.dispose()

    def configure(self, config: str) -> None:
        apply_config(self.engine, parse(config))

    @contextmanager
    def transaction(self, at: datetime) -> Iterator[tuple[Connection, int]]:
        with self.engine.begin() as conn:
            yield conn, next_seq(conn, at, "test")

    def trigger(
        self, n: int, *, service: str = "storm", at: datetime = T0, batch: int = 50, runbook: str = ""
    ) -> None:
        """`n` new PagerDuty alerts, `batch` to a write group (as pd_mix.lua sends them); with a
        link to `runbook` if given."""
        integration = self.integrations[service]
        for start in range(0, n, batch):
            commands = [self._command(integration, runbook) for _ in range(min(batch, n - start))]
            with self.transaction(at) as (conn, seq):
                tx = IngestTransaction(conn, at=at, new_id=uuid7, numbers=incident_numbers(conn), seq=seq)
                tx.prefetch(commands)
                for command in commands:
                    tx.apply(command)
                tx.flush()

    def _command(self, integration: Integration, runbook: str) -> Ingest:
        self._count += 1
        n, host = self._count, self._count % 500
        alert = AlertEvent(
            action=EventAction.TRIGGER,
            dedup_key=f"storm-{n}",
            summary=f"High request latency on api-{host} (p99 above 500 ms)",
            source=f"api-{host}.prod.example.net",
            severity=tuple(Severity)[n % 4],
            component="api",
            group="prod-eu",
            klass="latency",
            details={
                "custom_details": {"p99_ms": 500 + n % 700, "threshold_ms": 500, "region": "eu-west-1"},
                "client": "Prometheus Alertmanager",
            },
            links=(
                Link(f"https://grafana.example.net/d/api?var-host=api-{host}", "Dashboard"),
                Link("http://alertmanager.example.net:9093", "Prometheus Alertmanager"),
                *((Link(runbook, "Runbook"),) if runbook else ()),
            ),
        )
        return Ingest(integration, "pagerduty", "Prometheus Alertmanager", [alert], "{}", "trigger")

    def push(self, kind: str, entity_id: str, args: dict[str, Any], *, at: datetime = T0) -> None:
        """An op from jordan's console (a manager)."""
        self._ops += 1
        with self.engine.connect() as conn:
            user_id = conn.execute(select(users.c.id).where(users.c.name == "jordan")).scalar_one()
        op = PushedOp(self._ops, uuid7(), kind, entity_id, args, stamp_at(at, "console-1").encode(), 0)
        with self.transaction(at) as (conn, seq):
            push = Push("console-1", user_id, "jordan", 1, [op])
            outcome = apply_push(conn, push, at=at, seq=seq, numbers=incident_numbers(conn))
        assert outcome.results[0].status == "applied", outcome.results[0].reason

    def report(self, service: str, *, at: datetime = T0) -> str:
        incident_id = uuid7()
        service_id = self.integrations[service].service_id
        self.push(
            "report", incident_id, {"title": "down", "service_id": service_id, "priority": "high"}, at=at
        )
        return incident_id

    def escalate(self, incident_id: str, *, at: datetime) -> None:
        self.push("escalate", incident_id, {}, at=at)

    def touch(self, incident_id: str) -> None:
        """The incident written again (its row, unchanged, in a later change)."""
        with self.transaction(T0) as (conn, seq):
            conn.execute(update(incidents).where(incidents.c.id == incident_id).values(seq=seq))

    def jobs(self) -> list[str]:
        with self.engine.connect() as conn:
            return list(
                conn.execute(select(escalations.c.incident_id).order_by(escalations.c.incident_id)).scalars()
            )

    def run(self, at: datetime = T0) -> EngineRun:
        with self.transaction(at) as (conn, seq):
            return run_engine(conn, at=at, seq=seq)

    def cursor(self) -> int:
        with self.engine.connect() as conn:
            return int(
                conn.execute(select(server_meta.c.value).where(server_meta.c.key == CURSOR_KEY)).scalar_one()
            )

    def count(self, table: object) -> int:
        with self.engine.connect() as conn:
            return len(conn.execute(select(table)).all())  # type: ignore[call-overload]


@contextmanager
def statements(conn: Connection) -> Iterator[list[str]]:
    """The SQL the driver runs on `conn` meanwhile, through SQLAlchemy or below it (`bulk.fetch`)."""
    seen: list[str] = []
    driver = conn.connection.dbapi_connection
    driver.set_trace_callback(seen.append)  # type: ignore[union-attr]
    try:
        yield seen
    finally:
        driver.set_trace_callback(None)  # type: ignore[union-attr]


@pytest.fixture
def storm(tmp_path: Path) -> Iterator[Storm]:
    made = Storm(tmp_path / "server.db", team())
    try:
        yield made
    finally:
        made.close()


def test_a_pass_without_policies_jobs_or_runbooks_reads_none_of_the_storm_and_moves_the_cursor(
    storm: Storm,
) -> None:
    storm.trigger(120)
    with storm.transaction(T0) as (conn, seq), statements(conn) as seen:
        done = run_engine(conn, at=T0, seq=seq)
    assert done == EngineRun(0, 0, ())
    assert storm.cursor() == seq
    assert not [sql for sql in seen if "FROM incidents" in sql]
    assert not [sql for sql in seen if "alerts.labels" in sql]  # only a probe for runbook_urls
    assert storm.count(escalations) == 0
    assert storm.count(runs) == 0


def test_incidents_passed_while_no_policy_existed_are_not_escalated_when_one_is_added(
    storm: Storm,
) -> None:
    storm.trigger(3)
    assert storm.run(T0).planned == 0
    storm.configure(team(storm=POLICY))
    later = T0 + timedelta(minutes=1)
    assert storm.run(later) == EngineRun(0, 0, ())  # the cursor is past them: nobody is paged
    storm.trigger(2, at=later)  # incidents written after: they are
    done = storm.run(later)
    assert (done.planned, done.fired) == (2, 2)
    assert [person for _incident, person, _level in done.pages] == ["sam", "sam"]
    assert storm.count(pages) == 2


def test_an_acknowledgement_timeout_alone_makes_the_pass_look_at_the_storm(storm: Storm) -> None:
    storm.configure(team(storm="ack_timeout_minutes = 30"))
    storm.trigger(4)
    assert storm.run(T0) == EngineRun(4, 0, ())  # looked at; triggered without a policy: no job
    assert storm.count(escalations) == 0


def test_a_job_alone_makes_the_pass_look_and_ends_when_its_incident_is_written_again(
    storm: Storm,
) -> None:
    storm.configure(team(checkout=POLICY))
    storm.trigger(1, service="checkout")
    assert storm.run(T0).fired == 1
    [job] = storm.jobs()  # done, and kept
    storm.configure(team())  # no policy anywhere now: only the job is left
    storm.trigger(5)
    assert storm.run(T0) == EngineRun(0, 0, ())  # the storm's incidents have no job
    assert storm.jobs() == [job]
    storm.touch(job)
    assert storm.run(T0) == EngineRun(1, 0, ())
    assert storm.jobs() == []


def test_a_storm_on_a_service_with_a_policy_pages_each_new_incident_once(storm: Storm) -> None:
    storm.configure(team(storm=POLICY))
    storm.trigger(30)
    storm.trigger(5, service="checkout")  # no policy there
    done = storm.run(T0)
    assert (done.planned, done.fired, len(done.pages)) == (30, 30, 30)
    assert storm.run(T0) == EngineRun(0, 0, ())
    storm.trigger(5)
    done = storm.run(T0 + timedelta(minutes=1))
    assert (done.planned, done.fired, len(done.pages)) == (5, 5, 5)
    assert storm.count(pages) == 35
    assert len(storm.jobs()) == 35


def test_escalate_on_an_incident_of_a_storm_pages_the_next_level_now(storm: Storm) -> None:
    storm.configure(team(storm='escalation_policy = "two-levels"'))
    storm.trigger(10)
    assert len(storm.run(T0).pages) == 10
    incident = storm.jobs()[3]
    storm.escalate(incident, at=T0 + timedelta(minutes=1))
    done = storm.run(T0 + timedelta(minutes=1))
    assert (done.planned, done.fired) == (1, 1)
    assert done.pages == ((incident, "morgan", 1),)


def test_without_runbooks_an_alerts_runbook_link_still_attaches_a_run(storm: Storm) -> None:
    storm.trigger(20)
    storm.trigger(1, runbook="https://wiki/runbooks/latency")
    storm.trigger(20)
    storm.run(T0)
    with storm.engine.connect() as conn:
        [run] = conn.execute(select(runs)).all()
    assert run.runbook_id == runbook_from_annotation("https://wiki/runbooks/latency").id


def test_runbooks_stored_later_attach_only_to_what_is_written_after(storm: Storm) -> None:
    storm.trigger(2, service="checkout")
    reported = storm.report("checkout")
    assert storm.run(T0).planned == 0
    import_runbooks(storm.engine, [RUNBOOK])  # applies to `checkout`
    storm.run(T0)
    assert storm.count(runs) == 0  # the cursor is past them, as it was before runbooks
    storm.trigger(2, service="checkout")
    storm.trigger(2)  # not `checkout`: no run
    later = storm.report("checkout")
    storm.run(T0)
    with storm.engine.connect() as conn:
        started = {row.incident_id for row in conn.execute(select(runs))}
    assert len(started) == 3
    assert later in started
    assert reported not in started


# -- the measurement (python -m tests.server.test_engine_pass_cost) --


def _pass_ms(storm: Storm, at: datetime, repeats: int) -> tuple[EngineRun, list[float]]:
    """One pass at `at`, timed, its transaction rolled back so that each repeat sees the same state."""
    times = []
    for _ in range(repeats):
        with storm.engine.connect() as conn:
            transaction = conn.begin()
            seq = next_seq(conn, at, "engine")
            start = time.perf_counter()
            done = run_engine(conn, at=at, seq=seq)
            times.append((time.perf_counter() - start) * 1000)
            transaction.rollback()
    return done, times


def measure(
    name: str, config: str, *, service: str = "storm", jobs: int = 0, runbooks: bool = False, repeats: int
) -> None:
    """One pass after 1,000 new incidents (PagerDuty triggers, 50 a write group) on `service`, 3,000
    older ones before the cursor; `jobs`: incidents of `checkout` paged before."""
    with tempfile.TemporaryDirectory() as folder:
        storm = Storm(Path(folder) / "server.db", config)
        try:
            if runbooks:
                import_runbooks(storm.engine, [RUNBOOK])
            storm.trigger(jobs, service="checkout")
            storm.trigger(3000, service=service)
            storm.run(T0)  # the cursor past them all
            storm.trigger(1000, service=service)
            done, times = _pass_ms(storm, T0 + timedelta(seconds=1), repeats)
        finally:
            storm.close()
    print(
        f"{name:42} median {statistics.median(times):8.2f} ms  min {min(times):8.2f} ms"
        f"  (planned {done.planned}, fired {done.fired}; {repeats} passes)",
        flush=True,
    )


def main() -> None:
    measure("(a) no policy, no timeout, no runbook", team(), repeats=31)
    measure("(b1) a policy on another service, 20 jobs", team(checkout=POLICY), jobs=20, repeats=31)
    measure("(b2) a policy on the storm's service", team(storm=POLICY), repeats=5)
    measure("(c) no policy, a runbook stored", team(), runbooks=True, repeats=11)


if __name__ == "__main__":
    main()
