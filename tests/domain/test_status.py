from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from console.domain.status import Rank, Status

statuses = st.builds(Status, st.integers(0, 5), st.sampled_from(list(Rank)))


@given(statuses, statuses, statuses)
def test_merge_is_a_lattice_join(a: Status, b: Status, c: Status) -> None:
    assert a.merge(b) == b.merge(a)
    assert a.merge(b).merge(c) == a.merge(b.merge(c))
    assert a.merge(a) == a


def test_a_stale_resolve_does_not_close_a_reopened_incident() -> None:
    reopened = Status(0, Rank.RESOLVED).reopen(base_epoch=0)
    assert reopened.advance(Rank.RESOLVED, base_epoch=0) == Status(1, Rank.TRIGGERED)


def test_a_late_acknowledge_does_not_move_a_resolved_incident_back() -> None:
    resolved = Status(0, Rank.RESOLVED)
    assert resolved.advance(Rank.ACKNOWLEDGED, base_epoch=0) == resolved


def test_concurrent_reopens_of_one_epoch_collapse() -> None:
    resolved = Status(2, Rank.RESOLVED)
    assert resolved.reopen(base_epoch=2).merge(resolved.reopen(base_epoch=2)) == Status(3, Rank.TRIGGERED)


def test_open_means_triggered_or_acknowledged() -> None:
    assert [Status(0, rank).is_open for rank in Rank] == [True, True, False, False]
