"""Two versions of the server measured at the same time, so that the machine's drift hits both.

This machine's speed drifts by 15-25 % from one minute to the next (other tenants share it), more
than most single changes to the intake path are worth: runs one after the other cannot tell a 5 %
gain from noise. Here `bench_intake` runs from two source trees at once; their servers share
whatever the machine gives, and the ratio of their figures is the comparison. Only throughput is
compared: each server has half the machine, so latency at a fixed rate means nothing here.

    git worktree add /tmp/base HEAD        # the version to compare against
    .venv/bin/python -m tests.perf.ab_intake /tmp/base .                   # PagerDuty, 3 runs
    .venv/bin/python -m tests.perf.ab_intake /tmp/base . --runs 5 -- --only am

Arguments after `--` go to both benchmarks (default `--only pd --duration 15`). Each tree runs its
own `tests/perf/bench_intake.py` and its own server. An A/A run (one tree twice) shows how far
apart two identical servers land on this machine: PagerDuty single runs within 5 %, the median of 3
within about 2 %; Alertmanager runs within 7 % (new groups) and 13 % (re-posts). Changes smaller
than that need more runs.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

# (label, path into bench_intake's --json figures)
FIGURES: list[tuple[str, tuple[str, ...]]] = [
    ("PagerDuty events/s", ("pd_saturation", "events_per_s")),
    ("Alertmanager new groups, alerts/s", ("am_new_groups", "alerts_per_s")),
    ("Alertmanager re-posts, alerts/s", ("am_reposts", "alerts_per_s")),
]
DEFAULT_BENCH_ARGS = ["--only", "pd", "--duration", "15"]


def _figure(results: dict[str, Any], path: tuple[str, ...]) -> float | None:
    value: Any = results
    for key in path:
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return float(value) if isinstance(value, int | float) else None


def run_pair(a: Path, b: Path, bench_args: list[str], scratch: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """Both benchmarks at once; their figures as bench_intake's --json writes them."""
    started: list[tuple[subprocess.Popen[bytes], Path, Path]] = []
    for name, tree in (("a", a), ("b", b)):
        figures, log = scratch / f"{name}.json", scratch / f"{name}.log"
        with log.open("wb") as out:
            command = [sys.executable, "-m", "tests.perf.bench_intake", *bench_args, "--json", str(figures)]
            started.append(
                (subprocess.Popen(command, cwd=tree, stdout=out, stderr=subprocess.STDOUT), figures, log)
            )
    results: list[dict[str, Any]] = []
    for process, figures, log in started:
        if process.wait() not in (0, 1):  # 1: a target not met, which is not this tool's business
            raise SystemExit(f"bench_intake failed; its output is in {log}")
        results.append(json.loads(figures.read_text()))
    return results[0], results[1]


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
    args = parser.parse_args(own)
    trees = [tree.resolve() for tree in (args.a, args.b)]
    for tree in trees:
        if not (tree / "tests" / "perf" / "bench_intake.py").is_file():
            parser.error(f"{tree} is not a source tree of this project")
    ratios: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="ab-intake-") as scratch:
        for run in range(1, args.runs + 1):
            first, second = run_pair(trees[0], trees[1], bench_args or DEFAULT_BENCH_ARGS, Path(scratch))
            for label, path in FIGURES:
                x, y = _figure(first, path), _figure(second, path)
                if x is None or y is None or x == 0:
                    continue
                ratios.setdefault(label, []).append(y / x)
                print(f"run {run}  {label}: A {x:,.0f}  B {y:,.0f}  B/A {y / x:.3f}", flush=True)
    print(f"\nB = {trees[1]}\nA = {trees[0]}")
    for label, values in ratios.items():
        spread = f"{min(values):.3f}-{max(values):.3f}"
        print(f"  {label}: B/A median {statistics.median(values):.3f} (runs {spread})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
