"""The server's collector schedule (console.server.gc_schedule), in a process of its own: it changes
the whole interpreter's collector, as it does in `serve`."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from tests.serverproc import ROOT

CHILD = textwrap.dedent(
    """
    import gc, sys, time, weakref
    from console.server.gc_schedule import NEVER, YOUNG_THRESHOLD, tune_gc

    class Node:
        pass

    def cycle():
        a, b = Node(), Node()
        a.other, b.other = b, a
        return a

    def wait_until(condition, seconds):
        deadline = time.monotonic() + seconds
        while not condition():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return True

    started = time.monotonic()
    collector = tune_gc(every=0.05, full_every=3.0)
    assert collector is not None and collector.daemon
    assert gc.get_threshold() == (YOUNG_THRESHOLD, NEVER, NEVER), gc.get_threshold()

    # Garbage that was never frozen goes with the next collection of survivors.
    young = weakref.ref(cycle())
    assert young() is not None
    assert wait_until(lambda: young() is None, 2.0), "a young cycle outlived the collections of survivors"

    # What stays alive across a collection of survivors is frozen: no collection but the full one
    # looks at it again, so a cycle that becomes garbage after that waits for it.
    kept = cycle()
    frozen = weakref.ref(kept)
    assert wait_until(lambda: not any(o is kept for o in gc.get_objects()), 2.0), "survivor not frozen"
    del kept
    time.sleep(0.3)  # six more collections of survivors
    assert time.monotonic() - started < 3.0, "too slow a machine to tell the two collections apart"
    assert frozen() is not None, "a frozen cycle was collected before the full collection"
    assert wait_until(lambda: frozen() is None, 5.0), "the full collection did not free a frozen cycle"
    assert time.monotonic() - started >= 3.0
    print("ok")
    """
)


def test_survivors_are_frozen_each_round_and_their_cycles_collected_by_the_full_collection() -> None:
    done = subprocess.run(
        [sys.executable, "-c", CHILD], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
