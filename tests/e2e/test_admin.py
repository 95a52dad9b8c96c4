"""`python main.py admin ...`: only the secret on stdout, errors on stderr, usable while the server runs."""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import Deployment
from tests.server.wire import ReadApi, pd_trigger, rows, unique
from tests.serverproc import MAIN, admin

pytestmark = pytest.mark.e2e


def run_admin(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(MAIN), "admin", *args, "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_add_service_prints_only_the_integration_key(tmp_path: Path) -> None:
    done = run_admin(tmp_path, "add-service", "shop")

    assert done.returncode == 0, done.stderr
    assert re.fullmatch(r"[0-9a-f]{32}\n", done.stdout), done.stdout
    assert done.stderr == ""
    assert rows(
        tmp_path / "server.db",
        "SELECT s.name, i.key FROM services s JOIN integrations i ON i.service_id = s.id",
    ) == [("shop", done.stdout.strip())]


def test_add_user_prints_only_the_token_and_stores_only_its_hash(tmp_path: Path) -> None:
    done = run_admin(tmp_path, "add-user", "alice", "--role", "manager")

    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    lines = done.stdout.splitlines()
    assert len(lines) == 1
    assert done.stdout.endswith("\n")
    token = lines[0]
    assert re.fullmatch(r"[A-Za-z0-9_-]{32,}", token), token
    assert rows(tmp_path / "server.db", "SELECT name, role, token_hash FROM users") == [
        ("alice", "manager", hashlib.sha256(token.encode()).hexdigest())
    ]
    assert token.encode() not in (tmp_path / "server.db").read_bytes()


@pytest.mark.parametrize("command", ["add-service", "add-user"])
def test_a_duplicate_name_fails_with_a_message_on_stderr(tmp_path: Path, command: str) -> None:
    admin(tmp_path, command, "twice")

    done = run_admin(tmp_path, command, "twice")

    assert done.returncode != 0
    assert done.stdout == ""
    assert "twice" in done.stderr
    assert "exists" in done.stderr
    table = "services" if command == "add-service" else "users"
    assert rows(tmp_path / "server.db", f"SELECT count(*) FROM {table}") == [(1,)]


def test_a_missing_parent_fails_with_a_message_on_stderr_and_adds_nothing(tmp_path: Path) -> None:
    done = run_admin(tmp_path, "add-service", "checkout", "--parent", "nowhere")

    assert done.returncode != 0
    assert done.stdout == ""
    assert "nowhere" in done.stderr
    assert rows(tmp_path / "server.db", "SELECT count(*) FROM services") == [(0,)]


def test_a_key_and_a_token_made_while_the_server_runs_work_right_away(deployment: Deployment) -> None:
    name = unique("late-service")

    key = admin(deployment.data_dir, "add-service", name)
    token = admin(deployment.data_dir, "add-user", unique("late-user"))

    title = unique("first event of a new service")
    response = deployment.enqueue(pd_trigger(key, unique("k"), summary=title))
    assert response.status_code == 202, response.text
    with httpx.Client(base_url=deployment.server.url, timeout=30) as client:
        [incident] = ReadApi(client, token).incidents(service=name)
    assert incident["title"] == title
