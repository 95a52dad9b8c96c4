"""How fast this machine runs a fixed piece of pure Python right now. The figures of a CPU-bound
benchmark move with it: on the benchmark VM the same work has taken from 1.0 to 1.5 times as long
from one minute to the next, with nothing else running.

    python -m tests.perf.machine_speed                  # a sample every second for 60 s
    python -m tests.perf.machine_speed --seconds 300

bench_intake measures it just before each of its phases (the server idle between them), so a phase
that fell short can be set against the machine's speed in the same minute.
"""

from __future__ import annotations

import argparse
import statistics
import time

ROUNDS = 5


def _work() -> int:
    # What intake's Python does most: small dicts built and read, short strings formatted, calls.
    total = 0
    for n in range(4000):
        labels = {"alertname": "HighLatency", "instance": f"host-{n}", "job": "api"}
        total += len(labels["instance"]) + len(f"{n:08x}-{total & 0xFFFF:04x}")
    return total


def reference_ms(rounds: int = ROUNDS) -> float:
    """The fixed work's time in ms, the best of `rounds`: the best shows the machine's speed with
    the least of a momentary interruption in it."""
    best = float("inf")
    for _ in range(rounds):
        began = time.perf_counter()
        _work()
        best = min(best, (time.perf_counter() - began) * 1000)
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="how long to sample (60)")
    parser.add_argument("--every", type=float, default=1.0, help="seconds between samples (1)")
    args = parser.parse_args(argv)
    samples: list[float] = []
    end = time.monotonic() + args.seconds
    while True:
        samples.append(reference_ms())
        if time.monotonic() >= end:
            break
        time.sleep(args.every)
    ordered = sorted(samples)
    print(
        f"reference work, {len(samples)} samples over {args.seconds:.0f} s: min {ordered[0]:.2f} ms, "
        f"median {statistics.median(ordered):.2f} ms, max {ordered[-1]:.2f} ms "
        f"(max/min {ordered[-1] / ordered[0]:.2f})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
