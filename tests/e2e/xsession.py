"""A private X display for tests that drive the real window: Xvfb on a free display number, xdotool to
read window titles and type keys, and the window manager's "close" (WM_DELETE_WINDOW) sent by hand.

No window manager runs. `xdotool windowactivate` needs one (it asks it through _NET_ACTIVE_WINDOW and
fails without), so a window is given the keyboard with `windowfocus` (XSetInputFocus: Qt gets FocusIn
and makes the window active, so its shortcuts work), then keys are typed on the XTEST virtual keyboard
(`xdotool key`, as a person's keyboard would; `key --window` without the focus reaches the window but
an inactive window's shortcuts do not fire). `xdotool windowclose` (3.20160805) destroys the X window
under Qt, which then runs on without a window; `close_window` sends the WM_DELETE_WINDOW message a
window manager sends when its close button is clicked.

The programs come from the Debian packages `xvfb` and `xdotool`; when they are missing the tests fail,
they never skip.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path

import pytest

INSTALL_HINT = "add the Debian packages `xvfb` and `xdotool` (packaging/bootstrap test installs them)"
SOCKET_DIR = Path("/tmp/.X11-unix")
START_TIMEOUT = 15.0
COMMAND_TIMEOUT = 10.0


def program(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"`{name}` is not installed; {INSTALL_HINT}", pytrace=False)
    return path


def _taken(number: int) -> bool:
    return (SOCKET_DIR / f"X{number}").exists() or Path(f"/tmp/.X{number}-lock").exists()


def _accepts(path: Path) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        try:
            probe.connect(str(path))
        except OSError:
            return False
    return True


class XServer:
    """A running `Xvfb :N -screen 0 1280x1024x24 -nolisten tcp` and what to reach it with."""

    def __init__(self, number: int, process: subprocess.Popen[bytes], log: Path) -> None:
        self.number = number
        self.process = process
        self.log = log
        self.xdotool_path = program("xdotool")

    @property
    def display(self) -> str:
        return f":{self.number}"

    @property
    def env(self) -> dict[str, str]:
        """What a Qt program needs to open its windows here, through Qt's xcb platform plugin."""
        return {"DISPLAY": self.display, "QT_QPA_PLATFORM": "xcb"}

    def xdotool(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [self.xdotool_path, *args],
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT,
            env={**os.environ, "DISPLAY": self.display},
        )
        if check:
            assert done.returncode == 0, f"xdotool {' '.join(args)} exited {done.returncode}: {done.stderr}"
        return done

    def windows(self, name: str) -> list[int]:
        """Ids of the shown windows whose title matches the regular expression `name` (Qt also names its
        hidden client-leader window after the application: `--onlyvisible` leaves it out)."""
        done = self.xdotool("search", "--onlyvisible", "--name", name, check=False)
        return [int(line) for line in done.stdout.split()]

    def title(self, window: int) -> str | None:
        """The window's title, or None once the window is gone."""
        done = self.xdotool("getwindowname", str(window), check=False)
        return done.stdout.rstrip("\n") if done.returncode == 0 else None

    def type_key(self, window: int, key: str) -> None:
        """Give `window` the keyboard focus and press `key` on the (virtual) keyboard."""
        self.xdotool("windowfocus", "--sync", str(window))
        self.xdotool("key", "--clearmodifiers", key)

    def close_window(self, window: int) -> None:
        """Ask the window to close, as a window manager does: a WM_DELETE_WINDOW client message."""
        xlib = _xlib()
        display = xlib.XOpenDisplay(self.display.encode())
        assert display, f"cannot open display {self.display}"
        try:
            protocols = xlib.XInternAtom(display, b"WM_PROTOCOLS", False)
            delete = xlib.XInternAtom(display, b"WM_DELETE_WINDOW", False)
            event = _XEvent()
            event.xclient.type = _CLIENT_MESSAGE
            event.xclient.window = window
            event.xclient.message_type = protocols
            event.xclient.format = 32
            event.xclient.data[0] = delete
            event.xclient.data[1] = 0  # CurrentTime
            assert xlib.XSendEvent(display, window, False, 0, ctypes.byref(event)), "XSendEvent failed"
            xlib.XFlush(display)
        finally:
            xlib.XCloseDisplay(display)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


def start_xvfb(log_dir: Path, first: int = 90, attempts: int = 20) -> XServer:
    """Xvfb on the first free display number from `first`; another Xvfb may take a number between the
    check and the start, so a server that exits at once is retried on the next number."""
    xvfb = program("Xvfb")
    number = first
    for _ in range(attempts):
        while _taken(number):
            number += 1
        log = log_dir / f"xvfb-{number}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [xvfb, f":{number}", "-screen", "0", "1280x1024x24", "-nolisten", "tcp"],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        path = SOCKET_DIR / f"X{number}"
        deadline = time.monotonic() + START_TIMEOUT
        while process.poll() is None and time.monotonic() < deadline:
            if path.exists() and _accepts(path):
                return XServer(number, process, log)
            time.sleep(0.02)
        if process.poll() is None:  # running, but not listening in time
            process.kill()
            process.wait(timeout=5)
            pytest.fail(f"Xvfb :{number} did not listen within {START_TIMEOUT:.0f} s: {log.read_text()}")
        number += 1  # it exited: most likely the number was taken meanwhile
    pytest.fail(f"Xvfb did not start on any of {attempts} display numbers; last log: {log.read_text()}")


# -- the little of Xlib that sending WM_DELETE_WINDOW needs --

_CLIENT_MESSAGE = 33


class _XClientMessageEvent(ctypes.Structure):
    _fields_ = (
        ("type", ctypes.c_int),
        ("serial", ctypes.c_ulong),
        ("send_event", ctypes.c_int),
        ("display", ctypes.c_void_p),
        ("window", ctypes.c_ulong),
        ("message_type", ctypes.c_ulong),
        ("format", ctypes.c_int),
        ("data", ctypes.c_long * 5),
    )


class _XEvent(ctypes.Union):
    _fields_ = (("xclient", _XClientMessageEvent), ("pad", ctypes.c_long * 24))


def _xlib() -> ctypes.CDLL:
    name = ctypes.util.find_library("X11") or "libX11.so.6"
    xlib = ctypes.CDLL(name)
    xlib.XOpenDisplay.argtypes = [ctypes.c_char_p]
    xlib.XOpenDisplay.restype = ctypes.c_void_p
    xlib.XInternAtom.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
    xlib.XInternAtom.restype = ctypes.c_ulong
    xlib.XSendEvent.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.c_int, ctypes.c_long, ctypes.c_void_p]
    xlib.XSendEvent.restype = ctypes.c_int
    xlib.XFlush.argtypes = [ctypes.c_void_p]
    xlib.XCloseDisplay.argtypes = [ctypes.c_void_p]
    return xlib


def env_without_display(env: Mapping[str, str]) -> dict[str, str]:
    """`env` without what would point a program at another display or platform."""
    return {k: v for k, v in env.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
