from __future__ import annotations

import uuid

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
