"""Console ops and their merge rules (sync.md §3): order and repeats do not change where an incident
ends; stale ops are recorded, not applied; descriptive fields are last-writer-wins by clock."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from console.domain.clock import Hlc, HybridClock, to_ms
from console.domain.incident import EntryKind, Incident
from console.domain.ops import Op, OpRejected, OpType, apply_op, normalize_args
from console.domain.priority import Priority
from console.domain.status import Rank, Status

T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
_ids = itertools.count()


def incident(status: Status | None = None, **fields: Any) -> Incident:
    return Incident("i1", 1, 7, "db down", Priority.HIGH, "general", status or Status(), T0, T0, **fields)


def op(kind: OpType, *, epoch: int = 0, ms: int = 0, node: str = "a", **args: Any) -> Op:
    return Op(f"op{next(_ids)}", kind, "i1", args, Hlc(to_ms(T0) + ms, 0, node), epoch, "ann")


def run(start: Incident, ops: list[Op]) -> Incident:
    current = start
    for each in ops:
        current = apply_op(each, current, at=each.hlc.time, number=lambda: 9).incident
    return current


status_ops = st.builds(
    lambda kind, epoch, ms: op(kind, epoch=epoch, ms=ms),
    st.sampled_from([OpType.ACKNOWLEDGE, OpType.RESOLVE, OpType.REOPEN]),
    st.integers(0, 2),
    st.integers(0, 10_000),
)


def causal(order: list[Op]) -> list[Op]:
    """`order` as a server can receive it: an op made in epoch e > 0 exists only after a reopen of
    epoch e - 1 was applied (consoles see epochs from the server or from their own pushed reopens).
    Ops of an epoch nobody reopened into are dropped: no history contains them."""
    reached, out, waiting = 0, list[Op](), list(order)
    while True:
        ready = next((o for o in waiting if o.base_epoch <= reached), None)
        if ready is None:
            return out
        waiting.remove(ready)
        out.append(ready)
        if ready.type is OpType.REOPEN:
            reached = max(reached, ready.base_epoch + 1)


@given(st.lists(status_ops, max_size=8), st.randoms(use_true_random=False))
def test_status_ends_the_same_whatever_the_order_and_repeats(ops: list[Op], rng: Any) -> None:
    history = causal(ops)
    shuffled = [*history, *rng.sample(history, k=len(history) // 2)]  # some delivered twice
    rng.shuffle(shuffled)
    assert run(incident(), history).status == run(incident(), causal(shuffled)).status


def test_a_stale_resolve_does_not_close_a_reopened_incident() -> None:
    reopened = run(incident(Status(0, Rank.RESOLVED)), [op(OpType.REOPEN, epoch=0)])
    late = apply_op(op(OpType.RESOLVE, epoch=0), reopened, at=T0, number=lambda: 0)
    assert late.incident.status == Status(1, Rank.TRIGGERED)
    assert not late.changed
    assert late.entry.body["no_effect"] is True
    assert "reopened" in late.reason


def test_a_late_acknowledge_does_not_move_a_resolved_incident_back() -> None:
    resolved = incident(Status(0, Rank.RESOLVED), acknowledged_at=T0 + timedelta(minutes=5))
    late = apply_op(
        op(OpType.ACKNOWLEDGE, ms=60_000), resolved, at=T0 + timedelta(minutes=1), number=lambda: 0
    )
    assert late.incident.status == Status(0, Rank.RESOLVED)
    assert late.incident.acknowledged_at == T0 + timedelta(minutes=1)  # the first acknowledgement counts
    assert late.reason == "The incident was already resolved."  # answered "no effect", row still updated
    assert late.entry.kind is EntryKind.ACKNOWLEDGED


def test_every_op_leaves_one_entry_with_the_ops_id() -> None:
    each = op(OpType.NOTE, text="  looking at it ")
    done = apply_op(each, incident(), at=T0, number=lambda: 0)
    assert done.entry.id == each.op_id
    assert done.entry.body["text"] == "looking at it"
    assert done.entry.actor == "ann"


@given(
    st.lists(
        st.tuples(st.sampled_from(["high", "low"]), st.integers(0, 5), st.sampled_from("abc")),
        max_size=6,
        unique_by=lambda edit: (edit[1], edit[2]),  # one node never gives two edits the same stamp
    )
)
def test_priority_is_last_writer_wins_by_clock_in_any_order(edits: list[tuple[str, int, str]]) -> None:
    ops = [op(OpType.PRIORITY, ms=ms, node=node, priority=p) for p, ms, node in edits]
    forward, backward = run(incident(), ops), run(incident(), ops[::-1])
    assert forward.priority == backward.priority
    if ops:
        newest = max(ops, key=lambda o: o.hlc)
        assert forward.priority is Priority(newest.args["priority"])


def test_snooze_acknowledges_and_needs_an_open_incident() -> None:
    until = (T0 + timedelta(hours=1)).isoformat()
    snoozed = apply_op(op(OpType.SNOOZE, until=until), incident(), at=T0, number=lambda: 0).incident
    assert snoozed.status.rank is Rank.ACKNOWLEDGED
    assert snoozed.snoozed_until == T0 + timedelta(hours=1)
    closed = apply_op(
        op(OpType.SNOOZE, until=until), incident(Status(0, Rank.RESOLVED)), at=T0, number=lambda: 0
    )
    assert not closed.changed


def test_report_makes_the_incident_with_the_clients_id() -> None:
    report = Op(
        "op-r",
        OpType.REPORT,
        "new-id",
        {"title": "printer on fire", "service_id": 3},
        Hlc(to_ms(T0)),
        0,
        "ann",
    )
    made = apply_op(report, None, at=T0, number=lambda: 42)
    assert (made.incident.id, made.incident.number, made.incident.title) == ("new-id", 42, "printer on fire")
    again = apply_op(report, made.incident, at=T0, number=lambda: 43)
    assert not again.changed
    assert again.incident.number == 42


@pytest.mark.parametrize(
    ("kind", "args", "field"),
    [
        (OpType.NOTE, {"text": ""}, "text"),
        (OpType.NOTE, {"text": 5}, "text"),
        (OpType.PRIORITY, {"priority": "urgent"}, "priority"),
        (OpType.SNOOZE, {"until": "tomorrow"}, "until"),
        (OpType.SNOOZE, {"until": "2026-11-27T10:00:00"}, "until"),  # no offset
        (OpType.REPORT, {"title": "x", "service_id": "web"}, "service_id"),
        (OpType.REPORT, {"service_id": 1}, "title"),
        (OpType.ASSIGN, {"assignee": ""}, "assignee"),
    ],
)
def test_bad_arguments_are_rejected_naming_the_field(kind: OpType, args: dict[str, Any], field: str) -> None:
    with pytest.raises(OpRejected, match=f"^{field}:"):
        normalize_args(kind, args)


def test_an_op_on_an_unknown_incident_is_rejected() -> None:
    with pytest.raises(OpRejected):
        apply_op(op(OpType.ACKNOWLEDGE), None, at=T0, number=lambda: 0)


def test_clock_ticks_forward_even_when_the_wall_clock_goes_back() -> None:
    now = [1_000]
    clock = HybridClock("a", lambda: now[0])
    first = clock.tick()
    now[0] = 500
    second = clock.tick()
    clock.receive(Hlc(5_000, 3, "b"))
    third = clock.tick()
    assert first < second < third
    assert third.wall_ms == 5_000
    assert Hlc.decode(third.encode()) == third


@given(st.tuples(st.integers(0, 10**13 - 2), st.integers(0, 99_999), st.text("abc-0123", max_size=8)))
def test_encoded_stamps_sort_as_the_stamps_do(parts: tuple[int, int, str]) -> None:
    stamp = Hlc(*parts)
    other = Hlc(parts[0] + 1, 0, "")
    assert Hlc.decode(stamp.encode()) == stamp
    assert (stamp.encode() < other.encode()) == (stamp < other)


def test_a_stamp_far_ahead_is_clamped_to_now_plus_the_skew() -> None:
    ahead = Hlc(to_ms(T0 + timedelta(hours=1)), 2, "a")
    assert ahead.clamped(T0).wall_ms == to_ms(T0 + timedelta(seconds=60))
    assert Hlc(to_ms(T0), 0, "a").clamped(T0).wall_ms == to_ms(T0)
