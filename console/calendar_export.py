"""A schedule's shifts as an iCalendar file (RFC 5545), for people's own calendars.

Each shift is one VEVENT with times in UTC (every calendar client converts them; no VTIMEZONE to get
wrong). Its UID is made from the schedule, the shift's source (layer or override) and its true start,
so exporting again, over another range, gives the same UIDs and a calendar updates instead of
duplicating. A shift that the range cuts is exported whole, for the same reason: looking up to
`REACH_LIMIT` beyond the range for its real start and end.
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from icalendar import Calendar, Event

from console.domain.schedule import Origin, Schedule, Shift, shifts, to_utc

PRODID = "-//Responder Console//On-call schedule//EN"
# UIDs are uuid5 in this namespace: opaque, stable, and free of characters calendars mishandle.
_NAMESPACE = uuid.UUID("6d7c1c5e-3f1e-4a53-9c2b-0b6f8e3a9d41")
REACH_LIMIT = timedelta(days=366)  # a longer shift (a one-person layer) starts or ends at this bound
_FIRST_REACH = timedelta(days=1)


def shift_uid(schedule: str, shift: Shift) -> str:
    key = f"{schedule}\x00{shift.origin}\x00{shift.source}\x00{to_utc(shift.start).isoformat()}"
    return f"{uuid.uuid5(_NAMESPACE, key)}@responder-console"


def whole_shifts(schedule: Schedule, start: datetime, end: datetime) -> list[Shift]:
    """The shifts meeting [start, end), each with its real start and end even where the range cuts it."""
    found = shifts(schedule, start, end)
    if found and found[0].start == to_utc(start):
        found[0] = replace(found[0], start=_extend(schedule, found[0], backwards=True))
    if found and found[-1].end == to_utc(end):
        found[-1] = replace(found[-1], end=_extend(schedule, found[-1], backwards=False))
    return found


def _extend(schedule: Schedule, cut: Shift, *, backwards: bool) -> datetime:
    """Where the shift `cut` really starts (or ends), looking ever further up to REACH_LIMIT."""
    reach = _FIRST_REACH
    while True:
        if backwards:
            around = shifts(schedule, cut.start - reach, cut.end)
            edge = around[-1].start if around and _same(around[-1], cut) else cut.start
            if edge > cut.start - reach or reach >= REACH_LIMIT:
                return edge
        else:
            around = shifts(schedule, cut.start, cut.end + reach)
            edge = around[0].end if around and _same(around[0], cut) else cut.end
            if edge < cut.end + reach or reach >= REACH_LIMIT:
                return edge
        reach = min(reach * 2, REACH_LIMIT)


def _same(a: Shift, b: Shift) -> bool:
    return (a.user, a.origin, a.source) == (b.user, b.origin, b.source)


def schedule_ical(
    schedule: Schedule,
    start: datetime,
    end: datetime,
    *,
    user: str | None = None,
    stamp: datetime | None = None,
) -> bytes:
    """The shifts of `schedule` meeting [start, end) (only `user`'s when given) as an iCalendar file.

    `stamp` is every event's DTSTAMP (when the file was made; now if not given).
    """
    made = to_utc(stamp, "stamp") if stamp is not None else datetime.now(UTC)
    title = f"On call: {schedule.name}" + (f" ({user})" if user else "")
    calendar = Calendar.new(
        prodid=PRODID,
        name=title,
        method="PUBLISH",
        calscale="GREGORIAN",
        uid=str(uuid.uuid5(_NAMESPACE, f"{schedule.name}\x00{user or ''}")),  # one calendar per export kind
    )
    for shift in whole_shifts(schedule, start, end):
        if user is not None and shift.user != user:
            continue
        how = "layer" if shift.origin is Origin.LAYER else "override"
        calendar.add_component(
            Event.new(
                uid=shift_uid(schedule.name, shift),
                stamp=made,
                start=shift.start.astimezone(UTC),
                end=shift.end.astimezone(UTC),
                summary=f"On call: {shift.user} ({schedule.name})",
                description=f"{shift.user} is on call for {schedule.name} ({how} {shift.source}).",
                categories=["on-call"],
            )
        )
    data: bytes = calendar.to_ical()  # icalendar types it loosely
    return data
