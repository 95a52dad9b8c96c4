"""Consoles as people run them: `python main.py COMMAND --data-dir DIR` in their own processes, with the
token in the real keyring (the `secret_service` fixture's), and the ways a test compares what each
console's replica holds with what the server stored."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, select
from sqlalchemy.pool import NullPool

from console.domain.ops import OpType, normalize_args
from console.domain.views import OutboxOp
from console.server.pull import REPLICATED
from console.store.replica import Replica
from console.store.tables import REPLICA_TABLES
from tests.serverproc import MAIN

COMMAND_TIMEOUT = 60.0


@dataclass(frozen=True, slots=True)
class Console:
    """One console: its data dir, and the environment that reaches the test session's keyring."""

    data_dir: Path
    env: Mapping[str, str]

    def argv(self, *args: str) -> list[str]:
        return [sys.executable, str(MAIN), *args, "--data-dir", str(self.data_dir)]

    def run(
        self, *args: str, stdin: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """`python main.py ARGS --data-dir DIR`; with `check`, a non-zero exit fails with its output."""
        done = subprocess.run(
            self.argv(*args),
            input=stdin if stdin is not None else "",
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT,
            env=dict(self.env),
        )
        if check:
            assert done.returncode == 0, (
                f"{' '.join(args)} exited {done.returncode}\nstdout:\n{done.stdout}\nstderr:\n{done.stderr}"
            )
            assert not done.stderr, f"{' '.join(args)} wrote on stderr:\n{done.stderr}"
        return done

    def start(self, *args: str) -> subprocess.Popen[str]:
        """`python main.py ARGS --data-dir DIR` left running (for a test to kill)."""
        return subprocess.Popen(
            self.argv(*args),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=dict(self.env),
        )

    def login(self, server_url: str, token: str, user: str) -> None:
        done = self.run("login", "--server", server_url, stdin=f"{token}\n")
        assert done.stdout.strip() == f"Logged in to {server_url} as {user}.", done.stdout

    def sync(self) -> list[str]:
        """`sync` that must succeed; its report's lines."""
        return self.run("sync").stdout.splitlines()

    def incidents(self) -> list[str]:
        return self.run("incidents").stdout.splitlines()

    @contextmanager
    def replica(self) -> Iterator[Replica]:
        """The console's replica, opened in this process (while no console process writes it)."""
        replica = Replica.in_dir(self.data_dir)
        try:
            yield replica
        finally:
            replica.close()

    def rows(self) -> dict[str, list[dict[str, Any]]]:
        """Every replicated table of this console, rows as {column: value}, ordered by id."""
        with self.replica() as replica:
            return {
                name: [dict(zip(table.c.keys(), row, strict=True)) for row in replica.rows(name)]
                for name, table in REPLICA_TABLES.items()
            }


def queue_notes(replica: Replica, notes: Sequence[tuple[str, str]]) -> list[OutboxOp]:
    """Queue a note op per (incident id, text) in the outbox, as `Replica.act(OpType.NOTE, …)` records
    it (the clock ticked, the outbox row written), but all in one local transaction.

    Through `act` itself each op is a synchronous commit and folds every unconfirmed op of its incident
    first, so the k-th note on an incident costs O(k): 1,500 notes over 10 incidents took 27 s on the
    2-core development machine. The rows written here are the same as act's, which is all the sync
    under test reads."""
    epochs = {view.id: view.incident.status.epoch for view in replica.incidents()}
    ops = []
    with replica._write() as conn:
        for incident_id, text in notes:
            args = normalize_args(OpType.NOTE, {"text": text})
            op = replica._new_op(conn, OpType.NOTE, incident_id, args, epochs[incident_id])
            replica._insert_op(conn, op)
            ops.append(op)
    return ops


def server_engine(db: Path) -> Engine:
    """The server's SQLite file, read-only, through the server's own column types (aware times, JSON)."""
    return create_engine(
        "sqlite://",
        creator=lambda: sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30, check_same_thread=False),
        poolclass=NullPool,
    )


def server_rows(db: Path) -> dict[str, list[dict[str, Any]]]:
    """Every replicated table of the server, as a replica should hold it: the columns a pull sends."""
    engine = server_engine(db)
    try:
        out: dict[str, list[dict[str, Any]]] = {}
        with engine.connect() as conn:
            for replicated in REPLICATED:
                table = replicated.table
                columns = [table.c[name] for name in replicated.columns]
                found = conn.execute(select(*columns).order_by(table.c.id))
                out[replicated.name] = [dict(row._mapping) for row in found]
        return out
    finally:
        engine.dispose()


def server_query(db: Path, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    """Raw rows from the server's SQLite file, read-only (WAL: the server is never blocked)."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30) as conn:
        rows = conn.execute(sql, params).fetchall()
    conn.close()
    return rows


def files_containing(roots: Sequence[Path], secret: str) -> list[Path]:
    """Every file under `roots` whose bytes contain `secret` (as UTF-8, or UTF-16 as some stores write)."""
    needles = [secret.encode(), secret.encode("utf-16-le")]
    found = []
    for root in roots:
        for path in sorted(root.rglob("*")):
            if path.is_file() and any(needle in path.read_bytes() for needle in needles):
                found.append(path)
    return found


def console_env(secret_service: Mapping[str, str]) -> dict[str, str]:
    """What a console process needs to reach the test session's keyring (and to stay unbuffered)."""
    return {**os.environ, **secret_service, "PYTHONUNBUFFERED": "1"}


def side_by_side(*steps: Callable[[], Any]) -> list[Any]:
    """Run each of `steps` in a thread of its own (each, say, a console's commands one after the other),
    as people at different consoles would; their results in order. A console command is mostly the
    interpreter starting up, so two consoles at once take about the time of one."""
    with ThreadPoolExecutor(max_workers=len(steps)) as pool:
        futures = [pool.submit(step) for step in steps]
        return [future.result() for future in futures]
