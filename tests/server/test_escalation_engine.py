"""The escalation engine with an injected clock: passes at chosen instants on a real SQLite file, no
sleeps. Incidents come in as consoles' ops (report, acknowledge, escalate) through the push path."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, select

from console.config_file import parse
from console.domain.clock import stamp_at
from console.domain.ids import uuid7
from console.server.changes import next_seq
from console.server.database import migrate, open_engine
from console.server.escalation import EngineRun, run_engine
from console.server.ingest import incident_numbers
from console.server.oncall import apply_config
from console.server.push import Push, PushedOp, apply_push
from console.server.tables import incidents, pages, services, timeline, users

T0 = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)  # a Monday, 11:00 in Berlin: sam's week

TEAM = """
[[users]]
name = "sam"
[[users]]
name = "morgan"
[[users]]
name = "jordan"
role = "manager"

[[services]]
name = "checkout"
escalation_policy = "payments"
ack_timeout_minutes = 30

[[services]]
name = "quiet"

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
repeats = 1
[[escalation_policies.levels]]
targets = ["schedule:primary"]
delay_minutes = 10
[[escalation_policies.levels]]
targets = ["user:jordan", "user:morgan"]
delay_minutes = 5
"""


class Server:
    def __init__(self, path: Path) -> None:
        self.engine = open_engine(f"sqlite:///{path}", writer=True)
        migrate(self.engine)
        apply_config(self.engine, parse(TEAM))
        self._client_seq = itertools.count(1)
        with self.engine.connect() as conn:
            self.user_id = conn.execute(select(users.c.id).where(users.c.name == "jordan")).scalar_one()

    @contextmanager
    def transaction(self, at: datetime) -> Iterator[tuple[Connection, int]]:
        with self.engine.begin() as conn:
            yield conn, next_seq(conn, at, "test")

    def op(
        self, at: datetime, kind: str, entity_id: str, args: dict[str, Any] | None = None, epoch: int = 0
    ) -> None:
        with self.transaction(at) as (conn, seq):
            pushed = PushedOp(
                next(self._client_seq),
                uuid7(),
                kind,
                entity_id,
                args or {},
                stamp_at(at, "console-1").encode(),
                epoch,
            )
            push = Push("console-1", self.user_id, "jordan", 1, [pushed])
            outcome = apply_push(conn, push, at=at, seq=seq, numbers=incident_numbers(conn))
            assert outcome.results[0].status == "applied", outcome.results[0].reason

    def report(self, at: datetime, *, service: str = "checkout", priority: str = "high") -> str:
        with self.engine.connect() as conn:
            service_id = conn.execute(select(services.c.id).where(services.c.name == service)).scalar_one()
        incident_id = uuid7()
        self.op(at, "report", incident_id, {"title": "down", "service_id": service_id, "priority": priority})
        return incident_id

    def run(self, at: datetime) -> EngineRun:
        with self.transaction(at) as (conn, seq):
            return run_engine(conn, at=at, seq=seq)

    def pages(self) -> list[tuple[str, int, int, int]]:
        """(person, epoch, level from 1, pass from 1) in order."""
        with self.engine.connect() as conn:
            p = pages.c
            rows = conn.execute(select(p.user, p.epoch, p.level, p.repeat).order_by(p.at, p.id))
            return [(row.user, row.epoch, row.level + 1, row.repeat + 1) for row in rows]

    def status(self, incident_id: str) -> tuple[str, int]:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(incidents.c.status, incidents.c.epoch).where(incidents.c.id == incident_id)
            ).one()
            return row.status, row.epoch


@pytest.fixture
def server(tmp_path: Path) -> Server:
    return Server(tmp_path / "server.db")


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)


def test_levels_page_in_order_then_repeat_then_stop(server: Server) -> None:
    server.report(T0)
    server.run(T0)
    assert server.pages() == [("sam", 0, 1, 1)]  # whoever the schedule has: sam this week
    server.run(T0 + minutes(9.9))
    assert len(server.pages()) == 1  # not before the level's delay
    server.run(T0 + minutes(10))
    server.run(T0 + minutes(15))  # level 2's delay: the second pass starts with level 1 again
    server.run(T0 + minutes(25))
    server.run(T0 + minutes(60))
    assert server.pages() == [
        ("sam", 0, 1, 1),
        ("jordan", 0, 2, 1),
        ("morgan", 0, 2, 1),
        ("sam", 0, 1, 2),
        ("jordan", 0, 2, 2),
        ("morgan", 0, 2, 2),
    ]
    assert server.run(T0 + minutes(600)).pages == ()  # repeats = 1: two passes, then it stops


def test_acknowledging_stops_escalation(server: Server) -> None:
    incident = server.report(T0)
    server.run(T0)
    server.op(T0 + minutes(3), "acknowledge", incident)
    server.run(T0 + minutes(3))
    server.run(T0 + minutes(20))
    assert server.pages() == [("sam", 0, 1, 1)]


def test_low_priority_notifies_once_and_never_escalates(server: Server) -> None:
    server.report(T0, priority="low")
    for step in range(0, 120, 5):
        server.run(T0 + minutes(step))
    assert server.pages() == [("sam", 0, 1, 1)]
    with server.engine.connect() as conn:
        assert conn.execute(select(pages.c.reason)).scalar_one() == "notify"


def test_a_service_without_a_policy_pages_nobody(server: Server) -> None:
    server.report(T0, service="quiet")
    server.run(T0)
    server.run(T0 + minutes(60))
    assert server.pages() == []


def test_a_pass_repeated_at_the_same_instant_pages_nobody_twice(server: Server) -> None:
    server.report(T0)
    for _ in range(3):
        server.run(T0)
        server.run(T0 + minutes(10))
    assert server.pages() == [("sam", 0, 1, 1), ("jordan", 0, 2, 1), ("morgan", 0, 2, 1)]


def test_a_restart_mid_escalation_neither_doubles_nor_skips(server: Server, tmp_path: Path) -> None:
    server.report(T0)
    server.run(T0)
    server.engine.dispose()  # the server stops; its database is all that remains
    restarted = Server.__new__(Server)
    restarted.engine = open_engine(f"sqlite:///{tmp_path / 'server.db'}", writer=True)
    migrate(restarted.engine)
    # down for 27 minutes: level 2 (due at 10) and pass 2's level 1 (due at 15) and level 2 (at 25)
    # all fell due; each fires once, in order, at start
    restarted.run(T0 + minutes(27))
    restarted.run(T0 + minutes(27))
    assert restarted.pages() == [
        ("sam", 0, 1, 1),
        ("jordan", 0, 2, 1),
        ("morgan", 0, 2, 1),
        ("sam", 0, 1, 2),
        ("jordan", 0, 2, 2),
        ("morgan", 0, 2, 2),
    ]


def test_the_schedule_is_asked_when_the_step_fires(server: Server) -> None:
    # morgan's week starts Monday 7 December 09:00 Berlin (08:00 UTC)
    late = datetime(2026, 12, 7, 7, 55, tzinfo=UTC)
    server.report(late)
    server.run(late)
    server.run(late + minutes(15))  # pass 2, level 1, at 08:10 UTC: morgan is on call now
    assert [p[0] for p in server.pages()][:1] == ["sam"]
    assert ("morgan", 0, 1, 2) in server.pages()


def test_an_acknowledgement_timeout_triggers_again_and_pages_from_level_1(server: Server) -> None:
    incident = server.report(T0)
    server.run(T0)
    server.op(T0 + minutes(2), "acknowledge", incident)
    server.run(T0 + minutes(2))
    server.op(T0 + minutes(20), "note", incident, {"text": "looking at the database"})
    server.run(T0 + minutes(31))  # 30 minutes after the acknowledgement, but a note at 20
    assert server.status(incident) == ("acknowledged", 0)
    server.run(T0 + minutes(50))  # 30 minutes after the note
    assert server.status(incident) == ("triggered", 1)
    assert server.pages()[-1] == ("sam", 1, 1, 1)  # a new epoch: paging starts again
    with server.engine.connect() as conn:
        kinds = list(
            conn.execute(select(timeline.c.kind).where(timeline.c.incident_id == incident)).scalars()
        )
    assert "ack_timed_out" in kinds
    assert kinds.count("paged") == 2


def test_escalate_pages_the_next_level_now(server: Server) -> None:
    incident = server.report(T0)
    server.run(T0)
    server.op(T0 + minutes(1), "escalate", incident)
    server.run(T0 + minutes(1))
    assert server.pages() == [("sam", 0, 1, 1), ("jordan", 0, 2, 1), ("morgan", 0, 2, 1)]


def test_escalate_reaches_past_low_priority(server: Server) -> None:
    incident = server.report(T0, priority="low")
    server.run(T0)
    server.op(T0 + minutes(1), "escalate", incident)
    server.run(T0 + minutes(1))
    assert server.pages()[1:] == [("jordan", 0, 2, 1), ("morgan", 0, 2, 1)]


def test_resolving_ends_the_job(server: Server) -> None:
    incident = server.report(T0)
    server.run(T0)
    server.op(T0 + minutes(1), "resolve", incident)
    server.run(T0 + minutes(1))
    assert server.run(T0 + minutes(100)).fired == 0
    assert len(server.pages()) == 1
