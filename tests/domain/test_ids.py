from __future__ import annotations

import os
import threading
import time
import uuid
import warnings

from console.domain.ids import uuid7


def test_uuid7_has_version_7_and_the_rfc_variant() -> None:
    value = uuid.UUID(uuid7())
    assert value.version == 7
    assert value.variant == uuid.RFC_4122


def test_uuid7_sorts_by_creation_time() -> None:
    ids = [uuid7(unix_ms=ms) for ms in (1_700_000_000_000, 1_700_000_000_001, 1_800_000_000_000)]
    assert ids == sorted(ids)
    assert len(set(uuid7(unix_ms=5) for _ in range(1000))) == 1000


def test_uuid7_increases_within_one_millisecond() -> None:
    ids = [uuid7() for _ in range(5000)]
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)


def test_uuid7_carries_its_millisecond_and_random_bits() -> None:
    ms = 1_767_225_600_123
    value = uuid.UUID(uuid7(unix_ms=ms))
    assert value.int >> 80 == ms
    assert (value.version, value.variant) == (7, uuid.RFC_4122)
    assert len({uuid.UUID(uuid7()).int & ((1 << 62) - 1) for _ in range(2000)}) == 2000  # rand_b


def test_uuid7_ids_from_many_threads_are_unique_and_each_thread_sees_them_increase() -> None:
    made: list[list[str]] = [[] for _ in range(4)]

    def make(out: list[str]) -> None:
        out.extend(uuid7() for _ in range(3000))

    threads = [threading.Thread(target=make, args=(out,)) for out in made]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(ids == sorted(ids) for ids in made)
    assert len({i for ids in made for i in ids}) == 12000


def test_a_forked_child_does_not_reuse_the_random_bits_of_its_parent() -> None:
    uuid7()  # the parent has random bits pooled
    read, write = os.pipe()
    with warnings.catch_warnings():  # 3.12+ warns of fork in a threaded process; the child only writes
        warnings.simplefilter("ignore", DeprecationWarning)
        child = os.fork()
    if child == 0:  # pragma: no cover - the child
        os.write(write, uuid7().encode())
        os._exit(0)
    os.close(write)
    os.waitpid(child, 0)
    theirs = os.read(read, 64).decode()
    os.close(read)
    ours = uuid7()
    assert theirs[-17:] != ours[-17:]  # rand_b differs


def test_uuid7_text_is_canonical_and_its_fields_are_where_rfc_9562_puts_them() -> None:
    before = time.time_ns() // 1_000_000
    for text in [uuid7() for _ in range(3000)] + [uuid7(unix_ms=ms) for ms in (0, 1, 2**48 - 1)]:
        value = uuid.UUID(text)
        assert str(value) == text  # lower-case hex, dashes at 8-4-4-4-12
        assert (value.version, value.variant) == (7, uuid.RFC_4122)
    value = uuid.UUID(uuid7())
    # unix_ts_ms is now, or a little later after a burst of over 2048 ids in one millisecond
    assert before <= value.int >> 80 <= time.time_ns() // 1_000_000 + 1000
    assert uuid.UUID(uuid7(unix_ms=2**48 - 1)).int >> 80 == 2**48 - 1
    assert uuid.UUID(uuid7(unix_ms=7)).int >> 64 & 0xFFF < 0x800  # rand_a starts low, to count up
