"""In-process intake benchmark: Alertmanager bodies straight into the intake handler and the group-commit
writer on a real SQLite file, with no HTTP server and no load generator. It prints the CPU each new
alert cost (user and system, all threads) and alerts a second; it asserts nothing.

    python -m tests.perf.bench_writer                                  # 200,000 new alerts, fresh process
    python -m tests.perf.bench_writer --pd-first 300000                # after PagerDuty events
    python -m tests.perf.bench_writer --pd-first 300000 --vs ""        # that beside a fresh process

`--vs ARGS` runs two processes side by side, one with this command's own options and one with ARGS,
each on a data dir of its own; both start the measured part at the same moment, so the machine's
drift (on the benchmark machine a fifth from one minute to the next) hits both. Without HTTP the
figures answer questions about the writer and the process's own state that bench_intake's noise hides
(README, Performance: what the PagerDuty phase leaves behind).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import resource
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import orjson

from console.server.admin import add_service
from console.server.checkpointer import Checkpointer
from console.server.database import migrate, open_engine
from console.server.directory import Directory
from console.server.gc_schedule import tune_gc
from console.server.intake.handlers import Intake, IntakeRequest, Reply
from console.server.writelock import WriteLock
from console.server.writer import GroupCommitWriter
from tests.perf.workload import PagerDutyMix, am_message

RESULT = "BENCH_WRITER "  # the line a child process prints its figures on
ALERTS_PER_BODY = 100


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tests.perf.bench_writer",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--alerts", type=int, default=200_000, help="new alerts measured (200,000)")
    parser.add_argument("--pd-first", type=int, default=0, metavar="N", help="PagerDuty events before (0)")
    parser.add_argument(
        "--drop-view",
        action="store_true",
        help="after those, let intake's view go at once (and collect) before the measured part",
    )
    parser.add_argument("--senders", type=int, default=8, help="Alertmanager bodies in flight (8)")
    parser.add_argument("--data-dir", type=Path, help="keep the database here (default: a temporary dir)")
    parser.add_argument("--vs", metavar="ARGS", help="run side by side with a process given these options")
    parser.add_argument("--ready-file", type=Path, help=argparse.SUPPRESS)  # --vs: created when ready
    parser.add_argument("--start-file", type=Path, help=argparse.SUPPRESS)  # --vs: measure once it exists
    return parser.parse_args(argv)


async def _drive(
    handler: Callable[[IntakeRequest], Awaitable[Reply]], requests: Iterable[IntakeRequest], in_flight: int
) -> None:
    """Each request through `handler`, `in_flight` at a time, as that many senders would."""
    pending: Iterator[IntakeRequest] = iter(requests)

    async def sender() -> None:
        for request in pending:
            reply = await handler(request)
            if reply.status >= 300:
                raise RuntimeError(f"intake answered {reply.status}: {reply.body}")

    await asyncio.gather(*(sender() for _ in range(in_flight)))


async def _wait_for(path: Path) -> None:
    while not path.exists():
        await asyncio.sleep(0.02)


async def measure(args: argparse.Namespace, data_dir: Path, *, server_gc: bool = True) -> dict[str, Any]:
    """One run; `server_gc` applies `serve`'s collector schedule to this process, as the server has it."""
    url = f"sqlite:///{data_dir / 'server.db'}"
    write_engine, read_engine = open_engine(url, writer=True), open_engine(url)
    migrate(write_engine)
    pd_key, am_key = add_service(write_engine, "bench-pd"), add_service(write_engine, "bench-am")
    if server_gc:
        tune_gc()
    writer = GroupCommitWriter(write_engine, WriteLock(data_dir / "server.db"))
    checkpointer = Checkpointer(read_engine)
    writer.start()
    checkpointer.start()
    intake = Intake(writer, Directory(read_engine))
    run = os.urandom(3).hex()
    try:
        if args.pd_first:
            mix = PagerDutyMix(0, pd_key, f"pd{run}", 1)
            await _drive(intake.pagerduty, (IntakeRequest(mix.body()) for _ in range(args.pd_first)), 64)
        if args.drop_view:  # the writer's own attribute: a knob for this benchmark alone (see the README)
            if not hasattr(writer, "_view"):
                raise RuntimeError("GroupCommitWriter keeps intake's view elsewhere now: update --drop-view")
            writer._view = None
            gc.collect()
        bodies = [
            orjson.dumps(am_message(run, group, ALERTS_PER_BODY, "2026-11-28T00:00:00Z"))
            for group in range(args.alerts // ALERTS_PER_BODY)
        ]
        if args.ready_file is not None:
            args.ready_file.touch()
        if args.start_file is not None:
            await _wait_for(args.start_file)
        before, started = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
        await _drive(
            intake.alertmanager, (IntakeRequest(body, f"Bearer {am_key}") for body in bodies), args.senders
        )
        seconds, after = time.perf_counter() - started, resource.getrusage(resource.RUSAGE_SELF)
    finally:
        await writer.stop()
        checkpointer.stop()
        write_engine.dispose()
        read_engine.dispose()
    alerts = len(bodies) * ALERTS_PER_BODY
    return {
        "alerts": alerts,
        "alerts_per_s": alerts / seconds,
        "user_us": (after.ru_utime - before.ru_utime) / alerts * 1e6,
        "system_us": (after.ru_stime - before.ru_stime) / alerts * 1e6,
    }


def describe(options: str, result: dict[str, Any]) -> str:
    return (
        f"[{options or 'fresh'}] {result['alerts']:,} new alerts: {result['alerts_per_s']:,.0f} alerts/s, "
        f"CPU {result['user_us']:.1f} µs user + {result['system_us']:.1f} µs system an alert"
    )


def run_one(args: argparse.Namespace) -> dict[str, Any]:
    if args.data_dir is not None:
        args.data_dir.mkdir(parents=True, exist_ok=True)
        return asyncio.run(measure(args, args.data_dir))
    with tempfile.TemporaryDirectory(prefix="bench-writer-") as scratch:
        return asyncio.run(measure(args, Path(scratch)))


def side_by_side(own: list[str], other: list[str]) -> None:
    """Both option sets in processes of their own, measured from the same moment."""
    with tempfile.TemporaryDirectory(prefix="bench-writer-vs-") as scratch:
        start = Path(scratch) / "start"
        children = []
        for n, options in enumerate((own, other)):
            ready = Path(scratch) / f"ready{n}"
            command = [sys.executable, "-m", "tests.perf.bench_writer", *options]
            command += ["--ready-file", str(ready), "--start-file", str(start)]
            children.append((options, ready, subprocess.Popen(command, stdout=subprocess.PIPE, text=True)))
        while not all(ready.exists() for _, ready, _ in children):
            if any(child.poll() is not None for _, _, child in children):
                break  # one failed before it was ready; its output says why
            time.sleep(0.05)
        start.touch()
        outputs = [(options, *child.communicate(), child.returncode) for options, _, child in children]
        results = []
        for options, out, _, code in outputs:  # both have ended: no process is left behind on a failure
            lines = [line for line in out.splitlines() if line.startswith(RESULT)]
            if code != 0 or not lines:
                raise SystemExit(f"[{shlex.join(options)}] failed ({code}):\n{out}")
            results.append(json.loads(lines[-1][len(RESULT) :]))
            print(describe(shlex.join(options), results[-1]))
        first, second = results
        print(
            f"first / second: alerts/s x{first['alerts_per_s'] / second['alerts_per_s']:.3f}, "
            f"user CPU an alert x{first['user_us'] / second['user_us']:.3f}"
        )


def without_vs(argv: list[str]) -> list[str]:
    """The options but `--vs ARGS` (or `--vs=ARGS`)."""
    own: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--vs":
            skip = True
        elif not arg.startswith("--vs="):
            own.append(arg)
    return own


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    if args.vs is not None:
        if args.data_dir is not None:
            raise SystemExit("--vs gives each process a data dir of its own: leave out --data-dir")
        side_by_side(without_vs(argv), shlex.split(args.vs))
        return 0
    result = run_one(args)
    if args.ready_file is not None:  # a child of --vs: the parent prints
        print(RESULT + json.dumps(result), flush=True)
    else:
        print(describe(shlex.join(argv), result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
