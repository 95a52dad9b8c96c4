"""`serve --write-process`: intake groups folded here and committed by a process of their own store
exactly what the writer alone stores, and nothing is lost or stored twice when that process fails,
dies or stops. Real SQLite file, real write process, one event loop."""

from __future__ import annotations

import asyncio
import json
import logging
import multiprocessing
import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, func, select

from console.server.admin import add_service
from console.server.database import migrate, open_engine
from console.server.directory import Directory
from console.server.intake.handlers import Intake, IntakeRequest
from console.server.tables import alerts
from console.server.writelock import WriteLock
from console.server.writer import GroupCommitWriter
from tests.serverproc import MAIN

KEYS = 60  # PagerDuty keys a wave touches
GROUPS = 12  # Alertmanager groups, 5 alerts each


def _pd(key: str, action: str, dedup: str) -> bytes:
    event: dict[str, Any] = {"routing_key": key, "event_action": action, "dedup_key": dedup}
    if action == "trigger":
        event["payload"] = {"summary": f"{dedup} down", "source": "db-1", "severity": "critical"}
    return json.dumps(event).encode()


def _am(group: str, fingerprints: list[str], status: str) -> bytes:
    alerts_ = [
        {"status": status, "labels": {"alertname": group, "instance": f}, "fingerprint": f}
        for f in fingerprints
    ]
    body = {"version": "4", "groupKey": group, "status": status, "receiver": "r", "alerts": alerts_}
    return json.dumps(body).encode()


class Server:
    """A writer (small groups, so several are in flight at once) and intake on one database file."""

    def __init__(self, path: Path, *, write_process: bool) -> None:
        self.path = path
        self.engine = open_engine(f"sqlite:///{path}", writer=True)
        migrate(self.engine)
        self.pd_key = add_service(self.engine, "db")
        self.am_key = add_service(self.engine, "k8s")
        self.writer = GroupCommitWriter(
            self.engine, WriteLock(path), max_batch=4, write_process=write_process
        )
        self.intake = Intake(self.writer, Directory(self.engine))

    async def post(self, body: bytes, *, am: bool = False) -> None:
        if am:
            reply = await self.intake.alertmanager(IntakeRequest(body, f"Bearer {self.am_key}"))
            assert reply.status == 200, reply
        else:
            reply = await self.intake.pagerduty(IntakeRequest(body))
            assert reply.status == 202, reply

    async def wave(self, n: int) -> None:
        """Events of independent keys, all at once; each wave builds on the last one's."""
        posts = []
        for k in range(KEYS):
            action = (
                ("trigger", "trigger", "acknowledge", "resolve", "trigger")[min(n, 4)] if k % 3 else "trigger"
            )
            posts.append(self.post(_pd(self.pd_key, action, f"key-{k}")))
        for g in range(GROUPS):
            fingerprints = [f"g{g}-{i}" for i in range(5)]
            status = "resolved" if n == 3 and g % 2 else "firing"
            posts.append(
                self.post(_am(f"group-{g}", fingerprints if n != 2 else fingerprints[:3], status), am=True)
            )
        await asyncio.gather(*posts)

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        with sqlite3.connect(self.path) as db:
            return sorted(db.execute(sql).fetchall(), key=repr)

    def state(self) -> dict[str, list[tuple[Any, ...]]]:
        """What was stored, without ids, times and the numbers the order of a wave's groups gives."""
        return {
            "incidents": self.rows(
                "SELECT title, status, priority, alert_count, open_alerts, epoch FROM incidents"
            ),
            "alerts": self.rows("SELECT dedup_key, group_key, status, repeat_count FROM alerts"),
            "events": self.rows("SELECT dedup_key, action, outcome, count(*) FROM events GROUP BY 1, 2, 3"),
            "timeline": self.rows("SELECT kind, count(*) FROM timeline GROUP BY kind"),
            "numbers": self.rows("SELECT count(*), count(DISTINCT number), max(number) FROM incidents"),
            "seqs": self.rows("SELECT count(*), max(seq) FROM change_log"),
        }


def run(path: Path, scenario: Callable[[Server], Awaitable[None]], *, write_process: bool = True) -> Server:
    server = Server(path, write_process=write_process)

    async def main() -> None:
        server.writer.start()
        try:
            await scenario(server)
        finally:
            await server.writer.stop()

    asyncio.run(main())
    server.engine.dispose()
    return server


async def waves(server: Server) -> None:
    for n in range(5):
        await server.wave(n)


def _write_process() -> multiprocessing.process.BaseProcess:
    [process] = [p for p in multiprocessing.active_children() if p.name == "intake-writes"]
    return process


def test_groups_committed_by_the_write_process_store_what_the_writer_alone_stores(tmp_path: Path) -> None:
    alone = run(tmp_path / "alone.db", waves, write_process=False)
    beside = run(tmp_path / "beside.db", waves)

    assert beside.writer.groups_written_elsewhere > 20  # the write process committed most groups
    assert alone.writer.groups_written_elsewhere == 0
    assert beside.state() == alone.state()
    assert beside.rows("PRAGMA integrity_check") == [("ok",)]
    [(count, distinct, highest)] = beside.state()["numbers"]
    assert count == distinct == highest  # incident numbers 1..n, none twice
    [(changes, last)] = beside.state()["seqs"]
    assert changes == last  # one change-log row a group, none skipped


def test_a_group_the_write_process_cannot_commit_is_stored_here_and_the_next_ones_too(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="console.server.writer")

    async def scenario(server: Server) -> None:
        await server.wave(0)
        # An admin command writes meanwhile: the change-log seq the writer counted on is taken, so
        # the write process's next transaction fails; the groups folded after it are refused.
        add_service(server.engine, "payments")
        for n in range(1, 5):
            await server.wave(n)

    failing = run(tmp_path / "failing.db", scenario)
    expected = run(tmp_path / "expected.db", waves, write_process=False)

    assert any("the write process failed" in r.getMessage() for r in caplog.records), caplog.text
    assert failing.writer.groups_written_elsewhere > 10  # and it went on committing afterwards
    assert failing.state()["alerts"] == expected.state()["alerts"]
    assert failing.state()["events"] == expected.state()["events"]
    assert failing.state()["incidents"] == expected.state()["incidents"]
    assert failing.rows("SELECT name FROM services") == [("db",), ("k8s",), ("payments",)]


def test_when_the_write_process_dies_the_writer_goes_on_alone(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="console.server.writer")

    async def scenario(server: Server) -> None:
        await server.wave(0)
        await server.wave(1)
        process = _write_process()
        assert process.pid is not None
        os.kill(process.pid, signal.SIGKILL)
        await asyncio.to_thread(process.join, 10)
        for n in range(2, 5):
            await server.wave(n)

    died = run(tmp_path / "died.db", scenario)
    expected = run(tmp_path / "expected.db", waves, write_process=False)

    assert any("the write process ended" in r.getMessage() for r in caplog.records), caplog.text
    assert died.state() == expected.state()


def test_a_call_queued_after_intake_sees_every_group_before_it_committed(tmp_path: Path) -> None:
    seen: list[int] = []

    def count_alerts(conn: Connection, at: datetime, seq: int) -> int:
        return int(conn.execute(select(func.count()).select_from(alerts)).scalar_one())

    async def scenario(server: Server) -> None:
        await server.wave(0)
        posts = [server.post(_pd(server.pd_key, "trigger", f"late-{k}")) for k in range(40)]
        await asyncio.gather(*posts, server.writer.submit_call(count_alerts))
        seen.append(await server.writer.submit_call(count_alerts))

    server = run(tmp_path / "server.db", scenario)

    assert server.writer.groups_written_elsewhere > 10
    assert seen == [KEYS + GROUPS * 5 + 40]


def test_stopping_answers_and_stores_everything_queued_and_ends_the_write_process(tmp_path: Path) -> None:
    answered: list[int] = []

    async def scenario(server: Server) -> None:
        await server.wave(0)
        process = _write_process()
        posts = [
            asyncio.ensure_future(server.post(_pd(server.pd_key, "trigger", f"last-{k}"))) for k in range(100)
        ]
        await asyncio.sleep(0)  # queued, not yet committed
        await server.writer.stop()
        await asyncio.gather(*posts)
        answered.append(len(posts))
        await asyncio.to_thread(process.join, 10)
        assert not process.is_alive()

    server = run(tmp_path / "server.db", scenario)

    assert answered == [100]
    assert server.rows("SELECT count(*) FROM events WHERE dedup_key LIKE 'last-%'") == [(100,)]


def test_serve_refuses_a_write_process_beside_several_workers(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            str(MAIN),
            "serve",
            "--write-process",
            "--workers",
            "2",
            "--data-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "--write-process needs a single worker" in done.stderr
