"""A server outage, through the command line and real processes: two consoles keep working while the
server is down (one acknowledges and notes an incident, the other resolves and notes the same one
and reports a new one), say so when asked to sync, and once the server is back on the same data they
and the server agree on every row, with every note exactly once and nothing left to send."""

from __future__ import annotations

import re
import signal
from collections import Counter
from pathlib import Path

import httpx
import keyring
import pytest

from tests.e2e.consoles import Console, console_env, files_containing, server_rows, side_by_side
from tests.server.wire import ReadApi, kinds, pd_trigger
from tests.serverproc import ServerProcess, admin

pytestmark = pytest.mark.e2e

TITLE = "Checkout latency p99 over 2 s"
NOTE_A = "A: rolled back the 14:02 deploy, watching"
NOTE_B = "B: cache node restarted, latency back to normal"
REPORTED = "Payment provider returns 502 for card payments"


def line_for(lines: list[str], title: str) -> str:
    """The one line of `incidents` output about the incident titled `title`."""
    matching = [line for line in lines if line.rstrip().endswith(title) or f"{title}  [" in line]
    assert len(matching) == 1, lines
    return matching[0]


def log_in_and_sync(console: Console, url: str, token: str, user: str) -> list[str]:
    console.login(url, token, user)
    return console.sync()


def work_at_a(a: Console) -> None:
    a.run("ack", "1")  # by the incident's number
    a.run("note", "1", NOTE_A)


def work_at_b(b: Console, incident_id: str) -> str:
    b.run("resolve", incident_id[:13])  # by a prefix of its id
    b.run("note", incident_id[:13], NOTE_B)
    return b.run("report", REPORTED, "--service", "checkout", "--priority", "low").stdout.strip()


def test_two_consoles_work_through_an_outage_and_converge(
    tmp_path: Path, secret_service: dict[str, str]
) -> None:
    server_dir = tmp_path / "server"
    server_dir.mkdir()
    env = console_env(secret_service)
    a = Console(tmp_path / "console-a", env)
    b = Console(tmp_path / "console-b", env)
    server = ServerProcess(server_dir)
    server.start()
    try:
        # admin commands may run side by side, and beside the server: they queue for the write lock
        key, *user_tokens = side_by_side(
            lambda: admin(server_dir, "add-service", "checkout"),
            lambda: admin(server_dir, "add-user", "alice"),
            lambda: admin(server_dir, "add-user", "bob"),
        )
        tokens = dict(zip(("alice", "bob"), user_tokens, strict=True))
        with httpx.Client(base_url=server.url, timeout=10) as http:
            accepted = http.post("/v2/enqueue", json=pd_trigger(key, "latency-p99", summary=TITLE))
            assert accepted.status_code == 202, accepted.text
            first_syncs = side_by_side(
                lambda: log_in_and_sync(a, server.url, tokens["alice"], "alice"),
                lambda: log_in_and_sync(b, server.url, tokens["bob"], "bob"),
            )
            assert [report[-1] for report in first_syncs] == ["pending: 0", "pending: 0"]
            incident_id = str(server_rows(server_dir / "server.db")["incidents"][0]["id"])
            for console, user in ((a, "alice"), (b, "bob")):
                assert [(row["id"], row["title"]) for row in console.rows()["incidents"]] == [
                    (incident_id, TITLE)
                ]
                with console.replica() as replica:
                    client_id = replica.state().client_id
                assert keyring.get_password("responder-console", client_id) == tokens[user]  # the real one

            # -- the outage: both consoles keep working --
            # uvicorn shuts down gracefully, then re-raises the signal it caught: 0 or "killed by SIGTERM"
            assert server.stop() in (0, -signal.SIGTERM)
            _, reported_id = side_by_side(lambda: work_at_a(a), lambda: work_at_b(b, incident_id))
            listed_a, listed_b, failed_a, failed_b = side_by_side(
                a.incidents,
                b.incidents,
                lambda: a.run("sync", check=False),
                lambda: b.run("sync", check=False),
            )

            assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}", reported_id)
            line = line_for(listed_a, TITLE)
            assert re.match(r"\s*#1\s+\S+\s+acknowledged\s+high\s+checkout\s", line), line
            assert line.endswith("[2 unsynced]"), line
            assert len(listed_a) == 1, listed_a  # B's report is not here yet
            line = line_for(listed_b, TITLE)
            assert re.match(r"\s*#1\s+\S+\s+resolved\s+high\s+checkout\s", line), line
            assert line.endswith("[2 unsynced]"), line
            line = line_for(listed_b, REPORTED)
            assert re.match(r"\s*#new\s+\S+\s+triggered\s+low\s+checkout\s", line), line
            assert line.endswith("[1 unsynced]"), line

            for console, failed, pending in ((a, failed_a, 2), (b, failed_b, 3)):
                assert failed.returncode == 1, failed
                assert "Traceback" not in failed.stderr + failed.stdout, failed.stderr
                assert failed.stdout == ""
                assert failed.stderr.startswith("error: "), failed.stderr
                assert f"The server at {server.url} cannot be reached" in failed.stderr, failed.stderr
                assert len(failed.stderr.strip().splitlines()) == 1, failed.stderr
                with console.replica() as replica:
                    assert replica.pending_count() == pending  # the failed attempt lost nothing
                    assert {op.attempts for op in replica.outbox()} == {1}

            # -- the server is back, on the same data dir and port --
            server.start()
            assert server.url == str(http.base_url).rstrip("/")
            report_a = a.sync()
            assert report_a[0] == "pushed: 2 applied, 0 without effect, 0 rejected", report_a
            report_b = b.sync()  # its resolve comes after A's acknowledge: both apply
            assert report_b[0] == "pushed: 3 applied, 0 without effect, 0 rejected", report_b
            assert report_b[-1] == "pending: 0", report_b
            report_a = a.sync()  # pulls what B did
            assert report_a[0] == "pushed: 0 applied, 0 without effect, 0 rejected", report_a
            assert report_a[-1] == "pending: 0", report_a

            # -- everyone agrees: both replicas hold exactly the server's rows --
            stored = server_rows(server_dir / "server.db")
            assert a.rows() == stored
            assert b.rows() == stored
            assert [row["title"] for row in stored["incidents"]] == [TITLE, REPORTED]
            for console in (a, b):
                with console.replica() as replica:
                    assert replica.pending_count() == 0
                    assert [op for op in replica.outbox() if op.state not in ("applied", "noop")] == []

            api = ReadApi(http, tokens["alice"])
            incident = api.only_incident_titled(TITLE)
            assert incident["number"] == 1
            assert incident["status"] == "resolved"
            assert incident["open_alerts"] == 0
            assert incident["alerts"][0]["status"] == "resolved"
            # in the order they were made, which A and B did side by side: compare as a multiset
            assert sorted(kinds(incident)) == ["acknowledged", "note", "note", "resolved", "triggered"]
            notes = Counter(
                (entry["actor"], entry["body"]["text"])
                for entry in incident["timeline"]
                if entry["kind"] == "note"
            )
            assert notes == Counter({("alice", NOTE_A): 1, ("bob", NOTE_B): 1})
            actors = {entry["kind"]: entry["actor"] for entry in incident["timeline"]}
            assert (actors["acknowledged"], actors["resolved"]) == ("alice", "bob")

            reported = api.incident(reported_id)
            assert (reported["title"], reported["number"], reported["status"], reported["priority"]) == (
                REPORTED,
                2,
                "triggered",
                "low",
            )
            assert reported["service"]["name"] == "checkout"
            assert [(e["kind"], e["actor"]) for e in reported["timeline"]] == [("reported", "bob")]

            for lines in side_by_side(a.incidents, b.incidents):
                assert re.match(r"\s*#1\s+\S+\s+resolved\s", line_for(lines, TITLE)), lines
                assert re.match(r"\s*#2\s+\S+\s+triggered\s+low\s", line_for(lines, REPORTED)), lines
                assert not any("unsynced" in line for line in lines), lines
    finally:
        server.stop()

    for name, token in tokens.items():
        assert files_containing([a.data_dir, b.data_dir, server_dir], token) == [], name
