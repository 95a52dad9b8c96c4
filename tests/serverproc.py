"""The server as users run it: `python main.py serve` in its own process, and the admin commands."""

from __future__ import annotations

import os
import signal
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

import httpx

ROOT = Path(__file__).resolve().parent.parent
MAIN = ROOT / "main.py"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def admin(data_dir: Path, *args: str) -> str:
    """Run `python main.py admin ARGS --data-dir D` and return what it printed on stdout (the secret)."""
    done = subprocess.run(
        [sys.executable, str(MAIN), "admin", *args, "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout.strip()


class ServerProcess:
    """`python main.py serve --data-dir D --port P` until stopped or killed.

    Usable as a context manager; `kill()` is kill -9, `start()` again restarts on the same data.
    """

    def __init__(self, data_dir: Path, *, port: int | None = None, extra: tuple[str, ...] = ()) -> None:
        self.data_dir = data_dir
        self.port = port or free_port()
        self.extra = extra
        self.process: subprocess.Popen[bytes] | None = None
        self.scheme = "https" if "--tls-cert" in extra else "http"

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0, verify: ssl.SSLContext | bool = True) -> ServerProcess:
        log_path = self.data_dir / "serve-stdout.log"
        with log_path.open("ab") as log:  # the child keeps its own copy of the descriptor
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    str(MAIN),
                    "serve",
                    "--data-dir",
                    str(self.data_dir),
                    "--port",
                    str(self.port),
                    *self.extra,
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}; see {log_path}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1, verify=verify).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError("server did not answer /healthz in time")

    def stop(self, timeout: float = 20.0) -> int | None:
        """SIGTERM (graceful: queued events are committed first); returns the exit code."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        code = self.process.returncode
        self.process = None
        return code

    def kill(self) -> None:
        """kill -9: no shutdown code runs."""
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None

    def __enter__(self) -> ServerProcess:
        return self.start() if self.process is None else self

    def __exit__(
        self, *exc: tuple[type[BaseException] | None, BaseException | None, TracebackType | None]
    ) -> None:
        self.stop()
