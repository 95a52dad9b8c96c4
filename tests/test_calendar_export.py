"""iCalendar export: parsed back with icalendar, the events are the schedule's shifts (in UTC, cut ones
whole), UIDs stay the same across exports over other ranges, and one person's export has only theirs."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st
from icalendar import Calendar

from console.calendar_export import schedule_ical, shift_uid, whole_shifts
from console.domain.schedule import Layer, Override, Schedule, Turn, shifts

T0 = datetime(2026, 3, 25, 12, tzinfo=UTC)  # Berlin and London change their clocks on the 29th
STAMP = datetime(2026, 3, 1, tzinfo=UTC)
SCHEDULE = Schedule(
    "Primary",
    (
        Layer("weekdays", ("ann", "bob", "cid"), "Europe/Berlin", date(2026, 3, 2)),
        Layer(
            "nights", ("dan", "eve"), "Europe/London", date(2026, 3, 1), turn=Turn.custom(timedelta(hours=12))
        ),
    ),
    (Override("ov-1", "fay", T0 + timedelta(days=2), T0 + timedelta(days=2, hours=6)),),
)

Events = list[tuple[str, str, datetime, datetime]]  # (uid, summary, start, end)


def events(data: bytes) -> Events:
    calendar = Calendar.from_ical(data)
    found = []
    for event in calendar.events:
        start, end = event.start, event.end
        assert isinstance(start, datetime)
        assert isinstance(end, datetime)
        assert start.utcoffset() == timedelta(0)  # written in UTC
        found.append((str(event.uid), str(event["SUMMARY"]), start, end))
    return found


def test_events_are_the_shifts_in_utc() -> None:
    start, end = T0, T0 + timedelta(days=7)
    data = schedule_ical(SCHEDULE, start, end, stamp=STAMP)
    assert data.startswith(b"BEGIN:VCALENDAR")
    found = events(data)
    expected = shifts(SCHEDULE, start, end)
    assert len(found) == len(expected) > 10
    for (uid, summary, ev_start, ev_end), shift in zip(found, expected, strict=True):
        assert summary == f"On call: {shift.user} (Primary)"
        assert (max(ev_start, start), min(ev_end, end)) == (shift.start, shift.end)
        assert uid == shift_uid("Primary", shift) or ev_start < start or ev_end > end
    assert any(s == "On call: fay (Primary)" for _, s, _, _ in found)  # the override is there
    calendar = Calendar.from_ical(data)
    assert str(calendar["X-WR-CALNAME"]) == "On call: Primary"
    assert all(event.DTSTAMP == STAMP for event in calendar.events)


def test_a_cut_shift_is_exported_whole_with_the_same_uid() -> None:
    # The range starts and ends inside a 12-hour "nights" shift of the top layer.
    start, end = T0 + timedelta(hours=3), T0 + timedelta(hours=6)
    [(uid, _, ev_start, ev_end)] = events(schedule_ical(SCHEDULE, start, end, stamp=STAMP))
    [whole] = [
        s
        for s in whole_shifts(SCHEDULE, T0 - timedelta(days=1), T0 + timedelta(days=1))
        if s.start <= start < s.end
    ]
    assert (ev_start, ev_end) == (whole.start, whole.end)
    assert ev_end - ev_start == timedelta(hours=12)
    assert uid == shift_uid("Primary", whole)


def test_one_persons_export_has_only_their_shifts() -> None:
    start, end = T0, T0 + timedelta(days=7)
    mine = events(schedule_ical(SCHEDULE, start, end, user="dan", stamp=STAMP))
    assert mine
    assert {summary for _, summary, _, _ in mine} == {"On call: dan (Primary)"}
    assert str(Calendar.from_ical(schedule_ical(SCHEDULE, start, end, user="dan"))["X-WR-CALNAME"]).endswith(
        "(dan)"
    )


def test_a_single_person_layer_stops_looking_at_the_reach_limit() -> None:
    joined = datetime(2026, 1, 1, 9, tzinfo=UTC)
    always = Schedule("Solo", (Layer("l", ("ann",), "UTC", date(2026, 1, 1), starts=joined),))
    [(_, _, ev_start, ev_end)] = events(schedule_ical(always, T0, T0 + timedelta(hours=1), stamp=STAMP))
    assert ev_start == joined  # the real start, 83 days back: found by looking further and further
    assert ev_end == T0 + timedelta(hours=1) + timedelta(days=366)  # bounded, not forever


offsets = st.integers(-20 * 24, 20 * 24).map(lambda h: T0 + timedelta(hours=h, minutes=30))


@settings(max_examples=40, deadline=None)
@given(offsets, st.integers(1, 5 * 24), st.integers(-3 * 24, 3 * 24))
def test_uids_are_stable_across_ranges_and_events_cover_the_shifts(
    start: datetime, hours: int, shift_by: int
) -> None:
    end = start + timedelta(hours=hours)
    first = events(schedule_ical(SCHEDULE, start, end, stamp=STAMP))
    clipped = [(s.user, s.start, s.end) for s in shifts(SCHEDULE, start, end)]
    assert [
        (summary.removeprefix("On call: ").removesuffix(" (Primary)"), max(a, start), min(b, end))
        for _, summary, a, b in first
    ] == clipped
    other_start = start + timedelta(hours=shift_by)
    second = events(schedule_ical(SCHEDULE, other_start, other_start + timedelta(hours=hours), stamp=STAMP))
    by_span = {(a, b): uid for uid, _, a, b in first}
    for uid, _, a, b in second:
        if (a, b) in by_span:  # the same shift exported twice: the same UID
            assert by_span[(a, b)] == uid
    assert len({uid for uid, _, _, _ in first}) == len(first)
