"""The window as a person runs it: `python main.py --data-dir D --server URL` in its own process, on a
private X display (Xvfb, Qt's xcb platform), against a real server process. An event posted to the
server shows in the window's title; the key A, typed on the (virtual) keyboard, acknowledges the
selected incident, and the server records it as that user's; closing the window ends the process,
leaving no server behind."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from tests.e2e.conftest import alive, descendants
from tests.e2e.consoles import Console, console_env
from tests.e2e.xsession import XServer, env_without_display, start_xvfb
from tests.server.wire import ReadApi, pd_trigger
from tests.serverproc import MAIN, ServerProcess, admin

pytestmark = pytest.mark.e2e

TITLE = "Disk 95% on db01"
USER = "alice"
START_DEADLINE = 20.0  # interpreter, Qt and the first sync on a loaded 2-core machine
SYNC_DEADLINE = 15.0
EXIT_DEADLINE = 5.0

T = TypeVar("T")


@pytest.fixture
def xserver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[XServer]:
    """A private Xvfb display for this test, killed at its end."""
    server = start_xvfb(tmp_path_factory.mktemp("xvfb"))
    try:
        yield server
    finally:
        server.stop()


def wait_for(
    what: str,
    probe: Callable[[], T | None],
    deadline: float,
    *,
    still: Callable[[], None],
    explain: Callable[[], str] = lambda: "",
) -> T:
    """Poll `probe` until it returns something other than None; `still` fails fast if the console died,
    `explain` says what was seen instead when the deadline passes."""
    end = time.monotonic() + deadline
    while True:
        still()
        found = probe()
        if found is not None:
            return found
        if time.monotonic() > end:
            pytest.fail(f"not within {deadline:.0f} s: {what}; {explain()}")
        time.sleep(0.1)


def acknowledged_by(detail: dict[str, Any], user: str) -> bool:
    return detail["status"] == "acknowledged" and any(
        entry["kind"] == "acknowledged" and entry["actor"] == user for entry in detail["timeline"]
    )


def argv_of(pid: int) -> list[bytes]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:  # gone meanwhile
        return []


def servers_of(data_dir: Path) -> list[int]:
    """Every running `… serve --data-dir DATA_DIR …`: an embedded server of the console using DATA_DIR."""
    return [
        pid
        for pid in (int(entry.name) for entry in Path("/proc").iterdir() if entry.name.isdigit())
        if {b"serve", str(data_dir).encode()} <= set(argv_of(pid)) and alive(pid)
    ]


def servers_below(pid: int) -> list[int]:
    """The `serve` processes among those `pid` started (an embedded server runs `-m console serve`)."""
    return [child for child in descendants(pid) if b"serve" in argv_of(child) and alive(child)]


def test_window_shows_a_posted_event_and_acknowledges_it_on_the_server(
    tmp_path: Path, secret_service: dict[str, str], xserver: XServer
) -> None:
    server_dir = tmp_path / "server"
    server_dir.mkdir()
    key = admin(server_dir, "add-service", "storage")
    token = admin(server_dir, "add-user", USER)
    server = ServerProcess(server_dir)
    server.start()
    console = Console(tmp_path / "console", console_env(secret_service))
    stderr_path = tmp_path / "console-output.log"
    process: subprocess.Popen[bytes] | None = None
    try:
        console.login(server.url, token, USER)  # the token goes to the keyring: no sign-in dialog
        with stderr_path.open("wb") as stderr:
            process = subprocess.Popen(
                [sys.executable, str(MAIN), "--data-dir", str(console.data_dir), "--server", server.url],
                stdin=subprocess.DEVNULL,
                stdout=stderr,
                stderr=subprocess.STDOUT,
                env={**env_without_display(console.env), **xserver.env},
            )
        running = process

        def still_running() -> None:
            if running.poll() is not None:
                pytest.fail(f"the console exited with {running.returncode}")

        def one_window() -> int | None:
            windows = xserver.windows("^Responder Console")
            assert len(windows) <= 1, f"more than one window: {windows}"
            return windows[0] if windows else None

        def titled(window: int, part: str) -> Callable[[], str | None]:
            def probe() -> str | None:
                title = xserver.title(window)
                return title if title is not None and part in title else None

            return probe

        window = wait_for("the window opens", one_window, START_DEADLINE, still=still_running)

        def now_titled() -> str:
            return f"the window's title is {xserver.title(window)!r}"

        first = wait_for(
            "the counts in the title", titled(window, " open, "), START_DEADLINE, still=still_running
        )
        assert first == f"Responder Console — 0 open, 0 high unacknowledged — {USER}"

        with httpx.Client(base_url=server.url, timeout=10) as http:
            api = ReadApi(http, token)
            posted = http.post("/v2/enqueue", json=pd_trigger(key, "disk-db01", summary=TITLE))
            assert posted.status_code == 202, posted.text
            [incident] = api.incidents()
            assert [incident[name] for name in ("title", "priority", "status")] == [
                TITLE,
                "high",
                "triggered",
            ]

            waiting = titled(window, "1 open, 1 high unacknowledged")
            shown = wait_for(
                "the posted event in the title",
                waiting,
                SYNC_DEADLINE,
                still=still_running,
                explain=now_titled,
            )
            assert shown == f"Responder Console — 1 open, 1 high unacknowledged — {USER}"

            # the only incident is selected at start: A acknowledges it
            xserver.type_key(window, "a")
            detail = wait_for(
                f"the server records the acknowledgement by {USER}",
                lambda: detail if acknowledged_by(detail := api.incident(incident["id"]), USER) else None,
                SYNC_DEADLINE,
                still=still_running,
                explain=lambda: f"{now_titled()} (did the key reach the incident list?)",
            )
            assert [(e["kind"], e["actor"]) for e in detail["timeline"]][-1] == ("acknowledged", USER)
            done = titled(window, "0 high unacknowledged")
            shown = wait_for(
                "the acknowledgement in the title",
                done,
                SYNC_DEADLINE,
                still=still_running,
                explain=now_titled,
            )
            assert shown == f"Responder Console — 1 open, 0 high unacknowledged — {USER}"

        # a console of a team server runs no server of its own
        assert servers_below(process.pid) == []
        assert servers_of(console.data_dir) == []

        xserver.close_window(window)  # the window manager's close button
        try:
            code = process.wait(timeout=EXIT_DEADLINE)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the console still runs {EXIT_DEADLINE:.0f} s after its window was closed")
        assert code == 0
        assert servers_of(console.data_dir) == []
        assert not (console.data_dir / "server.db").exists()
        output = stderr_path.read_text()
        assert "Traceback" not in output
        assert " ERROR " not in output
    except BaseException:
        if stderr_path.exists():
            print(f"--- console output ({stderr_path}) ---\n{stderr_path.read_text()}")
        raise
    finally:
        if process is not None and process.poll() is None:
            process.kill()
            process.wait(timeout=5)
        server.stop()
