"""Escalation end to end: the team file applied with the real admin command, the real server process,
a PagerDuty trigger, and two consoles of different people (real replica files, the console's own sync
engine over HTTP). Level 1 pages sam; nobody acknowledges; a minute later level 2 pages jordan. Each
console alerts only its own person, loudly."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from console.domain.oncall import PageRecord
from console.notify.policy import AlertPolicy, AlertSettings, Page, Show, StartHighSound
from console.store.replica import Replica
from console.sync.client import SyncClient
from console.sync.engine import SyncEngine
from tests.serverproc import MAIN, ServerProcess

pytestmark = pytest.mark.e2e

TEAM = """
[[users]]
name = "sam"
[[users]]
name = "jordan"
role = "manager"

[[services]]
name = "checkout"
escalation_policy = "payments"

[[schedules]]
name = "primary"
time_zone = "UTC"
[[schedules.layers]]
name = "everyone"
participants = ["sam"]
turn = "weekly"
anchor = 2026-01-05

[[escalation_policies]]
name = "payments"
[[escalation_policies.levels]]
targets = ["schedule:primary"]
delay_minutes = 1
[[escalation_policies.levels]]
targets = ["user:jordan"]
"""


def apply_team(data_dir: Path, team: Path) -> tuple[dict[str, str], dict[str, str]]:
    done = subprocess.run(
        [sys.executable, str(MAIN), "admin", "apply", str(team), "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    tokens: dict[str, str] = {}
    keys: dict[str, str] = {}
    section: dict[str, str] | None = None
    for line in done.stdout.splitlines():
        if line.startswith("New users'"):
            section = tokens
        elif line.startswith("New services'"):
            section = keys
        elif section is not None and line.strip():
            name, secret = line.split()
            section[name] = secret
    return tokens, keys


class Console:
    def __init__(self, root: Path, server: str, user: str, token: str) -> None:
        self.user = user
        self.token = token
        self.server = server
        self.replica = Replica(root / f"{user}.db")
        self.replica.set_server(server, user)
        self.policy = AlertPolicy(user, AlertSettings())
        self.page_seq = -1

    def sync(self) -> None:
        async def once() -> None:
            client = SyncClient(self.server, self.token, self.replica.state().client_id)
            try:
                await SyncEngine(self.replica, client).sync_once()
            finally:
                await client.aclose()

        asyncio.run(once())

    def my_pages(self) -> list[PageRecord]:
        return self.replica.pages(user=self.user)

    def alert(self) -> list[object]:
        """What this console's alert policy does with the replica now (incidents and new pages)."""
        pages, self.page_seq = self.replica.new_pages(self.user, self.page_seq)
        return list(
            self.policy.update(
                self.replica.incidents(),
                datetime.now(UTC),
                pages=[Page(p.incident_id, p.user) for p in pages],
                escalated=self.replica.escalated_services(),
            )
        )


def wait_for(consoles: list[Console], done: object, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        for console in consoles:
            console.sync()
        if done():  # type: ignore[operator]
            return
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.5)


def test_level_1_then_level_2_after_the_delay_in_two_consoles(tmp_path: Path) -> None:
    team = tmp_path / "team.toml"
    team.write_text(TEAM)
    server_dir = tmp_path / "server"
    tokens, keys = apply_team(server_dir, team)
    assert set(tokens) == {"sam", "jordan"}
    with ServerProcess(server_dir) as server:
        sam = Console(tmp_path, server.url, "sam", tokens["sam"])
        jordan = Console(tmp_path, server.url, "jordan", tokens["jordan"])
        for console in (sam, jordan):
            console.sync()
            console.alert()  # the first read: nothing open yet

        body = {
            "routing_key": keys["checkout"],
            "event_action": "trigger",
            "dedup_key": "disk-full",
            "payload": {"summary": "disk full on db1", "source": "db1", "severity": "warning"},
        }
        # severity warning is low priority: level 1 notifies, and it never escalates
        assert httpx.post(f"{server.url}/v2/enqueue", json=body).status_code == 202
        body = {**body, "dedup_key": "checkout-down"}
        body["payload"] = {"summary": "checkout is down", "source": "lb1", "severity": "critical"}
        triggered = time.monotonic()
        assert httpx.post(f"{server.url}/v2/enqueue", json=body).status_code == 202

        wait_for([sam, jordan], lambda: len(sam.my_pages()) == 2, timeout=30)
        level_1 = time.monotonic() - triggered
        assert level_1 < 10
        assert {p.level for p in sam.my_pages()} == {0}
        assert jordan.my_pages() == []
        assert len(jordan.replica.pages()) == 2  # pages replicate to every console
        high = next(v for v in sam.replica.incidents() if v.incident.title == "checkout is down")
        sam_alerts = sam.alert()
        assert StartHighSound() in sam_alerts
        assert any(isinstance(c, Show) and high.id in c.incident_ids for c in sam_alerts)
        jordan_alerts = jordan.alert()  # not paged: told quietly, not woken
        assert StartHighSound() not in jordan_alerts
        assert not any(isinstance(c, Show) and c.persistent for c in jordan_alerts)

        wait_for([sam, jordan], lambda: bool(jordan.my_pages()), timeout=100)
        level_2 = time.monotonic() - triggered
        assert 60 <= level_2 < 75, level_2  # one minute after level 1, not before
        [page] = jordan.my_pages()
        assert (page.incident_id, page.level, page.user) == (high.id, 1, "jordan")
        jordan_alerts = jordan.alert()
        assert StartHighSound() in jordan_alerts
        assert any(isinstance(c, Show) and c.persistent and high.id in c.incident_ids for c in jordan_alerts)
        # the low-priority incident paged sam once and nobody else
        assert len(sam.my_pages()) == 2
        sam.replica.close()
        jordan.replica.close()
