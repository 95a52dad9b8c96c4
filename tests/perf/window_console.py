"""The console's window process for tests.perf.bench_window: started by it, one per run.

    QT_QPA_PLATFORM=offscreen python -m tests.perf.window_console SPEC.json

It does what console/app.py does (QApplication, a qasync loop in an asyncio.Runner, app._window: the
MainWindow, `show_views(await asyncio.to_thread(replica.incidents))`, the 500 ms re-read after each
sync change, SyncEngine.run) on a replica the benchmark synced, and measures it from the inside:

  startup   process start (BENCH_WINDOW_SPAWNED: the parent's time.monotonic() before it spawned this
            process; CLOCK_MONOTONIC is one clock for the machine) to the window shown with its table
            filled and the event loop free again (a 0-ms QTimer set when show_views returned fires).
  filters   the window's own widgets (status and priority combos, the search box, typed key by key);
            each step timed until the call returns and until a 0-ms QTimer fires (the queued layout
            and paint done), runs that overlapped a replica re-read done again.
  storm     tests.perf.sync_load in another process posts PagerDuty triggers with new keys at a rate;
            the window's own engine pulls on pokes and the window re-reads every 500 ms.
  memory    VmRSS / VmHWM of this process.
  anatomy   after the figures: Replica.incidents() and show_views() run on the UI thread, piece by
            piece, to say where their time goes.

All along, a 10 ms QTimer (PreciseTimer) records the Qt event loop's lag: a gap between two ticks
minus 10 ms. Product code runs unchanged; some of its methods are wrapped at class level here to time
them (Replica.incidents, MainWindow.show_views and its parts, ...), and gc.callbacks time collections.

The results go to spec["out"] as JSON; progress lines go to stdout.
"""

from __future__ import annotations

import os
import sys
import time

SPAWNED = float(os.environ.get("BENCH_WINDOW_SPAWNED", "0") or 0)
STARTED = time.monotonic()  # before the heavy imports: Qt, SQLAlchemy, the console

import asyncio  # noqa: E402 (after the clock above on purpose)
import contextlib  # noqa: E402
import functools  # noqa: E402
import gc  # noqa: E402
import json  # noqa: E402
import resource  # noqa: E402
import signal  # noqa: E402
import sqlite3  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import threading  # noqa: E402
from array import array  # noqa: E402
from collections.abc import Callable, Sequence  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import TYPE_CHECKING, Any  # noqa: E402

if TYPE_CHECKING:
    from PySide6.QtCore import QObject, QTimer
    from PySide6.QtWidgets import QApplication

    from console.session import Session
    from console.ui.main_window import MainWindow

INTERVAL = 0.010  # the lag meter's timer
STALL = 0.100  # a lag above this is a stall (the target)
ROOT = Path(__file__).resolve().parent.parent.parent


def say(text: str = "") -> None:
    print(text, flush=True)


def status_kib() -> dict[str, int]:
    out: dict[str, int] = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM", "RssAnon", "RssFile"):
            out[name] = int(value.split()[0])
    return out


def rss_mib() -> float:
    return status_kib().get("VmRSS", 0) / 1024


def thread_cpu() -> dict[int, float]:
    """CPU seconds of each thread of this process (Linux /proc)."""
    ticks = os.sysconf("SC_CLK_TCK")
    out: dict[int, float] = {}
    for task in Path("/proc/self/task").iterdir():
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = (task / "stat").read_text().rpartition(")")[2].split()
            out[int(task.name)] = (int(fields[11]) + int(fields[12])) / ticks
    return out


def pct(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(q * len(ordered) + 0.5) - 1))]


def ms_summary(seconds: Sequence[float]) -> dict[str, float]:
    if not seconds:
        return {"count": 0}
    return {
        "count": len(seconds),
        "p50": pct(seconds, 0.5) * 1000,
        "p99": pct(seconds, 0.99) * 1000,
        "max": max(seconds) * 1000,
        "mean": statistics.fmean(seconds) * 1000,
        "sum": sum(seconds) * 1000,
    }


def fmt_ms(s: dict[str, float]) -> str:
    if not s.get("count"):
        return "none"
    return f"p50 {s['p50']:.0f} / p99 {s['p99']:.0f} / max {s['max']:.0f} ms (n={int(s['count'])})"


# -- instrumentation: class-level wrappers and gc callbacks, recording spans of time --


@dataclass(slots=True)
class Span:
    label: str
    start: float
    end: float
    main: bool  # on the UI thread
    size: int = -1


@dataclass(slots=True)
class Probe:
    main_ident: int = field(default_factory=threading.get_ident)
    spans: list[Span] = field(default_factory=list)
    gcs: list[Span] = field(default_factory=list)  # label "gen N", size = objects collected
    window: MainWindow | None = None
    filled_at: float = 0.0  # show_views returned with rows, the first time
    interactive_at: float = 0.0  # the 0-ms timer set then fired
    all_shown_at: float = 0.0  # the first full read's last batch is in the model
    first_paint_at: float = 0.0  # the table's viewport got its first Paint event after the fill
    filled: asyncio.Event | None = None
    watch: str = ""  # titles starting with this are recorded when first shown
    seen: dict[str, float] = field(default_factory=dict)
    reading: int = 0  # Replica.incidents calls in flight
    rss_at_fill: float = 0.0
    _undo: list[tuple[type, str, Any]] = field(default_factory=list)
    _gc_started: dict[int, float] = field(default_factory=dict)

    def wrap(
        self,
        owner: type,
        name: str,
        label: str,
        *,
        size: Callable[[Any], int] | None = None,
        after: Callable[[tuple[Any, ...], Any, float], None] | None = None,
    ) -> None:
        original = owner.__dict__[name]
        probe = self
        counts_reads = label in ("Replica.incidents", "Replica.views", "read_changes")

        @functools.wraps(original)
        def timed(*args: Any, **kwargs: Any) -> Any:
            if counts_reads:
                probe.reading += 1
            start = time.monotonic()
            try:
                result = original(*args, **kwargs)
            finally:
                end = time.monotonic()
                if counts_reads:
                    probe.reading -= 1
            main = threading.get_ident() == probe.main_ident
            probe.spans.append(Span(label, start, end, main, size(result) if size is not None else -1))
            if after is not None:
                after(args, result, end)
            return result

        setattr(owner, name, timed)
        self._undo.append((owner, name, original))

    def install(self) -> None:
        from console.store.replica import Replica
        from console.sync.client import SyncClient
        from console.ui.incident_model import IncidentFilter, IncidentTableModel
        from console.ui.main_window import MainWindow

        self.wrap(Replica, "incidents", "Replica.incidents", size=len)
        self.wrap(Replica, "apply_page", "Replica.apply_page", size=int)
        self.wrap(Replica, "services", "Replica.services")
        self.wrap(Replica, "incident", "Replica.incident")
        self.wrap(Replica, "views", "Replica.views", size=len)
        self.wrap(MainWindow, "read_changes", "read_changes")
        self.wrap(MainWindow, "show_more", "show_more")
        self.wrap(MainWindow, "all_shown", "all_shown", after=self._all_shown)
        self.wrap(MainWindow, "show_changes", "show_views", after=self._shown)
        self.wrap(IncidentTableModel, "counts", "show_views: model.counts")
        self.wrap(IncidentTableModel, "upsert", "show_views: model.upsert")
        self.wrap(MainWindow, "_show_detail", "show_views: _show_detail")
        self.wrap(MainWindow, "set_sync_view", "set_sync_view")
        self.wrap(IncidentTableModel, "update", "show_views: model.update")
        self.wrap(IncidentTableModel, "set_incidents", "model.set_incidents")
        self.wrap(IncidentFilter, "set_criteria", "IncidentFilter.set_criteria")
        pull = SyncClient.__dict__["pull"]
        probe = self

        @functools.wraps(pull)
        async def timed_pull(client: SyncClient, *args: Any, **kwargs: Any) -> Any:
            start = time.monotonic()
            page = await pull(client, *args, **kwargs)
            rows = sum(len(t.get("rows", [])) for t in page.get("tables", {}).values())
            probe.spans.append(Span("SyncClient.pull", start, time.monotonic(), True, rows))
            return page

        setattr(SyncClient, "pull", timed_pull)  # noqa: B010 (a method, replaced for the run)
        self._undo.append((SyncClient, "pull", pull))
        gc.callbacks.append(self._gc)

    def uninstall(self) -> None:
        for owner, name, original in reversed(self._undo):
            setattr(owner, name, original)
        self._undo.clear()
        with contextlib.suppress(ValueError):
            gc.callbacks.remove(self._gc)

    def _gc(self, phase: str, info: dict[str, int]) -> None:
        ident = threading.get_ident()
        if phase == "start":
            self._gc_started[ident] = time.monotonic()
            return
        start = self._gc_started.pop(ident, None)
        if start is not None:
            self.gcs.append(
                Span(
                    f"gc gen {info['generation']}",
                    start,
                    time.monotonic(),
                    ident == self.main_ident,
                    info.get("collected", 0),
                )
            )

    def _shown(self, args: tuple[Any, ...], _result: Any, end: float) -> None:
        window, changes = args[0], args[1]
        views = changes.everything if changes.everything is not None else list(changes.changed.values())
        self.window = window
        if not self.filled_at and window.model.rowCount():
            self.filled_at = end
            self.rss_at_fill = rss_mib()
            from PySide6.QtCore import QTimer

            QTimer.singleShot(0, self._interactive)
        if self.watch:
            prefix = self.watch
            for view in views:
                title = view.incident.title
                if title.startswith(prefix) and title not in self.seen:
                    self.seen[title] = end

    def _all_shown(self, _args: tuple[Any, ...], _result: Any, end: float) -> None:
        if not self.all_shown_at:
            self.all_shown_at = end

    def _interactive(self) -> None:
        self.interactive_at = time.monotonic()
        if self.filled is not None:
            self.filled.set()

    def between(self, label: str, start: float, end: float) -> list[Span]:
        return [s for s in self.spans if s.label == label and s.start >= start and s.end <= end]

    def overlapping(self, start: float, end: float) -> list[Span]:
        return [s for s in self.spans + self.gcs if s.start < end and s.end > start]


def make_paint_watch(probe: Probe, target: QObject) -> QObject:
    """An event filter noting the first Paint of the table's viewport after the fill."""
    from PySide6.QtCore import QEvent, QObject

    class PaintWatch(QObject):
        def eventFilter(self, watched: QObject, event: QEvent) -> bool:
            if event.type() == QEvent.Type.Paint and probe.filled_at and not probe.first_paint_at:
                probe.first_paint_at = time.monotonic()
            return False

    watch = PaintWatch()
    target.installEventFilter(watch)
    return watch


class LagMeter:
    """A 10 ms precise QTimer on the UI thread; each tick's time is kept."""

    def __init__(self) -> None:
        from PySide6.QtCore import Qt, QTimer

        self.ticks = array("d")
        self.timer: QTimer = QTimer()
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.setInterval(round(INTERVAL * 1000))
        self.timer.timeout.connect(self._tick)

    def start(self) -> None:
        self.ticks.append(time.monotonic())
        self.timer.start()

    def stop(self) -> None:
        self.timer.stop()

    def _tick(self) -> None:
        self.ticks.append(time.monotonic())

    def gaps(self, start: float, end: float) -> list[tuple[float, float]]:
        """(previous tick, tick) for the ticks in [start, end]."""
        ticks = self.ticks
        return [
            (ticks[i - 1], ticks[i]) for i in range(1, len(ticks)) if ticks[i] >= start and ticks[i] <= end
        ]

    def summary(self, start: float, end: float) -> dict[str, Any]:
        gaps = self.gaps(start, end)
        lags = [max(0.0, b - a - INTERVAL) for a, b in gaps]
        if not lags:
            return {"ticks": 0}
        return {
            "ticks": len(lags),
            "seconds": end - start,
            "max_ms": max(lags) * 1000,
            "p50_ms": pct(lags, 0.50) * 1000,
            "p99_ms": pct(lags, 0.99) * 1000,
            "p999_ms": pct(lags, 0.999) * 1000,
            "stalls": sum(1 for lag in lags if lag > STALL),
            "stalled_ms": sum(lag for lag in lags if lag > STALL) * 1000,
            "over_50ms": sum(1 for lag in lags if lag > 0.050),
        }


def fmt_lag(s: dict[str, Any]) -> str:
    if not s.get("ticks"):
        return "no ticks"
    return (
        f"max {s['max_ms']:.0f} ms, p99 {s['p99_ms']:.1f} ms, p99.9 {s['p999_ms']:.0f} ms, p50 "
        f"{s['p50_ms']:.1f} ms; {s['stalls']} stalls > {STALL * 1000:.0f} ms ({s['stalled_ms'] / 1000:.1f} s "
        f"stalled in {s['seconds']:.1f} s), {s['over_50ms']} > 50 ms"
    )


OUTER = ("show_views", "filter action", "set_sync_view", "anatomy")


def attribute(probe: Probe, meter: LagMeter, start: float, end: float) -> dict[str, Any]:
    """For each stall in [start, end]: what ran meanwhile (UI-thread spans, gc, worker spans)."""
    stalls = [(a, b) for a, b in meter.gaps(start, end) if b - a - INTERVAL > STALL]
    kinds: dict[str, int] = {}
    worst: list[dict[str, Any]] = []
    for a, b in stalls:
        overlapping = probe.overlapping(a, b)
        pieces: dict[str, float] = {}
        for s in overlapping:
            key = s.label + ("" if s.main or s.label.startswith("gc") else " (worker thread)")
            pieces[key] = pieces.get(key, 0.0) + min(b, s.end) - max(a, s.start)
        main_outer = [s for s in overlapping if s.main and s.label in OUTER]
        if main_outer:
            kind = "UI thread in " + max(main_outer, key=lambda s: min(b, s.end) - max(a, s.start)).label
        elif any(s.label.startswith("gc gen 2") for s in overlapping):
            kind = "a gen-2 garbage collection (any thread; it holds the GIL)"
        elif any(not s.main for s in overlapping):
            kind = "only worker-thread work (GIL contention): " + ", ".join(
                sorted({s.label for s in overlapping if not s.main})
            )
        else:
            kind = "nothing instrumented"
        kinds[kind] = kinds.get(kind, 0) + 1
        worst.append(
            {
                "ends_s": b - start,
                "lag_ms": (b - a - INTERVAL) * 1000,
                "kind": kind,
                "pieces_ms": {
                    k: round(v * 1000, 1) for k, v in sorted(pieces.items(), key=lambda kv: -kv[1])
                },
            }
        )
    worst.sort(key=lambda w: -w["lag_ms"])
    return {"count": len(stalls), "by_kind": kinds, "worst": worst[:8]}


def print_attribution(att: dict[str, Any]) -> None:
    if not att["count"]:
        return
    say(f"      stalls > {STALL * 1000:.0f} ms, by what the UI thread was doing meanwhile:")
    for kind, n in sorted(att["by_kind"].items(), key=lambda kv: -kv[1]):
        say(f"        {n:4d}  {kind}")
    say("      the longest (lag; time of each overlapping piece, nested pieces included in their parents):")
    for w in att["worst"][:5]:
        pieces = ", ".join(f"{k} {v:.0f}" for k, v in list(w["pieces_ms"].items())[:7])
        say(f"        {w['lag_ms']:6.0f} ms ending at +{w['ends_s']:.1f} s: {pieces}")


def spans_summary(probe: Probe, start: float, end: float) -> dict[str, dict[str, float]]:
    labels = sorted({s.label for s in probe.spans})
    out = {}
    for label in labels:
        spans = probe.between(label, start, end)
        if spans:
            out[label] = ms_summary([s.end - s.start for s in spans])
    gcs = [s for s in probe.gcs if s.start >= start and s.end <= end]
    for generation in (0, 1, 2):
        mine = [s.end - s.start for s in gcs if s.label == f"gc gen {generation}"]
        if mine:
            out[f"gc gen {generation}"] = ms_summary(mine)
    return out


def print_spans(summary: dict[str, dict[str, float]], labels: Sequence[str]) -> None:
    for label in labels:
        if label in summary:
            say(f"        {label:<36} {fmt_ms(summary[label])}, total {summary[label]['sum'] / 1000:.1f} s")


SPAN_LABELS = (
    "Replica.incidents",
    "show_views",
    "model.set_incidents",
    "show_views: model.update",
    "read_changes",
    "show_more",
    "show_views: model.counts",
    "show_views: model.upsert",
    "Replica.views",
    "Replica.services",
    "show_views: _show_detail",
    "Replica.incident",
    "set_sync_view",
    "SyncClient.pull",
    "Replica.apply_page",
    "gc gen 0",
    "gc gen 1",
    "gc gen 2",
)


# -- py-spy on this very process, phase by phase (profile runs only) --


class Spy:
    def __init__(self, directory: Path | None, name: str, rate: int) -> None:
        self.process: subprocess.Popen[bytes] | None = None
        self.path = directory / f"{name}.txt" if directory is not None else None
        if self.path is None:
            return
        py_spy = Path(sys.executable).parent / "py-spy"
        command = [str(py_spy), "record", "--pid", str(os.getpid()), "--rate", str(rate), "--threads"]
        command += ["--function", "--format", "raw", "--output", str(self.path)]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1.0)  # py-spy attaches

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.send_signal(signal.SIGINT)  # py-spy writes its output on Ctrl-C
        try:
            self.process.wait(60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None


# -- the run --


def remap(proxy: Any) -> int:
    """A full re-filter of a proxy (every source row judged again), done now."""
    proxy.refilter()
    return int(proxy.rowCount())


def tick() -> asyncio.Future[float]:
    """Resolves when a 0-ms QTimer fires: what the event loop had queued (layout, paint) is done."""
    from PySide6.QtCore import QTimer

    future: asyncio.Future[float] = asyncio.get_running_loop().create_future()

    def fired() -> None:
        if not future.done():
            future.set_result(time.monotonic())

    QTimer.singleShot(0, fired)
    return future


class Run:
    def __init__(self, spec: dict[str, Any], app: QApplication, session: Session, probe: Probe) -> None:
        self.spec = spec
        self.app = app
        self.session = session
        self.probe = probe
        self.meter = LagMeter()
        self.results: dict[str, Any] = {"spec": {k: v for k, v in spec.items() if k != "token"}}
        self.profile = Path(spec["profile"]) if spec.get("profile") else None
        self.spy: Spy | None = None

    def spy_start(self, name: str) -> None:
        self.spy_stop()
        if self.profile is not None:
            self.spy = Spy(self.profile, name, int(self.spec.get("profile_rate", 100)))

    def spy_stop(self) -> None:
        if self.spy is not None:
            self.spy.stop()
            self.spy = None

    @property
    def window(self) -> MainWindow:
        assert self.probe.window is not None
        return self.probe.window

    async def main(self, marks: dict[str, float]) -> int:
        from console import app as console_app

        probe = self.probe
        probe.filled = asyncio.Event()
        self.meter.start()
        marks["build"] = time.monotonic()
        data_dir = Path(self.spec["replica"]).parent
        window_task = asyncio.ensure_future(
            console_app._window(self.app, self.session, data_dir, None, False, None)
        )
        try:
            await asyncio.wait_for(probe.filled.wait(), 600)
            await self.startup(marks)
            await self.filters()
            await self.storm()
            self.memory()
            await self.anatomy()
        finally:
            if probe.window is not None:
                probe.window.close()  # lastWindowClosed: app._window stops the engine and returns
            try:
                code = await asyncio.wait_for(window_task, 60)
            except TimeoutError:
                say("    (the window's task did not end within 60 s of closing the window)")
                code = 1
            self.meter.stop()
        return code

    # 1. startup

    async def startup(self, marks: dict[str, float]) -> None:
        probe = self.probe
        window = self.window
        make_paint_watch(probe, window.table.viewport())  # late: the first paint may be missed
        first_read = probe.between("read_changes", marks["build"], probe.filled_at)
        first_show = probe.between("show_views", marks["build"], probe.filled_at + 1)
        # What follows: the rest of the incidents in batches (show_more), the engine's first round
        # and the re-read of what it changed: part of starting, measured as "settling".
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            later = [s for s in probe.spans if s.label in ("show_views", "show_more")]
            if (
                probe.all_shown_at
                and probe.reading == 0
                and (not later or time.monotonic() - later[-1].end > 1.0)
            ):
                break
            await asyncio.sleep(0.05)
        settled = time.monotonic()
        self.spy_stop()
        t0 = SPAWNED or STARTED
        startup: dict[str, Any] = {
            "rows": window.model.rowCount(),
            "shown_rows": window.proxy.rowCount(),
            "python_start_to_main_s": STARTED - t0 if SPAWNED else None,
            "imports_s": marks["imported"] - STARTED,
            "qapplication_s": marks["app"] - marks["imported"],
            "replica_open_s": marks["replica"] - marks["app"],
            "runner_s": marks["build"] - marks["replica"],
            "window_built_and_shown_s": (first_read[0].start - marks["build"]) if first_read else None,
            "replica_incidents_s": (first_read[0].end - first_read[0].start) if first_read else None,
            "first_show_views_s": (first_show[0].end - first_show[0].start) if first_show else None,
            "to_filled_s": probe.filled_at - t0,
            "to_interactive_s": probe.interactive_at - t0,
            "build_to_interactive_s": probe.interactive_at - marks["build"],
            "first_paint_after_fill_s": (probe.first_paint_at - probe.filled_at)
            if probe.first_paint_at
            else None,
            "lag_until_interactive": self.meter.summary(marks["build"], probe.interactive_at + 0.001),
            "lag_settling": self.meter.summary(probe.interactive_at, settled),
            "settled_s": settled - t0,
            "all_shown_s": (probe.all_shown_at - t0) if probe.all_shown_at else None,
            "spans_settling": spans_summary(probe, probe.interactive_at, settled),
            "attribution_settling": attribute(probe, self.meter, probe.interactive_at, settled),
            "rss_mib_at_fill": probe.rss_at_fill,
            "rss_mib_filled": rss_mib(),
            "rss_mib_base": marks["rss_base"],
        }
        self.results["startup"] = startup
        s = startup
        origin = "process start (spawn)" if SPAWNED else "interpreter start"
        say(f"[1] startup: {s['rows']:,} incidents in the model, {s['shown_rows']:,} shown ('open' filter)")
        say(
            f"      {origin} -> window filled {s['to_filled_s']:.2f} s -> event loop free (0-ms timer) "
            f"{s['to_interactive_s']:.2f} s   [target <= 2 s: "
            f"{'MET' if s['to_interactive_s'] <= 2 else 'NOT MET'}]"
        )
        parts = [
            ("python start", s["python_start_to_main_s"]),
            ("imports (PySide6, qasync, console)", s["imports_s"]),
            ("QApplication", s["qapplication_s"]),
            ("Replica open", s["replica_open_s"]),
            ("asyncio.Runner/qasync loop", s["runner_s"]),
            ("MainWindow built and shown", s["window_built_and_shown_s"]),
            ("first read (the most urgent incidents) in a worker thread", s["replica_incidents_s"]),
            ("first show_changes()", s["first_show_views_s"]),
            ("fill -> 0-ms timer", probe.interactive_at - probe.filled_at),
        ]
        say("      " + "; ".join(f"{name} {v:.2f} s" for name, v in parts if v is not None))
        say(f"      from the start of building the window: {s['build_to_interactive_s']:.2f} s")
        if s["first_paint_after_fill_s"] is not None:
            say(
                f"      the table's first paint after the fill came "
                f"{s['first_paint_after_fill_s'] * 1000:.0f} ms after it"
            )
        say(
            f"      lag while starting (the loop is busy building, by design): "
            f"{fmt_lag(s['lag_until_interactive'])}"
        )
        if s["all_shown_s"] is not None:
            say(f"      every incident in the model {s['all_shown_s']:.2f} s after the {origin}")
        say(
            f"      then until settled (the rest in batches, the engine's first round and its re-read, "
            f"{settled - probe.interactive_at:.1f} s): "
            f"{fmt_lag(s['lag_settling'])}"
        )
        print_spans(s["spans_settling"], SPAN_LABELS)
        print_attribution(s["attribution_settling"])
        say(
            f"      RSS {s['rss_mib_base']:.0f} MiB before any incident, {s['rss_mib_at_fill']:.0f} MiB "
            f"when the "
            f"window was filled, {s['rss_mib_filled']:.0f} MiB after the first re-read"
        )

    # 2. filters

    async def quiet(self) -> None:
        """Until no replica re-read is in flight and show_views has been idle for 150 ms."""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            shows = [s for s in self.probe.spans if s.label == "show_views"]
            if self.probe.reading == 0 and (not shows or time.monotonic() - shows[-1].end > 0.15):
                return
            await asyncio.sleep(0.02)

    async def step(self, action: Callable[[], None]) -> tuple[float, float, bool]:
        """(ms until the action returned, ms until a 0-ms timer fired, overlapped a refresh)."""
        for attempt in range(4):
            await self.quiet()
            await tick()
            started = time.monotonic()
            action()
            returned = time.monotonic()
            self.probe.spans.append(Span("filter action", started, returned, True))
            done = await tick()
            busy = any(
                s.label in ("Replica.incidents", "show_views") and s.start < done and s.end > started
                for s in self.probe.spans
            ) or (self.probe.reading > 0)
            if not busy or attempt == 3:
                return (returned - started) * 1000, (done - started) * 1000, busy
        raise AssertionError("unreachable")

    async def filters(self) -> None:
        from PySide6.QtTest import QTest

        window = self.window
        self.spy_start("filters")
        runs = int(self.spec.get("filter_runs", 3))
        say(
            f"\n[2] filters through the window's widgets on {window.model.rowCount():,} rows (median of "
            f"{runs})"
        )
        say("      step                                        returned   loop free   shown rows")
        started = time.monotonic()
        search_word = str(self.spec.get("search", "api-42"))
        some_id = window.model.incident_id(window.model.rowCount() // 2)
        number = window.model.view_at(window.model.rowCount() // 3).incident.number

        def combo(box: Any, text: str) -> Callable[[], None]:
            return lambda: box.setCurrentText(text)

        def text(value: str) -> Callable[[], None]:
            return lambda: window.search.setText(value)

        status, priority = window.status_filter, window.priority_filter
        steps: list[tuple[str, Callable[[], None], Callable[[], None] | None]] = [
            ("status: all", combo(status, "all"), combo(status, "open")),
            ("status: triggered", combo(status, "triggered"), combo(status, "open")),
            ("status: resolved", combo(status, "resolved"), combo(status, "open")),
            ("priority: high", combo(priority, "high"), combo(priority, "any priority")),
            ("priority: low", combo(priority, "low"), combo(priority, "any priority")),
            (f"search: '{search_word}' (set at once)", text(search_word), text("")),
            ("search: 'latency' (every row)", text("latency"), text("")),
            ("search: 'zzz' (no row)", text("zzz"), text("")),
            (f"search: '#{number}'", text(f"#{number}"), text("")),
            ("search: an id prefix (13 chars)", text(some_id[:13]), text("")),
        ]
        table: list[dict[str, Any]] = []
        for label, forward, back in steps:
            forwards, backs, overlaps, shown = [], [], 0, 0
            for _ in range(runs):
                r, d, busy = await self.step(forward)
                forwards.append((r, d))
                overlaps += busy
                shown = window.proxy.rowCount()
                if back is not None:
                    r, d, busy = await self.step(back)
                    backs.append((r, d))
            row = {
                "step": label,
                "returned_ms": statistics.median(r for r, _ in forwards),
                "loop_free_ms": statistics.median(d for _, d in forwards),
                "max_loop_free_ms": max(d for _, d in forwards),
                "shown": shown,
                "undo_loop_free_ms": statistics.median(d for _, d in backs) if backs else None,
                "overlapped_refresh": overlaps,
            }
            table.append(row)
            undo = (
                f"; undone in {row['undo_loop_free_ms']:.0f} ms"
                if row["undo_loop_free_ms"] is not None
                else ""
            )
            flag = " (overlapped a re-read)" if overlaps else ""
            say(
                f"      {label:<42} {row['returned_ms']:7.0f} ms  {row['loop_free_ms']:7.0f} ms  {shown:>9,}"
                f"{undo}{flag}"
            )
        # typing a search, key by key (QTest key clicks on the search box: textChanged per key)
        window.search.setFocus()
        keys: list[tuple[float, float]] = []
        typed = str(self.spec.get("typed", "latency api-42"))
        for char in typed:
            r, d, _busy = await self.step(functools.partial(QTest.keyClicks, window.search, char))
            keys.append((r, d))
        per_key = [d for _, d in keys]
        say(
            f"      typing '{typed}' key by key: per key median {statistics.median(per_key):.0f} ms, max "
            f"{max(per_key):.0f} ms (first key {per_key[0]:.0f} ms); {window.proxy.rowCount():,} shown"
        )
        clear = await self.step(window.search.clear)
        say(f"      clearing the search box: {clear[1]:.0f} ms")

        def high_and_word() -> None:
            window.priority_filter.setCurrentText("high")
            window.search.setText(search_word)

        def undo_both() -> None:
            window.priority_filter.setCurrentText("any priority")
            window.search.setText("")

        high_and_text = await self.step(high_and_word)
        say(
            f"      priority high + '{search_word}' (two widgets, one after the other): "
            f"{high_and_text[1]:.0f} ms, "
            f"{window.proxy.rowCount():,} shown"
        )
        await self.step(undo_both)
        ended = time.monotonic()
        self.spy_stop()
        self.results["filters"] = {
            "steps": table,
            "typing_ms": per_key,
            "typed": typed,
            "clear_ms": clear[1],
            "combined_ms": high_and_text[1],
            "lag": self.meter.summary(started, ended),
            "spans": spans_summary(self.probe, started, ended),
        }
        worst = max([row["loop_free_ms"] for row in table] + per_key)
        say(
            f"      worst step until the loop is free: {worst:.0f} ms   [target <= 100 ms: "
            f"{'MET' if worst <= 100 else 'NOT MET'}]"
        )
        print_spans(self.results["filters"]["spans"], ("IncidentFilter.set_criteria", "gc gen 2"))

    # 3. storm

    async def storm(self) -> None:
        spec = self.spec
        probe = self.probe
        rate, seconds = float(spec["rate"]), float(spec["seconds"])
        count = round(rate * seconds)
        prefix = f"storm-{spec['tag']}-"
        work = Path(spec["work"])
        load_spec = {
            "port": spec["port"],
            "connections": 4,
            "rate": rate,
            "pd_items": {
                "routing_key": spec["routing_key"],
                "items": [["trigger", f"{prefix}{i}"] for i in range(count)],
            },
        }
        (work / "storm-spec.json").write_text(json.dumps(load_spec))
        await self.quiet()
        rows_before = self.window.model.rowCount()
        say(
            f"\n[3] storm: {count:,} PagerDuty triggers with new keys at {rate:g}/s for {seconds:g} s from "
            f"another "
            f"process (tests.perf.sync_load, 4 connections); the window's engine pulls on pokes, the window "
            f"re-reads the replica 500 ms after each sync change"
        )
        self.spy_start("storm")
        probe.watch = prefix
        probe.seen.clear()
        cpu_before = thread_cpu()
        usage_before = resource.getrusage(resource.RUSAGE_SELF)
        started = time.monotonic()
        with (work / "storm-spec.json").open("rb") as given, (work / "storm-out.json").open("wb") as out:
            load = subprocess.Popen(
                [sys.executable, "-m", "tests.perf.sync_load"], stdin=given, stdout=out, cwd=ROOT
            )
            while load.poll() is None:
                await asyncio.sleep(0.1)
        sent_end = time.monotonic()
        deadline = sent_end + 60
        while len(probe.seen) < count and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        ended = time.monotonic()
        self.spy_stop()
        probe.watch = ""
        wall = ended - started
        usage = resource.getrusage(resource.RUSAGE_SELF)
        cpu_after = thread_cpu()
        main_tid = os.getpid()
        main_cpu = cpu_after.get(main_tid, 0.0) - cpu_before.get(main_tid, 0.0)
        others = sorted(
            ((tid, t - cpu_before.get(tid, 0.0)) for tid, t in cpu_after.items() if tid != main_tid),
            key=lambda item: -item[1],
        )
        load_out: dict[str, Any] = json.loads((work / "storm-out.json").read_text().strip().splitlines()[-1])
        records = {r[0]: r for r in load_out["records"]}  # key -> (key, due, sent, answered, status)
        latency = [probe.seen[k] - records[k][2] for k in probe.seen if k in records]
        missing = count - len(probe.seen)
        lag = self.meter.summary(started, ended)
        spans = spans_summary(probe, started, ended)
        storm = {
            "count": count,
            "rate": rate,
            "seconds": seconds,
            "sent": load_out["ok"],
            "status": load_out["status"],
            "send_seconds": load_out["seconds"],
            "wall_s": wall,
            "drain_s": ended - sent_end,
            "missing": missing,
            "rows_before": rows_before,
            "rows_after": self.window.model.rowCount(),
            "post_to_window_ms": ms_summary(latency),
            "lag": lag,
            "spans": spans,
            "attribution": attribute(probe, self.meter, started, ended),
            "cpu_s": (usage.ru_utime + usage.ru_stime) - (usage_before.ru_utime + usage_before.ru_stime),
            "ui_thread_cpu_s": main_cpu,
            "busiest_other_threads_cpu_s": [round(t, 2) for _tid, t in others[:3]],
            "loadgen_cpu_s": load_out["cpu_seconds"],
        }
        self.results["storm"] = storm
        s = storm
        say(
            f"      sent {s['sent']:,} ({s['status']}) in {s['send_seconds']:.1f} s; the window showed them "
            f"all "
            f"{s['drain_s']:.1f} s after the last was sent" + (f"; {missing} never shown" if missing else "")
        )
        say(
            f"      event-loop lag (10 ms timer), {wall:.1f} s: {fmt_lag(lag)}   "
            f"[target: no stall > 100 ms: {'MET' if lag.get('stalls', 1) == 0 else 'NOT MET'}]"
        )
        say(f"      POST -> incident in the window's model: {fmt_ms(s['post_to_window_ms'])}")
        say(
            f"      CPU of this process {s['cpu_s']:.1f} s in {wall:.1f} s ({s['cpu_s'] / wall:.2f} cores): "
            f"UI thread "
            f"{main_cpu:.1f} s ({main_cpu / wall:.0%}), busiest others "
            f"{', '.join(f'{t:.1f}' for t in s['busiest_other_threads_cpu_s'])} s; load generator "
            f"{s['loadgen_cpu_s']:.1f} s"
        )
        say("      timed pieces during the storm (UI thread unless said):")
        print_spans(spans, SPAN_LABELS)
        print_attribution(s["attribution"])

    def filter_anatomy(self, timed: Callable[..., tuple[Any, float]]) -> dict[str, float]:

        from console.ui.incident_model import IncidentFilter

        window = self.window
        out: dict[str, float] = {}
        window.priority_filter.setCurrentText("high")
        _, out["f_window_s"] = timed(lambda: remap(window.proxy))
        window.priority_filter.setCurrentText("any priority")
        bare = IncidentFilter(window.model)
        bare.set_statuses("open")
        bare.set_priority("high")
        bare.rowCount()
        _, out["f_bare_s"] = timed(lambda: remap(bare))
        _, out["f_judge_s"] = timed(bare._judge_all)
        bare.clear()
        _, out["f_none_s"] = timed(lambda: remap(bare))
        bare.setSourceModel(type(window.model)())  # let go of the window's model
        return out

    def incremental_anatomy(self, timed: Callable[..., tuple[Any, float]]) -> dict[str, float]:
        from dataclasses import replace

        from console.store.tables import incidents
        from console.ui.incident_model import IncidentTableModel

        window = self.window
        replica = self.session.replica
        out: dict[str, float] = {}
        count = 200
        model = window.model
        ids = [model.incident_id(row) for row in range(0, model.rowCount(), model.rowCount() // count)][
            :count
        ]
        out["inc_ids"] = len(ids)
        with replica._engine.connect() as conn:
            fresh, out["inc_read_s"] = timed(lambda: replica._views(conn, ids))
        changed = [
            replace(view, incident=replace(view.incident, assignee="bench-window")) for view in fresh.values()
        ]
        _, out["inc_upsert_s"] = timed(lambda: model.upsert(changed))
        model.upsert(list(fresh.values()))
        raw = sqlite3.connect(f"file:{replica.path}?mode=ro", uri=True)
        try:
            sql = (
                "SELECT id, number, service_id, title, priority, status, epoch, created_at, assignee "
                f"FROM {incidents.name} ORDER BY created_at DESC"
            )
            _, out["lean_read_s"] = timed(lambda: raw.execute(sql).fetchall())
        finally:
            raw.close()
        views = model.views()
        spare = IncidentTableModel()
        _, out["model_build_s"] = timed(lambda: spare.set_incidents(views))
        return out

    # 4. memory

    def memory(self) -> None:
        started = time.monotonic()
        gc.collect()
        collect_s = time.monotonic() - started
        status = status_kib()
        self.results["memory"] = {k: v / 1024 for k, v in status.items()}
        tracked = len(gc.get_objects())
        self.results["gc"] = {"tracked_objects": tracked, "full_collect_s": collect_s}
        m = self.results["memory"]
        say(
            f"\n[4] memory at the end: VmRSS {m['VmRSS']:.0f} MiB (anon {m.get('RssAnon', 0):.0f}, file "
            f"{m.get('RssFile', 0):.0f}), peak VmHWM {m['VmHWM']:.0f} MiB, "
            f"{self.window.model.rowCount():,} incidents   [target <= 400 MB: "
            f"{'MET' if m['VmRSS'] * 1.048576 <= 400 else 'NOT MET'} now, "
            f"{'MET' if m['VmHWM'] * 1.048576 <= 400 else 'NOT MET'} at the peak]"
        )
        say(
            f"      the heap the garbage collector walks: {tracked:,} tracked objects; a full collection "
            f"(gc.collect()) takes {collect_s * 1000:.0f} ms, on whichever thread triggers it, holding the "
            f"GIL"
        )

    # 5. anatomy (after the figures; on the UI thread on purpose)

    async def anatomy(self) -> None:

        import console.store.replica as store
        from console.domain.views import IncidentView

        await self.quiet()
        window = self.window
        replica = self.session.replica
        probe = self.probe
        begin = time.monotonic()
        probe.spans.append(Span("anatomy", begin, begin + 3600, True))  # stalls from here on are ours
        out: dict[str, Any] = {}

        def timed(action: Callable[[], Any], *, collect: bool = False) -> tuple[Any, float]:
            """(result, seconds) with the collector off: the work itself, without gen-2 pauses."""
            gc.collect()
            if not collect:
                gc.disable()
            try:
                started = time.monotonic()
                result = action()
                return result, time.monotonic() - started
            finally:
                gc.enable()

        gcs_before = len(probe.gcs)
        views, out["incidents_gc_on_s"] = timed(replica.incidents, collect=True)
        out["incidents_gc_on_gc_s"] = sum(s.end - s.start for s in probe.gcs[gcs_before:])
        views, out["incidents_s"] = timed(replica.incidents)
        out["rows"] = n = len(views)

        def read_pieces() -> None:
            with replica._engine.connect() as conn:
                pending, out["unconfirmed_s"] = timed(lambda: store._unconfirmed(conn))
                confirmed, out["confirmed_s"] = timed(lambda: store._confirmed(conn))
                actor = store._actor(conn)
                _, out["fold_s"] = timed(lambda: store._fold(conn, confirmed, pending, actor))
            raw = sqlite3.connect(f"file:{replica.path}?mode=ro", uri=True)
            try:
                _, out["sqlite3_raw_s"] = timed(lambda: raw.execute(store._READ).fetchall())
            finally:
                raw.close()
            _, out["urgent_first_s"] = timed(lambda: next(replica.urgent_first()))

        read_pieces()

        def show_pieces(views: list[IncidentView]) -> None:
            # show_views with a fresh read of unchanged incidents (what each 500 ms refresh does)
            spans_before = len(probe.spans)
            _, out["show_views_s"] = timed(lambda: window.show_views(views))
            parts: dict[str, float] = {}
            for s in probe.spans[spans_before:]:
                if s.main and s.label != "anatomy":
                    parts[s.label] = parts.get(s.label, 0.0) + (s.end - s.start)
            out["show_views_parts_s"] = parts
            _, out["update_same_objects_s"] = timed(lambda: window.model.update(window.model.views()))
            olds = {v.incident.id: v for v in window.model.views()}
            again = replica.incidents()
            out["eq_equal"], out["eq_compare_s"] = timed(
                lambda: sum(1 for v in again if olds[v.incident.id] == v)
            )
            _, out["title_s"] = timed(window.model.counts)

        show_pieces(views)
        del views
        _, out["full_collect_s"] = timed(gc.collect, collect=True)
        out["tracked_objects"] = len(gc.get_objects())
        gc.freeze()  # what-if: the long-lived objects (model, views) moved out of the collector's walk
        try:
            _, out["frozen_collect_s"] = timed(gc.collect, collect=True)
        finally:
            gc.unfreeze()
        out.update(self.filter_anatomy(timed))
        out.update(self.incremental_anatomy(timed))
        out.update(_memory_anatomy(self))
        self.results["anatomy"] = out
        us = 1e6 / max(n, 1)
        a = out
        say(f"\n[5] anatomy on the UI thread, after the figures ({n:,} incidents; not part of the targets)")
        say(
            f"      Replica.incidents(): {a['incidents_gc_on_s']:.2f} s as it runs, of which garbage "
            f"collection "
            f"{a['incidents_gc_on_gc_s']:.2f} s; {a['incidents_s']:.2f} s with the collector off "
            f"({a['incidents_s'] * us:.1f} µs/row):"
        )
        say(
            f"        of it: the SELECT in sqlite3 {a['sqlite3_raw_s']:.2f} s "
            f"({a['sqlite3_raw_s'] * us:.1f} µs/row); rows to IncidentViews (_confirmed) "
            f"{a['confirmed_s']:.2f} s ({a['confirmed_s'] * us:.1f} µs/row); folding unsynced ops "
            f"{a['fold_s'] * 1000:.0f} ms; _unconfirmed {a['unconfirmed_s'] * 1000:.0f} ms; the first "
            f"batch of urgent_first() (what start-up waits for) {a['urgent_first_s'] * 1000:.0f} ms"
        )
        parts = a["show_views_parts_s"]
        pieces = ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in sorted(parts.items(), key=lambda kv: -kv[1]))
        say(
            f"      show_views() of a fresh read, nothing changed (each 500 ms refresh): "
            f"{a['show_views_s'] * 1000:.0f} ms on the UI thread with the collector off "
            f"({a['show_views_s'] * us:.2f} µs/row): {pieces}"
        )
        say(
            f"        in model.update: the view equality checks alone {a['eq_compare_s'] * 1000:.0f} ms "
            f"({a['eq_compare_s'] * us:.2f} µs/row, {a['eq_equal']:,} of {n:,} equal); update() given the "
            f"model's own view objects (identity shortcut, no __eq__) "
            f"{a['update_same_objects_s'] * 1000:.0f} ms; "
            f"model.counts() {a['title_s'] * 1000:.0f} ms"
        )
        say(
            f"      a full garbage collection now: {a['full_collect_s'] * 1000:.0f} ms over "
            f"{a['tracked_objects']:,} tracked objects"
        )
        say(
            f"        the same after gc.freeze() (what-if; the long-lived model and views out of its walk): "
            f"{a['frozen_collect_s'] * 1000:.0f} ms"
        )
        say(
            f"      filter anatomy ('priority: high' re-applied, {n:,} rows): the window's proxy "
            f"{a['f_window_s'] * 1000:.0f} ms; the same on a proxy with no view {a['f_bare_s'] * 1000:.0f} "
            f"ms, of which the verdict pass (_judge_all) {a['f_judge_s'] * 1000:.0f} ms; with no filter "
            f"{a['f_none_s'] * 1000:.0f} ms"
        )
        say(
            f"      what an incremental refresh would cost, with code that exists: Replica._views(conn, "
            f"ids) for "
            f"{a['inc_ids']} ids {a['inc_read_s'] * 1000:.1f} ms; model.upsert() of {a['inc_ids']} changed "
            f"views "
            f"{a['inc_upsert_s'] * 1000:.1f} ms (vs a full re-read {a['incidents_s']:.2f} s + show_views "
            f"{a['show_views_s'] * 1000:.0f} ms)"
        )
        say(
            f"      a lean read (plain sqlite3, only the list's columns: id, number, service, title, "
            f"priority, "
            f"status, epoch, created_at, assignee) {a['lean_read_s'] * 1000:.0f} ms "
            f"({a['lean_read_s'] * us:.2f} "
            f"µs/row); a table model built from the views, no view attached: set_incidents() "
            f"{a['model_build_s'] * 1000:.0f} ms ({a['model_build_s'] * us:.2f} µs/row)"
        )
        say(
            f"      Python heap (tracemalloc) per incident: a read's IncidentViews kept "
            f"{a['read_kept_b'] / n:,.0f} B ({a['read_kept_b'] / 2**20:,.0f} MiB; "
            f"{a['read_objects'] / n:.1f} GC-tracked objects per incident), the read's peak "
            f"{a['read_peak_b'] / 2**20:,.0f} MiB; the table model over them (_Row, display texts, "
            f"search text, keys, id map) {a['model_b'] / n:,.0f} B ({a['model_b'] / 2**20:,.0f} MiB); the "
            f"filter's "
            f"columns and search copies {a['filter_b'] / n:,.0f} B ({a['filter_b'] / 2**20:,.0f} MiB)"
        )


def _memory_anatomy(run: Run) -> dict[str, Any]:
    """Python heap of one read, of a table model over it, and of the filter's columns (tracemalloc)."""
    import tracemalloc

    from console.ui.incident_model import IncidentFilter, IncidentTableModel

    replica = run.session.replica
    gc.collect()
    tracked = len(gc.get_objects())
    tracemalloc.start()
    try:
        views = replica.incidents()
        kept, peak = tracemalloc.get_traced_memory()
        gc.collect()
        objects = len(gc.get_objects()) - tracked
        model = IncidentTableModel()
        model.set_incidents(views)
        with_model = tracemalloc.get_traced_memory()[0]
        proxy = IncidentFilter(model)
        proxy.set_statuses("open")
        proxy.set_text("zzz")
        proxy.rowCount()
        with_filter = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    del proxy, model, views
    gc.collect()
    return {
        "read_kept_b": kept,
        "read_peak_b": peak,
        "read_objects": objects,
        "model_b": with_model - kept,
        "filter_b": with_filter - with_model,
    }


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    spec: dict[str, Any] = json.loads(Path(args[0]).read_text())
    profile = Path(spec["profile"]) if spec.get("profile") else None
    startup_spy = Spy(profile, "startup", int(spec.get("profile_rate", 100))) if profile else None
    marks: dict[str, float] = {}
    os.environ.setdefault("QT_API", "pyside6")  # as app.py: qasync picks its binding from this
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

    import qasync
    from PySide6.QtWidgets import QApplication

    import console.app  # noqa: F401 (what app.py's run() has loaded by then)
    from console.session import Session
    from console.store.replica import Replica
    from console.ui import main_window  # noqa: F401

    marks["imported"] = time.monotonic()
    probe = Probe()
    probe.install()
    app = QApplication(sys.argv[:1])
    app.setApplicationName("Responder Console")
    app.setQuitOnLastWindowClosed(False)
    marks["app"] = time.monotonic()
    replica = Replica(Path(spec["replica"]))  # open_session: Replica.in_dir, migrated
    marks["replica"] = time.monotonic()
    marks["rss_base"] = rss_mib()
    session = Session(replica, spec["url"], spec["token"], spec["user"], None)
    run = Run(spec, app, session, probe)
    run.spy = startup_spy
    code = 1
    try:
        with asyncio.Runner(loop_factory=lambda: qasync.QEventLoop(app)) as runner:

            async def go() -> int:
                return await run.main(marks)

            code = runner.run(go())
    finally:
        run.spy_stop()
        session.close()
        probe.uninstall()
        Path(spec["out"]).write_text(json.dumps(run.results, indent=2, default=str))
    return code


if __name__ == "__main__":
    raise SystemExit(main())
