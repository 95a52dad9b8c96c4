"""kill -9 under load: every event answered 2xx is stored after the restart, and none twice."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import Server, alive, end
from tests.server.wire import ReadApi, pd_trigger, rows
from tests.serverproc import admin

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SENDERS = 6
ACCEPTED_BEFORE_KILL = 300  # accepted events before the server is interrupted


class Sender(threading.Thread):
    """Posts triggers with keys of its own, one after the other, until told to stop."""

    def __init__(self, number: int, url: str, key: str, stop: threading.Event) -> None:
        super().__init__(name=f"sender-{number}", daemon=True)
        self.number, self.url, self.key, self.stop = number, url, key, stop
        self.attempted: list[str] = []
        self.accepted: list[str] = []
        self.failed: list[str] = []  # connection errors: the sender does not know what happened
        self.refused: list[int] = []

    def run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=10) as client:
            n = 0
            while not self.stop.is_set():
                dedup_key = f"s{self.number}-{n}"
                n += 1
                self.attempted.append(dedup_key)
                try:
                    response = client.post(
                        "/v2/enqueue", json=pd_trigger(self.key, dedup_key, summary=dedup_key)
                    )
                except httpx.TransportError:
                    self.failed.append(dedup_key)
                    continue
                if 200 <= response.status_code < 300:
                    self.accepted.append(dedup_key)
                else:
                    self.refused.append(response.status_code)


def send_until(server: Server, key: str, interrupt: Callable[[], None]) -> list[Sender]:
    """Senders post until enough events are accepted, then `interrupt` runs while they keep posting."""
    stop = threading.Event()
    senders = [Sender(n, server.url, key, stop) for n in range(SENDERS)]
    try:
        for sender in senders:
            sender.start()
        deadline = time.monotonic() + 30
        while sum(len(s.accepted) for s in senders) < ACCEPTED_BEFORE_KILL and time.monotonic() < deadline:
            time.sleep(0.01)
        interrupt()
        time.sleep(0.3)  # they keep posting into the dead port for a moment
    finally:
        stop.set()
        for sender in senders:
            sender.join(30)
    return senders


def check_stored_once(server: Server, token: str, senders: list[Sender]) -> None:
    """After a restart: every accepted event is stored, none twice, and the server carries on."""
    attempted = {k for s in senders for k in s.attempted}
    accepted = [k for s in senders for k in s.accepted]
    assert len(accepted) >= ACCEPTED_BEFORE_KILL
    assert all(not s.refused for s in senders), [s.refused for s in senders]
    assert any(s.failed for s in senders), "nobody was posting when the server went away"

    db = server.data_dir / "server.db"
    assert rows(db, "PRAGMA integrity_check") == [("ok",)]
    counts = {
        str(k): int(n) for k, n in rows(db, "SELECT dedup_key, count(*) FROM events GROUP BY dedup_key")
    }
    assert set(accepted) <= set(counts), sorted(set(accepted) - set(counts))[:10]
    assert set(counts) <= attempted
    assert {k: n for k, n in counts.items() if n != 1} == {}
    alerts = rows(db, "SELECT dedup_key, count(*) FROM alerts GROUP BY dedup_key")
    assert {str(k): int(n) for k, n in alerts} == dict.fromkeys(counts, 1)

    with httpx.Client(base_url=server.url, timeout=30) as client:
        api = ReadApi(client, token)
        incidents = api.incidents()
        assert sorted(i["title"] for i in incidents) == sorted(counts)
        numbers = {i["number"] for i in incidents}
        assert len(numbers) == len(incidents)

        # the restarted server carries on where the data left off
        key = senders[0].key
        response = client.post("/v2/enqueue", json=pd_trigger(key, "after-restart", summary="after-restart"))
        assert response.status_code == 202
        [newest] = api.page(limit=1)["incidents"]
        assert newest["title"] == "after-restart"
        assert newest["number"] > max(numbers)


# `serve --workers 2` answers from HTTP processes while a writer process commits: the same promises hold
PROCESSES = pytest.mark.parametrize("extra", [(), ("--workers", "2")], ids=["one-process", "workers"])


@PROCESSES
def test_every_event_answered_2xx_survives_kill_9_and_none_is_stored_twice(
    tmp_path: Path, extra: tuple[str, ...]
) -> None:
    key = admin(tmp_path, "add-service", "shop")
    token = admin(tmp_path, "add-user", "ops")
    server = Server(tmp_path, extra=extra).start()
    try:
        senders = send_until(server, key, server.kill_everything)  # kill -9 while everyone is posting
        server.start()
        check_stored_once(server, token, senders)
    finally:
        server.stop()


@PROCESSES
def test_sigterm_under_load_exits_cleanly_and_keeps_every_event_answered_2xx(
    tmp_path: Path, extra: tuple[str, ...]
) -> None:
    key = admin(tmp_path, "add-service", "shop")
    token = admin(tmp_path, "add-user", "ops")
    server = Server(tmp_path, extra=extra).start()
    exit_codes: list[int | None] = []
    try:
        senders = send_until(server, key, lambda: exit_codes.append(server.stop()))
        # uvicorn shuts down gracefully, then re-raises the signal it caught: 0 or "killed by SIGTERM"
        assert exit_codes in ([0], [-signal.SIGTERM])
        log = (tmp_path / "serve-stdout.log").read_text()
        assert "Application shutdown complete" in log
        server.start()
        check_stored_once(server, token, senders)
    finally:
        server.stop()


def test_kill_9_of_the_serve_process_leaves_nothing_answering(tmp_path: Path) -> None:
    """Whatever processes `serve` runs, they go with it: a restart must not find the port taken,
    nor events go on being stored by processes nobody supervises."""
    server = Server(tmp_path, extra=("--workers", "2")).start()
    processes = server.processes()
    url = server.url
    try:
        assert len(processes) >= 3  # serve, its two workers (and multiprocessing's resource tracker)
        server.kill()  # the serve process only, as `kill -9 PID` does
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(alive(pid) for pid in processes[1:]):
            time.sleep(0.05)

        assert [pid for pid in processes if alive(pid)] == []
        with pytest.raises(httpx.TransportError):
            httpx.get(f"{url}/healthz", timeout=5)
    finally:
        end(processes)
