"""Time-ordered ids (UUIDv7, RFC 9562), so rows made on different machines sort by creation.

Within one process ids are strictly increasing, also within one millisecond (RFC 9562 §6.2,
method 1: the 12-bit rand_a field is a counter), so entries written together keep their order.
"""

from __future__ import annotations

import os
import struct
import threading
import time

_lock = threading.Lock()
_last_ms = 0
_counter = 0
_ms_text = ""  # the text up to rand_a for _last_ms: formatted once a millisecond, not once an id
# Random bits come from os.urandom in blocks, unpacked to 64-bit ints in one go: a system call, or a
# slice and int.from_bytes, per id was a good part of its cost when the intake makes an id for each
# of thousands of alerts a second.
_POOL_SIZE = 512
_unpack_pool = struct.Struct(f">{_POOL_SIZE}Q").unpack
_pool: tuple[int, ...] = ()
_taken = _POOL_SIZE
# "unix_ts_ms-unix_ts_ms-7", the counter (rand_a), then variant 0b10 and 62 random bits (rand_b).
# A %-template: f-string format specs cost half as much again.
_TEXT = "%s%03x-%04x-%012x"


def _forget_pool() -> None:
    """In a forked child: the parent's pool would hand out the same bits in both processes."""
    global _pool, _taken
    _pool, _taken = (), _POOL_SIZE


os.register_at_fork(after_in_child=_forget_pool)


def _ms_text_of(ms: int) -> str:
    return f"{ms >> 16 & 0xFFFF_FFFF:08x}-{ms & 0xFFFF:04x}-7"


def uuid7(unix_ms: int | None = None) -> str:
    """A new UUIDv7 as its canonical string."""
    global _last_ms, _counter, _ms_text, _pool, _taken
    if unix_ms is not None:  # a given time (tests, imports): no ordering state is touched
        rand = int.from_bytes(os.urandom(8), "big")
        ms_text, counter = _ms_text_of(unix_ms), rand >> 53
    else:
        ms = time.time_ns() // 1_000_000
        with _lock:
            if _taken >= _POOL_SIZE:
                _pool, _taken = _unpack_pool(os.urandom(8 * _POOL_SIZE)), 0
            rand = _pool[_taken]
            _taken += 1
            if ms <= _last_ms:
                _counter += 1
                if _counter > 0xFFF:  # 4096 ids in one millisecond: borrow the next one
                    _last_ms += 1
                    _counter = 0
                    _ms_text = _ms_text_of(_last_ms)
            else:
                _last_ms = ms
                _counter = rand >> 53  # a random start below 0x800 leaves room to count up
                _ms_text = _ms_text_of(ms)
            ms_text, counter = _ms_text, _counter
    return _TEXT % (ms_text, counter, rand >> 48 & 0x3FFF | 0x8000, rand & 0xFFFF_FFFF_FFFF)
