"""A notification server stand-in on the private session bus (tests/desktop_session.py).

python-dbusmock's `notification_daemon` template, run as its own process. It lets a test play the
person (`EmitSignal`) and records every call (`GetMethodCalls`). It does not check argument types:
it converts the top-level arguments to the signature it declares before recording them (so a wrong
`i` for `u` would pass and be recorded as `u`), while the types inside variants (the hints) are
kept. So the tests also watch the calls on the wire (`wire_calls`: the private bus lets a
connection eavesdrop), where the message's signature is what was really sent.

dbusmock needs dbus-python, which has no wheels (building it needs a compiler and the libdbus and
GLib headers). Debian's `python3-dbusmock` runs under the system Python instead, which
`packaging/bootstrap test` installs; the tests talk to it over the bus with jeepney, so nothing of
it is imported here. A dbusmock importable by the test interpreter is used first if there is one.
The tests fail, never skip, when neither is there.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, closing
from pathlib import Path
from typing import Any

import pytest
from jeepney import DBusAddress, HeaderFields, MatchRule, Message, MessageType, message_bus, new_method_call
from jeepney.io.asyncio import open_dbus_router
from jeepney.io.blocking import open_dbus_connection
from jeepney.wrappers import unwrap_msg

from console.notify.dbus import BUS_NAME, INTERFACE, OBJECT_PATH
from tests.desktop_session import SessionBus

MOCK = DBusAddress(OBJECT_PATH, bus_name=BUS_NAME, interface="org.freedesktop.DBus.Mock")
START_TIMEOUT = 15.0
SYSTEM_PYTHON = "/usr/bin/python3"
INSTALL_HINT = (
    "python-dbusmock is not installed: `packaging/bootstrap test` installs Debian's python3-dbusmock "
    "(set RESPONDER_DBUSMOCK_PYTHON to another interpreter that can `import dbusmock`)"
)
FULL_CAPABILITIES = "body body-markup actions persistence"


def _has_dbusmock(python: str) -> bool:
    try:
        done = subprocess.run(
            [python, "-c", "import dbusmock.templates.notification_daemon"],
            capture_output=True,
            timeout=30,
            check=False,
        )
    except OSError:
        return False
    return done.returncode == 0


@functools.cache
def dbusmock_python() -> str:
    """An interpreter that can run dbusmock."""
    wanted = os.environ.get("RESPONDER_DBUSMOCK_PYTHON")
    candidates = [wanted] if wanted else [sys.executable, SYSTEM_PYTHON]
    for python in candidates:
        if _has_dbusmock(python):
            return python
    pytest.fail(f"{INSTALL_HINT}; tried {', '.join(candidates)}", pytrace=False)


class NotificationDaemon:
    """A running notification_daemon mock; its calls as received, and signals sent in its name."""

    def __init__(self, process: subprocess.Popen[bytes], log: Path, capabilities: str) -> None:
        self.process = process
        self.log = log
        self.capabilities = capabilities

    def _call(self, method: str, signature: str | None = None, body: tuple[Any, ...] = ()) -> tuple[Any, ...]:
        with closing(open_dbus_connection("SESSION")) as connection:
            reply = connection.send_and_get_reply(new_method_call(MOCK, method, signature, body), timeout=10)
        return tuple(unwrap_msg(reply))

    def calls(self, method: str) -> list[list[tuple[str, Any]]]:
        """The arguments of each call of `method`, as (D-Bus signature, value) pairs."""
        return [list(args) for _timestamp, args in self._call("GetMethodCalls", "s", (method,))[0]]

    def clear_calls(self) -> None:
        self._call("ClearCalls")

    def emit(self, signal: str, signature: str, *args: tuple[str, Any]) -> None:
        """Send a signal of org.freedesktop.Notifications as the server: `args` as (type, value)."""
        self._call("EmitSignal", "sssav", (INTERFACE, signal, signature, list(args)))

    def replace_method(self, name: str, in_signature: str, out_signature: str, code: str) -> None:
        self._call("AddMethod", "sssss", (INTERFACE, name, in_signature, out_signature, code))

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        _wait_for_owner(present=False, deadline=time.monotonic() + START_TIMEOUT)


class WireCalls:
    """Method calls to the notification server as they went over the bus."""

    def __init__(self, queue: asyncio.Queue[Message]) -> None:
        self._queue = queue

    async def next(self, timeout: float = 5.0) -> tuple[str, str, tuple[Any, ...]]:
        """The next call: (member, signature, arguments)."""
        message = await asyncio.wait_for(self._queue.get(), timeout)
        fields = message.header.fields
        return fields[HeaderFields.member], fields.get(HeaderFields.signature, ""), tuple(message.body)

    def empty(self) -> bool:
        return self._queue.empty()


@asynccontextmanager
async def wire_calls() -> AsyncIterator[WireCalls]:
    """Watch the method calls to org.freedesktop.Notifications on the current loop."""
    async with open_dbus_router() as router:
        rule = MatchRule(type="method_call", interface=INTERFACE, path=OBJECT_PATH, eavesdrop=True)
        queue: asyncio.Queue[Message] = asyncio.Queue()
        with router.filter(rule, queue=queue):
            reply = await router.send_and_get_reply(message_bus.AddMatch(rule))
            assert reply.header.message_type is MessageType.method_return, reply.body
            yield WireCalls(queue)


def _name_has_owner() -> bool:
    with closing(open_dbus_connection("SESSION")) as connection:
        reply = connection.send_and_get_reply(message_bus.NameHasOwner(BUS_NAME), timeout=10)
    assert reply.header.message_type is MessageType.method_return
    return bool(reply.body[0])


def _wait_for_owner(
    *, present: bool, deadline: float, process: subprocess.Popen[bytes] | None = None
) -> bool:
    while _name_has_owner() != present:
        if time.monotonic() > deadline or (process is not None and process.poll() is not None):
            return False
        time.sleep(0.02)
    return True


def launch_daemon(bus: SessionBus, capabilities: str = FULL_CAPABILITIES) -> NotificationDaemon:
    """The stand-in on `bus`, once it owns the server's bus name (a clear failure if it does not);
    for the fixtures and for tests/perf/bench_notify.py."""
    log = bus.log_dir / f"notification-daemon-{time.monotonic_ns()}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                dbusmock_python(),
                "-m",
                "dbusmock",
                "--session",
                "--template",
                "notification_daemon",
                "--parameters",
                json.dumps({"capabilities": capabilities}),
            ],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=bus.daemon_env,
        )
    daemon = NotificationDaemon(process, log, capabilities)
    if not _wait_for_owner(present=True, deadline=time.monotonic() + START_TIMEOUT, process=process):
        daemon.stop()
        pytest.fail(f"the notification server stand-in did not start: {log.read_text()}", pytrace=False)
    return daemon


@pytest.fixture
def start_daemon(session_bus: SessionBus) -> Iterator[Callable[..., NotificationDaemon]]:
    """Starts the notification server stand-in (one at a time: it owns the server's bus name)."""
    running: list[NotificationDaemon] = []

    def start(capabilities: str = FULL_CAPABILITIES) -> NotificationDaemon:
        for daemon in running:
            daemon.stop()
        running.clear()
        daemon = launch_daemon(session_bus, capabilities)
        running.append(daemon)
        return daemon

    yield start
    for daemon in running:
        daemon.stop()


@pytest.fixture
def notification_daemon(start_daemon: Callable[..., NotificationDaemon]) -> NotificationDaemon:
    """The stand-in with buttons (the `actions` capability) and persistence."""
    return start_daemon()
