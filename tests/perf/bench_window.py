"""Window benchmark: the console's MainWindow, as console/app.py runs it, on a replica of 100,000
incidents made by a real first sync from a real server process. It measures and prints; it asserts
nothing.

    /work/venv/bin/python -m tests.perf.bench_window --cache /tmp/sbx/cache      # 100,000 incidents
    /work/venv/bin/python -m tests.perf.bench_window --cache DIR --profile /tmp/window-prof   # + py-spy
    /work/venv/bin/python -m tests.perf.bench_window --incidents 5000 --seconds 10 --cache DIR  # a quick look

Set-up (not measured against a target): the server database with `--incidents` incidents, seeded as
tests.perf.bench_sync seeds it (PagerDuty triggers with new dedup keys through the real intake; with
--cache DIR it is made once and copied afterwards: bench_sync's cache is the same); `python main.py
serve` on it; a console replica filled by one SyncEngine.sync_once() (the console's own engine and
client) and signed in as the seeding user.

Then the window process (tests/perf/window_console.py, offscreen Qt, started fresh) does what app.py
does (QApplication, asyncio.Runner on a qasync QEventLoop, app._window: MainWindow, show(),
`show_views(await asyncio.to_thread(replica.incidents))`, SyncEngine.run, the 500 ms re-read after
each sync change), with a 10 ms QTimer recording the event loop's lag throughout:
  1. startup: from the process's spawn to the window filled and a 0-ms QTimer fired after it (the
     loop free again); also from the start of building the window; then the lag while it settles
     (the engine's first round and the re-read it causes). Target <= 2 s.
  2. filters through the window's widgets (status and priority combos, the search box set at once
     and typed key by key): until the call returns, and until a 0-ms QTimer fires (layout and
     paint done). Target <= 100 ms.
  3. storm: `--rate` new alerts/s for `--seconds` s (200/s for 30 s) posted by tests.perf.sync_load
     in its own process to the server's intake; the window's engine pulls on pokes, the window
     re-reads every 500 ms; the lag meter's max, p99 and stalls over 100 ms, what the UI thread was
     doing during each stall, and POST -> incident in the window's model. Target: no stall > 100 ms.
  4. resident memory (VmRSS, and the peak VmHWM) of the window process. Target <= 400 MB.
  5. anatomy (after the figures): Replica.incidents() and show_views() taken apart on the UI thread.
With --profile DIR, a second window process runs the same phases under py-spy (one profile per
phase, on the replica as the first run left it: it holds the first storm's incidents too) and the
profiles are summarized.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from console.session import whoami
from console.store.replica import Replica
from console.sync.client import SyncClient
from console.sync.engine import SyncEngine
from tests.perf import profile_summary
from tests.perf.bench_intake import CpuWindow, find_py_spy, source_state
from tests.perf.bench_sync import (
    SyncServer,
    file_mib,
    load_average,
    replica_counts,
    say,
    seed_server,
    terminate_as_interrupt,
)
from tests.serverproc import ROOT

TARGET_START_S = 2.0
TARGET_FILTER_MS = 100.0
TARGET_STALL_MS = 100.0
TARGET_RSS_MB = 400.0

# py-spy stages of the window process: (label, text in a frame of the stack); the first match wins.
# py-spy sees no garbage collection (the gc.callbacks timings in the figures do).
UI_STAGES: list[tuple[str, str]] = [
    (
        "show_views -> model.set_incidents (_Row per view, sort, first mapping)",
        "IncidentTableModel.set_incidents (",
    ),
    ("show_views -> model.update (diff by id: view __eq__, _Row, signals)", "IncidentTableModel.update ("),
    ("show_views -> model.upsert (changed rows)", "IncidentTableModel.upsert ("),
    ("show_views -> _show_detail (Replica.incident SQL, detail pane)", "MainWindow._show_detail ("),
    ("show_changes, other (Replica.services, selection)", "MainWindow.show_changes ("),
    ("filter: filterAcceptsRow's Python body", "IncidentFilter.filterAcceptsRow ("),
    ("filter: the verdict pass (_judge_all, search copies)", "IncidentFilter._judge_all ("),
    (
        "filter: set_criteria -> invalidate(), own: Qt's C++ re-map and its C++ -> Python calls",
        "set_criteria (",
    ),
    ("painting: model.data() and its roles", "IncidentTableModel.data ("),
    ("sync engine, httpx, the SSE stream on the loop", "console/sync/"),
    ("imports", "_find_and_load ("),
    ("the benchmark's own code (lag meter, probes, steps)", "window_console"),
    (
        "in Qt's C++ event loop: layout, paint, or waiting (for events, for the GIL)",
        "_QEventLoop.run_forever (",
    ),
    ("qasync/asyncio machinery", "qasync"),
]
WORKER_STAGES: list[tuple[str, str]] = [
    ("Replica.incidents: _fold -> _incident(), Incident(), Status(), IncidentView()", "_fold ("),
    ("Replica.incidents: SELECT, SQLAlchemy rows (fetchone, IsoTime, JSON)", "Replica.incidents ("),
    ("Replica.apply_page (pull pages written)", "Replica.apply_page ("),
    ("other replica calls (state, pending_count, ...)", "console/store/"),
]
IDLE_LEAVES = ("Condition.wait (", "_worker (", "Event.wait (", "select (", "Thread._wait_for_tstate_lock (")


def stages(
    profile: profile_summary.Profile, rules: list[tuple[str, str]], ui: bool
) -> tuple[int, list[tuple[str, int]]]:
    """(busy samples, samples per stage) of the UI thread (ui) or of the other threads."""
    counts: dict[str, int] = {}
    busy = 0
    for thread, stack, count in profile.stacks:
        if (thread == "MainThread") != ui or stack.rpartition(";")[2].startswith(IDLE_LEAVES):
            continue
        busy += count
        if ui:  # the frames below the event loop (the benchmark's main(), the runner) are on every stack
            _root, loop, rest = stack.rpartition("_QEventLoop.run_forever (")
            stack = loop + rest
        label = next((label for label, text in rules if text in stack), "other")
        counts[label] = counts.get(label, 0) + count
    order = {label: i for i, (label, _) in enumerate(rules)}
    return busy, sorted(counts.items(), key=lambda item: order.get(item[0], len(order)))


def summarize_profile(path: Path, what: str, rate: int) -> None:
    if not path.exists():
        say(f"    ({path.name}: no profile written)")
        return
    profile = profile_summary.load(path)
    say(f"\n  -- py-spy, {path.stem} ({what}): {profile.total} samples at {rate}/s; {path}")
    if profile.total == 0:
        return
    for ui, rules, name in ((True, UI_STAGES, "UI thread"), (False, WORKER_STAGES, "worker threads")):
        busy, counts = stages(profile, rules, ui)
        if not busy:
            continue
        say(f"  {name}: {busy / rate:.1f} s of samples not waiting, by stage:")
        for label, n in counts:
            say(f"    {n / rate:6.1f} s  {100 * n / busy:5.1f}%  {label}")
    own = [(name, n) for name, n in profile.own.most_common() if not name.startswith(IDLE_LEAVES)][:15]
    say("  own time by function (leaf frames; waits left out), top 15:")
    for name, n in own:
        say(f"    {n / rate:6.1f} s  {name}")


class Bench:
    def __init__(self, args: argparse.Namespace, data_dir: Path) -> None:
        self.args = args
        self.data_dir = data_dir
        self.seeded = seed_server(args, data_dir)
        self.server = SyncServer(data_dir)
        self.replica_path = data_dir / "console" / "replica.db"
        self.user = ""
        self.results: dict[str, Any] = {}

    @property
    def url(self) -> str:
        return self.server.process.url

    def first_sync(self) -> None:
        """The console's replica, by its own engine: one sync_once() into an empty replica."""
        self.user = whoami(self.url, self.seeded.token)
        replica = Replica(self.replica_path)
        try:
            replica.set_server(self.url, self.user)

            async def sync() -> float:
                client = SyncClient(self.url, self.seeded.token, replica.state().client_id)
                try:
                    started = time.monotonic()
                    await SyncEngine(replica, client).sync_once()
                    return time.monotonic() - started
                finally:
                    await client.aclose()

            with CpuWindow(self.server.pid) as cpu:
                seconds = asyncio.run(sync())
        finally:
            replica.close()
        counts = replica_counts(self.replica_path)
        say(
            f"replica: one SyncEngine.sync_once() into an empty replica in {seconds:.1f} s (server CPU "
            f"{cpu.cores * seconds:.1f} s): "
            + ", ".join(f"{t} {n:,}" for t, n in counts.items())
            + f"; {file_mib(self.replica_path):,.0f} MiB; signed in as {self.user!r}"
        )
        self.results["first_sync_s"] = seconds
        self.results["replica_counts"] = counts

    def window_run(self, name: str, profile: Path | None) -> dict[str, Any]:
        args = self.args
        work = self.data_dir / name
        work.mkdir()
        spec = {
            "replica": str(self.replica_path),
            "url": self.url,
            "port": self.server.process.port,
            "token": self.seeded.token,
            "user": self.user,
            "routing_key": self.seeded.routing_key,
            "rate": args.rate,
            "seconds": args.seconds,
            "filter_runs": args.filter_runs,
            "search": args.search,
            "typed": args.typed,
            "tag": f"{datetime.now(UTC):%H%M%S}-{name}",
            "work": str(work),
            "out": str(work / "results.json"),
            "profile": str(profile) if profile is not None else "",
            "profile_rate": args.profile_rate,
        }
        (work / "spec.json").write_text(json.dumps(spec))
        env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "QT_API": "pyside6"}
        env["BENCH_WINDOW_SPAWNED"] = repr(time.monotonic())
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.perf.window_console", str(work / "spec.json")], cwd=ROOT, env=env
        )
        try:
            code = process.wait(timeout=args.seconds + 900)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
        if code != 0:
            say(f"    (the window process exited with {code})")
        out = work / "results.json"
        return dict(json.loads(out.read_text())) if out.exists() else {}

    def run(self) -> None:
        args = self.args
        self.server.process.start()
        say(
            f"server pid {self.server.pid} on {self.url}, server.db {file_mib(self.server.db):,.0f} MiB "
            f"({load_average()})"
        )
        try:
            self.first_sync()
            say(f"\n== window process, measured ({load_average()})")
            self.results["window"] = self.window_run("window", None)
            if args.profile is not None:
                if find_py_spy() is None:
                    say("\n(no profile: py-spy is not installed; `/work/venv/bin/pip install py-spy`)")
                else:
                    say(
                        f"\n== window process again under py-spy ({args.profile_rate} samples/s; "
                        "its figures are perturbed, the first run's are the ones)"
                    )
                    self.window_run("window-profiled", args.profile)
                    for phase, hint in (
                        ("startup", "spawn to settled"),
                        ("filters", "the filter steps"),
                        ("storm", "the storm and its drain"),
                    ):
                        summarize_profile(args.profile / f"{phase}.txt", hint, args.profile_rate)
        finally:
            self.server.process.stop()
        self.summary()

    def summary(self) -> None:
        w = self.results.get("window", {})
        lines = ["\n== summary (targets are goals, not assertions)"]
        if "startup" in w:
            s = w["startup"]
            met = s["to_interactive_s"] <= TARGET_START_S
            lines.append(
                f"  1. startup with {s['rows']:,} incidents: spawn -> filled and loop free "
                f"{s['to_interactive_s']:.2f} s (from building the window {s['build_to_interactive_s']:.2f} "
                f"s); "
                f"Replica.incidents() {s['replica_incidents_s']:.2f} s of it   target <= {TARGET_START_S:g} "
                f"s: "
                f"{'MET' if met else 'NOT MET'}"
            )
        if "filters" in w:
            f = w["filters"]
            worst = max([row["loop_free_ms"] for row in f["steps"]] + f["typing_ms"])
            worst_undo = max((row["undo_loop_free_ms"] or 0) for row in f["steps"])
            lines.append(
                f"  2. filters: worst step {worst:.0f} ms (worst undo {worst_undo:.0f} ms), typed key median "
                f"{sorted(f['typing_ms'])[len(f['typing_ms']) // 2]:.0f} ms   target <= "
                f"{TARGET_FILTER_MS:g} ms: "
                f"{'MET' if max(worst, worst_undo) <= TARGET_FILTER_MS else 'NOT MET'}"
            )
        if "storm" in w:
            s = w["storm"]
            lag = s["lag"]
            lines.append(
                f"  3. storm {s['rate']:g}/s for {s['seconds']:g} s: loop lag max "
                f"{lag.get('max_ms', 0):.0f} ms, "
                f"p99 {lag.get('p99_ms', 0):.1f} ms, {lag.get('stalls', 0)} stalls > 100 ms; POST -> in the "
                f"window p99 {s['post_to_window_ms'].get('p99', 0):.0f} ms   target no stall > "
                f"{TARGET_STALL_MS:g} ms: {'MET' if lag.get('stalls', 1) == 0 else 'NOT MET'}"
            )
        if "memory" in w:
            m = w["memory"]
            rss_mb, hwm_mb = m["VmRSS"] * 1.048576, m["VmHWM"] * 1.048576
            lines.append(
                f"  4. memory: VmRSS {m['VmRSS']:.0f} MiB = {rss_mb:.0f} MB at the end, peak {hwm_mb:.0f} MB "
                f"target <= {TARGET_RSS_MB:g} MB: {'MET' if rss_mb <= TARGET_RSS_MB else 'NOT MET'} (end), "
                f"{'MET' if hwm_mb <= TARGET_RSS_MB else 'NOT MET'} (peak)"
            )
        say("\n".join(lines))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tests.perf.bench_window",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--incidents", type=int, default=100_000, help="incidents seeded (100000)")
    parser.add_argument("--cache", type=Path, help="keep (and reuse) the seeded server database here")
    parser.add_argument("--seed-connections", type=int, default=32, help="connections while seeding (32)")
    parser.add_argument("--rate", type=float, default=200.0, help="storm: new alerts per second (200)")
    parser.add_argument("--seconds", type=float, default=30.0, help="storm: seconds (30)")
    parser.add_argument("--filter-runs", type=int, default=3, help="runs of each filter step (3)")
    parser.add_argument("--search", default="api-42", help="a search word (api-42: 1 incident in 500)")
    parser.add_argument("--typed", default="latency api-42", help="typed into the search box, key by key")
    parser.add_argument("--profile", type=Path, help="also run the window under py-spy; profiles here")
    parser.add_argument("--profile-rate", type=int, default=100, help="py-spy samples/s (100)")
    parser.add_argument("--json", type=Path, help="also write the figures here as JSON")
    parser.add_argument("--keep-data", action="store_true", help="keep the temporary data dir")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    given = sys.argv[1:] if argv is None else argv
    args = parse_args(given)
    if args.profile is not None:
        args.profile.mkdir(parents=True, exist_ok=True)
    data_dir = Path(tempfile.mkdtemp(prefix="bench-window-"))
    started = time.monotonic()
    say(f"command: {Path(sys.executable).name} -m tests.perf.bench_window {' '.join(given)}".rstrip())
    say(
        f"window benchmark: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}, "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, source {source_state()}, {load_average()}"
    )
    bench: Bench | None = None
    try:
        with terminate_as_interrupt():
            try:
                bench = Bench(args, data_dir)
                bench.run()
            finally:
                if bench is not None:
                    bench.server.process.stop()
    except KeyboardInterrupt:
        say("\ninterrupted: everything this benchmark started is stopped")
        return 130
    finally:
        if args.keep_data:
            say(f"data kept in {data_dir}")
        else:
            shutil.rmtree(data_dir, ignore_errors=True)
    say(f"\nbenchmark took {time.monotonic() - started:.0f} s")
    if args.json and bench is not None:
        args.json.write_text(json.dumps(bench.results, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
