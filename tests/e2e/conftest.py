"""`python main.py serve` as a real process, keys and tokens made by the real admin command."""

from __future__ import annotations

import contextlib
import os
import signal
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.server.stack import fresh_connections
from tests.server.wire import ReadApi
from tests.serverproc import ServerProcess, admin


def descendants(pid: int) -> list[int]:
    """Every process below `pid`, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # gone meanwhile
            continue
        parent = int(stat.rpartition(")")[2].split()[1])
        children.setdefault(parent, []).append(int(entry.name))
    found: list[int] = []
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state != "Z"


class Server(ServerProcess):
    """ServerProcess, plus killing every process of the server."""

    def start(self, timeout: float = 30.0, verify: ssl.SSLContext | bool = True) -> Server:
        super().start(timeout, verify)
        return self

    def processes(self) -> list[int]:
        """The serve process and every process it started (workers, if any)."""
        return [self.process.pid, *descendants(self.process.pid)] if self.process else []

    def kill_everything(self) -> None:
        """kill -9 the serve process and every process it started, as a crash of the host would."""
        processes = self.processes()
        self.kill()
        end(processes)


def end(pids: list[int]) -> None:
    """kill -9 those of `pids` (processes a test started) that still run."""
    for pid in pids:
        if alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


@dataclass(frozen=True, slots=True)
class Deployment:
    """A running server process and what its admin handed out."""

    server: Server
    keys: dict[str, str]  # service name → integration key
    token: str
    client: httpx.Client

    @property
    def data_dir(self) -> Path:
        return self.server.data_dir

    @property
    def db(self) -> Path:
        return self.server.data_dir / "server.db"

    @property
    def api(self) -> ReadApi:
        return ReadApi(self.client, self.token)

    def enqueue(self, body: dict[str, object]) -> httpx.Response:
        return self.client.post("/v2/enqueue", json=body)

    def alertmanager(self, body: dict[str, object], service: str) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.keys[service]}"}
        return self.client.post("/integrations/alertmanager", json=body, headers=headers)


def deploy(data_dir: Path, services: list[tuple[str, str | None]]) -> Iterator[Deployment]:
    """Create services (name, parent) and a user with the admin command, then serve."""
    keys: dict[str, str] = {}
    for name, parent in services:
        keys[name] = admin(data_dir, "add-service", name, *(("--parent", parent) if parent else ()))
    token = admin(data_dir, "add-user", "ops")
    server = Server(data_dir)
    server.start()
    try:
        with fresh_connections(server.url) as client:
            yield Deployment(server, keys, token, client)
    finally:
        server.stop()


@pytest.fixture(scope="session")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    """One server for the PagerDuty and Alertmanager flows: services `shop` and `payments`."""
    yield from deploy(tmp_path_factory.mktemp("e2e"), [("shop", None), ("payments", None)])
