"""Schedules: rotation arithmetic against a brute-force walk of the handoffs, shifts against on_call,
layers and overrides, and daylight-saving changes in zones that do them differently."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from console.domain.errors import DomainError
from console.domain.schedule import (
    WEEKDAYS,
    Layer,
    Origin,
    Override,
    OverrideRejected,
    Restriction,
    Schedule,
    Shift,
    Turn,
    check_override,
    first_instant,
    gaps,
    on_call,
    overlapping,
    shifts,
)

BERLIN, NEW_YORK, LORD_HOWE = "Europe/Berlin", "America/New_York", "Australia/Lord_Howe"
SAO_PAULO, KOLKATA = "America/Sao_Paulo", "Asia/Kolkata"
ZONES = [BERLIN, NEW_YORK, LORD_HOWE, SAO_PAULO, KOLKATA, "UTC"]
# Local dates with a clock change in that zone (Kolkata has none; Sao Paulo's DST ended in 2019, and
# it changed its clocks at midnight, so the date itself is skipped or read twice).
CHANGES = [
    (BERLIN, date(2026, 3, 29)),
    (BERLIN, date(2026, 10, 25)),
    (NEW_YORK, date(2026, 3, 8)),
    (NEW_YORK, date(2026, 11, 1)),
    (LORD_HOWE, date(2026, 4, 5)),  # 02:00 → 01:30
    (LORD_HOWE, date(2026, 10, 4)),  # 02:00 → 02:30
    (SAO_PAULO, date(2018, 2, 17)),  # 24:00 → 23:00
    (SAO_PAULO, date(2018, 11, 4)),  # 00:00 → 01:00
    (SAO_PAULO, date(2019, 2, 16)),
    (KOLKATA, date(2026, 3, 29)),
]


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def local(
    zone: str, year: int, month: int, day: int, hour: int = 0, minute: int = 0, fold: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=ZoneInfo(zone), fold=fold)


def layer(name: str = "primary", people: str = "abc", **fields: Any) -> Layer:
    defaults: dict[str, Any] = {"time_zone": BERLIN, "anchor": date(2026, 3, 1)}
    return Layer(name, tuple(people), **{**defaults, **fields})


def hours(found: list[Shift]) -> list[float]:
    return [s.duration / timedelta(hours=1) for s in found]


# -- an independent reference: try each offset the zone uses nearby; in a gap, walk minute by minute --


def ref_instant(wall: datetime, zone: ZoneInfo) -> datetime:
    """The first instant whose wall clock reads `wall` or later, found without zoneinfo's fold rules."""
    offsets = {
        offset
        for h in (-48, 0, 48)
        for fold in (0, 1)
        if (offset := (wall + timedelta(hours=h)).replace(tzinfo=zone, fold=fold).utcoffset()) is not None
    }
    candidates = sorted((wall - offset).replace(tzinfo=UTC) for offset in offsets)
    exact = [t for t in candidates if t.astimezone(zone).replace(tzinfo=None) == wall]
    if exact:
        return exact[0]
    t = candidates[0].replace(second=0, microsecond=0)  # before the gap; clocks jump on whole minutes
    while t.astimezone(zone).replace(tzinfo=None) < wall:
        t += timedelta(minutes=1)
    return t


def ref_turn(lay: Layer, at: datetime) -> int:
    """The turn under way at `at`, walking handoff by handoff from the anchor's."""
    zone = ZoneInfo(lay.time_zone)
    first = datetime.combine(lay.anchor, lay.handoff)
    if lay.turn.days:  # calendar turns: step the local date, then find that wall time's instant

        def handoff(k: int) -> datetime:
            return ref_instant(first + timedelta(days=k * lay.turn.days), zone)

    else:  # fixed turns: a chain of additions from the first handoff
        chain = {0: ref_instant(first, zone)}

        def handoff(k: int) -> datetime:
            if k not in chain:
                chain[k] = handoff(k - 1) + lay.turn.length if k > 0 else handoff(k + 1) - lay.turn.length
            return chain[k]

    k = 0
    while handoff(k + 1) <= at:
        k += 1
    while handoff(k) > at:
        k -= 1
    return k


def ref_layer_user(lay: Layer, at: datetime) -> str | None:
    if (lay.starts and at < lay.starts) or (lay.ends and at >= lay.ends):
        return None
    if lay.restrictions:
        zone = ZoneInfo(lay.time_zone)
        today = at.astimezone(zone).date()
        inside = False
        for day in (today + timedelta(days=d) for d in range(-3, 4)):
            for r in lay.restrictions:
                if day.weekday() in r.days:
                    end_day = day + timedelta(days=0 if r.end > r.start else 1)
                    begin = ref_instant(datetime.combine(day, r.start), zone)
                    inside |= begin <= at < ref_instant(datetime.combine(end_day, r.end), zone)
        if not inside:
            return None
    return lay.participants[ref_turn(lay, at) % len(lay.participants)]


def ref_on_call(schedule: Schedule, at: datetime) -> tuple[str, str] | None:
    """(user, source) at `at`: the highest layer with someone, then the last override that applies
    ("take a shift" looks at the layers' answer, never at another override's)."""
    layers = None
    for lay in schedule.layers:
        user = ref_layer_user(lay, at)
        if user is not None:
            layers = (user, lay.name)
    found = layers
    for o in schedule.overrides:
        if o.start <= at < o.end and (o.replaces is None or (layers and layers[0] == o.replaces)):
            found = (o.user, o.id)
    return found


# -- strategies --

INTERESTING = [time(0), time(0, 30), time(1, 30), time(2), time(2, 15), time(2, 30), time(3), time(23, 30)]
times = st.one_of(
    st.sampled_from(INTERESTING),
    st.builds(time, st.integers(0, 23), st.sampled_from([0, 15, 30, 45])),
)
turns = st.one_of(
    st.builds(Turn.daily, st.integers(1, 3)),
    st.builds(Turn.weekly, st.integers(1, 2)),
    st.builds(lambda m: Turn.custom(timedelta(minutes=m)), st.integers(60, 3 * 24 * 60)),
)
restrictions = st.builds(Restriction, times, times, st.frozensets(st.integers(0, 6), min_size=1))


changes = st.sampled_from(CHANGES)
minutes_near = st.integers(-4 * 24 * 60, 4 * 24 * 60)
people = st.lists(st.sampled_from("abcde"), min_size=1, max_size=4).map(tuple)
replacing = st.none() | st.sampled_from("abcde")
# Strategies are built once, here: building them inside the composite costs more than the tests.
moment_kinds = st.booleans()
seconds_near = st.integers(-5 * 24 * 3600, 5 * 24 * 3600)
seconds_close = st.integers(-90 * 60, 90 * 60)


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[Schedule, datetime]:
    """A schedule of one to three layers, most in a zone that changes its clocks near the instant
    returned with it. The instant is often close to a wall-clock time handoffs and windows use, so
    the minutes a wrong daylight-saving rule would give to the wrong person get tried."""
    zone, day = draw(changes)
    focus = datetime.combine(day, time(0), tzinfo=ZoneInfo(zone)).astimezone(UTC)
    layers = []
    for index in range(draw(st.integers(1, 3))):
        starts = ends = None
        if draw(st.booleans()):
            bounds = sorted(focus + timedelta(minutes=draw(minutes_near)) for _ in range(2))
            starts, ends = bounds[0], bounds[1] + timedelta(minutes=1)
        layers.append(
            Layer(
                f"layer {index}",
                draw(people),
                draw(st.sampled_from([zone, zone, *ZONES])),
                day + timedelta(days=draw(st.integers(-20, 5))),
                draw(times),
                draw(turns),
                tuple(draw(st.lists(restrictions, max_size=2))),
                starts,
                ends,
            )
        )
    overrides = []
    for index in range(draw(st.integers(0, 3))):
        start = focus + timedelta(minutes=draw(minutes_near))
        user = draw(st.sampled_from("abxy"))
        replaces = draw(replacing)
        length = timedelta(minutes=draw(st.integers(30, 2 * 24 * 60)))
        overrides.append(
            Override(f"o{index}", user, start, start + length, None if replaces == user else replaces)
        )
    # The instant: anywhere near, or close to a wall-clock time the schedule uses, around the change.
    used = [
        t for lay in layers for t in (lay.handoff, *(x for r in lay.restrictions for x in (r.start, r.end)))
    ]
    if draw(moment_kinds):
        at = focus + timedelta(seconds=draw(seconds_near))
    else:
        wall = datetime.combine(day + timedelta(days=draw(st.integers(-1, 1))), draw(st.sampled_from(used)))
        at = ref_instant(wall, ZoneInfo(zone)) + timedelta(seconds=draw(seconds_close))
    return Schedule("ops", tuple(layers), tuple(overrides)), at


# -- properties --


@settings(max_examples=100, deadline=None)
@given(scenarios(), st.sampled_from(ZONES))
def test_on_call_is_the_person_a_walk_of_the_handoffs_finds(
    scenario: tuple[Schedule, datetime], shown_in: str
) -> None:
    schedule, at = scenario
    expected = ref_on_call(schedule, at)
    # the instant may come in any zone; the answer is about the instant
    assert on_call(schedule, at.astimezone(ZoneInfo(shown_in))) == (expected[0] if expected else None)


# Every clock change in CHANGES happens within these local hours (Sao Paulo's around midnight).
near_changes = st.builds(time, st.sampled_from([0, 1, 2, 23]), st.sampled_from([0, 15, 30, 45, 59]))


def ref_walk(start: datetime, end: datetime, at: Callable[[int], datetime]) -> list[datetime]:
    """The instants at(k) inside (start, end), k walking from 0 out past both ends."""
    k = 0
    while at(k) > start:
        k -= 1
    found = []
    while at(k) < end:
        if at(k) > start:
            found.append(at(k))
        k += 1
    return found


@settings(max_examples=100, deadline=None)
@given(changes, near_changes, turns, st.integers(-10, 3))
def test_handoffs_happen_where_a_walk_of_the_local_dates_puts_them(
    change: tuple[str, date], handoff: time, turn: Turn, anchor_days: int
) -> None:
    zone, day = change
    lay = layer(
        people="abc", time_zone=zone, anchor=day + timedelta(days=anchor_days), handoff=handoff, turn=turn
    )
    start = datetime.combine(day - timedelta(days=3), time(12), tzinfo=ZoneInfo(zone))
    end = start + timedelta(days=6)
    first = ref_instant(datetime.combine(lay.anchor, handoff), ZoneInfo(zone))

    def ref_at(k: int) -> datetime:
        if turn.days:
            return ref_instant(
                datetime.combine(lay.anchor + timedelta(days=k * turn.days), handoff), ZoneInfo(zone)
            )
        return first + k * turn.length

    expected = ref_walk(start.astimezone(UTC), end.astimezone(UTC), ref_at)
    assert [s.start for s in shifts(Schedule("ops", (lay,)), start, end)][1:] == expected


@settings(max_examples=100, deadline=None)
@given(changes, near_changes, near_changes, st.frozensets(st.integers(0, 6), min_size=1))
def test_restriction_windows_open_and_close_where_a_walk_of_the_local_dates_puts_them(
    change: tuple[str, date], opens: time, closes: time, days: frozenset[int]
) -> None:
    zone, day = change
    window = Restriction(opens, closes, days)
    lay = layer(people="a", time_zone=zone, restrictions=(window,))
    start = datetime.combine(day - timedelta(days=3), time(12), tzinfo=ZoneInfo(zone)).astimezone(UTC)
    end = start + timedelta(days=6)
    expected: list[tuple[datetime, datetime]] = []
    for d in range(-5, 5):
        local_day = day + timedelta(days=d)
        if local_day.weekday() not in days:
            continue
        end_day = local_day + timedelta(days=0 if closes > opens else 1)
        a = max(start, ref_instant(datetime.combine(local_day, opens), ZoneInfo(zone)))
        b = min(end, ref_instant(datetime.combine(end_day, closes), ZoneInfo(zone)))
        if a >= b:
            continue
        if expected and expected[-1][1] >= a:  # windows that touch are one shift
            expected[-1] = (expected[-1][0], max(b, expected[-1][1]))
        else:
            expected.append((a, b))
    assert [(s.start, s.end) for s in shifts(Schedule("ops", (lay,)), start, end)] == expected


@settings(max_examples=40, deadline=None)
@given(scenarios(), st.integers(0, 4 * 24 * 60))
def test_shifts_and_gaps_partition_the_range_and_agree_with_on_call(
    scenario: tuple[Schedule, datetime], minutes: int
) -> None:
    schedule, start = scenario
    end = start + timedelta(minutes=minutes)
    found = shifts(schedule, start, end)
    pieces = sorted([(s.start, s.end) for s in found] + gaps(schedule, start, end))
    if start == end:
        assert pieces == []
    else:
        assert pieces[0][0] == start
        assert pieces[-1][1] == end
        assert all(a[1] == b[0] and a[0] < a[1] for a, b in pairwise(pieces))
    for shift in found:
        assert shift.start.tzinfo is UTC
        assert shift.end.tzinfo is UTC
        middle = shift.start + (shift.end - shift.start) / 2
        for at in (shift.start, middle, shift.end - timedelta(microseconds=1)):
            assert on_call(schedule, at) == shift.user
        assert ref_on_call(schedule, shift.start) == (shift.user, shift.source)
        assert ref_on_call(schedule, middle) == (shift.user, shift.source)
    for before, after in pairwise(found):  # maximal: equal neighbours never touch
        assert before.end < after.start or (before.user, before.source) != (after.user, after.source)
    for a, b in gaps(schedule, start, end):
        assert on_call(schedule, a) is None
        assert on_call(schedule, b - timedelta(microseconds=1)) is None


@settings(max_examples=30, deadline=None)
@given(scenarios(), st.integers(1, 3 * 24 * 60), st.sampled_from("xyz"))
def test_a_range_override_added_last_wins_over_everything(
    scenario: tuple[Schedule, datetime], minutes: int, user: str
) -> None:
    schedule, start = scenario
    cover = Override("cover", user, start, start + timedelta(minutes=minutes))
    covered = Schedule(schedule.name, schedule.layers, (*schedule.overrides, cover))
    assert [(s.user, s.origin, s.start, s.end) for s in shifts(covered, cover.start, cover.end)] == [
        (user, Origin.OVERRIDE, cover.start, cover.end)
    ]
    assert on_call(covered, cover.end) == on_call(schedule, cover.end)


@settings(max_examples=60, deadline=None)
@given(
    st.sampled_from(CHANGES),
    times,
    st.integers(-400, 400),
    st.integers(0, 1),
)
def test_a_local_time_happens_at_the_first_instant_the_clock_reads_it(
    change: tuple[str, date], at: time, minutes: int, fold: int
) -> None:
    zone = ZoneInfo(change[0])
    wall = datetime.combine(change[1], at) + timedelta(minutes=minutes)
    instant = first_instant(wall.replace(fold=fold), zone)  # fold is ignored: the first reading wins
    assert instant == ref_instant(wall, zone)
    assert instant.astimezone(zone).replace(tzinfo=None) >= wall
    assert (instant - timedelta(microseconds=1)).astimezone(zone).replace(tzinfo=None) < wall


# -- daylight saving, by example --


def test_a_daily_berlin_rotation_hands_off_at_nine_local_so_shifts_last_23_or_25_hours() -> None:
    daily = Schedule("ops", (layer(),))
    spring = shifts(daily, local(BERLIN, 2026, 3, 27, 9), local(BERLIN, 2026, 3, 31, 9))
    assert [s.start.astimezone(ZoneInfo(BERLIN)).hour for s in spring] == [9, 9, 9, 9]
    assert hours(spring) == [24, 23, 24, 24]
    autumn = shifts(daily, local(BERLIN, 2026, 10, 23, 9), local(BERLIN, 2026, 10, 27, 9))
    assert hours(autumn) == [24, 25, 24, 24]
    assert autumn[1].start == utc(2026, 10, 24, 7)  # 09:00 summer time
    assert autumn[1].end == utc(2026, 10, 25, 8)  # 09:00 winter time


def test_a_twelve_hour_rotation_follows_absolute_time_across_a_clock_change() -> None:
    twelve = Schedule("ops", (layer(turn=Turn.custom(timedelta(hours=12)), anchor=date(2026, 3, 27)),))
    found = shifts(twelve, local(BERLIN, 2026, 3, 28, 9), local(BERLIN, 2026, 3, 30, 9))
    assert set(hours(found[:-1])) == {12}
    handoffs = [s.start.astimezone(ZoneInfo(BERLIN)).hour for s in found]
    assert handoffs == [9, 21, 10, 22]  # 08:00 and 20:00 UTC throughout


def test_a_handoff_in_the_spring_forward_gap_happens_when_the_gap_ends() -> None:
    early = Schedule("ops", (layer(handoff=time(2, 30)),))
    found = shifts(early, utc(2026, 3, 28), utc(2026, 3, 31))
    assert [s.start for s in found[1:]] == [
        utc(2026, 3, 28, 1, 30),
        utc(2026, 3, 29, 1),
        utc(2026, 3, 30, 0, 30),
    ]
    assert utc(2026, 3, 29, 1) == local(BERLIN, 2026, 3, 29, 3)  # 03:00 summer time, the first after the gap
    ny = Schedule("ops", (layer(time_zone=NEW_YORK, handoff=time(2, 30)),))
    assert [s.start for s in shifts(ny, utc(2026, 3, 8), utc(2026, 3, 8, 12))][1:] == [utc(2026, 3, 8, 7)]


def test_a_handoff_at_a_time_read_twice_happens_the_first_time() -> None:
    early = Schedule("ops", (layer(handoff=time(2, 30)),))
    found = shifts(early, utc(2026, 10, 24), utc(2026, 10, 27))
    assert found[2].start == utc(2026, 10, 25, 0, 30)
    assert local(BERLIN, 2026, 10, 25, 2, 30, fold=0).astimezone(UTC) == found[2].start  # summer time
    assert hours(found[1:3]) == [24, 25]
    before = on_call(early, local(BERLIN, 2026, 10, 25, 2, 29, fold=0))
    assert on_call(early, local(BERLIN, 2026, 10, 25, 2, 29, fold=1)) != before  # the second 02:29


def test_lord_howe_half_hour_changes_give_23_and_a_half_and_24_and_a_half_hour_shifts() -> None:
    howe = Schedule("ops", (layer(time_zone=LORD_HOWE, anchor=date(2026, 1, 1)),))
    autumn = shifts(howe, local(LORD_HOWE, 2026, 4, 3, 9), local(LORD_HOWE, 2026, 4, 7, 9))
    spring = shifts(howe, local(LORD_HOWE, 2026, 10, 2, 9), local(LORD_HOWE, 2026, 10, 6, 9))
    assert hours(autumn) == [24, 24.5, 24, 24]
    assert hours(spring) == [24, 23.5, 24, 24]


def test_sao_paulo_midnight_handoffs_when_midnight_was_skipped_or_read_twice() -> None:
    midnight = Schedule("ops", (layer(time_zone=SAO_PAULO, handoff=time(0), anchor=date(2018, 1, 1)),))
    skipped = shifts(midnight, utc(2018, 11, 2, 12), utc(2018, 11, 6))
    # 2018-11-04 00:00 never happened; the clocks went to 01:00 (-02) at 03:00 UTC
    assert [s.start for s in skipped[1:]] == [utc(2018, 11, 3, 3), utc(2018, 11, 4, 3), utc(2018, 11, 5, 2)]
    read_twice = shifts(midnight, utc(2019, 2, 15, 12), utc(2019, 2, 18, 12))
    # 2019-02-17 00:00 (-02) turned into 2019-02-16 23:00 (-03): midnight is first read at 03:00 UTC
    assert [s.start for s in read_twice[1:]] == [
        utc(2019, 2, 16, 2),
        utc(2019, 2, 17, 3),
        utc(2019, 2, 18, 3),
    ]
    assert hours(read_twice[1:3]) == [25, 24]


def test_kolkata_has_no_clock_changes_so_weekly_shifts_are_always_168_hours() -> None:
    weekly = Schedule("ops", (layer(time_zone=KOLKATA, turn=Turn.weekly()),))
    found = shifts(weekly, local(KOLKATA, 2026, 3, 1, 9), local(KOLKATA, 2026, 12, 27, 9))
    assert set(hours(found)) == {168}
    assert [s.user for s in found[:4]] == ["a", "b", "c", "a"]


def test_a_rotation_extends_before_its_anchor() -> None:
    daily = Schedule("ops", (layer(),))
    assert on_call(daily, local(BERLIN, 2026, 3, 1, 9)) == "a"
    assert on_call(daily, local(BERLIN, 2026, 3, 1, 8, 59)) == "c"
    assert on_call(daily, local(BERLIN, 2026, 2, 27, 9)) == "b"


# -- restrictions and layers --

NIGHTS = Restriction(time(22), time(7), WEEKDAYS)


@pytest.mark.parametrize(
    ("wall", "covered"),
    [
        (datetime(2026, 3, 2, 21, 59), False),  # Monday evening
        (datetime(2026, 3, 2, 22, 0), True),  # Monday night
        (datetime(2026, 3, 3, 6, 59), True),  # Tuesday morning, still Monday's night
        (datetime(2026, 3, 3, 7, 0), False),
        (datetime(2026, 3, 7, 6, 0), True),  # Saturday morning ends Friday's night
        (datetime(2026, 3, 7, 23, 0), False),  # Saturday night: not a weekday
        (datetime(2026, 3, 9, 6, 0), False),  # Monday morning: Sunday night was not covered
    ],
)
def test_a_restriction_spanning_midnight_belongs_to_the_day_it_starts(wall: datetime, covered: bool) -> None:
    nights = Schedule("ops", (layer(restrictions=(NIGHTS,)),))
    assert (on_call(nights, wall.replace(tzinfo=ZoneInfo(BERLIN))) is not None) is covered


def test_a_night_window_is_an_hour_shorter_on_the_night_the_clocks_spring_forward() -> None:
    nights = Schedule("ops", (layer(restrictions=(Restriction(time(22), time(7)),)),))
    found = shifts(nights, local(BERLIN, 2026, 3, 28, 12), local(BERLIN, 2026, 3, 29, 12))
    assert [(s.start, s.end) for s in found] == [
        (local(BERLIN, 2026, 3, 28, 22), local(BERLIN, 2026, 3, 29, 7))
    ]
    assert hours(found) == [8]


def test_a_higher_layer_wins_where_it_has_someone_and_falls_through_where_restricted() -> None:
    office = layer("office hours", "xy", restrictions=(Restriction(time(9), time(17), WEEKDAYS),))
    schedule = Schedule("ops", (layer("all day", "abc"), office))
    tuesday = local(BERLIN, 2026, 3, 3, 12)
    assert on_call(schedule, tuesday) == "x"
    assert on_call(schedule, local(BERLIN, 2026, 3, 3, 18)) == "c"
    assert on_call(schedule, local(BERLIN, 2026, 3, 7, 12)) == "a"  # Saturday
    sources = {(s.origin, s.source) for s in shifts(schedule, tuesday, tuesday + timedelta(days=1))}
    assert sources == {(Origin.LAYER, "all day"), (Origin.LAYER, "office hours")}


def test_a_layer_has_nobody_outside_its_starts_and_ends() -> None:
    later = layer("new", "z", starts=utc(2026, 3, 10), ends=utc(2026, 3, 12))
    schedule = Schedule("ops", (layer("old", "a"), later))
    found = shifts(schedule, utc(2026, 3, 9), utc(2026, 3, 13))
    assert [(s.user, s.start, s.end) for s in found] == [
        ("a", utc(2026, 3, 9), utc(2026, 3, 10)),
        ("z", utc(2026, 3, 10), utc(2026, 3, 12)),
        ("a", utc(2026, 3, 12), utc(2026, 3, 13)),
    ]


def test_a_lone_participant_has_one_shift_and_a_whole_day_restriction_covers_the_day() -> None:
    alone = Schedule(
        "ops", (layer(people="a", restrictions=(Restriction(time(9), time(9), frozenset({5, 6})),)),)
    )
    found = shifts(alone, local(BERLIN, 2026, 3, 6), local(BERLIN, 2026, 3, 10))
    assert [(s.start, s.end) for s in found] == [(local(BERLIN, 2026, 3, 7, 9), local(BERLIN, 2026, 3, 9, 9))]
    assert gaps(alone, local(BERLIN, 2026, 3, 6), local(BERLIN, 2026, 3, 10)) == [
        (local(BERLIN, 2026, 3, 6), local(BERLIN, 2026, 3, 7, 9)),
        (local(BERLIN, 2026, 3, 9, 9), local(BERLIN, 2026, 3, 10)),
    ]


# -- overrides --

DAILY_UTC = layer(time_zone="UTC", handoff=time(0))  # a on the 1st, b on the 2nd, c on the 3rd…


def test_taking_a_shift_replaces_only_that_persons_part_of_the_range() -> None:
    take = Override("o1", "z", utc(2026, 3, 1, 12), utc(2026, 3, 3, 12), replaces="b")
    schedule = Schedule("ops", (DAILY_UTC,), (take,))
    found = shifts(schedule, utc(2026, 3, 1), utc(2026, 3, 4))
    assert [(s.user, s.origin, s.source) for s in found] == [
        ("a", Origin.LAYER, "primary"),
        ("z", Origin.OVERRIDE, "o1"),
        ("c", Origin.LAYER, "primary"),
    ]
    assert (found[1].start, found[1].end) == (utc(2026, 3, 2), utc(2026, 3, 3))


def test_covering_a_range_fills_a_gap_and_the_last_override_wins() -> None:
    restricted = layer(time_zone="UTC", restrictions=(Restriction(time(9), time(17)),))
    first = Override("o1", "x", utc(2026, 3, 2, 8), utc(2026, 3, 2, 10))
    second = Override("o2", "y", utc(2026, 3, 2, 9, 30), utc(2026, 3, 2, 11))
    schedule = Schedule("ops", (restricted,), (first, second))
    assert on_call(schedule, utc(2026, 3, 2, 8)) == "x"  # nobody in the layer before 09:00
    assert on_call(schedule, utc(2026, 3, 2, 9, 45)) == "y"
    assert on_call(schedule, utc(2026, 3, 2, 11)) == "b"


@pytest.mark.parametrize(
    ("new", "clashes"),
    [
        (Override("n", "x", utc(2026, 3, 2), utc(2026, 3, 3)), ["o1", "o2"]),
        (Override("n", "x", utc(2026, 3, 1), utc(2026, 3, 2)), []),  # ends as the others start
        (Override("n", "x", utc(2026, 3, 2), utc(2026, 3, 3), replaces="b"), ["o1"]),
        (Override("n", "x", utc(2026, 3, 2), utc(2026, 3, 3), replaces="c"), ["o1", "o2"]),
        (Override("o1", "x", utc(2026, 3, 2), utc(2026, 3, 3)), ["o2"]),  # editing o1
    ],
)
def test_an_override_that_could_apply_at_the_same_instant_as_another_overlaps(
    new: Override, clashes: list[str]
) -> None:
    existing = [
        Override("o1", "ann", utc(2026, 3, 2), utc(2026, 3, 4)),
        Override("o2", "bob", utc(2026, 3, 2, 12), utc(2026, 3, 2, 18), replaces="c"),
    ]
    assert [c.existing.id for c in overlapping(existing, new)] == clashes


def test_an_overlapping_override_is_rejected_with_the_reason() -> None:
    existing = [Override("o1", "ann", utc(2026, 3, 2, 9), utc(2026, 3, 3, 9), replaces="bob")]
    with pytest.raises(OverrideRejected, match="ann already takes bob's shifts from 2026-03-02 09:00") as err:
        check_override(existing, Override("n", "carl", utc(2026, 3, 3), utc(2026, 3, 4)))
    assert isinstance(err.value, DomainError)
    check_override(existing, Override("n", "carl", utc(2026, 3, 3, 9), utc(2026, 3, 4)))


# -- refusals --


def test_naive_datetimes_are_refused_with_the_field_named() -> None:
    schedule = Schedule("ops", (layer(),))
    with pytest.raises(ValueError, match="at: needs a time zone"):
        on_call(schedule, datetime(2026, 3, 1, 9))
    with pytest.raises(ValueError, match="end: needs a time zone"):
        shifts(schedule, utc(2026, 3, 1), datetime(2026, 3, 2))
    with pytest.raises(ValueError, match="start: needs a time zone"):
        Override("o", "x", datetime(2026, 3, 1), utc(2026, 3, 2))
    with pytest.raises(ValueError, match="starts: needs a time zone"):
        layer(starts=datetime(2026, 3, 1))


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: layer(people=""), "participants"),
        (lambda: layer(time_zone="Mars/Olympus"), "unknown time zone"),
        (lambda: layer(handoff=time(9, tzinfo=UTC)), "handoff"),
        (lambda: layer(anchor=datetime(2026, 3, 1, 9)), "anchor"),
        (lambda: layer(starts=utc(2026, 3, 2), ends=utc(2026, 3, 1)), "ends before it starts"),
        (lambda: Turn(), "turn"),
        (lambda: Turn(days=1, length=timedelta(hours=1)), "turn"),
        (lambda: Turn.custom(timedelta(seconds=90)), "whole number of minutes"),
        (lambda: Restriction(time(9), time(17), frozenset()), "days"),
        (lambda: Restriction(time(9), time(17), frozenset({7})), "days"),
        (lambda: Override("o", "x", utc(2026, 3, 2), utc(2026, 3, 2)), "end"),
        (lambda: Override("o", "x", utc(2026, 3, 2), utc(2026, 3, 3), replaces="x"), "own shift"),
        (lambda: Schedule("ops", (layer(), layer())), "two layers of one name"),
        (lambda: shifts(Schedule("ops", (layer(),)), utc(2026, 3, 2), utc(2026, 3, 1)), "before it starts"),
    ],
)
def test_a_broken_schedule_is_refused_with_the_reason(make: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make()
