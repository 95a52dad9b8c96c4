"""Who is on call now and next (board), on-call values as JSON and back, and override ops' arguments."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from console.domain.escalation import Level, Policy, ScheduleTarget, UserTarget
from console.domain.oncall import board, override_args, override_from_args
from console.domain.oncall_json import layers_from_json, layers_json, levels_json, policy_from_json
from console.domain.schedule import Layer, Override, OverrideRejected, Restriction, Schedule, Turn, on_call

MONDAY = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)  # 09:00 in Berlin: a handoff
WEEKLY = Layer("weekly", ("sam", "morgan"), "Europe/Berlin", date(2026, 11, 30), turn=Turn.weekly())


def test_board_names_who_now_until_when_and_who_next() -> None:
    schedule = Schedule("primary", (WEEKLY,))
    [answer] = board([schedule], MONDAY + timedelta(hours=1))
    assert (answer.schedule, answer.user, answer.next_user) == ("primary", "sam", "morgan")
    assert answer.until == MONDAY + timedelta(days=7)
    assert answer.next_at == answer.until


def test_board_says_nobody_in_a_gap_and_when_someone_comes() -> None:
    daytime = Layer(
        "day", ("ann",), "UTC", date(2026, 11, 30), restrictions=(Restriction(time(9), time(17)),)
    )
    [answer] = board([Schedule("day", (daytime,))], datetime(2026, 11, 30, 20, 0, tzinfo=UTC))
    assert answer.user is None
    assert answer.next_user == "ann"
    assert answer.next_at == datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def test_an_override_shows_on_the_board() -> None:
    cover = Override("o1", "jordan", MONDAY, MONDAY + timedelta(hours=4))
    [answer] = board([Schedule("primary", (WEEKLY,), (cover,))], MONDAY + timedelta(hours=1))
    assert (answer.user, answer.until, answer.next_user) == ("jordan", MONDAY + timedelta(hours=4), "sam")


zones = st.sampled_from(["UTC", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata"])
layers = st.builds(
    Layer,
    name=st.sampled_from(["a", "b", "night"]),
    participants=st.lists(st.sampled_from(["sam", "morgan", "ann"]), min_size=1, max_size=3).map(tuple),
    time_zone=zones,
    anchor=st.dates(date(2025, 1, 1), date(2027, 1, 1)),
    handoff=st.times(),
    turn=st.one_of(
        st.integers(1, 14).map(Turn.daily),
        st.integers(1, 600).map(lambda m: Turn.custom(timedelta(minutes=m))),
    ),
    restrictions=st.lists(
        st.builds(
            Restriction,
            st.times(),
            st.times(),
            st.frozensets(st.integers(0, 6), min_size=1),
        ),
        max_size=2,
    ).map(tuple),
)


@given(layers, st.datetimes(datetime(2025, 1, 1), datetime(2027, 1, 1), timezones=st.just(UTC)))
def test_a_layer_survives_json_and_answers_the_same(layer: Layer, at: datetime) -> None:
    [back] = layers_from_json(layers_json([layer]))
    assert back == layer
    assert on_call(Schedule("s", (back,)), at) == on_call(Schedule("s", (layer,)), at)


def test_a_policy_survives_json() -> None:
    policy = Policy(
        "payments", (Level((ScheduleTarget("primary"),), 15), Level((UserTarget("jordan"),), 30)), repeats=2
    )
    assert policy_from_json("payments", 2, levels_json(policy.levels)) == policy


def test_override_args_round_trip_and_name_the_bad_field() -> None:
    override = Override("o1", "jordan", MONDAY, MONDAY + timedelta(hours=2), replaces="sam")
    assert override_from_args("o1", override_args(7, override)) == (7, override)
    with pytest.raises(OverrideRejected, match=r"^end:"):
        override_from_args("o1", {**override_args(7, override), "end": "tomorrow"})
    with pytest.raises(OverrideRejected, match=r"^end:"):
        override_from_args("o1", {**override_args(7, override), "end": MONDAY.isoformat()})
    with pytest.raises(OverrideRejected, match=r"^schedule_id:"):
        override_from_args("o1", {**override_args(7, override), "schedule_id": "7"})
