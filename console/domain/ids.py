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
# Random bits come from os.urandom in blocks: one system call per id was a good part of its cost
# when the intake makes an id for each of thousands of alerts a second.
_POOL_SIZE = 4096
_pool = b""
_taken = _POOL_SIZE


def _forget_pool() -> None:
    """In a forked child: the parent's pool would hand out the same bits in both processes."""
    global _pool, _taken
    _pool, _taken = b"", _POOL_SIZE


os.register_at_fork(after_in_child=_forget_pool)


def _random64() -> int:
    """64 random bits from the pool; called with `_lock` held."""
    global _pool, _taken
    if _taken >= _POOL_SIZE:
        _pool, _taken = os.urandom(_POOL_SIZE), 0
    start = _taken
    _taken = start + 8
    return int.from_bytes(_pool[start : start + 8], "big")


def uuid7(unix_ms: int | None = None) -> str:
    """A new UUIDv7 as its canonical string."""
    global _last_ms, _counter
    if unix_ms is not None:  # a given time (tests, imports): no ordering state is touched
        ms = unix_ms
        rand = int.from_bytes(os.urandom(8), "big")
        counter = rand >> 53
    else:
        ms = time.time_ns() // 1_000_000
        with _lock:
            rand = _random64()
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
    tail = f"{rand & 0x3FFF_FFFF_FFFF_FFFF | 0x8000_0000_0000_0000:016x}"  # variant 0b10, rand_b
    return f"{ms >> 16 & 0xFFFF_FFFF:08x}-{ms & 0xFFFF:04x}-{0x7000 | counter:04x}-{tail[:4]}-{tail[4:]}"
