"""The writer keeps intake's view of alerts and incidents from one group commit to the next, and must
never act on a stale one: another process's writes, a console's ops and the engine's passes all
change what it holds. Real SQLite file, real writers, one event loop."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, select, update

from console.domain.clock import stamp_at
from console.domain.ids import uuid7
from console.server.admin import add_service, add_user
from console.server.database import migrate, open_engine
from console.server.directory import Directory
from console.server.intake.handlers import Intake, IntakeRequest
from console.server.push import Push, PushedOp
from console.server.tables import incidents, users
from console.server.writelock import WriteLock
from console.server.writer import GroupCommitWriter


def _trigger(key: str, dedup: str, summary: str = "disk full") -> bytes:
    event: dict[str, Any] = {"routing_key": key, "event_action": "trigger", "dedup_key": dedup}
    event["payload"] = {"summary": summary, "source": "db-1", "severity": "critical"}
    return json.dumps(event).encode()


def _resolve(key: str, dedup: str) -> bytes:
    return json.dumps({"routing_key": key, "event_action": "resolve", "dedup_key": dedup}).encode()


def _am(group: str, fingerprints: list[str], status: str = "firing") -> bytes:
    alerts = [
        {"status": status, "labels": {"alertname": "Down", "instance": f}, "fingerprint": f}
        for f in fingerprints
    ]
    body = {"version": "4", "groupKey": group, "status": status, "receiver": "r", "alerts": alerts}
    return json.dumps(body).encode()


class Writers:
    """Writers of one database file, as `serve --workers N` has them, and what each posts."""

    def __init__(self, path: Path, count: int) -> None:
        self.path = path
        self.engine: Engine = open_engine(f"sqlite:///{path}", writer=True)
        migrate(self.engine)
        self.key = add_service(self.engine, "db")
        add_user(self.engine, "jordan")
        self.writers = [GroupCommitWriter(self.engine, WriteLock(path)) for _ in range(count)]
        self.intakes = [Intake(writer, Directory(self.engine)) for writer in self.writers]

    async def pd(self, body: bytes, writer: int = 0) -> str:
        reply = await self.intakes[writer].pagerduty(IntakeRequest(body))
        assert reply.status == 202, reply
        return str(reply)

    async def am(self, body: bytes, writer: int = 0) -> None:
        reply = await self.intakes[writer].alertmanager(IntakeRequest(body, f"Bearer {self.key}"))
        assert reply.status == 200, reply

    async def push(self, kind: str, incident_id: str, args: dict[str, Any], writer: int = 0) -> None:
        with self.engine.connect() as conn:
            user_id = conn.execute(select(users.c.id).where(users.c.name == "jordan")).scalar_one()
        at = datetime.now(UTC)
        op = PushedOp(1, uuid7(), kind, incident_id, args, stamp_at(at, "console-1").encode(), 0)
        outcome = await self.writers[writer].submit_push(Push("console-1", user_id, "jordan", 1, [op]))
        assert outcome.results[0].status == "applied", outcome.results[0].reason

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        with sqlite3.connect(self.path) as db:
            return db.execute(sql).fetchall()

    def incident_of(self, dedup: str) -> str:
        [(incident_id,)] = self.rows(
            f"SELECT incident_id FROM alerts WHERE dedup_key = '{dedup}' AND resolved_at IS NULL"
        )
        return str(incident_id)


def run(path: Path, count: int, scenario: Callable[[Writers], Awaitable[None]]) -> Writers:
    writers = Writers(path, count)

    async def main() -> None:
        for writer in writers.writers:
            writer.start()
        try:
            await scenario(writers)
        finally:
            for writer in writers.writers:
                await writer.stop()

    asyncio.run(main())
    return writers


def test_a_key_resolved_by_another_process_opens_a_new_incident_here(tmp_path: Path) -> None:
    async def scenario(w: Writers) -> None:
        await w.pd(_trigger(w.key, "disk"), writer=0)
        await w.pd(_resolve(w.key, "disk"), writer=1)  # another server process
        await w.pd(_trigger(w.key, "disk"), writer=0)  # its view said "open": it must not trust it

    w = run(tmp_path / "server.db", 2, scenario)

    assert w.rows("SELECT status FROM incidents ORDER BY number") == [("resolved",), ("triggered",)]
    assert w.rows("SELECT outcome FROM events ORDER BY id") == [("created",), ("resolved",), ("created",)]


def test_a_group_changed_by_another_process_is_read_again(tmp_path: Path) -> None:
    async def scenario(w: Writers) -> None:
        await w.am(_am("g1", ["a", "b"]), writer=0)
        await w.am(_am("g1", ["a"], status="resolved"), writer=1)
        await w.am(_am("g1", ["a", "b"]), writer=0)  # "a" fires again: a new alert, not a re-send

    w = run(tmp_path / "server.db", 2, scenario)

    assert w.rows("SELECT dedup_key, status FROM alerts ORDER BY rowid") == [
        ("a", "resolved"),
        ("b", "triggered"),
        ("a", "triggered"),
    ]


def test_an_incident_a_console_resolved_is_not_repeated_into(tmp_path: Path) -> None:
    async def scenario(w: Writers) -> None:
        await w.pd(_trigger(w.key, "disk"))
        await w.push("resolve", w.incident_of("disk"), {})
        await w.pd(_trigger(w.key, "disk"))

    w = run(tmp_path / "server.db", 1, scenario)

    assert w.rows("SELECT status FROM incidents ORDER BY number") == [("resolved",), ("triggered",)]


def test_a_repeat_keeps_what_a_console_changed_on_the_incident(tmp_path: Path) -> None:
    async def scenario(w: Writers) -> None:
        await w.pd(_trigger(w.key, "disk"))
        await w.push("assign", w.incident_of("disk"), {"assignee": "jordan"})
        await w.pd(_trigger(w.key, "disk"))  # the repeat rewrites the incident's row

    w = run(tmp_path / "server.db", 1, scenario)

    assert w.rows("SELECT assignee, alert_count FROM incidents") == [("jordan", 1)]
    assert w.rows("SELECT repeat_count FROM alerts") == [(1,)]


def test_a_repeat_keeps_what_an_engine_pass_changed_on_the_incident(tmp_path: Path) -> None:
    def engine_pass(conn: Connection, at: datetime, seq: int) -> None:
        # as an escalation pass does when it re-triggers an incident: its row, stamped with the seq
        conn.execute(update(incidents).values(description="checked by the engine", seq=seq))

    async def scenario(w: Writers) -> None:
        await w.pd(_trigger(w.key, "disk"))
        await w.writers[0].submit_call(engine_pass)
        await w.pd(_trigger(w.key, "disk", summary="disk still full"))

    w = run(tmp_path / "server.db", 1, scenario)

    assert w.rows("SELECT description FROM incidents") == [("checked by the engine",)]
    assert w.rows("SELECT repeat_count FROM alerts") == [(1,)]


def test_after_an_engine_pass_only_the_incidents_it_wrote_are_read_again(tmp_path: Path) -> None:
    queries: list[str] = []

    async def scenario(w: Writers) -> None:
        await w.pd(_trigger(w.key, "disk"))
        await w.pd(_trigger(w.key, "cpu"))
        disk = w.incident_of("disk")

        def engine_pass(conn: Connection, at: datetime, seq: int) -> None:
            conn.execute(
                update(incidents).where(incidents.c.id == disk).values(description="checked", seq=seq)
            )

        await w.writers[0].submit_call(engine_pass)
        raw: Any = w.writers[0]._conn.connection.dbapi_connection  # type: ignore[union-attr]
        raw.set_trace_callback(queries.append)
        await w.pd(_trigger(w.key, "cpu", summary="cpu still hot"))
        untouched = list(queries)
        await w.pd(_trigger(w.key, "disk", summary="disk still full"))
        raw.set_trace_callback(None)
        assert not [q for q in untouched if "FROM incidents" in q], untouched
        assert [q for q in queries[len(untouched) :] if "FROM incidents" in q]

    w = run(tmp_path / "server.db", 1, scenario)

    assert w.rows("SELECT dedup_key, repeat_count FROM alerts ORDER BY dedup_key") == [
        ("cpu", 1),
        ("disk", 1),
    ]
    assert w.rows("SELECT description, alert_count FROM incidents ORDER BY number") == [
        ("checked", 1),
        ("", 1),
    ]


@pytest.mark.parametrize("groups", [1, 3])
def test_re_sent_groups_are_found_without_reading_them_again(tmp_path: Path, groups: int) -> None:
    """The point of the view: a group re-sent by Alertmanager is known from the last commit."""
    queries: list[str] = []

    async def scenario(w: Writers) -> None:
        bodies = [_am(f"g{n}", [f"{n}-{i}" for i in range(5)]) for n in range(groups)]
        for body in bodies:
            await w.am(body)
        raw: Any = w.writers[0]._conn.connection.dbapi_connection  # type: ignore[union-attr]
        raw.set_trace_callback(queries.append)
        for body in bodies:
            await w.am(body)
        raw.set_trace_callback(None)

    w = run(tmp_path / "server.db", 1, scenario)

    assert not [q for q in queries if q.lstrip().upper().startswith("SELECT") and "FROM alerts" in q]
    assert w.rows("SELECT count(*), sum(repeat_count) FROM alerts") == [(5 * groups, 0)]
    assert w.rows("SELECT count(*) FROM incidents") == [(groups,)]


def test_a_repeat_updates_only_the_incident_columns_it_changes(tmp_path: Path) -> None:
    """SQLite reworks the index of every column an UPDATE sets, changed or not."""
    updates: list[str] = []

    async def scenario(w: Writers) -> None:
        await w.pd(_trigger(w.key, "disk"))
        raw: Any = w.writers[0]._conn.connection.dbapi_connection  # type: ignore[union-attr]
        raw.set_trace_callback(updates.append)
        await w.pd(_trigger(w.key, "disk"))
        await w.pd(_resolve(w.key, "disk"))
        raw.set_trace_callback(None)

    w = run(tmp_path / "server.db", 1, scenario)

    repeat, resolve = [_set_columns(sql) for sql in updates if sql.startswith("UPDATE incidents")]
    assert repeat == ["updated_at", "seq"]
    assert resolve == ["status", "open_alerts", "updated_at", "resolved_at", "seq"]
    assert w.rows("SELECT status, alert_count, open_alerts, number FROM incidents") == [("resolved", 1, 0, 1)]


def _set_columns(update_sql: str) -> list[str]:
    assignments = update_sql.split(" SET ", 1)[1].split(" WHERE ", 1)[0]
    return [assignment.split("=", 1)[0].strip() for assignment in assignments.split(",")]


def test_a_written_alert_is_kept_light_every_field_but_labels_details_and_links_as_written() -> None:
    # ingest._lighten drops the three fields in place through the slots' setters: nothing else moves.
    from dataclasses import fields

    from console.domain.incident import Alert, AlertStatus, Link
    from console.domain.priority import Priority, Severity
    from console.server.ingest import _lighten

    seen = datetime(2026, 11, 27, 12, tzinfo=UTC)
    values = (
        *("id-1", "incident-1", 3, 4, "dedup", "group", AlertStatus.ACKNOWLEDGED, "summary", "source"),
        *(Severity.WARNING, Priority.LOW, seen, seen.replace(hour=13), 5, "component", "group name"),
        *("klass", {"alertname": "Down"}, {"value": 1}, (Link("https://x", "x"),), seen, seen),
    )
    alert, written = Alert(*values), Alert(*values)
    _lighten(alert)
    for field in fields(Alert):
        if field.name not in ("labels", "details", "links"):
            assert getattr(alert, field.name) == getattr(written, field.name), field.name
    for unread in (alert.labels, alert.details, alert.links):
        with pytest.raises(LookupError):
            list(unread)


def test_an_alert_loaded_without_its_links_keeps_them_through_acknowledge_and_resolve(
    tmp_path: Path,
) -> None:
    # Writer 1 loads the alert from the database (its view is empty), writer 0 again after writer 1
    # wrote: both fold it without links, and neither may write them.
    links = [{"href": "https://runbooks.example/disk", "text": "Runbook"}]

    async def scenario(w: Writers) -> None:
        event = json.loads(_trigger(w.key, "disk"))
        await w.pd(json.dumps({**event, "links": links}).encode())
        ack = {"routing_key": w.key, "event_action": "acknowledge", "dedup_key": "disk"}
        await w.pd(json.dumps(ack).encode(), writer=1)
        await w.pd(_trigger(w.key, "disk", "disk still full"), writer=0)
        await w.pd(_resolve(w.key, "disk"), writer=1)

    w = run(tmp_path / "server.db", 2, scenario)
    [(status, summary, repeats, stored)] = w.rows("SELECT status, summary, repeat_count, links FROM alerts")
    assert (status, summary, repeats) == ("resolved", "disk still full", 1)
    assert json.loads(stored) == links


def test_a_view_over_its_bound_is_let_go_and_freed_a_slice_at_a_time(tmp_path: Path) -> None:
    # Freeing a full view (200,000 entries) at once held the event loop 122 ms in bench_intake.
    async def scenario(w: Writers) -> None:
        writer = w.writers[0]
        writer._max_view = 4
        await w.pd(_trigger(w.key, "k0"))  # the alert, its stored status and its incident
        kept = writer._view
        assert kept is not None
        assert kept.size == 3
        await w.pd(_trigger(w.key, "k1"))  # over the bound: the next group reads from the database
        assert writer._view is None
        assert kept.size == 0  # freed while the loop answered
        await w.pd(_trigger(w.key, "k0", summary="disk still full"))
        assert writer._view is not None

    w = run(tmp_path / "server.db", 1, scenario)

    assert w.rows("SELECT dedup_key, repeat_count FROM alerts ORDER BY dedup_key") == [("k0", 1), ("k1", 0)]


def test_a_view_drains_in_slices_counting_a_groups_alerts_one_by_one(tmp_path: Path) -> None:
    async def scenario(w: Writers) -> None:
        for n in range(3):
            await w.am(_am(f"g{n}", [f"a{n}-{i}" for i in range(10)]))
        for n in range(20):
            await w.pd(_trigger(w.key, f"k{n}"))

    w = run(tmp_path / "server.db", 1, scenario)
    view = w.writers[0]._view
    assert view is not None
    held = sum(len(group) for group in view.groups.values()) + len(view.groups) + len(view.alerts)
    held += len(view.stored_alerts) + len(view.incidents) + len(view.stored_incidents)
    assert held > 100

    slices = sum(1 for _ in view.drain(per_slice=10))

    assert held // 10 - 4 <= slices <= held // 10 + 1  # a group may end a slice up to 10 entries over
    assert (view.size, len(view.groups), len(view.stored_incidents)) == (0, 0, 0)
    assert not view.service_incident
