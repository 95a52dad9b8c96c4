"""On-call schedules: layers of rotations plus overrides, and who is on call at an instant.

`on_call` and `shifts` are pure, so a console answers "who is on call" offline and the server's
escalation engine answers it the same way.

The rules people argue about:
- A calendar rotation (N days or weeks) hands off at the layer's handoff time on the wall clock of its
  time zone: a daily 09:00 Europe/Berlin shift lasts 23 or 25 hours across a daylight-saving change.
  A custom rotation (any whole number of minutes) runs on absolute time from its first handoff: a
  12-hour rotation handing off at 09:00 and 21:00 hands off at 10:00 and 22:00 after spring-forward.
- A local time happens at the first instant the wall clock reads it or later. A time skipped by a
  spring-forward (02:30 in Berlin) happens when the gap ends (03:00 summer time); a time the clock
  reads twice on a fall-back happens the first time (fold=0). Handoffs and restriction windows follow
  this one rule, so they never run backwards and never vanish.
- Layers are listed lowest first; the highest layer that has someone at an instant wins (PagerDuty).
  A layer's restricted-away time, or time outside its [starts, ends), falls through to lower layers.
  Restrictions mask a rotation; they do not pause it (handoffs happen on time, restricted or not).
- Overrides sit on top of every layer. One without `replaces` covers its whole range; one with
  `replaces` ("take a shift") applies only where the layers give that person. Where several apply
  the last in the tuple wins; callers keep them in creation order and refuse overlaps (`overlapping`).
- A schedule answers one person or nobody: several people at once are several schedules (or users)
  on one escalation level, which keeps "who is on call" a single name on a wall display.

Aware datetimes in (any zone), UTC datetimes out; a naive datetime is a ValueError.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from console.domain.errors import DomainError

WEEKDAYS = frozenset(range(5))  # Monday 0 … Friday 4, as date.weekday()
EVERY_DAY = frozenset(range(7))
_MINUTE = timedelta(minutes=1)
_MICROSECOND = timedelta(microseconds=1)
_DAY = timedelta(days=1)


def to_utc(at: datetime, name: str = "at") -> datetime:
    """`at` in UTC; a naive datetime is refused, because guessing its zone pages the wrong person."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"{name}: needs a time zone, got the naive datetime {at.isoformat()}")
    return at.astimezone(UTC)


def zone(name: str) -> ZoneInfo:
    """The IANA time zone `name` (zoneinfo caches them)."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"time_zone: unknown time zone {name!r}") from exc


def wall_clock(at: datetime, tz: ZoneInfo) -> datetime:
    """The naive local time the clocks in `tz` show at the instant `at`."""
    return at.astimezone(tz).replace(tzinfo=None, fold=0)


def first_instant(local: datetime, tz: ZoneInfo) -> datetime:
    """The first instant (UTC) at which the wall clock in `tz` reads `local` or later.

    For a time that exists once this is the obvious instant; for one read twice (fall-back) the
    earlier; for one skipped (spring-forward) the end of the gap.
    """
    naive = local.replace(tzinfo=None, fold=0)
    first = naive.replace(tzinfo=tz).astimezone(UTC)  # fold=0: the earlier reading if read twice
    if wall_clock(first, tz) == naive:
        return first
    # In a gap, fold=0 lands after the transition and fold=1 before it (PEP 495). zoneinfo does not
    # expose transitions, so bisect for the first instant whose wall clock reaches `naive`.
    before, after = naive.replace(tzinfo=tz, fold=1).astimezone(UTC), first
    while after - before > _MICROSECOND:
        middle = before + (after - before) // 2
        if wall_clock(middle, tz) >= naive:
            after = middle
        else:
            before = middle
    return after


# -- configuration --


@dataclass(frozen=True, slots=True)
class Turn:
    """How long one participant's turn lasts: calendar days (wall clock) or a fixed length."""

    days: int = 0
    length: timedelta = timedelta(0)

    def __post_init__(self) -> None:
        if self.days < 0 or self.length < timedelta(0) or (self.days > 0) == (self.length > timedelta(0)):
            raise ValueError("turn: give either a number of days or a length, one of them positive")
        if self.length % _MINUTE:
            raise ValueError("turn: a custom length must be a whole number of minutes")

    @classmethod
    def daily(cls, days: int = 1) -> Turn:
        return cls(days=days)

    @classmethod
    def weekly(cls, weeks: int = 1) -> Turn:
        return cls(days=7 * weeks)

    @classmethod
    def custom(cls, length: timedelta) -> Turn:
        """A turn on absolute time: 12 hours are 12 hours, whatever the clocks do."""
        return cls(length=length)

    @property
    def follows_wall_clock(self) -> bool:
        return self.days > 0


@dataclass(frozen=True, slots=True)
class Restriction:
    """A window of local time in which a layer has someone, such as weekdays 09:00 to 17:00.

    `days` are the weekdays (Monday 0) on which a window *starts*: an `end` at or before `start` ends
    the next day (Monday to Friday, 22:00 to 07:00, runs Monday night to Saturday morning), and
    `start == end` is a whole day.
    """

    start: time
    end: time
    days: frozenset[int] = EVERY_DAY

    def __post_init__(self) -> None:
        if self.start.tzinfo is not None or self.end.tzinfo is not None:
            raise ValueError("restriction: times are local to the layer's time zone; give them without one")
        if not self.days or not self.days <= EVERY_DAY:
            raise ValueError("restriction: days must be weekdays 0 (Monday) to 6 (Sunday), at least one")

    def window(self, day: date, tz: ZoneInfo) -> tuple[datetime, datetime] | None:
        """The window starting on the local `day`, as UTC instants; None if it has none that day."""
        if day.weekday() not in self.days:
            return None
        end_day = day if self.end > self.start else day + _DAY
        start = first_instant(datetime.combine(day, self.start), tz)
        return start, first_instant(datetime.combine(end_day, self.end), tz)


@dataclass(frozen=True, slots=True)
class Layer:
    """One rotation: `participants` take turns, the first one's first turn starting at `handoff` on
    the local date `anchor` (turns before the anchor follow the same cycle backwards)."""

    name: str
    participants: tuple[str, ...]
    time_zone: str
    anchor: date
    handoff: time = time(9, 0)
    turn: Turn = Turn(days=1)
    restrictions: tuple[Restriction, ...] = ()
    starts: datetime | None = None  # the layer has nobody before this (it was added later)…
    ends: datetime | None = None  # …or from this on (it was retired)

    def __post_init__(self) -> None:
        if not self.name.strip():
            raise ValueError("name: a layer needs a name")
        if not self.participants or not all(p.strip() for p in self.participants):
            raise ValueError(f"participants: layer {self.name!r} needs at least one participant")
        zone(self.time_zone)
        if self.handoff.tzinfo is not None:
            raise ValueError("handoff: a local time in the layer's time zone, given without a zone")
        if isinstance(self.anchor, datetime):  # a datetime is a date too; its time would be ignored
            raise ValueError("anchor: a date; the handoff time says when on that date")
        # Stored in UTC so that values compare and print the same however they were given.
        if self.starts is not None:
            object.__setattr__(self, "starts", to_utc(self.starts, "starts"))
        if self.ends is not None:
            object.__setattr__(self, "ends", to_utc(self.ends, "ends"))
        if self.starts is not None and self.ends is not None and self.ends <= self.starts:
            raise ValueError(f"ends: layer {self.name!r} ends before it starts")

    @property
    def zone(self) -> ZoneInfo:
        return zone(self.time_zone)


@dataclass(frozen=True, slots=True)
class Override:
    """`user` is on call for [start, end): for everyone ("cover a range"), or only where the layers
    give `replaces` ("take a shift", e.g. bob's nights while he is ill)."""

    id: str
    user: str
    start: datetime
    end: datetime
    replaces: str | None = None

    def __post_init__(self) -> None:
        if not self.user.strip():
            raise ValueError("user: an override needs someone to be on call")
        object.__setattr__(self, "start", to_utc(self.start, "start"))
        object.__setattr__(self, "end", to_utc(self.end, "end"))
        if self.end <= self.start:
            raise ValueError("end: an override must end after it starts")
        if self.replaces is not None and self.replaces == self.user:
            raise ValueError("replaces: nobody can take their own shift")

    def applies(self, at: datetime, base: str | None) -> bool:
        """Whether this override decides who is on call at `at`, given the layers' answer `base`."""
        return self.start <= at < self.end and (self.replaces is None or self.replaces == base)


@dataclass(frozen=True, slots=True)
class Schedule:
    name: str
    layers: tuple[Layer, ...]  # lowest first: a later layer wins where it has someone
    overrides: tuple[Override, ...] = ()  # on top of every layer; the last that applies wins

    def __post_init__(self) -> None:
        names = [layer.name for layer in self.layers]
        if len(set(names)) != len(names):
            raise ValueError(f"layers: schedule {self.name!r} has two layers of one name")


class Origin(enum.StrEnum):
    LAYER = "layer"
    OVERRIDE = "override"


@dataclass(frozen=True, slots=True)
class Shift:
    """A stretch of time one person is on call, for one reason."""

    user: str
    start: datetime
    end: datetime
    origin: Origin
    source: str  # the layer's name or the override's id

    @property
    def duration(self) -> timedelta:
        return self.end - self.start


# -- who is on call --


def on_call(schedule: Schedule, at: datetime) -> str | None:
    """The person on call at `at`, or None when nobody is (a gap in the schedule)."""
    found = _who(schedule, to_utc(at))
    return found[0] if found else None


def shifts(schedule: Schedule, start: datetime, end: datetime) -> list[Shift]:
    """Who is on call over [start, end), as maximal shifts (a shift continues while the person and
    its source stay the same), clipped to the range and in order. Time nobody covers is left out;
    `gaps` lists it."""
    start, end = to_utc(start, "start"), to_utc(end, "end")
    if end < start:
        raise ValueError("end: the range ends before it starts")
    # The answer can change only at a handoff, a restriction window's edge or an override's edge, so
    # evaluating once per piece between those instants is exact.
    cuts = sorted({start, end, *(t for t in _changes(schedule, start, end) if start < t < end)})
    found: list[Shift] = []
    for piece_start, piece_end in pairwise(cuts):
        who = _who(schedule, piece_start)
        if who is None:
            continue
        last = found[-1] if found else None
        if last and last.end == piece_start and (last.user, last.origin, last.source) == who:
            found[-1] = replace(last, end=piece_end)
        else:
            found.append(Shift(who[0], piece_start, piece_end, who[1], who[2]))
    return found


def gaps(schedule: Schedule, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    """The parts of [start, end) in which nobody is on call."""
    start, end = to_utc(start, "start"), to_utc(end, "end")
    found: list[tuple[datetime, datetime]] = []
    cursor = start
    for shift in shifts(schedule, start, end):
        if shift.start > cursor:
            found.append((cursor, shift.start))
        cursor = shift.end
    if cursor < end:
        found.append((cursor, end))
    return found


def _who(schedule: Schedule, at: datetime) -> tuple[str, Origin, str] | None:
    base: tuple[str, Origin, str] | None = None
    for layer in reversed(schedule.layers):
        user = _layer_user(layer, at)
        if user is not None:
            base = (user, Origin.LAYER, layer.name)
            break
    for override in reversed(schedule.overrides):
        if override.applies(at, base[0] if base else None):
            return (override.user, Origin.OVERRIDE, override.id)
    return base


def _layer_user(layer: Layer, at: datetime) -> str | None:
    if (layer.starts is not None and at < layer.starts) or (layer.ends is not None and at >= layer.ends):
        return None
    if layer.restrictions and not _restricted_in(layer, at):
        return None
    return layer.participants[_turn_index(layer, at) % len(layer.participants)]


def _restricted_in(layer: Layer, at: datetime) -> bool:
    tz = layer.zone
    today = wall_clock(at, tz).date()
    # A window starts at most a day before the local date it covers; one more day each side covers
    # a fall-back across midnight, when the clock reads yesterday's date after today's began.
    for offset in (-2, -1, 0, 1):
        for restriction in layer.restrictions:
            window = restriction.window(today + offset * _DAY, tz)
            if window and window[0] <= at < window[1]:
                return True
    return False


def _handoff(layer: Layer, index: int) -> datetime:
    """The instant turn `index` begins; turn 0 is the first participant's at the anchor."""
    if layer.turn.follows_wall_clock:
        local = datetime.combine(layer.anchor + index * layer.turn.days * _DAY, layer.handoff)
        return first_instant(local, layer.zone)
    first = first_instant(datetime.combine(layer.anchor, layer.handoff), layer.zone)
    return first + index * layer.turn.length


def _turn_index(layer: Layer, at: datetime) -> int:
    """The turn under way at `at`: _handoff(index) <= at < _handoff(index + 1)."""
    if not layer.turn.follows_wall_clock:
        return (at - _handoff(layer, 0)) // layer.turn.length
    origin = datetime.combine(layer.anchor, layer.handoff)
    index = (wall_clock(at, layer.zone) - origin) // (layer.turn.days * _DAY)
    # The wall-clock guess is off by one at most, right around a handoff moved by a clock change.
    while _handoff(layer, index) > at:
        index -= 1
    while _handoff(layer, index + 1) <= at:
        index += 1
    return index


def _changes(schedule: Schedule, start: datetime, end: datetime) -> Iterator[datetime]:
    """Every instant in or around [start, end] at which the answer may change."""
    for layer in schedule.layers:
        low = max(start, layer.starts) if layer.starts else start
        high = min(end, layer.ends) if layer.ends else end
        yield from (t for t in (layer.starts, layer.ends) if t is not None)
        if low >= high:
            continue
        first, last = _turn_index(layer, low), _turn_index(layer, high)
        yield from (_handoff(layer, index) for index in range(first + 1, last + 1))
        if layer.restrictions:
            tz = layer.zone
            day, stop = wall_clock(low, tz).date() - 2 * _DAY, wall_clock(high, tz).date() + 2 * _DAY
            while day <= stop:
                for restriction in layer.restrictions:
                    yield from restriction.window(day, tz) or ()
                day += _DAY
    for override in schedule.overrides:
        yield override.start
        yield override.end


# -- overrides: refusing overlaps --


class OverrideRejected(DomainError):
    """A new override clashes with one already on the schedule; the message says which."""


@dataclass(frozen=True, slots=True)
class OverrideConflict:
    existing: Override
    reason: str


def overlapping(overrides: Iterable[Override], new: Override) -> tuple[OverrideConflict, ...]:
    """The overrides that `new` clashes with, each with a reason a responder understands.

    Two overrides clash when their ranges intersect and both could apply at one instant: a "cover
    a range" clashes with anything it meets; two "take a shift" overrides clash only when they take
    the same person's shifts. An override with `new`'s id is the one being edited, not a clash.
    """
    found: list[OverrideConflict] = []
    for existing in overrides:
        if existing.id == new.id or not (existing.start < new.end and new.start < existing.end):
            continue
        if existing.replaces is not None and new.replaces is not None and existing.replaces != new.replaces:
            continue
        found.append(OverrideConflict(existing, _clash(existing)))
    return tuple(found)


def check_override(overrides: Iterable[Override], new: Override) -> None:
    """Raise OverrideRejected, with the reason, if `new` clashes with any of `overrides`."""
    conflicts = overlapping(overrides, new)
    if conflicts:
        raise OverrideRejected(" ".join(conflict.reason for conflict in conflicts))


def _clash(existing: Override) -> str:
    what = "covers the schedule" if existing.replaces is None else f"takes {existing.replaces}'s shifts"
    span = f"from {existing.start:%Y-%m-%d %H:%M} to {existing.end:%Y-%m-%d %H:%M} UTC"
    return f"It overlaps an override: {existing.user} already {what} {span}."
