"""Python's cycle collector on a server process's own schedule.

The intake keeps what it has read and written of open alerts and incidents from one group commit to
the next (`IntakeView`, up to 200,000 entries), and nearly every object that outlives its event is one
of those. Python's collector moves such survivors up its generations and scans them again and again,
with the event loop stopped: bench_intake at 2,000 PagerDuty events/s saw one collection of the middle
generation take 140-194 ms in a 20 s window, and p99 was 97-211 ms. Without those scans it was 38-45 ms.

The intake's own objects form no reference cycles (measured: none left after 20,000 events), so
survivors need not be scanned often. In a server process:
- what exists at start (modules, the app, SQLAlchemy's tables) is frozen out of the collector's way;
- young objects are collected as Python does, every 10,000 net allocations instead of 700 (an event
  makes a few hundred short-lived objects; at 700 the collector ran every couple of events, about
  5 % of the CPU);
- four times a second, a thread of this module collects what survived the young collections since,
  and freezes what is still alive. Once a second, that was a pause of 10-16 ms at 2,000 events/s, and
  with the rest of a moment's work the event loop stopped 20-27 ms about once a second (`serve
  --log-stalls`); four times a second the pauses are a quarter as long (stalls of 20 ms or more at
  2,000 events/s: 3 against 18 in four runs each of bench_intake);
- once an hour it collects everything, frozen or not: cycles that formed among frozen objects
  (a connection kept open for a while, then closed) are garbage until then. That pause grows with
  the heap: 0.5-0.7 s measured after a minute at 2,000 events/s.

Python 3.14's incremental collector bounds its pauses itself; there only the freeze at start applies.
"""

from __future__ import annotations

import gc
import logging
import sys
import threading
import time

log = logging.getLogger(__name__)

YOUNG_THRESHOLD = 10_000
NEVER = 2**31 - 1  # a generation's count never reaches it: no automatic collection of that generation


def tune_gc(*, every: float = 0.25, full_every: float = 3600.0) -> threading.Thread | None:
    """Apply the schedule to this process; returns the thread that collects survivors."""
    gc.freeze()
    if sys.version_info >= (3, 14):
        return None
    gc.set_threshold(YOUNG_THRESHOLD, NEVER, NEVER)
    collector = threading.Thread(
        target=_collect_survivors, args=(every, full_every), name="gc-survivors", daemon=True
    )
    collector.start()
    return collector


def _collect_survivors(every: float, full_every: float) -> None:
    last_full = time.monotonic()
    while True:
        time.sleep(every)
        started = time.perf_counter()
        if time.monotonic() - last_full >= full_every:
            gc.unfreeze()
            found = gc.collect()
            last_full = time.monotonic()
            took = (time.perf_counter() - started) * 1e3
            log.info("full collection: %d unreachable objects, %.0f ms", found, took)
        else:
            gc.collect(1)  # the young generation and the middle one, where survivors wait
        gc.freeze()
