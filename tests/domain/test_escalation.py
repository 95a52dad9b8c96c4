"""Escalation: the order and times of pages, repeats, low priority, manual escalation, the
acknowledgement timeout, and who a step's targets are at the moment it is due."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from console.domain.escalation import (
    Level,
    PageStep,
    Policy,
    ScheduleTarget,
    UserTarget,
    ack_timeout_due,
    current_step,
    escalate_now,
    first_step,
    next_step,
    nobody_on_call,
    plan,
    resolve_targets,
)
from console.domain.priority import Priority
from console.domain.schedule import Layer, Override, Restriction, Schedule

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
ANN, BOB, CARL = UserTarget("ann"), UserTarget("bob"), UserTarget("carl")
PRIMARY, SECONDARY = ScheduleTarget("primary"), ScheduleTarget("secondary")

THREE_LEVELS = Policy(
    "checkout",
    (Level((PRIMARY,), 5), Level((SECONDARY, ANN), 10), Level((BOB,), 15)),
    repeats=1,
)


def minutes(n: int) -> datetime:
    return T0 + timedelta(minutes=n)


def summary(steps: tuple[PageStep, ...] | list[PageStep]) -> list[tuple[int, int, datetime]]:
    return [(s.level, s.repeat, s.due_at) for s in steps]


def test_a_high_priority_incident_climbs_the_ladder_and_repeats_it() -> None:
    steps = plan(THREE_LEVELS, Priority.HIGH, T0)
    assert summary(steps) == [
        (0, 0, minutes(0)),
        (1, 0, minutes(5)),
        (2, 0, minutes(15)),
        (0, 1, minutes(30)),  # the last level's delay passes before the next pass
        (1, 1, minutes(35)),
        (2, 1, minutes(45)),
    ]
    assert steps[1].targets == (SECONDARY, ANN)


def test_a_low_priority_incident_notifies_level_one_once_and_never_escalates() -> None:
    steps = plan(THREE_LEVELS, Priority.LOW, T0)
    assert summary(steps) == [(0, 0, T0)]
    assert next_step(THREE_LEVELS, Priority.LOW, steps[0]) is None
    assert current_step(THREE_LEVELS, Priority.LOW, T0, minutes(500)) == steps[0]


policies = st.builds(
    Policy,
    st.just("p"),
    st.lists(st.builds(Level, st.just((ANN,)), st.integers(1, 120)), min_size=1, max_size=5).map(tuple),
    st.integers(0, 9),
)


@given(policies, st.integers(-10_000, 10_000))
def test_a_plan_pages_each_level_of_each_pass_once_in_time_order(policy: Policy, shift: int) -> None:
    start = T0 + timedelta(minutes=shift)
    steps = plan(policy, Priority.HIGH, start)
    assert len(steps) == len(policy.levels) * (policy.repeats + 1)
    assert summary(steps) == sorted(summary(steps), key=lambda s: (s[1], s[0]))
    assert [s.due_at for s in steps] == sorted(s.due_at for s in steps)
    assert len({s.key("i1", 0) for s in steps}) == len(steps)
    assert steps[0].due_at == start
    one_pass = sum((level.delay for level in policy.levels), timedelta(0))
    assert all(
        b.due_at - a.due_at == one_pass for a, b in zip(steps, steps[len(policy.levels) :], strict=False)
    )


@given(policies, st.integers(0, 2000))
def test_the_current_step_is_the_last_one_due(policy: Policy, elapsed: int) -> None:
    now = minutes(elapsed)
    step = current_step(policy, Priority.HIGH, T0, now)
    assert step is not None
    assert step.due_at <= now
    following = next_step(policy, Priority.HIGH, step)
    assert following is None or following.due_at > now


def test_nothing_is_due_before_the_trigger() -> None:
    assert current_step(THREE_LEVELS, Priority.HIGH, T0, minutes(-1)) is None


def test_a_steps_key_names_incident_epoch_level_and_repeat() -> None:
    step = plan(THREE_LEVELS, Priority.HIGH, T0)[4]
    assert step.key("0190-abc", 2) == "0190-abc/2/1/1"
    assert step.key("0190-abc", 3) != step.key("0190-abc", 2)  # a re-trigger pages afresh


def test_escalating_by_hand_pages_the_next_level_now_and_the_rest_follows_from_then() -> None:
    now = minutes(2)
    escalated = escalate_now(THREE_LEVELS, first_step(THREE_LEVELS, T0), now)
    assert escalated is not None
    assert (escalated.level, escalated.repeat, escalated.due_at) == (1, 0, now)
    following = next_step(THREE_LEVELS, Priority.HIGH, escalated)
    assert following is not None
    assert following.due_at == now + timedelta(minutes=10)
    low = Policy("quiet", (Level((ANN,)), Level((BOB,))))
    assert escalate_now(low, first_step(low, T0), now) is not None  # a person asked: low escalates too
    last = plan(low, Priority.HIGH, T0)[-1]
    assert escalate_now(low, last, now) is None


def test_a_step_of_a_level_since_removed_counts_as_the_last_level() -> None:
    shorter = Policy("checkout", THREE_LEVELS.levels[:2], repeats=1)
    stored = plan(THREE_LEVELS, Priority.HIGH, T0)[2]  # level 3, which no longer exists
    following = next_step(shorter, Priority.HIGH, stored)
    assert following is not None
    assert (following.level, following.repeat) == (0, 1)
    assert following.due_at == stored.due_at + timedelta(minutes=10)


# -- acknowledgement timeout --


def test_an_acknowledged_incident_without_progress_triggers_again_after_the_timeout() -> None:
    half_hour = timedelta(minutes=30)
    assert ack_timeout_due(T0, None, half_hour) == minutes(30)
    assert ack_timeout_due(T0, minutes(20), half_hour) == minutes(50)  # a note restarts the wait
    assert ack_timeout_due(minutes(20), T0, half_hour) == minutes(50)  # progress before the ack
    assert ack_timeout_due(T0, minutes(20), None) is None  # the service has no timeout


def test_an_ack_timeout_answers_in_utc_and_refuses_nonsense() -> None:
    berlin = T0.astimezone(ZoneInfo("Europe/Berlin"))
    due = ack_timeout_due(berlin, None, timedelta(hours=1))
    assert due == minutes(60)
    assert due is not None
    assert due.tzinfo is UTC
    with pytest.raises(ValueError, match="acknowledged_at: needs a time zone"):
        ack_timeout_due(datetime(2026, 3, 2, 9), None, timedelta(hours=1))
    with pytest.raises(ValueError, match="timeout"):
        ack_timeout_due(T0, None, timedelta(0))


# -- targets --


def layer(name: str, *people: str, **fields: Any) -> Layer:
    return Layer(name, people, "UTC", date(2026, 3, 2), time(0), **fields)


OFFICE_HOURS = (Restriction(time(9), time(17)),)
SCHEDULES = {
    "primary": Schedule("primary", (layer("daily", "xavier", "yann"),)),  # xavier on 2 March, yann on the 3rd
    "secondary": Schedule("secondary", (layer("office", "ann", "nina", restrictions=OFFICE_HOURS),)),
}


def test_targets_resolve_through_schedules_at_the_moment_the_step_is_due() -> None:
    targets = (PRIMARY, BOB, SECONDARY, CARL)
    assert resolve_targets(targets, SCHEDULES, minutes(0)) == ("xavier", "bob", "ann", "carl")
    assert resolve_targets(targets, SCHEDULES, minutes(24 * 60)) == ("yann", "bob", "nina", "carl")


def test_each_person_is_paged_once_in_target_order() -> None:
    covered = Override("o", "ann", T0, minutes(60))
    on_call_ann = {"primary": Schedule("primary", (layer("daily", "bob"),), (covered,))}
    assert resolve_targets((ANN, PRIMARY, ANN), on_call_ann, T0) == ("ann",)
    assert resolve_targets((PRIMARY, BOB, CARL), on_call_ann, minutes(60)) == ("bob", "carl")


def test_a_schedule_with_nobody_on_call_or_unknown_pages_nobody_and_is_named() -> None:
    evening = minutes(10 * 60)  # 19:00: outside the secondary's office hours
    targets = (SECONDARY, ScheduleTarget("retired"), PRIMARY)
    assert resolve_targets(targets, SCHEDULES, evening) == ("xavier",)
    assert nobody_on_call(targets, SCHEDULES, evening) == (SECONDARY, ScheduleTarget("retired"))
    assert nobody_on_call(targets, SCHEDULES, T0) == (ScheduleTarget("retired"),)


def test_targets_refuse_a_naive_time() -> None:
    with pytest.raises(ValueError, match="at: needs a time zone"):
        resolve_targets((ANN,), SCHEDULES, datetime(2026, 3, 2, 9))


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: Level(()), "must page someone"),
        (lambda: Level((ANN,), 0), "delay_minutes"),
        (lambda: Policy("p", ()), "at least one level"),
        (lambda: Policy("p", (Level((ANN,)),), repeats=10), "repeats"),
        (lambda: Policy("p", (Level((ANN,)),), repeats=-1), "repeats"),
        (lambda: first_step(THREE_LEVELS, datetime(2026, 3, 2)), "triggered_at"),
    ],
)
def test_a_broken_policy_is_refused_with_the_reason(make: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make()
