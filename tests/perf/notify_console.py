"""The console process for tests.perf.bench_notify: started by it, once per benchmark run.

    DBUS_SESSION_BUS_ADDRESS=... QT_QPA_PLATFORM=offscreen python -m tests.perf.notify_console SPEC.json

It does what console/app.py does (logging in the data dir, QApplication, a qasync loop in an
asyncio.Runner, app._window: the MainWindow, the real Alerting with its DBusNotifier on the session
bus, the _Reader that reads the replica and evaluates the AlertPolicy in a worker thread, the
SyncEngine following the server's stream) on a replica the benchmark synced, until SIGTERM (which
app._window takes as the window's close button).

Product code runs unchanged. Some of its methods are wrapped at class level here to record when
things happen, in wall-clock time (time.time(): the load generator's accept times are in the same
clock), each incident once, the first time it goes through:

  notify.jsonl   one line per Notify call, written by the `alerting.notified` hook right after the
                 D-Bus call returned: {"t": time.time(), "m": time.monotonic(), "key", "title",
                 "count": len(Show.incident_ids), "new": the incident ids no earlier Notify had}
  ready.json     once Alerting.start() returned: whether the notifier connected, with buttons
  stages.json    at the end: the steps an incident goes through in this process (pulls, the replica
                 commit, the engine's on_change, each _Reader read and its policy evaluation, the
                 commands carried out, the Notify calls and when jeepney wrote each message to the
                 bus), for the benchmark's "where the time goes"
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from PySide6.QtWidgets import QApplication

    from console.notify.alerting import Alerting
    from console.notify.policy import Command, Show
    from console.session import Session


class Recorder:
    """Class-level wrappers around the console's steps; what they saw, per incident the first time."""

    def __init__(self, work: Path) -> None:
        self.work = work
        self.notify_out: IO[str] = (work / "notify.jsonl").open("w", encoding="utf-8", buffering=1)
        self.alerting: Alerting | None = None
        self.originals: list[tuple[type, str, Any]] = []
        self.lock = threading.Lock()
        self.seen: dict[str, set[str]] = {}  # stage -> incident ids already recorded there
        # per stage: [time, ...extra, [new incident ids]]
        self.pulls: list[tuple[float, float, int]] = []  # (started, answered, rows)
        self.applies: list[tuple[float, float, list[str]]] = []  # (started, committed, new ids)
        self.sync_views: list[tuple[float, str]] = []  # (time, status) given to on_change
        self.requests: list[float] = []  # _Reader.request calls
        self.reads: list[tuple[float, float, int, list[str]]] = []  # (started, ended, views, new ids)
        self.carried: list[tuple[float, int, int, list[str]]] = []  # (time, shows, closes, new ids)
        self.notify_calls: list[tuple[float, float, list[str]]] = []  # (called, returned, new ids)
        self.bus_sends: list[tuple[float, float, str]] = []  # jeepney's send: (entered, written, member)
        self.notified_count = 0

    def new(self, stage: str, ids: Sequence[str] | set[str]) -> list[str]:
        with self.lock:
            seen = self.seen.setdefault(stage, set())
            fresh = [i for i in ids if i not in seen]
            seen.update(fresh)
        return fresh

    def wrap(self, owner: type, name: str, make: Callable[[Any], Any]) -> None:
        original = getattr(owner, name)
        self.originals.append((owner, name, original))
        setattr(owner, name, functools.wraps(original)(make(original)))

    def install(self) -> None:
        from jeepney import HeaderFields
        from jeepney.io import asyncio as jeepney_asyncio

        from console import app as console_app
        from console.notify.alerting import Alerting
        from console.notify.dbus import DBusNotifier
        from console.notify.policy import Close, Show
        from console.store import replica as store
        from console.sync.client import SyncClient
        from console.ui.main_window import MainWindow

        recorder = self

        def init(original: Any) -> Any:
            def wrapped(alerting: Alerting, *args: Any, **kwargs: Any) -> None:
                original(alerting, *args, **kwargs)
                alerting.notified = recorder.notified
                recorder.alerting = alerting

            return wrapped

        def start(original: Any) -> Any:
            async def wrapped(alerting: Alerting) -> None:
                await original(alerting)
                ready = {
                    "t": time.time(),
                    "connected": alerting._connected,
                    "desktop_actions": alerting.desktop_actions,
                }
                (recorder.work / "ready.json").write_text(json.dumps(ready))

            return wrapped

        def carry_out(original: Any) -> Any:
            def wrapped(alerting: Alerting, commands: Sequence[Command]) -> None:
                now = time.time()
                shows = [c for c in commands if isinstance(c, Show)]
                if shows:
                    ids = [i for show in shows for i in show.incident_ids]
                    closes = sum(1 for c in commands if isinstance(c, Close))
                    recorder.carried.append((now, len(shows), closes, recorder.new("carried", ids)))
                original(alerting, commands)

            return wrapped

        def show(original: Any) -> Any:
            async def wrapped(notifier: DBusNotifier, command: Show) -> int:
                called = time.time()
                result: int = await original(notifier, command)
                returned = time.time()
                recorder.notify_calls.append(
                    (called, returned, recorder.new("notify_call", command.incident_ids))
                )
                return result

            return wrapped

        def bus_send(original: Any) -> Any:
            async def wrapped(connection: Any, message: Any, **kwargs: Any) -> Any:
                member = str(message.header.fields.get(HeaderFields.member, ""))
                entered = time.time()
                result = await original(connection, message, **kwargs)
                recorder.bus_sends.append((entered, time.time(), member))
                return result

            return wrapped

        def pull(original: Any) -> Any:
            async def wrapped(client: SyncClient, *args: Any, **kwargs: Any) -> Any:
                started = time.time()
                page = await original(client, *args, **kwargs)
                tables = page.get("tables", {}) if isinstance(page, Mapping) else {}
                rows = sum(len(t.get("rows", ())) for t in tables.values())
                recorder.pulls.append((started, time.time(), rows))
                return page

            return wrapped

        def apply_page(original: Any) -> Any:
            def wrapped(replica: Any, page: Mapping[str, Any]) -> int:
                started = time.time()
                written: int = original(replica, page)
                committed = time.time()
                ids = store._touched(page.get("tables", {}))
                recorder.applies.append((started, committed, recorder.new("applied", ids)))
                return written

            return wrapped

        def set_sync_view(original: Any) -> Any:
            def wrapped(window: Any, view: Any) -> None:
                recorder.sync_views.append((time.time(), str(view.status.value)))
                original(window, view)

            return wrapped

        def request(original: Any) -> Any:
            def wrapped(reader: Any) -> None:
                recorder.requests.append(time.time())
                original(reader)

            return wrapped

        def read_and_judge(original: Any) -> Any:
            def wrapped(reader: Any) -> Any:
                started = time.time()
                result = original(reader)  # (changes, commands, ...): what app.py's version returns
                ended = time.time()
                changes = result[0]
                if changes.everything is not None:
                    ids = [view.id for view in changes.everything]
                else:
                    ids = list((changes.changed or {}).keys())
                recorder.reads.append((started, ended, len(ids), recorder.new("read", ids)))
                return result

            return wrapped

        self.wrap(Alerting, "__init__", init)
        self.wrap(Alerting, "start", start)
        self.wrap(Alerting, "carry_out", carry_out)
        self.wrap(DBusNotifier, "show", show)
        self.wrap(jeepney_asyncio.DBusConnection, "send", bus_send)
        self.wrap(SyncClient, "pull", pull)
        self.wrap(store.Replica, "apply_page", apply_page)
        self.wrap(MainWindow, "set_sync_view", set_sync_view)
        self.wrap(console_app._Reader, "request", request)
        self.wrap(console_app._Reader, "_read_and_judge", read_and_judge)

    def uninstall(self) -> None:
        for owner, name, original in reversed(self.originals):
            setattr(owner, name, original)
        self.originals.clear()

    def notified(self, show: Show) -> None:
        """The `alerting.notified` hook: right after each Notify call returned (on the loop)."""
        now, mono = time.time(), time.monotonic()
        self.notified_count += 1
        line = {
            "t": now,
            "m": mono,
            "key": show.key,
            "title": show.title,
            "count": len(show.incident_ids),
            "new": self.new("notified", show.incident_ids),
        }
        self.notify_out.write(json.dumps(line) + "\n")

    def save(self) -> None:
        self.notify_out.close()
        stages = {
            "pulls": self.pulls,
            "applies": self.applies,
            "sync_views": self.sync_views,
            "requests": self.requests,
            "reads": self.reads,
            "carried": self.carried,
            "notify_calls": self.notify_calls,
            "bus_sends": self.bus_sends,
            "notified": self.notified_count,
        }
        (self.work / "stages.json").write_text(json.dumps(stages))


async def run(app: QApplication, session: Session, data_dir: Path) -> int:
    from console import app as console_app

    return await console_app._window(app, session, data_dir, None, False, None)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    spec: dict[str, Any] = json.loads(Path(args[0]).read_text())
    work = Path(spec["work"])
    data_dir = Path(spec["replica"]).parent
    os.environ.setdefault("QT_API", "pyside6")  # as app.py: qasync picks its binding from this
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

    import qasync
    from PySide6.QtWidgets import QApplication

    from console import logs
    from console.session import Session
    from console.store.replica import Replica

    logs.configure(data_dir, to_stderr=False)  # as app.py's run(), into the console's data dir
    recorder = Recorder(work)
    recorder.install()
    app = QApplication(sys.argv[:1])
    app.setApplicationName("Responder Console")
    app.setQuitOnLastWindowClosed(False)
    replica = Replica(Path(spec["replica"]))
    session = Session(replica, spec["url"], spec["token"], spec["user"], None)
    code = 1
    try:
        with asyncio.Runner(loop_factory=lambda: qasync.QEventLoop(app)) as runner:
            code = runner.run(run(app, session, data_dir))
    finally:
        session.close()
        recorder.uninstall()
        recorder.save()
    return code


if __name__ == "__main__":
    raise SystemExit(main())
