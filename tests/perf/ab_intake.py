"""Two versions of the server measured at the same time, so that the machine's drift hits both
(or, with `--alternate`, one after the other: see below).

This machine's speed drifts by 15-25 % from one minute to the next (other tenants share it), more
than most single changes to the intake path are worth: runs one after the other cannot tell a 5 %
gain from noise. Here `bench_intake` runs from two source trees at once; their servers share
whatever the machine gives, and the ratio of their figures is the comparison. Side by side only
throughput is compared: each server has half the machine, so latency at a fixed rate means nothing.

    git worktree add /tmp/base HEAD        # the version to compare against
    .venv/bin/python -m tests.perf.ab_intake /tmp/base .                   # PagerDuty, 3 runs
    .venv/bin/python -m tests.perf.ab_intake /tmp/base . --runs 5 -- --only am

Arguments after `--` go to both benchmarks (default `--only pd --duration 15`); `--a-arg` and
`--b-arg` add one to a single side. Each tree runs its own `tests/perf/bench_intake.py` and its own
server. An A/A run (one tree twice) shows how far apart two identical servers land on this machine:
PagerDuty single runs within 5 %, the median of 3 within about 2 %; Alertmanager runs within 7 %
(new groups) and 13 % (re-posts). Changes smaller than that need more runs.

Side by side, each server has half the machine: a change that puts the second core to work (another
process, a thread beside the loop) cannot show there. `--alternate` runs A and B one after the
other instead, in the order A B, B A, A B… so that a steady drift favours neither, and compares
latency at a fixed rate too:

    .venv/bin/python -m tests.perf.ab_intake . . --alternate --runs 4 --b-arg=--serve-arg=--workers \
        --b-arg=--serve-arg=2 -- --only pd --only rate
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# (label, path into bench_intake's --json figures)
FIGURES: list[tuple[str, tuple[str, ...]]] = [
    ("PagerDuty events/s", ("pd_saturation", "events_per_s")),
    ("Alertmanager new groups, alerts/s", ("am_new_groups", "alerts_per_s")),
    ("Alertmanager re-posts, alerts/s", ("am_reposts", "alerts_per_s")),
]
DEFAULT_BENCH_ARGS = ["--only", "pd", "--duration", "15"]
# with the whole machine each, latency compares as well (lower is better: the ratio reads B/A all the same)
LATENCY = ("PagerDuty p99 at 2,000/s, ms", ("pd_fixed_rate_2000", "latency_ms", "p99"))


def _figure(results: dict[str, Any], path: tuple[str, ...]) -> float | None:
    value: Any = results
    for key in path:
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return float(value) if isinstance(value, int | float) else None


@dataclass(frozen=True, slots=True)
class Side:
    name: str  # "a" or "b"
    tree: Path
    args: list[str]  # bench_intake's arguments for this side


def order(run: int, *, alternate: bool) -> tuple[str, str]:
    """Which side starts in run `run` (from 1): A first in odd runs, B in even ones when alternating,
    so that over two runs a drift in the machine's speed favours neither."""
    return ("b", "a") if alternate and run % 2 == 0 else ("a", "b")


def _start(side: Side, scratch: Path) -> tuple[subprocess.Popen[bytes], Path, Path]:
    figures, log = scratch / f"{side.name}.json", scratch / f"{side.name}.log"
    with log.open("wb") as out:
        command = [sys.executable, "-m", "tests.perf.bench_intake", *side.args, "--json", str(figures)]
        return subprocess.Popen(command, cwd=side.tree, stdout=out, stderr=subprocess.STDOUT), figures, log


def _finish(started: tuple[subprocess.Popen[bytes], Path, Path]) -> dict[str, Any]:
    process, figures, log = started
    if process.wait() not in (0, 1):  # 1: a target not met, which is not this tool's business
        raise SystemExit(f"bench_intake failed; its output is in {log}")
    result: dict[str, Any] = json.loads(figures.read_text())
    return result


def run_pair(sides: list[Side], scratch: Path, *, together: bool) -> dict[str, dict[str, Any]]:
    """Both benchmarks, at once or one after the other in the order given; figures by side name,
    as bench_intake's --json writes them."""
    if together:
        started = [(side.name, _start(side, scratch)) for side in sides]
        return {name: _finish(run) for name, run in started}
    return {side.name: _finish(_start(side, scratch)) for side in sides}


def main(argv: list[str] | None = None) -> int:
    given = sys.argv[1:] if argv is None else argv
    own, bench_args = (
        (given[: given.index("--")], given[given.index("--") + 1 :]) if "--" in given else (given, [])
    )
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("a", type=Path, help="source tree A (the baseline)")
    parser.add_argument("b", type=Path, help="source tree B (the change)")
    parser.add_argument("--runs", type=int, default=3, help="pairs of runs (3)")
    parser.add_argument(
        "--alternate", action="store_true", help="one after the other (A B, B A, …) instead of at once"
    )
    parser.add_argument("--a-arg", action="append", default=[], metavar="ARG", help="for A's benchmark only")
    parser.add_argument("--b-arg", action="append", default=[], metavar="ARG", help="for B's benchmark only")
    args = parser.parse_args(own)
    trees = [tree.resolve() for tree in (args.a, args.b)]
    for tree in trees:
        if not (tree / "tests" / "perf" / "bench_intake.py").is_file():
            parser.error(f"{tree} is not a source tree of this project")
    common = bench_args or DEFAULT_BENCH_ARGS
    sides = {
        "a": Side("a", trees[0], [*common, *args.a_arg]),
        "b": Side("b", trees[1], [*common, *args.b_arg]),
    }
    figures = [*FIGURES, LATENCY] if args.alternate else FIGURES
    ratios: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="ab-intake-") as scratch:
        for run in range(1, args.runs + 1):
            ran = order(run, alternate=args.alternate)
            results = run_pair([sides[name] for name in ran], Path(scratch), together=not args.alternate)
            for label, path in figures:
                x, y = _figure(results["a"], path), _figure(results["b"], path)
                if x is None or y is None or x == 0:
                    continue
                ratios.setdefault(label, []).append(y / x)
                print(
                    f"run {run} ({' then '.join(ran).upper() if args.alternate else 'together'})  {label}: "
                    f"A {x:,.1f}  B {y:,.1f}  B/A {y / x:.3f}",
                    flush=True,
                )
    print(f"\nB = {trees[1]} {shlex.join(args.b_arg)}\nA = {trees[0]} {shlex.join(args.a_arg)}")
    for label, values in ratios.items():
        spread = f"{min(values):.3f}-{max(values):.3f}"
        print(f"  {label}: B/A median {statistics.median(values):.3f} (runs {spread})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
