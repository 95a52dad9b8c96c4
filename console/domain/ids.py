"""Time-ordered ids (UUIDv7, RFC 9562), so rows made on different machines sort by creation.

Within one process ids are strictly increasing, also within one millisecond (RFC 9562 §6.2,
method 1: the 12-bit rand_a field is a counter), so entries written together keep their order.
"""

from __future__ import annotations

import os
import threading
import time

_lock = threading.Lock()
_last_ms = 0
_counter = 0


def uuid7(unix_ms: int | None = None) -> str:
    """A new UUIDv7 as its canonical string."""
    global _last_ms, _counter
    ms = time.time_ns() // 1_000_000 if unix_ms is None else unix_ms
    rand = int.from_bytes(os.urandom(8), "big")
    if unix_ms is not None:  # a given time (tests, imports): no ordering state is touched
        counter = rand >> 53
    else:
        with _lock:
            if ms <= _last_ms:
                ms = _last_ms
                _counter += 1
                if _counter > 0xFFF:  # 4096 ids in one millisecond: borrow the next one
                    ms = _last_ms = ms + 1
                    _counter = 0
            else:
                _last_ms = ms
                _counter = rand >> 53  # a random start below 0x800 leaves room to count up
            counter = _counter
    value = (ms & 0xFFFF_FFFF_FFFF) << 80 | 0x7 << 76 | counter << 64 | 0b10 << 62 | rand & ((1 << 62) - 1)
    text = f"{value:032x}"
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"
