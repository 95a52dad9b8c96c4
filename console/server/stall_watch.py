"""Logs each stall of the server's event loop, with where the loop was.

While the loop is stopped no request is answered: every intake sender waits. A heartbeat task on
the loop measures how late it wakes, and a watcher thread notes the loop thread's stack when a
beat is overdue, so the warning says what held the loop. That is how the intake's worst stalls
were found (freeing intake's view at its bound, a key cache's expiry starting worker threads).
The stack is where the loop was when the watcher got the GIL: a single long C call (freeing a big
dict) shows the line after it.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
import time
import traceback
from types import FrameType

log = logging.getLogger(__name__)

DEFAULT_THRESHOLD = 0.1  # s: `serve --log-stalls`'s default, for stalls and slow group commits alike
FRAMES = 8  # innermost frames of the loop thread's stack in a warning
# The innermost Python frame of a loop thread that runs no callback (uvloop's loop is C code)
_LOOP_ITSELF = ("asyncio/runners.py", "asyncio/base_events.py", "selectors.py")


class StallWatch:
    """`start` and `stop` on the loop to watch. A stall is a wake-up later than `threshold` s."""

    def __init__(self, threshold: float) -> None:
        self.threshold = threshold
        self._every = max(threshold / 4, 0.005)
        self._beat = 0  # counts the heartbeat's wake-ups; the watcher thread reads it
        self._due = 0.0  # when the current beat should wake (perf_counter)
        self._seen: tuple[int, str] | None = None  # (beat, stack) the watcher noted, if overdue
        self._task: asyncio.Task[None] | None = None
        self._stopped = threading.Event()

    def start(self) -> None:
        loop_thread = threading.get_ident()
        self._due = time.perf_counter() + self._every
        self._task = asyncio.get_running_loop().create_task(self._heartbeat(), name="stall-watch")
        threading.Thread(target=self._watch, args=(loop_thread,), name="stall-watch", daemon=True).start()

    async def stop(self) -> None:
        self._stopped.set()
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(self._every)
            late = time.perf_counter() - self._due
            seen, beat = self._seen, self._beat
            self._beat += 1
            self._due = time.perf_counter() + self._every
            if late >= self.threshold:
                where = seen[1] if seen is not None and seen[0] == beat else "(not seen: the loop was back)\n"
                log.warning("the event loop stalled %.0f ms; it was in:\n%s", late * 1000, where.rstrip())

    def _watch(self, loop_thread: int) -> None:
        # Wakes when the current beat would be late, not every beat: each wake takes the GIL from
        # the loop, and at 20 ms (bench_intake's threshold) waking every 5 ms cost the loop a few
        # per cent under load.
        wait = self._every
        while not self._stopped.wait(wait):
            beat = self._beat
            late_in = self._due + self.threshold - time.perf_counter()
            if late_in > 0:
                wait = late_in
                continue
            wait = self._every  # late: until the loop is back, as before
            if self._seen and self._seen[0] == beat:
                continue
            frame = sys._current_frames().get(loop_thread)
            if frame is not None and self._beat == beat:
                self._seen = (beat, _where(frame))


def _where(frame: FrameType) -> str:
    if frame.f_code.co_filename.endswith(_LOOP_ITSELF):
        return (
            "(between callbacks: another thread held the GIL, such as a collection or the Python part of"
            " a commit, or the event loop's own work)\n"
        )
    # the innermost frames only: formatting the whole stack (30-odd frames, with their source lines)
    # held the GIL for each stall logged
    return "".join(traceback.format_list(traceback.extract_stack(frame, limit=FRAMES)))
