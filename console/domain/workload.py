"""Workload per responder over a window: pages, night pages, hours on call, time to acknowledge, and a
fairness hint (rest after a heavy stretch). Pure: the On-call view feeds it replicated values.

The rules:
- A night page is one sent between 22:00 and 07:00 on the wall clock of the responder's home zone
  (PagerDuty's "sleep hours"). The zone is the person's own when known, else the zone of the first
  schedule layer they take turns in, else UTC; `HomeZone.source` says which, so the table can too.
- Hours on call are the union of the person's shifts clipped to the window: being on two schedules
  at once is one hour on call, not two.
- Time to acknowledge counts once per incident (and epoch) the person was paged about: from the first
  page to them to the incident's acknowledgement, by whoever. Repeats and higher levels do not shorten
  it, and pages after the acknowledgement (a reopened incident) do not count against it.
- The fairness hint judges each stretch on call: a shift, or each `FairnessRule.stretch` of a longer
  one counted from its start (a weekly rotation is judged day by day). A stretch with at least
  `night_pages` night pages or `pages` pages is heavy, and `rest` off after it is suggested.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from statistics import mean, median

from console.domain.oncall import PageRecord
from console.domain.schedule import Schedule, Shift, to_utc, wall_clock, zone

NIGHT_START = time(22, 0)
NIGHT_END = time(7, 0)
DEFAULT_ZONE = "UTC"


@dataclass(frozen=True, slots=True)
class HomeZone:
    """Where a responder sleeps, for counting night pages, and how we know."""

    name: str  # an IANA time zone
    source: str  # "user" (their own setting), "schedule" (a layer they are in), "default" (UTC)


@dataclass(frozen=True, slots=True)
class FairnessRule:
    """When a stretch on call is heavy and how much rest to suggest after it.

    Defaults: two night pages is a broken night (one may be slept through again); five pages in a day
    is more than twice the SRE rule of thumb of about two incidents per 12-hour shift, allowing for
    repeats and escalations; eight hours is a night's sleep.
    """

    night_pages: int = 2
    pages: int = 5
    rest: timedelta = timedelta(hours=8)
    stretch: timedelta = timedelta(hours=24)

    def __post_init__(self) -> None:
        if self.night_pages < 1 or self.pages < 1:
            raise ValueError("fairness rule: thresholds must be at least one page")
        if self.rest < timedelta(0) or self.stretch <= timedelta(0):
            raise ValueError("fairness rule: rest must not be negative and a stretch must have a length")


@dataclass(frozen=True, slots=True)
class RestHint:
    """A heavy stretch on call [start, end) and the rest suggested after it."""

    start: datetime
    end: datetime
    pages: int
    night_pages: int
    rest_until: datetime

    @property
    def reason(self) -> str:
        counts = f"{self.pages} page{'s' if self.pages != 1 else ''}"
        if not self.night_pages:
            return counts
        return f"{counts}, {'all' if self.night_pages == self.pages else self.night_pages} at night"


@dataclass(frozen=True, slots=True)
class Workload:
    user: str
    zone: HomeZone
    pages: int
    night_pages: int
    on_call: timedelta
    acknowledged: int  # incidents with a time to acknowledge
    median_ack: timedelta | None
    mean_ack: timedelta | None
    heavy: tuple[RestHint, ...]  # heavy stretches in the window, oldest first

    @property
    def hours_on_call(self) -> float:
        return self.on_call / timedelta(hours=1)

    @property
    def hint(self) -> RestHint | None:
        """The latest heavy stretch: the one whose rest matters now."""
        return self.heavy[-1] if self.heavy else None


def home_zones(
    schedules: Iterable[Schedule], own: Mapping[str, str | None] | None = None
) -> dict[str, HomeZone]:
    """Each person's home zone: their own setting, else the zone of the first layer (schedules in name
    order, layers lowest first) they take turns in. People in neither are left out (→ UTC)."""
    found: dict[str, HomeZone] = {}
    for schedule in sorted(schedules, key=lambda s: s.name):
        for layer in schedule.layers:
            for person in layer.participants:
                found.setdefault(person, HomeZone(layer.time_zone, "schedule"))
    for person, name in (own or {}).items():
        if name:
            found[person] = HomeZone(name, "user")
    return found


def is_night(at: datetime, tz_name: str, start: time = NIGHT_START, end: time = NIGHT_END) -> bool:
    """Whether the wall clock in `tz_name` reads within [start, end) at `at` (the window may wrap)."""
    local = wall_clock(to_utc(at), zone(tz_name)).time()
    if start <= end:
        return start <= local < end
    return local >= start or local < end


def covered(spans: Iterable[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    """The union of [start, end) spans as disjoint spans, in order."""
    merged: list[tuple[datetime, datetime]] = []
    for start, end in sorted(span for span in spans if span[0] < span[1]):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def workload(
    pages: Iterable[PageRecord],
    shifts: Iterable[Shift],
    acknowledged_at: Mapping[str, datetime | None],
    start: datetime,
    end: datetime,
    *,
    zones: Mapping[str, HomeZone] | None = None,
    people: Iterable[str] = (),
    rule: FairnessRule = FairnessRule(),
    night: tuple[time, time] = (NIGHT_START, NIGHT_END),
) -> list[Workload]:
    """Workload of everyone paged or on call in [start, end) (and of `people`), in name order.

    `shifts` are any schedules' shifts (from `shifts()`); `acknowledged_at` maps an incident id to its
    acknowledgement (None or absent: not acknowledged).
    """
    start, end = to_utc(start, "start"), to_utc(end, "end")
    if end < start:
        raise ValueError("end: the window ends before it starts")
    zones = zones or {}
    paged: dict[str, list[PageRecord]] = defaultdict(list)
    for page in pages:
        if start <= to_utc(page.at) < end:
            paged[page.user].append(page)
    spans: dict[str, list[tuple[datetime, datetime]]] = defaultdict(list)
    for shift in shifts:
        spans[shift.user].append((max(to_utc(shift.start), start), min(to_utc(shift.end), end)))
    found: list[Workload] = []
    for user in sorted({*paged, *spans, *people}):
        home = zones.get(user, HomeZone(DEFAULT_ZONE, "default"))
        mine = sorted(paged.get(user, []), key=lambda p: p.at)
        nights = [p for p in mine if is_night(p.at, home.name, *night)]
        on_call = covered(spans.get(user, []))
        waits = _ack_waits(mine, acknowledged_at)
        found.append(
            Workload(
                user,
                home,
                len(mine),
                len(nights),
                sum((e - s for s, e in on_call), timedelta(0)),
                len(waits),
                _average(waits, median),
                _average(waits, mean),
                _heavy(on_call, mine, {p.id for p in nights}, rule),
            )
        )
    return found


def _ack_waits(
    pages: Sequence[PageRecord], acknowledged_at: Mapping[str, datetime | None]
) -> list[timedelta]:
    """Per incident: acknowledgement minus the first page at or before it, for the latest epoch paged
    before the acknowledgement (an earlier epoch's pages belong to an acknowledgement since undone)."""
    first: dict[tuple[str, int], datetime] = {}
    for page in pages:  # sorted by time: the first kept is the earliest
        first.setdefault((page.incident_id, page.epoch), to_utc(page.at))
    latest: dict[str, tuple[int, timedelta]] = {}
    for (incident, epoch), at in first.items():
        acked = acknowledged_at.get(incident)
        if acked is None or to_utc(acked) < at:
            continue
        if incident not in latest or epoch > latest[incident][0]:
            latest[incident] = (epoch, to_utc(acked) - at)
    return [wait for _, wait in latest.values()]


def _average(waits: Sequence[timedelta], how: Callable[[list[float]], float]) -> timedelta | None:
    return timedelta(seconds=how([w.total_seconds() for w in waits])) if waits else None


def _heavy(
    on_call: Sequence[tuple[datetime, datetime]],
    pages: Sequence[PageRecord],
    night_ids: set[str],
    rule: FairnessRule,
) -> tuple[RestHint, ...]:
    found: list[RestHint] = []
    for span_start, span_end in on_call:
        piece = span_start
        while piece < span_end:
            piece_end = min(piece + rule.stretch, span_end)
            inside = [p for p in pages if piece <= to_utc(p.at) < piece_end]
            nights = sum(1 for p in inside if p.id in night_ids)
            if nights >= rule.night_pages or len(inside) >= rule.pages:
                found.append(RestHint(piece, piece_end, len(inside), nights, piece_end + rule.rest))
            piece = piece_end
    return tuple(found)
