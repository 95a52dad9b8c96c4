"""Intake benchmark: the real server process (`python main.py serve`) on a fresh data dir, loaded from
this machine over loopback. It measures and prints; it asserts no timing.

    /work/venv/bin/python -m tests.perf.bench_intake                 # all phases, about 2-3 minutes
    /work/venv/bin/python -m tests.perf.bench_intake --duration 10   # shorter windows
    /work/venv/bin/python -m tests.perf.bench_intake --profile /tmp/profile.txt   # + py-spy under max load

Phases (each answer is a durable commit: the server acknowledges only after its group commit):
  1. PagerDuty Events v2 at saturation (wrk, closed loop, `--connections`): events/s over a sustained
     window after a warm-up. Target >= 4,000 events/s.
  2. PagerDuty Events v2 at a fixed offered rate (open loop, Python generator in its own process):
     latency from each request's scheduled send time, so stalls are not hidden. Target p99 < 50 ms.
  3. Alertmanager webhook v4, 100 alerts per body: new groups, then re-posts of the first 1,000 of
     them (`--am-repost-groups`; a storm of 100,000 open alerts), closed loop: alerts/s.
     Target >= 20,000 alerts/s.
Then: resident memory of the server, the rows stored, and a check that every 2xx answer is stored.

wrk is needed for phase 1 (`apt-get install -y wrk`), or pass `--pd-client python`.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import re
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tests.perf import profile_summary
from tests.perf.disk_flush import LONG_MS, FlushProbe, FlushStats
from tests.perf.machine_speed import reference_ms
from tests.serverproc import ROOT, ServerProcess, admin

HERE = Path(__file__).resolve().parent
LUA = HERE / "pd_mix.lua"
CLK_TCK = os.sysconf("SC_CLK_TCK")

TARGET_PD_RATE = 4000.0
TARGET_P99_MS = 50.0
TARGET_AM_RATE = 20000.0

# Stages of the server's work, for the profile: (label, thread name, text that a frame of the stack
# contains); the first match wins, so the writer's inner stages come before the writer as a whole.
# Names follow console/server as of this writing (the writer runs on the event loop's thread);
# stacks that match none are counted as "other". tests/server/test_bench_stages.py checks that every
# text still names a function of the server.
STAGES: list[tuple[str, str, str]] = [
    ("writer: prefetch (lookups of the batch's keys)", "MainThread", "IngestTransaction.prefetch ("),
    ("writer: fold (domain rules)", "MainThread", "fold_group ("),
    ("writer: fold (domain rules)", "MainThread", "fold ("),
    ("writer: apply, other than fold", "MainThread", "IngestTransaction.apply ("),
    ("writer: flush, SQL (executemany)", "MainThread", "_run (console/server/bulk.py"),
    ("writer: flush, rows (values to columns)", "MainThread", "IngestTransaction.flush ("),
    ("writer: engine pass (escalation)", "MainThread", "run_engine ("),
    ("writer: letting views go", "MainThread", "IntakeView.drain ("),
    ("writer: commit and the rest of the cycle", "MainThread", "GroupCommitWriter._run ("),
    ("intake: reading the body (fast path or model)", "MainThread", "plain_message ("),
    ("intake: reading the body (fast path or model)", "MainThread", "plain_event ("),
    ("intake: handler, other than reading", "MainThread", "answer (console/server/intake/asgi.py"),
    ("event loop: HTTP protocol (parse, write)", "MainThread", "protocols/http"),
    ("event loop: HTTP protocol (parse, write)", "MainThread", "intake/protocol.py"),
    ("collector: survivors of young collections", "gc-survivors", ""),
    ("stall watch", "stall-watch", ""),
]

# The stalls of the disk itself in the same seconds (tests.perf.disk_flush): a slow commit in the server's
# log beside a slow flush of the bare disk is the disk's, not the server's.
DISK_BESIDE = "the bare disk beside it (a 4 KiB write + fdatasync every 20 ms)"
# The machine's speed just before a phase (tests.perf.machine_speed), for a CPU-bound phase's figure.
SPEED_BEFORE = "machine speed just before (fixed Python work, lower is faster)"

WRK_MISSING = (
    "wrk is not installed; phase 1 (PagerDuty at saturation) uses it as a cheap C load generator.\n"
    "Install it with:  apt-get install -y wrk    (Debian/Ubuntu; `brew install wrk` on macOS)\n"
    "or run this benchmark with --pd-client python (a Python generator; it takes more of the CPU the\n"
    "server shares, so it understates the server)."
)


# -- the server process, seen from outside --


def process_tree(pid: int) -> list[int]:
    """`pid` and every process below it: `serve --workers N` works in child processes."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rpartition(")")[2].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            children.setdefault(parent, []).append(int(entry.name))
    found, todo = [pid], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def cpu_seconds(pid: int) -> tuple[float, dict[int, float]]:
    """(CPU seconds of the process tree, per-thread CPU seconds) from /proc."""

    def read(stat: Path) -> float:
        fields = stat.read_text().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime

    total = 0.0
    threads: dict[int, float] = {}
    for process in process_tree(pid):
        try:
            total += read(Path(f"/proc/{process}/stat"))
            tasks = list(Path(f"/proc/{process}/task").iterdir())
        except (OSError, ValueError):
            continue
        for task in tasks:
            try:
                threads[int(task.name)] = read(task / "stat")
            except (OSError, ValueError):
                continue
    return total, threads


def memory_kib(pid: int) -> dict[str, int]:
    """Resident memory summed over the process tree (VmRSS) and the sum of each one's peak (VmHWM)."""
    out: dict[str, int] = {"VmRSS": 0, "VmHWM": 0}
    for process in process_tree(pid):
        try:
            lines = Path(f"/proc/{process}/status").read_text().splitlines()
        except OSError:
            continue
        for line in lines:
            name, _, value = line.partition(":")
            if name in out:
                out[name] += int(value.split()[0])
    return out


@dataclass(slots=True)
class CpuWindow:
    """Server CPU over a phase: whole process and its busiest threads, in cores."""

    pid: int
    started: float = 0.0
    before: tuple[float, dict[int, float]] = (0.0, {})
    cores: float = 0.0
    main_thread_cores: float = 0.0
    other_threads_cores: list[float] = field(default_factory=list)

    def __enter__(self) -> CpuWindow:
        self.started = time.perf_counter()
        self.before = cpu_seconds(self.pid)
        return self

    def __exit__(self, *_: object) -> None:
        elapsed = time.perf_counter() - self.started
        total, threads = cpu_seconds(self.pid)
        self.cores = (total - self.before[0]) / elapsed
        used = {tid: (t - self.before[1].get(tid, 0.0)) / elapsed for tid, t in threads.items()}
        self.main_thread_cores = used.get(self.pid, 0.0)
        self.other_threads_cores = sorted((c for c in used.values() if c > 0.005), reverse=True)[:3]

    def describe(self) -> str:
        others = ", ".join(f"{c:.2f}" for c in self.other_threads_cores) or "-"
        return (
            f"server CPU {self.cores:.2f} cores, all its processes (busiest threads {others}; "
            f"the serve process's own {self.main_thread_cores:.2f})"
        )


STALL_MS = 20  # the server logs event-loop stalls from this long, with where the loop was
STALL_LINE = re.compile(r"the event loop stalled (\d+) ms")
SLOW_GROUP = re.compile(r"a group of (\d+) commands took (\d+) ms to store, (\d+) ms of it committing")
FRAME = re.compile(r'File ".*?([\w.]+/[\w.]+\.py)", line (\d+), in (\S+)')


def _at_least_one(text: str) -> int:
    number = int(text)
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {number}")
    return number


def slow_groups_in(log: str) -> list[tuple[float, float, int]]:
    """(ms, of which committing, commands) of each group commit the server logged as slow."""
    return [(float(ms), float(commit), int(size)) for size, ms, commit in SLOW_GROUP.findall(log)]


def stalls_in(log: str) -> list[tuple[float, str]]:
    """(ms, where) of each event-loop stall the server logged: the innermost frame of this project's
    code, else the innermost of any, else what the warning says instead of a stack."""
    lines = log.splitlines()
    stalls: list[tuple[float, str]] = []
    for number, line in enumerate(lines):
        if (found := STALL_LINE.search(line)) is None:
            continue
        block = list(itertools.takewhile(lambda text: text.startswith(" "), lines[number + 1 :]))
        frames = [(text, seen) for text in block if (seen := FRAME.search(text)) is not None]
        ours = [seen for text, seen in frames if "/console/" in text]
        if innermost := (ours or [seen for _, seen in frames])[-1:]:
            where = f"{innermost[0][1]}:{innermost[0][2]} {innermost[0][3]}"
        else:  # "(not seen: ...)", "(between callbacks: ...)"
            where = lines[number + 1].strip("( )").split(",")[0] if number + 1 < len(lines) else "?"
        stalls.append((float(found[1]), where))
    return stalls


class Server:
    def __init__(self, data_dir: Path, extra: tuple[str, ...] = ()) -> None:
        self.data_dir = data_dir
        self.db = data_dir / "server.db"
        self.log = data_dir / "logs" / "responder.log"
        self.process = ServerProcess(data_dir, extra=("--log-stalls", str(STALL_MS), *extra))

    def log_since(self, offset: int) -> str:
        """What the server logged after `offset` (a `log_size()`)."""
        with self.log.open(encoding="utf-8", errors="replace") as text:
            text.seek(offset)
            return text.read()

    def log_size(self) -> int:
        return self.log.stat().st_size if self.log.exists() else 0

    @property
    def pid(self) -> int:
        assert self.process.process is not None
        return self.process.process.pid

    def pending(self) -> int:
        with urllib.request.urlopen(f"{self.process.url}/healthz", timeout=5) as answer:
            return int(json.loads(answer.read())["pending"])

    def wait_drained(self, timeout: float = 60.0) -> None:
        """Until the writer has nothing queued (wrk may leave requests in flight when it stops)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.pending() == 0:
                time.sleep(0.2)  # the last batch is answered just after `pending` drops
                return
            time.sleep(0.1)

    def count(self, table: str) -> int:
        with sqlite3.connect(self.db, timeout=30) as conn:
            return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])

    def last_event_id(self) -> int:
        with sqlite3.connect(self.db, timeout=30) as conn:
            return int(conn.execute("SELECT coalesce(max(id), 0) FROM events").fetchone()[0])


# -- accounting of answers against stored rows --


@dataclass(slots=True)
class Ledger:
    """Per phase: 2xx answers, and how many more requests may have been stored without an answer
    (wrk stops with requests in flight: the server commits them, but nobody reads the 2xx)."""

    rows: list[tuple[str, int, int, int]] = field(default_factory=list)  # (phase, ok, unanswered, stored)

    def add(self, phase: str, ok: int, unanswered: int, stored: int) -> None:
        self.rows.append((phase, ok, unanswered, stored))

    @property
    def ok(self) -> int:
        return sum(row[1] for row in self.rows)

    @property
    def unanswered(self) -> int:
        return sum(row[2] for row in self.rows)


# -- load generators --


@dataclass(slots=True)
class LoadResult:
    """Phase 1 figures, from wrk or from the Python generator in closed-loop mode."""

    seconds: float
    ok: int  # 2xx answered inside the measured window
    ok_total: int  # all 2xx answers, for the ledger
    unanswered: int  # sent when the client stopped and never answered (wrk does not wait for them)
    non_ok: int
    non_ok_status: dict[str, int]
    errors: dict[str, int]
    latency_ms: dict[str, float]
    cpu_seconds: float
    rates: list[float] = field(default_factory=list)  # events/s stored per sampling interval

    @property
    def rate(self) -> float:
        return self.ok / self.seconds


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_wrk(
    server: Server, key: str, prefix: str, seconds: float, connections: int, threads: int, seed: int
) -> LoadResult:
    env = {**os.environ, "BENCH_ROUTING_KEY": key, "BENCH_PREFIX": prefix, "BENCH_SEED": str(seed)}
    command = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        "10s",
        "-s",
        str(LUA),
        server.process.url,
    ]
    cpu_before = children_cpu()
    with sample_store_rate(server) as rates:
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=seconds + 60)
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr.strip() or done.stdout.strip()}")
    line = next((x for x in done.stdout.splitlines() if x.startswith("BENCH_JSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no BENCH_JSON line:\n{done.stdout}\n{done.stderr}")
    data = json.loads(line.removeprefix("BENCH_JSON "))
    return LoadResult(
        seconds=data["duration_us"] / 1e6,
        ok=data["ok"],
        ok_total=data["ok"],
        unanswered=data["generated"] - data["ok"] - data["non_ok"],
        non_ok=data["non_ok"],
        non_ok_status=data["non_ok_status"],
        errors=data["errors"],
        latency_ms={k: v / 1000 for k, v in data["latency_us"].items()},
        cpu_seconds=children_cpu() - cpu_before,
        rates=rates,
    )


@contextmanager
def sample_store_rate(server: Server, every: float = 5.0) -> Iterator[list[float]]:
    """Events stored per second, per `every` seconds, read from the database while the load runs."""
    rates: list[float] = []
    stop = threading.Event()

    def sample() -> None:
        last, at = server.last_event_id(), time.perf_counter()
        while not stop.wait(every):
            now_id, now = server.last_event_id(), time.perf_counter()
            rates.append((now_id - last) / (now - at))
            last, at = now_id, now

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield rates
    finally:
        stop.set()
        thread.join(10)


def run_loadgen(spec: dict[str, Any], timeout: float) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "tests.perf.loadgen", json.dumps(spec)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if done.returncode != 0:
        raise RuntimeError(f"load generator failed ({done.returncode}):\n{done.stderr}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


# -- the benchmark --


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tests.perf.bench_intake",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--duration", type=float, default=25, help="phase 1 measured window, s (25)")
    parser.add_argument("--warmup", type=float, default=5, help="warm-up before each measured window, s (5)")
    parser.add_argument("--connections", type=int, default=64, help="connections for PagerDuty load (64)")
    parser.add_argument("--wrk-threads", type=int, default=1, help="wrk threads (1 keeps wrk's CPU low)")
    parser.add_argument("--pd-client", choices=("wrk", "python"), default="wrk", help="phase 1 generator")
    parser.add_argument(
        "--rate", type=float, action="append", help="phase 2 offered events/s (2000); repeat for several"
    )
    parser.add_argument("--rate-duration", type=float, default=20, help="phase 2 measured window, s (20)")
    parser.add_argument("--am-duration", type=float, default=15, help="phase 3 window per variant, s (15)")
    parser.add_argument("--am-alerts", type=int, default=100, help="alerts per Alertmanager body (100)")
    parser.add_argument("--am-connections", type=int, default=16, help="Alertmanager senders (16)")
    parser.add_argument(
        "--am-repost-groups",
        type=_at_least_one,  # 0 made the load generator send new groups, "re-posts" that were not
        default=1000,
        help="groups re-posted in the second Alertmanager window, of those sent in the first (1000)",
    )
    parser.add_argument("--profile", type=Path, help="also record py-spy (raw format) under max load here")
    parser.add_argument("--profile-seconds", type=float, default=15, help="py-spy recording length, s (15)")
    parser.add_argument("--profile-rate", type=int, default=100, help="py-spy samples/s (100)")
    parser.add_argument("--only", choices=("pd", "rate", "am"), action="append", help="run only these phases")
    parser.add_argument(
        "--serve-arg",
        action="append",
        help="an option for `serve`, one word each: --serve-arg=--workers --serve-arg=2",
    )
    parser.add_argument("--json", type=Path, help="also write the figures here as JSON")
    parser.add_argument("--keep-data", action="store_true", help="keep the temporary data dir")
    return parser.parse_args(argv)


def verdict(met: bool) -> str:
    return "MET" if met else "NOT MET"


def source_state() -> str:
    def git(*args: str) -> str:
        try:
            return subprocess.run(
                ["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return "?"

    dirty = git("status", "--porcelain", "--", "console", "main.py")
    return f"{git('rev-parse', '--short', 'HEAD')}" + (" + uncommitted changes in console/" if dirty else "")


def find_py_spy() -> str | None:
    beside = Path(sys.executable).parent / "py-spy"
    return str(beside) if beside.exists() else shutil.which("py-spy")


class Bench:
    def __init__(self, args: argparse.Namespace, data_dir: Path) -> None:
        self.args = args
        self.data_dir = data_dir
        self.ledger = Ledger()
        self.results: dict[str, Any] = {}
        self.run_id = datetime.now(UTC).strftime("%H%M%S")
        self.phases = set(args.only or ("pd", "rate", "am"))
        # one service (integration) per phase, so their rows stay apart
        self.pd_key = admin(data_dir, "add-service", "bench-pd")
        self.rate_key = admin(data_dir, "add-service", "bench-pd-rate")
        self.am_key = admin(data_dir, "add-service", "bench-alertmanager")
        self.server = Server(data_dir, tuple(args.serve_arg or ()))

    def speed(self) -> float:
        """The machine's speed now, printed: the server is idle between phases."""
        ms = reference_ms()
        self.say(f"    {SPEED_BEFORE}: {ms:.2f} ms")
        return ms

    def say(self, text: str) -> None:
        print(text, flush=True)

    def stored_since(self, before: int) -> int:
        self.server.wait_drained()
        return self.server.count("events") - before

    # phase 1

    def pd_saturation(self, seconds: float, seed: int, cpu: CpuWindow | None = None) -> LoadResult:
        args = self.args
        prefix = f"pd{self.run_id}s{seed}"
        if args.pd_client == "wrk":
            with cpu or CpuWindow(self.server.pid):
                return run_wrk(
                    self.server, self.pd_key, prefix, seconds, args.connections, args.wrk_threads, seed
                )
        spec = {
            "port": self.server.process.port,
            "mode": "closed",
            "workload": {"kind": "pd", "routing_key": self.pd_key, "prefix": prefix, "seed": seed},
            "connections": args.connections,
            "rate": 0,
            "warmup": 0,
            "duration": seconds,
            "drain_timeout": 30,
        }
        with cpu or CpuWindow(self.server.pid), sample_store_rate(self.server) as rates:
            out = run_loadgen(spec, timeout=seconds + 120)
        latency = out["latency_ms"]
        return LoadResult(
            seconds=seconds,
            ok=out["window_ok"],
            ok_total=out["ok"],
            unanswered=out["written"] - out["answered"],
            non_ok=out["answered"] - out["ok"],
            non_ok_status={k: v for k, v in out["status"].items() if not k.startswith("2")},
            errors={"lost": out["lost_with_connection"]},
            latency_ms={k: latency.get(k, 0.0) for k in ("p50", "p90", "p99", "max", "mean")},
            cpu_seconds=out["cores"] * seconds,  # reported per second of the window below
            rates=rates,
        )

    def phase_pd(self) -> None:
        args = self.args
        self.say(f"\n[1] PagerDuty v2 at saturation: {args.pd_client}, {args.connections} connections")
        speed = self.speed()
        before = self.server.count("events")
        warm = self.pd_saturation(args.warmup, seed=1)
        self.say(f"    warm-up {warm.seconds:.1f} s: {warm.rate:,.0f} events/s")
        self.ledger.add("pd warm-up", warm.ok_total, warm.unanswered, self.stored_since(before))
        before = self.server.count("events")
        cpu = CpuWindow(self.server.pid)
        result = self.pd_saturation(args.duration, seed=2, cpu=cpu)
        self.ledger.add("pd sustained", result.ok_total, result.unanswered, self.stored_since(before))
        lat = result.latency_ms
        rates = ", ".join(f"{r:,.0f}" for r in result.rates)
        self.say(
            f"    sustained {result.seconds:.1f} s: {result.ok:,} answered 2xx, {result.non_ok} other "
            f"{result.non_ok_status or ''} errors {result.errors}\n"
            f"    => {result.rate:,.0f} events/s   [target >= {TARGET_PD_RATE:,.0f}: "
            f"{verdict(result.rate >= TARGET_PD_RATE)}]\n"
            f"    stored per 5 s while loaded: {rates or '-'} events/s\n"
            f"    closed-loop latency (saturated, not the SLO figure): p50 {lat['p50']:.1f} ms, "
            f"p90 {lat['p90']:.1f} ms, p99 {lat['p99']:.1f} ms, max {lat['max']:.1f} ms\n"
            f"    {cpu.describe()}; load generator {result.cpu_seconds / result.seconds:.2f} cores"
        )
        self.results["pd_saturation"] = {
            "client": args.pd_client,
            "connections": args.connections,
            "seconds": result.seconds,
            "ok": result.ok,
            "non_ok": result.non_ok,
            "events_per_s": result.rate,
            "stored_rate_samples": result.rates,
            "latency_ms": lat,
            "server_cores": cpu.cores,
            "server_main_thread_cores": cpu.main_thread_cores,
            "server_other_threads_cores": cpu.other_threads_cores,
            "loadgen_cores": result.cpu_seconds / result.seconds,
            "target_met": result.rate >= TARGET_PD_RATE,
            "reference_ms": speed,
        }
        if args.profile:

            def load(seconds: float) -> tuple[str, int, int]:
                r = self.pd_saturation(seconds, seed=3)
                return f"{r.rate:,.0f} events/s", r.ok_total, r.unanswered

            self.profile("pd", args.profile, load)

    def profile(self, label: str, path: Path, load: Callable[[float], tuple[str, int, int]]) -> None:
        """py-spy on the server while `load(seconds)` runs; load returns (figure, 2xx, unanswered)."""
        args = self.args
        py_spy = find_py_spy()
        if py_spy is None:
            self.say("    (no profile: py-spy is not installed; `pip install py-spy`)")
            return
        seconds = args.profile_seconds
        self.say(f"\n    -- py-spy --gil for {seconds:.0f} s under {label} -> {path}")
        before = self.server.count("events")
        out: dict[str, tuple[str, int, int]] = {}
        thread = threading.Thread(target=lambda: out.setdefault("r", load(seconds + 4)), daemon=True)
        thread.start()
        time.sleep(2)
        command = [
            py_spy,
            "record",
            "--pid",
            str(self.server.pid),
            "--duration",
            str(round(seconds)),
            "--rate",
            str(args.profile_rate),
            "--gil",  # only the thread holding the GIL: where the Python CPU goes
            "--threads",
            "--function",
            "--format",
            "raw",
            "--output",
            str(path),
        ]
        with CpuWindow(self.server.pid) as cpu:
            spy = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60)
        thread.join(seconds + 120)
        if "r" in out:
            figure, ok, unanswered = out["r"]
            self.ledger.add(f"{label} (profiled)"[:18], ok, unanswered, self.stored_since(before))
            self.say(f"    under the profiler: {figure}; {cpu.describe()}")
        if spy.returncode != 0:
            self.say(f"    py-spy failed: {spy.stderr.strip()}")
            return
        summary = profile_summary.render(
            profile_summary.load(path), top=20, seconds=seconds, rate=args.profile_rate
        )
        self.say("    " + summary.replace("\n", "\n    "))
        stages = profile_summary.render_breakdown(profile_summary.load(path), STAGES)
        self.say("    by stage (share of GIL-holding samples):\n    " + stages.replace("\n", "\n    "))

    # phase 2

    def phase_rate(self, rate: float) -> None:
        args = self.args
        self.say(f"\n[2] PagerDuty v2 at a fixed {rate:,.0f} events/s, open loop, {args.connections} conns")
        speed = self.speed()
        before = self.server.count("events")
        spec = {
            "port": self.server.process.port,
            "mode": "open",
            "workload": {
                "kind": "pd",
                "routing_key": self.rate_key,
                "prefix": f"rate{self.run_id}r{rate:.0f}",
                "seed": 7,
            },
            "connections": args.connections,
            "rate": rate,
            "warmup": 3.0,
            "duration": args.rate_duration,
            "drain_timeout": 30.0,
        }
        log_at = self.server.log_size()
        with CpuWindow(self.server.pid) as cpu, FlushProbe(self.data_dir) as probe:
            out = run_loadgen(spec, timeout=args.rate_duration + 120)
        disk = probe.stats
        logged = self.server.log_since(log_at)
        stalls = sorted(stalls_in(logged), reverse=True)
        slow = sorted(slow_groups_in(logged), reverse=True)
        stored = self.stored_since(before)
        unanswered = out["written"] - out["answered"]
        self.ledger.add(f"pd at {rate:.0f}/s", out["ok"], unanswered, stored)
        lat, lag = out["latency_ms"], out["send_lag_ms"]
        met = out["unanswered"] == 0 and lat.get("p99", 1e9) < TARGET_P99_MS
        achieved = out["window_ok"] / args.rate_duration
        self.say(
            f"    scheduled {out['sent']:,} ({args.rate_duration:.0f} s measured after 3 s warm-up); "
            f"2xx {out['ok']:,}; status {out['status']}; unanswered {out['unanswered']}\n"
            f"    answered in the window: {achieved:,.0f} events/s; largest backlog waiting for a free "
            f"connection: {out['max_backlog']}\n"
            f"    latency from scheduled send: p50 {lat.get('p50', 0):.2f} ms, "
            f"p90 {lat.get('p90', 0):.2f} ms, "
            f"p99 {lat.get('p99', 0):.2f} ms, max {lat.get('max', 0):.2f} ms   "
            f"[target p99 < {TARGET_P99_MS:.0f} ms: {verdict(met)}]\n"
            f"    of which the generator's send lag: p50 {lag.get('p50', 0):.2f} ms, "
            f"p99 {lag.get('p99', 0):.2f} ms (waiting for a free connection, timer ticks)\n"
            f"    {cpu.describe()}; load generator {out['cores']:.2f} cores\n"
            f"    event-loop stalls >= {STALL_MS} ms (server log, warm-up and drain included): "
            f"{len(stalls)}{'; longest ' if stalls else ''}"
            + ", ".join(f"{ms:.0f} ms in {where}" for ms, where in stalls[:3])
            + f"\n    group commits >= {STALL_MS} ms (server log): {len(slow)}{'; longest ' if slow else ''}"
            + ", ".join(f"{ms:.0f} ms ({commit:.0f} committing, {n} events)" for ms, commit, n in slow[:3])
            + f"\n    {DISK_BESIDE}: {disk.describe()}"
        )
        if out["unanswered"]:
            self.say(
                f"    {out['unanswered']:,} requests had no answer when the 30 s drain ended; they are not "
                "in the percentiles above (which would only be higher)"
            )
        self.results[f"pd_fixed_rate_{rate:.0f}"] = {
            **out,
            "events_per_s_answered": achieved,
            "target_met": met,
            "loop_stalls_ms": [ms for ms, _ in stalls],
            "slow_groups_ms": [ms for ms, _, _ in slow],
            "disk_flush": asdict(disk),
            "reference_ms": speed,
        }

    # phase 3

    def phase_am(self) -> None:
        args = self.args
        self.say(
            f"\n[3] Alertmanager webhook v4, {args.am_alerts} alerts per body, {args.am_connections} senders"
        )
        starts_at = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        base = {
            "port": self.server.process.port,
            "mode": "closed",
            "connections": args.am_connections,
            "rate": 0,
            "warmup": args.warmup,
            "duration": args.am_duration,
            "drain_timeout": 30.0,
        }
        workload = {"kind": "am", "key": self.am_key, "run": self.run_id, "size": args.am_alerts}
        alerts_before, before = self.server.count("alerts"), self.server.count("events")
        log_at = self.server.log_size()
        speed = reference_ms()
        with CpuWindow(self.server.pid) as cpu, FlushProbe(self.data_dir) as probe:
            new = run_loadgen(
                {**base, "workload": {**workload, "starts_at": starts_at}}, timeout=args.am_duration + 120
            )
        stored = self.stored_since(before)
        self.ledger.add("am new groups", new["ok"], new["written"] - new["answered"], stored)
        new_alerts = self.server.count("alerts") - alerts_before
        logged = self.server.log_since(log_at)
        self.report_am("new groups", new, cpu, f"alerts created {new_alerts:,}", logged, probe.stats, speed)
        # The same storm for every version of the code: a faster new-groups phase sends more groups,
        # and re-posting them all measured how the view copes past its bound instead.
        groups = min(new["groups_sent"], args.am_repost_groups)

        alerts_before, before = self.server.count("alerts"), self.server.count("events")
        log_at = self.server.log_size()
        speed = reference_ms()
        with CpuWindow(self.server.pid) as cpu, FlushProbe(self.data_dir) as probe:
            again = run_loadgen(
                {**base, "workload": {**workload, "starts_at": starts_at, "cycle": groups}},
                timeout=args.am_duration + 120,
            )
        stored = self.stored_since(before)
        self.ledger.add("am re-posts", again["ok"], again["written"] - again["answered"], stored)
        created = self.server.count("alerts") - alerts_before
        self.report_am(
            f"re-posts of the {groups:,} known groups",
            again,
            cpu,
            f"alerts created {created:,} (a re-post of a known group must create none)",
            self.server.log_since(log_at),
            probe.stats,
            speed,
        )
        self.results["am_new_groups"] = {**new, "alerts_created": new_alerts}
        self.results["am_reposts"] = {**again, "alerts_created": created}
        if args.profile:

            def load(seconds: float) -> tuple[str, int, int]:
                spec = {
                    **base,
                    "warmup": 0.0,
                    "duration": seconds,
                    # beyond every group sent so far: new groups, as the first window
                    "workload": {**workload, "starts_at": starts_at, "first": new["groups_sent"]},
                }
                out = run_loadgen(spec, timeout=seconds + 120)
                rate = out["window_items_ok"] / seconds
                return f"{rate:,.0f} alerts/s (new groups)", out["ok"], out["written"] - out["answered"]

            self.profile("am", args.profile.with_name(f"{args.profile.stem}-am{args.profile.suffix}"), load)

    def report_am(
        self,
        name: str,
        out: dict[str, Any],
        cpu: CpuWindow,
        note: str,
        logged: str,
        disk: FlushStats,
        speed: float,
    ) -> None:
        args = self.args
        # A group of new alerts takes 20 ms or more to store anyway: the commits that did (the disk's
        # fsync) tell a slow disk from a slow server when a phase falls short.
        slow = sorted((commit for _, commit, _ in slow_groups_in(logged) if commit >= STALL_MS), reverse=True)
        rate = out["window_items_ok"] / args.am_duration
        lat = out["latency_ms"]
        out["alerts_per_s"] = rate
        out["target_met"] = rate >= TARGET_AM_RATE
        self.say(
            f"    {name}: {out['window_ok'] / args.am_duration:,.0f} bodies/s => {rate:,.0f} alerts/s   "
            f"[target >= {TARGET_AM_RATE:,.0f}: {verdict(rate >= TARGET_AM_RATE)}]\n"
            f"      2xx {out['ok']:,} bodies; status {out['status']}; "
            f"unanswered {out['unanswered']}; {note}\n"
            f"      per body: p50 {lat.get('p50', 0):.1f} ms, p99 {lat.get('p99', 0):.1f} ms; "
            f"{cpu.describe()}; "
            f"load generator {out['cores']:.2f} cores\n"
            f"      commits of {STALL_MS} ms or more (server log, warm-up included): {len(slow)}"
            + (f"; longest {', '.join(f'{ms:.0f}' for ms in slow[:3])} ms" if slow else "")
            + f"\n      {DISK_BESIDE}: {disk.describe()}"
            + f"\n      {SPEED_BEFORE}: {speed:.2f} ms"
        )
        out["slow_commits_ms"] = slow
        out["disk_flush"] = asdict(disk)
        out["reference_ms"] = speed

    # the end

    def finish(self) -> bool:
        server = self.server
        server.wait_drained()
        memory = memory_kib(server.pid)
        server.process.stop()  # SIGTERM: graceful, whatever is queued is committed first
        counts = {t: server.count(t) for t in ("events", "alerts", "incidents", "timeline", "change_log")}
        ledger = self.ledger
        self.say("\n[end] storage and memory")
        self.say(
            f"    server resident memory at the end: {memory.get('VmRSS', 0) / 1024:,.0f} MiB "
            f"(peak {memory.get('VmHWM', 0) / 1024:,.0f} MiB)"
        )
        self.say("    rows: " + ", ".join(f"{t} {n:,}" for t, n in counts.items()))
        good = True
        for phase, ok, unanswered, stored in ledger.rows:
            exact = stored == ok
            fine = ok <= stored <= ok + unanswered
            good &= fine
            extra = (
                "" if exact else f" (+{stored - ok} sent but unanswered when the client stopped: stored too)"
            )
            self.say(
                f"    {phase:<18} 2xx {ok:>8,}  stored {stored:>8,}  {'OK' if fine else 'MISMATCH'}{extra}"
            )
        events = counts["events"]
        fine = ledger.ok <= events <= ledger.ok + ledger.unanswered
        good &= fine
        self.say(
            f"    total: 2xx answers {ledger.ok:,}; events rows {events:,}; requests left unanswered by the "
            f"clients {ledger.unanswered:,}\n"
            f"    => every 2xx is stored: {'YES' if fine else 'NO'}"
            + ("" if events == ledger.ok else " (events = 2xx + requests stored after their client stopped)")
        )
        self.results["end"] = {
            "rss_kib": memory.get("VmRSS"),
            "peak_rss_kib": memory.get("VmHWM"),
            "rows": counts,
            "answered_2xx": ledger.ok,
            "unanswered_by_clients": ledger.unanswered,
            "every_2xx_stored": good,
            "ledger": ledger.rows,
        }
        return good

    def run(self) -> bool:
        self.server.process.start()
        self.say(
            f"server pid {self.server.pid} on {self.server.process.url}, data {self.data_dir}, "
            f"source {source_state()}"
        )
        try:
            if "pd" in self.phases:
                self.phase_pd()
            if "rate" in self.phases:
                for rate in self.args.rate or [2000.0]:
                    self.phase_rate(rate)
            if "am" in self.phases:
                self.phase_am()
            good = self.finish()
            self.summary()
            return good
        finally:
            self.server.process.stop()

    def summary(self) -> None:
        r = self.results
        lines = ["\n== summary (the targets are goals to compare with, not assertions)"]
        if "pd_saturation" in r:
            pd = r["pd_saturation"]
            lines.append(
                f"  1. PagerDuty v2, sustained durable intake ({pd['client']}, {pd['connections']} conns): "
                f"{pd['events_per_s']:,.0f} events/s   target >= {TARGET_PD_RATE:,.0f}: "
                f"{verdict(pd['target_met'])}; machine speed {pd['reference_ms']:.2f} ms"
            )
        for name, fixed in r.items():
            if name.startswith("pd_fixed_rate_"):
                lat, disk = fixed["latency_ms"], fixed["disk_flush"]
                lines.append(
                    f"  2. PagerDuty v2 at {fixed['rate']:,.0f}/s open loop: "
                    f"p50 {lat.get('p50', 0):,.1f} ms, "
                    f"p90 {lat.get('p90', 0):,.1f} ms, p99 {lat.get('p99', 0):,.1f} ms, "
                    f"max {lat.get('max', 0):,.1f} ms   target p99 < {TARGET_P99_MS:.0f} ms: "
                    f"{verdict(fixed['target_met'])}; the bare disk beside it: {disk['long']} flushes "
                    f">= {LONG_MS:.0f} ms, max {disk['max_ms']:.0f} ms"
                )
        if "am_new_groups" in r:
            new, again = r["am_new_groups"], r["am_reposts"]
            lines.append(
                f"  3. Alertmanager v4, {self.args.am_alerts} alerts/body: new groups "
                f"{new['alerts_per_s']:,.0f} alerts/s ({verdict(new['target_met'])}), re-posts "
                f"{again['alerts_per_s']:,.0f} alerts/s ({verdict(again['target_met'])})   "
                f"target >= {TARGET_AM_RATE:,.0f}; machine speed {new['reference_ms']:.2f} ms"
            )
        end = r.get("end", {})
        if end:
            lines.append(
                f"  server RSS at the end {end['rss_kib'] / 1024:,.0f} MiB "
                f"(peak {end['peak_rss_kib'] / 1024:,.0f} MiB); "
                f"events rows {end['rows']['events']:,} for {end['answered_2xx']:,} 2xx answers; "
                f"every 2xx is stored: {'YES' if end['every_2xx_stored'] else 'NO'}"
            )
        self.say("\n".join(lines))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.pd_client == "wrk" and shutil.which("wrk") is None and "pd" in set(args.only or ("pd",)):
        print(WRK_MISSING, file=sys.stderr)
        return 2
    data_dir = Path(tempfile.mkdtemp(prefix="bench-intake-"))
    started = time.perf_counter()
    print(
        f"intake benchmark: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}, "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
    )
    results: dict[str, Any] = {}
    try:
        bench = Bench(args, data_dir)
        results = bench.results
        good = bench.run()
    finally:
        if args.keep_data:
            print(f"data kept in {data_dir}")
        else:
            shutil.rmtree(data_dir, ignore_errors=True)
    print(f"\nbenchmark took {time.perf_counter() - started:.0f} s")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0 if good else 1


if __name__ == "__main__":
    raise SystemExit(main())
