"""The wall as a NOC runs it: `python main.py wall --server URL` in its own process with a viewer's
token, full screen on a private X display, against a real server process. A high-priority incident
posted to the server shows as a vermillion tile; the process ends cleanly after its screenshot."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from PySide6.QtGui import QColor, QImage

from tests.e2e.consoles import Console, console_env
from tests.e2e.xsession import XServer, env_without_display, start_xvfb
from tests.server.wire import pd_trigger
from tests.serverproc import MAIN, ServerProcess, admin

pytestmark = pytest.mark.e2e

VERMILLION = QColor("#D55E00")  # an unacknowledged high-priority tile (console.ui.wall_layout)


@pytest.fixture
def xserver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[XServer]:
    server = start_xvfb(tmp_path_factory.mktemp("xvfb"))
    try:
        yield server
    finally:
        server.stop()


def share_of(image: QImage, color: QColor, tolerance: int = 12) -> float:
    """The share of sampled pixels within `tolerance` of `color` on each channel."""
    hits = total = 0
    for y in range(0, image.height(), 8):
        for x in range(0, image.width(), 8):
            pixel = image.pixelColor(x, y)
            total += 1
            seen = (pixel.red(), pixel.green(), pixel.blue())
            wanted = (color.red(), color.green(), color.blue())
            if all(abs(a - b) <= tolerance for a, b in zip(seen, wanted, strict=True)):
                hits += 1
    return hits / total


def test_the_wall_shows_a_posted_incident_full_screen_read_only(
    tmp_path: Path, secret_service: dict[str, str], xserver: XServer
) -> None:
    server_dir = tmp_path / "server"
    server_dir.mkdir()
    key = admin(server_dir, "add-service", "storage")
    token = admin(server_dir, "add-user", "noc-wall", "--role", "viewer")
    shot = tmp_path / "wall.png"
    with ServerProcess(server_dir) as server:
        posted = httpx.post(
            f"{server.url}/v2/enqueue", json=pd_trigger(key, "disk", summary="Disk 95% on db01")
        )
        assert posted.status_code == 202, posted.text
        console = Console(tmp_path / "wall", console_env(secret_service))
        console.login(server.url, token, "noc-wall")
        done = subprocess.run(
            [
                sys.executable, str(MAIN), "wall", "--data-dir", str(console.data_dir),
                "--server", server.url, "--screenshot", str(shot), "--screenshot-after", "6",
            ],
            capture_output=True,
            text=True,
            timeout=90,
            env={**env_without_display(console.env), **xserver.env},
            check=False,
        )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    image = QImage(str(shot))
    assert (image.width(), image.height()) == (1280, 1024)  # full screen on the X display
    assert share_of(image, VERMILLION) > 0.002  # the tile's stripe and border
