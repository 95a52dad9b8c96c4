"""kill -9 a console in the middle of a push, then run it again: the server ends with every op the
console queued exactly once, the console with nothing pending and nothing rejected, and the
console's replica with exactly the server's rows.

The console pushes its outbox in batches of MAX_PUSH ops, each applied by the server in one
transaction. The test queues several batches of notes, starts `python main.py sync` and SIGKILLs it
as soon as the server has committed some of them but not all; if a run finishes before that is
seen, it tries again with a fresh console and more notes."""

from __future__ import annotations

import signal
import sqlite3
import time
from collections import Counter
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from console.store.replica import KEEP_DONE_OPS
from console.sync.protocol import MAX_PUSH
from tests.e2e.consoles import Console, console_env, queue_notes, server_query, server_rows
from tests.server.wire import pd_trigger
from tests.serverproc import ServerProcess, admin

pytestmark = pytest.mark.e2e

INCIDENTS = 4
ATTEMPTS = (3 * MAX_PUSH, 4 * MAX_PUSH, 4 * MAX_PUSH)  # notes queued by each try
assert max(ATTEMPTS) <= KEEP_DONE_OPS  # so the outbox keeps every processed op, for the checks below
PUSH_DEADLINE = 120.0  # seconds for one `sync` to push everything, on a loaded machine


@dataclass(frozen=True, slots=True)
class Kill:
    """What the server and the console held when the console was killed."""

    console: Console
    client_id: str
    texts: dict[str, str]  # op id → note text, every note queued
    processed_before: int  # ops the server had processed (committed) just before the kill
    processed_after: int  # … just after it


def processed(conn: sqlite3.Connection, client_id: str) -> int:
    """How many of this console's ops the server has processed (committed)."""
    found = conn.execute("SELECT count(*) FROM sync_results WHERE client_id = ?", (client_id,)).fetchone()
    return int(found[0])


def kill_in_the_middle_of_a_push(
    server: ServerProcess, token: str, root: Path, env: dict[str, str], incident_ids: list[str]
) -> Kill:
    db = server.data_dir / "server.db"
    for attempt, total in enumerate(ATTEMPTS):
        console = Console(root / f"console-{attempt}", env)
        console.login(server.url, token, "ops")
        assert console.sync()[-1] == "pending: 0"
        with console.replica() as replica:
            client_id = replica.state().client_id
            ops = queue_notes(
                replica,
                [(incident_ids[n % len(incident_ids)], f"kill-test {attempt}/{n}") for n in range(total)],
            )
            assert replica.pending_count() == total
        texts = {op.op_id: str(op.args["text"]) for op in ops}

        sync = console.start("sync")
        with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)) as conn:
            deadline = time.monotonic() + PUSH_DEADLINE
            while sync.poll() is None and time.monotonic() < deadline:
                before = processed(conn, client_id)
                if 0 < before < total:
                    sync.send_signal(signal.SIGKILL)  # sent only if it has not exited meanwhile
                    if sync.wait(10) == -signal.SIGKILL:
                        after = processed(conn, client_id)
                        sync.communicate(timeout=10)
                        return Kill(console, client_id, texts, before, after)
                    break
                time.sleep(0.002)
            if sync.poll() is None:
                sync.kill()
            out, err = sync.communicate(timeout=10)
        assert sync.returncode == 0, f"sync exited {sync.returncode}:\n{out}\n{err}"
        # it pushed everything between two looks at the server: try again with more
    pytest.fail(f"`sync` pushed everything before it could be killed, {len(ATTEMPTS)} times")


def test_kill_9_in_the_middle_of_a_push_loses_nothing_and_doubles_nothing(
    tmp_path: Path, secret_service: dict[str, str]
) -> None:
    server_dir = tmp_path / "server"
    server_dir.mkdir()
    db = server_dir / "server.db"
    server = ServerProcess(server_dir)
    server.start()
    try:
        key = admin(server_dir, "add-service", "db")
        token = admin(server_dir, "add-user", "ops")
        with httpx.Client(base_url=server.url, timeout=10) as http:
            for n in range(INCIDENTS):
                accepted = http.post(
                    "/v2/enqueue", json=pd_trigger(key, f"disk-{n}", summary=f"Disk full {n}")
                )
                assert accepted.status_code == 202, accepted.text
        incident_ids = [str(row[0]) for row in server_query(db, "SELECT id FROM incidents ORDER BY number")]
        assert len(incident_ids) == INCIDENTS

        kill = kill_in_the_middle_of_a_push(
            server, token, tmp_path, console_env(secret_service), incident_ids
        )
        console, total = kill.console, len(kill.texts)
        # killed mid-push: the server had processed some of the ops, not all
        assert 0 < kill.processed_before < total, kill
        assert kill.processed_before % MAX_PUSH == 0  # whole batches: one transaction each

        # -- right after the kill, the console's outbox: what it recorded is a prefix of what the
        # server processed, with the server's answers; the rest is still pending --
        with console.replica() as replica:
            with closing(sqlite3.connect(replica.path)) as conn:
                assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
            outbox = sorted(replica.outbox(limit=total + 1), key=lambda op: op.client_seq)
        assert [op.op_id for op in outbox] == list(kill.texts)  # nothing lost locally
        recorded = [op for op in outbox if op.state != "pending"]
        assert recorded == outbox[: len(recorded)]
        assert len(recorded) < total  # it had not heard back about every op
        assert len(recorded) <= kill.processed_after  # and never records more than the server processed
        answers = {
            row[0]: tuple(row[1:])
            for row in server_query(
                db,
                "SELECT op_id, client_seq, status, seq FROM sync_results WHERE client_id = ?",
                (kill.client_id,),
            )
        }
        assert all((op.client_seq, op.state, op.result_seq) == answers[op.op_id] for op in recorded)
        # Which way the push was cut: usually the server had committed a batch whose answer the console
        # never recorded (len(recorded) < processed_before), so that batch is sent again; otherwise the
        # console was killed while its next batch was on the way.
        resent = total - len(recorded)

        # -- the console runs again --
        report = console.sync()
        assert report[0] == f"pushed: {resent} applied, 0 without effect, 0 rejected", (kill, report)
        assert report[-1] == "pending: 0", report
        report = console.sync()
        assert report[0] == "pushed: 0 applied, 0 without effect, 0 rejected", report
        assert report[-1] == "pending: 0", report

        # -- on the server: every op processed once, applied, in order; every note once --
        results = server_query(
            db,
            "SELECT client_seq, op_id, status FROM sync_results WHERE client_id = ? ORDER BY client_seq",
            (kill.client_id,),
        )
        assert [(seq, op_id) for seq, op_id, _ in results] == [
            (n + 1, op.op_id) for n, op in enumerate(outbox)
        ]
        assert Counter(status for *_, status in results) == Counter({"applied": total})
        assert server_query(
            db, "SELECT last_client_seq FROM sync_clients WHERE client_id = ?", (kill.client_id,)
        ) == [(total,)]
        stored_notes = server_query(
            db, "SELECT id, json_extract(body, '$.text') FROM timeline WHERE kind = 'note' AND actor = 'ops'"
        )
        doubled = [text for text, count in Counter(text for _, text in stored_notes).items() if count > 1]
        assert doubled == []
        assert {op_id: text for op_id, text in stored_notes if op_id in kill.texts} == kill.texts

        # -- the console: nothing pending, nothing rejected, its replica exactly the server's rows --
        with console.replica() as replica:
            assert replica.pending_count() == 0
            assert {op.state for op in replica.outbox(limit=total + 1)} == {"applied"}
        stored = server_rows(db)
        replica_rows = console.rows()
        assert replica_rows == stored
        note_rows = [row for row in replica_rows["timeline"] if row["id"] in kill.texts]
        assert len(note_rows) == total
    finally:
        server.stop()
