"""Workload: night pages in each person's own zone (across clock changes), hours on call as the union of
shifts clipped to the window, time to acknowledge per incident, and the rest hint after heavy stretches."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from itertools import count
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from console.domain.oncall import PageRecord
from console.domain.schedule import Layer, Origin, Schedule, Shift, Turn, first_instant, shifts
from console.domain.workload import (
    FairnessRule,
    HomeZone,
    covered,
    home_zones,
    is_night,
    workload,
)

BERLIN, NEW_YORK, LORD_HOWE = "Europe/Berlin", "America/New_York", "Australia/Lord_Howe"
ZONES = [BERLIN, NEW_YORK, LORD_HOWE, "Asia/Kolkata", "UTC"]
T0 = datetime(2026, 3, 20, tzinfo=UTC)  # a window spanning Berlin's and New York's spring changes
WEEK = timedelta(days=7)
_ids = count()


def page(user: str, at: datetime, incident: str = "inc-1", epoch: int = 0) -> PageRecord:
    return PageRecord(f"p{next(_ids)}", incident, epoch, 0, 0, user, at)


def shift(user: str, start: datetime, end: datetime, source: str = "weekly") -> Shift:
    return Shift(user, start, end, Origin.LAYER, source)


def local(zone: str, year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return first_instant(datetime(year, month, day, hour, minute), ZoneInfo(zone))


# -- night pages --


def test_night_is_22_to_7_on_the_persons_own_wall_clock() -> None:
    assert is_night(local(BERLIN, 2026, 3, 21, 22), BERLIN)
    assert is_night(local(BERLIN, 2026, 3, 22, 6, 59), BERLIN)
    assert not is_night(local(BERLIN, 2026, 3, 22, 7), BERLIN)
    assert not is_night(local(BERLIN, 2026, 3, 21, 21, 59), BERLIN)
    # 23:00 in Berlin is 18:00 in New York: night for one, evening for the other
    at = local(BERLIN, 2026, 1, 10, 23)
    assert is_night(at, BERLIN)
    assert not is_night(at, NEW_YORK)
    assert is_night(at, "UTC")  # 22:00 UTC
    assert is_night(local("UTC", 2026, 1, 10, 12), "UTC", time(12), time(13))  # a window not wrapping


def test_unknown_zones_fall_back_to_the_schedule_then_utc() -> None:
    schedule = Schedule("primary", (Layer("l", ("ann", "bob"), NEW_YORK, date(2026, 3, 1)),))
    zones = home_zones([schedule], {"bob": BERLIN, "cid": None})
    assert zones["ann"] == HomeZone(NEW_YORK, "schedule")
    assert zones["bob"] == HomeZone(BERLIN, "user")
    assert "cid" not in zones
    at = datetime(2026, 3, 23, 3, tzinfo=UTC)  # 03:00 UTC, 23:00 in New York, 04:00 in Berlin
    rows = {
        row.user: row
        for row in workload(
            [page("ann", at), page("bob", at), page("cid", at)], [], {}, T0, T0 + WEEK, zones=zones
        )
    }
    assert rows["cid"].zone == HomeZone("UTC", "default")
    assert [rows[u].night_pages for u in ("ann", "bob", "cid")] == [1, 1, 1]
    noon = datetime(2026, 3, 23, 16, tzinfo=UTC)  # 12:00 in New York, 17:00 in Berlin and 16:00 UTC
    evening = workload([page("ann", noon)], [], {}, T0, T0 + WEEK, zones=zones)[0]
    assert (evening.pages, evening.night_pages) == (1, 0)


local_times = st.datetimes(min_value=datetime(2026, 3, 1), max_value=datetime(2026, 11, 30))


@settings(max_examples=300)
@given(local_times, st.sampled_from(ZONES))
def test_a_page_is_a_night_page_exactly_when_the_local_clock_reads_night(wall: datetime, zone: str) -> None:
    tz = ZoneInfo(zone)
    at = first_instant(wall, tz)
    shown = at.astimezone(tz).replace(tzinfo=None)
    assert is_night(at, zone) == (shown.hour >= 22 or shown.hour < 7)
    if shown == wall:  # a time that exists (not skipped by a spring-forward) is judged as read
        assert is_night(at, zone) == (wall.hour >= 22 or wall.hour < 7)


instants = st.integers(0, 14 * 24 * 60).map(lambda m: T0 + timedelta(minutes=m))
pages_lists = st.lists(
    st.builds(page, st.sampled_from(["ann", "bob"]), instants, st.sampled_from(["i1", "i2", "i3"])),
    max_size=30,
)


@given(pages_lists, st.sampled_from(ZONES), instants, instants)
def test_night_pages_never_exceed_pages_and_only_the_window_counts(
    pages: list[PageRecord], zone: str, a: datetime, b: datetime
) -> None:
    start, end = min(a, b), max(a, b)
    zones = {"ann": HomeZone(zone, "user")}
    for row in workload(pages, [], {}, start, end, zones=zones):
        assert 0 <= row.night_pages <= row.pages
        assert row.pages == sum(1 for p in pages if p.user == row.user and start <= p.at < end)


# -- hours on call --


spans = st.tuples(instants, st.integers(0, 3 * 24 * 60)).map(lambda s: (s[0], s[0] + timedelta(minutes=s[1])))


@given(st.lists(spans, max_size=8), instants, instants)
def test_hours_on_call_are_the_union_of_shifts_clipped_to_the_window(
    given_spans: list[tuple[datetime, datetime]], a: datetime, b: datetime
) -> None:
    start, end = min(a, b), max(a, b)
    rows = workload([], [shift("ann", s, e) for s, e in given_spans], {}, start, end, people=["ann"])
    # brute force on the minute grid the spans are drawn on
    minutes = {
        m
        for s, e in given_spans
        for m in range(
            int((max(s, start) - T0) / timedelta(minutes=1)), int((min(e, end) - T0) / timedelta(minutes=1))
        )
    }
    assert rows[0].on_call == timedelta(minutes=len(minutes))
    clipped = sum((max(timedelta(0), min(e, end) - max(s, start)) for s, e in given_spans), timedelta(0))
    assert rows[0].on_call <= clipped


zones_st = st.sampled_from(ZONES)


@settings(max_examples=100)
@given(
    zones_st,
    st.sampled_from(
        [Turn.daily(), Turn.weekly(), Turn.custom(timedelta(hours=12)), Turn.custom(timedelta(hours=7))]
    ),
    st.integers(-10, 10),
    instants,
    instants,
)
def test_hours_on_call_from_one_schedule_equal_the_sum_of_its_shifts(
    zone: str, turn: Turn, anchor_shift: int, a: datetime, b: datetime
) -> None:
    start, end = min(a, b), max(a, b)
    schedule = Schedule(
        "s",
        (
            Layer(
                "l", ("ann", "bob", "cid"), zone, date(2026, 3, 20) + timedelta(days=anchor_shift), turn=turn
            ),
        ),
    )
    found = shifts(schedule, start, end)
    rows = {row.user: row for row in workload([], found, {}, start, end)}
    for user in {s.user for s in found}:
        assert rows[user].on_call == sum((s.duration for s in found if s.user == user), timedelta(0))
    assert sum((row.on_call for row in rows.values()), timedelta(0)) == end - start  # no gaps, no overlaps


def test_a_daily_shift_across_spring_forward_is_23_hours() -> None:
    schedule = Schedule("s", (Layer("l", ("ann", "bob"), BERLIN, date(2026, 3, 28)),))  # ann from Sat 09:00
    start, end = local(BERLIN, 2026, 3, 28, 9), local(BERLIN, 2026, 3, 29, 9)
    rows = workload([], shifts(schedule, start, end), {}, start, end)
    assert [(row.user, row.hours_on_call) for row in rows] == [("ann", 23.0)]


def test_two_schedules_at_once_count_once() -> None:
    rows = workload(
        [],
        [
            shift("ann", T0, T0 + timedelta(hours=10), "a"),
            shift("ann", T0 + timedelta(hours=5), T0 + timedelta(hours=12), "b"),
        ],
        {},
        T0,
        T0 + WEEK,
    )
    assert rows[0].hours_on_call == 12.0
    assert covered([(T0, T0), (T0, T0 + timedelta(hours=1))]) == [(T0, T0 + timedelta(hours=1))]


# -- time to acknowledge --


def test_time_to_acknowledge_runs_from_the_first_page_per_incident() -> None:
    pages = [
        page("ann", T0, "i1"),
        page("ann", T0 + timedelta(minutes=5), "i1"),  # a repeat: does not shorten it
        page("ann", T0 + timedelta(hours=1), "i2"),
        page("ann", T0 + timedelta(hours=2), "i3"),  # never acknowledged
        page("ann", T0 + timedelta(hours=3), "i4"),  # acknowledged before this page: not counted
        page("bob", T0 + timedelta(minutes=9), "i1"),  # level 2: bob's own wait
    ]
    acks = {
        "i1": T0 + timedelta(minutes=10),
        "i2": T0 + timedelta(hours=1, minutes=2),
        "i3": None,
        "i4": T0 + timedelta(hours=2),
    }
    rows = {row.user: row for row in workload(pages, [], acks, T0, T0 + WEEK)}
    ann, bob = rows["ann"], rows["bob"]
    assert ann.pages == 5
    assert ann.acknowledged == 2
    assert ann.median_ack == timedelta(minutes=6)
    assert ann.mean_ack == timedelta(minutes=6)
    assert (bob.acknowledged, bob.median_ack) == (1, timedelta(minutes=1))


def test_a_reopened_incident_measures_its_latest_epoch() -> None:
    pages = [page("ann", T0, "i1", 0), page("ann", T0 + timedelta(hours=5), "i1", 1)]
    rows = workload(pages, [], {"i1": T0 + timedelta(hours=5, minutes=3)}, T0, T0 + WEEK)
    assert rows[0].median_ack == timedelta(minutes=3)
    odd = workload(
        [page("ann", T0 + timedelta(hours=1), "i9")], [], {"i9": T0}, T0, T0 + WEEK
    )  # acked before
    assert (odd[0].acknowledged, odd[0].median_ack, odd[0].mean_ack) == (0, None, None)


def test_median_and_mean_differ_when_one_wait_is_long() -> None:
    pages = [page("ann", T0 + timedelta(hours=h), f"i{h}") for h in range(3)]
    acks = {
        "i0": T0 + timedelta(minutes=1),
        "i1": T0 + timedelta(hours=1, minutes=2),
        "i2": T0 + timedelta(hours=3),
    }
    row = workload(pages, [], acks, T0, T0 + WEEK)[0]
    assert row.median_ack == timedelta(minutes=2)
    assert row.mean_ack == timedelta(minutes=21)


# -- fairness --


def test_two_night_pages_in_a_shift_suggest_rest_after_it() -> None:
    start, end = local(BERLIN, 2026, 3, 23, 9), local(BERLIN, 2026, 3, 24, 9)
    night = [page("ann", local(BERLIN, 2026, 3, 23, 23)), page("ann", local(BERLIN, 2026, 3, 24, 3), "i2")]
    zones = {"ann": HomeZone(BERLIN, "user")}
    row = workload(night, [shift("ann", start, end)], {}, T0, T0 + WEEK, zones=zones)[0]
    assert row.hint is not None
    assert (row.hint.start, row.hint.end, row.hint.night_pages, row.hint.pages) == (start, end, 2, 2)
    assert row.hint.rest_until == end + timedelta(hours=8)
    assert row.hint.reason == "2 pages, all at night"
    with_day = [*night, page("ann", local(BERLIN, 2026, 3, 23, 15), "i3")]
    busier = workload(with_day, [shift("ann", start, end)], {}, T0, T0 + WEEK, zones=zones)[0].hint
    assert busier is not None
    assert busier.reason == "3 pages, 2 at night"
    # the same pages by day are not heavy under the default rule, and are under a stricter one
    calm = workload(night[:1], [shift("ann", start, end)], {}, T0, T0 + WEEK, zones=zones)[0]
    assert calm.hint is None
    strict = FairnessRule(night_pages=1, rest=timedelta(hours=12))
    lenient = workload(night[:1], [shift("ann", start, end)], {}, T0, T0 + WEEK, zones=zones, rule=strict)
    hint = lenient[0].hint
    assert hint is not None
    assert hint.rest_until == end + timedelta(hours=12)


def test_a_weekly_shift_is_judged_day_by_day() -> None:
    start = datetime(2026, 3, 23, 9, tzinfo=UTC)
    busy_day = [page("ann", start + timedelta(days=3, hours=h), f"i{h}") for h in range(1, 6)]  # 5 by day
    row = workload(busy_day, [shift("ann", start, start + WEEK)], {}, T0, T0 + 2 * WEEK)[0]
    assert len(row.heavy) == 1
    assert row.hint is not None
    assert (row.hint.start, row.hint.end) == (start + timedelta(days=3), start + timedelta(days=4))
    assert row.hint.reason == "5 pages"
    spread = [page("ann", start + timedelta(days=d, hours=12), f"i{d}") for d in range(7)]  # one a day
    assert workload(spread, [shift("ann", start, start + WEEK)], {}, T0, T0 + 2 * WEEK)[0].heavy == ()


def test_pages_while_not_on_call_count_but_make_no_hint() -> None:
    pages = [page("ann", T0 + timedelta(hours=h), f"i{h}") for h in range(6)]
    row = workload(pages, [], {}, T0, T0 + WEEK)[0]
    assert (row.pages, row.on_call, row.heavy) == (6, timedelta(0), ())


def test_bad_rules_and_windows_are_refused() -> None:
    with pytest.raises(ValueError, match="at least one page"):
        FairnessRule(night_pages=0)
    with pytest.raises(ValueError, match="stretch"):
        FairnessRule(stretch=timedelta(0))
    with pytest.raises(ValueError, match="ends before"):
        workload([], [], {}, T0 + WEEK, T0)
