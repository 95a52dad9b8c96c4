"""The server as a child process of the console: the embedded default.

A process rather than a thread, so an alert storm on the server cannot hold the UI's Python lock.
It dies with the console (PR_SET_PDEATHSIG on Linux), even on kill -9.
"""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from console.domain.errors import KnownFailure

_PR_SET_PDEATHSIG = 1


class ServerDidNotStart(KnownFailure):
    """The embedded server process exited or did not answer in time; its log says why."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _die_with_parent() -> None:  # runs in the child, between fork and exec
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class ServerProcess:
    """`python -m console serve` on 127.0.0.1 and a free port, with the console's data dir."""

    def __init__(self, data_dir: Path, *, db_url: str | None = None) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        command = [sys.executable, "-m", "console", "serve", "--data-dir", str(data_dir)]
        command += ["--port", str(self.port)]
        if db_url:
            command += ["--db", db_url]
        log_dir = data_dir / "logs"
        log_dir.mkdir(parents=True, exist_ok=True)
        self._output = (log_dir / "embedded-server.out").open("ab")
        self._process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=self._output,
            stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
            env={**os.environ, "RESPONDER_WORKERS": "1"},
        )

    def wait_ready(self, timeout: float = 30.0) -> str:
        deadline = time.monotonic() + timeout
        with httpx.Client(timeout=1.0) as client:
            while time.monotonic() < deadline:
                if self._process.poll() is not None:
                    raise ServerDidNotStart(
                        f"The embedded server stopped at start (exit {self._process.returncode}); "
                        f"see {self.data_dir / 'logs'}."
                    )
                try:
                    if client.get(f"{self.url}/healthz").status_code == 200:
                        return self.url
                except httpx.TransportError:
                    pass
                time.sleep(0.05)
        self.stop()
        raise ServerDidNotStart(f"The embedded server did not answer within {timeout:.0f} s; see its log.")

    @property
    def running(self) -> bool:
        return self._process.poll() is None

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM: it stores and answers what it has received, then exits."""
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._output.close()
