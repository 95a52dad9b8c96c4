"""How long this machine's disk takes to make a small write durable (a write, then fdatasync), alone
or beside a benchmark. It is the floor under every durable commit's latency, and its stalls are what
no server code can hide: every 2xx waits for a flush like these.

    python -m tests.perf.disk_flush                    # 60 s in the temporary dir, figures printed
    python -m tests.perf.disk_flush --seconds 20 --dir /var/lib/responder

bench_intake runs a probe beside its fixed-rate and Alertmanager phases, so a slow commit in the
server's log can be set against what the bare disk did in the same seconds. The probe's own load is
small: a 4 KiB write and a flush every 20 ms, against the hundreds of commits a second of the server
it sits beside.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from tests.perf.loadgen import percentiles

STALL_MS = 20.0
LONG_MS = 50.0  # bench_intake's p99 target: an event that waits for a flush this long misses it


@dataclass(frozen=True, slots=True)
class FlushStats:
    flushes: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    stalls: int  # flushes of STALL_MS or more
    long: int  # flushes of LONG_MS or more
    long_total_ms: float  # their time beyond LONG_MS, summed: what they cost a latency target

    @classmethod
    def of(cls, durations_ms: list[float]) -> FlushStats:
        if not durations_ms:
            return cls(0, 0.0, 0.0, 0.0, 0, 0, 0.0)
        # the load generator's percentiles (of seconds), so the disk's p99 reads as the latency's beside it
        pct = percentiles([d / 1000 for d in durations_ms])
        return cls(
            flushes=len(durations_ms),
            p50_ms=pct["p50"],
            p99_ms=pct["p99"],
            max_ms=pct["max"],
            stalls=sum(1 for d in durations_ms if d >= STALL_MS),
            long=sum(1 for d in durations_ms if d >= LONG_MS),
            long_total_ms=sum(d - LONG_MS for d in durations_ms if d >= LONG_MS),
        )

    def describe(self) -> str:
        return (
            f"{self.flushes:,} flushes: p50 {self.p50_ms:.2f} ms, p99 {self.p99_ms:.2f} ms, "
            f"max {self.max_ms:.0f} ms; "
            f">= {STALL_MS:.0f} ms: {self.stalls}; >= {LONG_MS:.0f} ms: {self.long}"
            + (f" ({self.long_total_ms:.0f} ms beyond {LONG_MS:.0f} in all)" if self.long else "")
        )


class FlushProbe:
    """A thread that writes `size` bytes and flushes them every `every` seconds, in a file of its own
    in `directory` (the same file system as the database it sits beside), timing each flush."""

    def __init__(self, directory: Path, *, every: float = 0.02, size: int = 4096) -> None:
        self._path = directory / f".flush-probe-{os.getpid()}-{id(self):x}"
        self._every = every
        self._block = os.urandom(size)
        self._durations: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="flush-probe", daemon=True)

    def __enter__(self) -> FlushProbe:
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def stats(self) -> FlushStats:
        return FlushStats.of(list(self._durations))

    def _run(self) -> None:
        fd = os.open(self._path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            offset, wrap = 0, 1024 * len(self._block)  # appends, then over again: a log's pattern
            while not self._stop.wait(self._every):
                os.pwrite(fd, self._block, offset)
                began = time.perf_counter()
                os.fdatasync(fd)
                self._durations.append((time.perf_counter() - began) * 1000)
                offset = (offset + len(self._block)) % wrap
        finally:
            os.close(fd)
            self._path.unlink(missing_ok=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="how long to probe (60)")
    parser.add_argument("--dir", type=Path, help="a directory on the disk to probe (the temporary dir)")
    parser.add_argument("--every", type=float, default=0.02, help="seconds between flushes (0.02)")
    args = parser.parse_args(argv)
    directory = args.dir or Path(tempfile.gettempdir())
    with FlushProbe(directory, every=args.every) as probe:
        time.sleep(args.seconds)
    print(f"disk flush in {directory}, {args.seconds:.0f} s: {probe.stats.describe()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
