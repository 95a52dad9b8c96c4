"""What the NOC wall shows, decided without Qt: the order of the tiles, how many fit and which page
is up, whether rotation pauses, today's figures, and whether the data can be trusted (stale,
offline). console/ui/wall.py only draws what these functions answer, so the rules are tested with
plain values (and Hypothesis where they sort and page).

Tile order: high-priority unacknowledged first, then high acknowledged, then low unacknowledged,
then low acknowledged; within a group the **oldest first**. The oldest unacknowledged page is the
one escalation is about to reach and the one the room must chase, and an order by age is stable:
a new incident joins the end of its group instead of pushing every tile down the wall during a
storm. Ties (same second) fall back to the number, then the id, so the order is total.

Where texts go (the header, the side panel, a tile) is decided here too, from widths and heights
wall.py measures: plain rectangles, so "nothing overlaps, the alarm is never cut" is tested without
Qt.

Pages rotate when the tiles do not fit on one. While a high-priority incident waits for an
acknowledgement the rotation pauses on the first page, where it is; should waiting incidents fill
more than a page, it keeps to those pages only (a pause on page one would hide the rest of them).
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, fields, replace
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Final, TypeVar

from console.domain.priority import Priority
from console.domain.status import Rank
from console.domain.views import IncidentView
from console.sync.state import Status

T = TypeVar("T")

# Okabe-Ito, the values console/notify/tray.py draws its icons with (tests/ui/test_wall_layout.py
# keeps the two in step): colour-blind safe, and never the only cue (shape and text go with it).
VERMILLION: Final = "#D55E00"  # high priority, not acknowledged
ORANGE: Final = "#E69F00"  # high priority, acknowledged
BLUE: Final = "#0072B2"  # low priority
SKY_BLUE: Final = "#56B4E9"  # low priority as text on the dark wall (4.5:1 needs the lighter blue)
GREEN: Final = "#009E73"  # acknowledged / all clear
YELLOW: Final = "#F0E442"  # the stale/offline banner: used for nothing else, so it cannot blend in
GREY: Final = "#7F7F7F"

# Flashing: WCAG 2.3.1 allows at most 3 flashes a second. The border toggles every PULSE_TOGGLE_MS,
# one on-off pair a second: a third of the limit.
PULSE_TOGGLE_MS: Final = 500
MAX_FLASHES_PER_SECOND: Final = 3.0

STALE_AFTER: Final = timedelta(seconds=90)  # the engine polls every 30 s even when nothing pokes it


class Group(enum.IntEnum):
    """A tile's place in the order (lower first)."""

    HIGH_UNACKNOWLEDGED = 0
    HIGH_ACKNOWLEDGED = 1
    LOW_UNACKNOWLEDGED = 2
    LOW_ACKNOWLEDGED = 3

    @property
    def high(self) -> bool:
        return self in (Group.HIGH_UNACKNOWLEDGED, Group.HIGH_ACKNOWLEDGED)

    @property
    def acknowledged(self) -> bool:
        return self in (Group.HIGH_ACKNOWLEDGED, Group.LOW_ACKNOWLEDGED)


def as_utc(at: datetime) -> datetime:
    """`at` as an aware instant: the replica's naive times are UTC."""
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at


def group_of(view: IncidentView) -> Group:
    incident = view.incident
    waiting = incident.status.rank is Rank.TRIGGERED
    if incident.priority is Priority.HIGH:
        return Group.HIGH_UNACKNOWLEDGED if waiting else Group.HIGH_ACKNOWLEDGED
    return Group.LOW_UNACKNOWLEDGED if waiting else Group.LOW_ACKNOWLEDGED


_UNNUMBERED: Final = 1 << 62  # reported here and not synced yet: after the numbered of the same second


def tile_key(view: IncidentView) -> tuple[int, float, int, str]:
    """The sort key of the module docstring's order (a total order: the id breaks the last tie)."""
    incident = view.incident
    return (
        group_of(view),
        as_utc(incident.created_at).timestamp(),
        incident.number or _UNNUMBERED,
        incident.id,
    )


def is_high_unacknowledged(view: IncidentView) -> bool:
    incident = view.incident
    return incident.priority is Priority.HIGH and incident.status.rank is Rank.TRIGGERED


def order_tiles(views: Iterable[IncidentView]) -> list[IncidentView]:
    """The open incidents among `views`, in tile order."""
    return sorted((v for v in views if v.incident.status.is_open), key=tile_key)


# -- paging --


@dataclass(frozen=True, slots=True)
class Grid:
    columns: int
    rows: int

    @property
    def per_page(self) -> int:
        return self.columns * self.rows


def grid_for(width: float, height: float, *, tile_width: float, tile_height: float, gap: float) -> Grid:
    """How many tiles of at least `tile_width` by `tile_height`, `gap` apart, fit: never fewer than
    one (a window too small still shows the most urgent incident)."""
    columns = max(1, math.floor((width + gap) / (tile_width + gap)))
    rows = max(1, math.floor((height + gap) / (tile_height + gap)))
    return Grid(columns, rows)


def page_count(items: int, per_page: int) -> int:
    """Pages needed for `items` tiles; one even when empty (the "no open incidents" page)."""
    return max(1, math.ceil(items / max(1, per_page)))


def page_items(items: Sequence[T], page: int, per_page: int) -> Sequence[T]:
    per_page = max(1, per_page)
    return items[page * per_page : (page + 1) * per_page]


def urgent_pages(high_unacknowledged: int, per_page: int) -> int:
    """The pages the high-priority unacknowledged incidents fill (they come first): 0 when none."""
    return math.ceil(high_unacknowledged / max(1, per_page))


def next_page(current: int, pages: int, *, urgent: int = 0) -> int:
    """The page a rotation step shows. While high-priority incidents wait for an acknowledgement
    (`urgent`: the pages they fill) rotation pauses on the first page; should they fill more than
    one, it keeps to those pages, so that none of them is hidden and the wall never turns away to
    acknowledged or low-priority tiles."""
    span = min(urgent, pages) if urgent else pages
    if span <= 1:
        return 0
    return (current + 1) % span if 0 <= current < span else 0


def clamp_page(current: int, pages: int, *, urgent: int = 0) -> int:
    """The page to show after the data changed: the same one when it still exists and, while
    incidents wait, only if it shows some of them (otherwise the first)."""
    span = min(urgent, pages) if urgent else pages
    return current if 0 <= current < span else 0


# -- burn-in --

_ORBIT: Final = ((0, 0), (1, 0), (1, 1), (0, 1), (-1, 1), (-1, 0), (-1, -1), (0, -1), (1, -1))


def burn_in_offset(step: int, amplitude: int) -> tuple[int, int]:
    """Where the whole wall sits at shift `step`: a slow orbit of `amplitude` pixels around the
    centre, so static chrome (headings, the clock's colon) never stays on the same pixels."""
    dx, dy = _ORBIT[step % len(_ORBIT)]
    return dx * amplitude, dy * amplitude


def flashes_per_second(toggle_ms: int) -> float:
    """A flash is an on-off pair: two toggles."""
    return 1000.0 / (2 * toggle_ms)


# -- text --


def format_age(age: timedelta) -> str:
    """Compact enough for a tile, exact enough to tell 3 minutes from 30."""
    seconds = max(0, int(age.total_seconds()))
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes:02d}"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours:02d} h"


def format_mean(mean: timedelta | None) -> str:
    return "—" if mean is None else format_age(mean)


# -- today's figures --


def day_start(now: datetime, tz: tzinfo | None = None) -> datetime:
    """Local midnight of `now` in `tz` (None: the machine's zone), as an aware instant."""
    local = as_utc(now).astimezone(tz)
    return local.replace(hour=0, minute=0, second=0, microsecond=0)


@dataclass(frozen=True, slots=True)
class Figures:
    """Today on the wall. `open` and `acknowledged` are now (acknowledged: open incidents someone
    has taken); the means are over today, since local midnight: time to acknowledge over incidents
    acknowledged today, time to resolve over incidents resolved today (created to resolved)."""

    open: int
    acknowledged: int
    high_unacknowledged: int
    mean_to_acknowledge: timedelta | None
    mean_to_resolve: timedelta | None
    acknowledged_today: int
    resolved_today: int


def _mean(total: timedelta, count: int) -> timedelta | None:
    return total / count if count else None


def today_figures(views: Iterable[IncidentView], *, since: datetime) -> Figures:
    opened = acknowledged = high = acked_today = resolved_today = 0
    to_ack = to_resolve = timedelta(0)
    for view in views:
        incident = view.incident
        if incident.status.is_open:
            opened += 1
            if incident.status.rank is Rank.TRIGGERED:
                high += incident.priority is Priority.HIGH
            else:
                acknowledged += 1
        created = as_utc(incident.created_at)
        if incident.acknowledged_at is not None and as_utc(incident.acknowledged_at) >= since:
            acked_today += 1
            to_ack += max(timedelta(0), as_utc(incident.acknowledged_at) - created)
        if (
            not incident.status.is_open
            and incident.resolved_at is not None
            and as_utc(incident.resolved_at) >= since
        ):
            resolved_today += 1
            to_resolve += max(timedelta(0), as_utc(incident.resolved_at) - created)
    return Figures(
        opened,
        acknowledged,
        high,
        _mean(to_ack, acked_today),
        _mean(to_resolve, resolved_today),
        acked_today,
        resolved_today,
    )


def worth_keeping(view: IncidentView, since: datetime) -> bool:
    """Whether the wall needs this incident: open (a tile), or acknowledged or resolved since
    `since` (today's figures). The rest of the history stays in the replica, out of the wall's
    memory and out of every recount."""
    incident = view.incident
    if incident.status.is_open:
        return True
    touched = (incident.acknowledged_at, incident.resolved_at)
    return any(at is not None and as_utc(at) >= since for at in touched)


# -- can the wall be trusted --


class Freshness(enum.Enum):
    FRESH = "fresh"
    STALE = "stale"  # connected, as far as the engine knows, but nothing synced for too long
    OFFLINE = "offline"
    ERROR = "error"  # the server answers but refuses (token, version)
    NEVER = "never"  # nothing synced yet: the wall shows only what this console knew


@dataclass(frozen=True, slots=True)
class SyncHealth:
    freshness: Freshness
    banner: str  # empty when fresh: nothing to warn about
    synced: str  # "synced 12 s ago", always shown beside the clock


def sync_health(
    status: Status | None,
    *,
    last_sync_at: datetime | None,
    now: datetime,
    message: str = "",
    stale_after: timedelta = STALE_AFTER,
    tz: tzinfo | None = None,
) -> SyncHealth:
    """What the banner and the "last synced" line say. A stale wall is worse than an empty one (a
    room trusts it), so anything but a recent sync says so, in words: offline and errors at once,
    a quiet link once `stale_after` passed without a sync."""
    if last_sync_at is None:
        since = "never synced"
        data = "no data from the server yet"
    else:
        ago = format_age(now - as_utc(last_sync_at))
        since = f"synced {ago} ago"
        data = f"data from {as_utc(last_sync_at).astimezone(tz):%H:%M} ({ago} ago)"
    if status is Status.OFFLINE:
        return SyncHealth(Freshness.OFFLINE, f"OFFLINE — server unreachable · {data}", since)
    if status is Status.ERROR:
        reason = message.strip() or "the server refused this console"
        return SyncHealth(Freshness.ERROR, f"SYNC ERROR — {reason} · {data}", since)
    if last_sync_at is None:
        return SyncHealth(Freshness.NEVER, f"NOT SYNCED YET — {data}", since)
    if now - as_utc(last_sync_at) > stale_after:
        return SyncHealth(Freshness.STALE, f"STALE — nothing new from the server · {data}", since)
    return SyncHealth(Freshness.FRESH, "", since)


# -- geometry: where each text goes, decided from measured sizes --
#
# wall.py measures texts with Qt and asks these functions where they go; the answers are plain
# rectangles, so "nothing is drawn over anything else" is a property tests check without pixels.


@dataclass(frozen=True, slots=True)
class Rect:
    x: float
    y: float
    width: float
    height: float

    @property
    def right(self) -> float:
        return self.x + self.width

    @property
    def bottom(self) -> float:
        return self.y + self.height

    @property
    def empty(self) -> bool:
        return self.width <= 0 or self.height <= 0

    def intersects(self, other: Rect) -> bool:
        """Whether the two share some area (touching edges do not count)."""
        if self.empty or other.empty:
            return False
        return (
            self.x < other.right and other.x < self.right and self.y < other.bottom and other.y < self.bottom
        )

    def contains(self, other: Rect, *, slack: float = 0.5) -> bool:
        return (
            other.x >= self.x - slack
            and other.y >= self.y - slack
            and other.right <= self.right + slack
            and other.bottom <= self.bottom + slack
        )

    def translated(self, dx: float, dy: float) -> Rect:
        return Rect(self.x + dx, self.y + dy, self.width, self.height)


def overlapping(rects: Mapping[str, Rect]) -> list[tuple[str, str]]:
    """The pairs of named rectangles that share some area: none, on a wall that draws nothing over
    anything else."""
    items = [(name, rect) for name, rect in rects.items() if not rect.empty]
    return [
        (a, b) for index, (a, ra) in enumerate(items) for b, rb in items[index + 1 :] if ra.intersects(rb)
    ]


# -- the header: the alarm first, then the clock, then the page and "synced" in shorter words --

Form = tuple[str, float]  # a text and its measured width


def page_forms(page: int, pages: int, urgent: int) -> list[str]:
    """The page indicator, longest first: "Page 1/3 · paused", "1/3 · paused", "1/3"; nothing to
    say (one page) is [""]."""
    if pages <= 1:
        return [""]
    where = f"{page + 1}/{pages}"
    if urgent == 1:
        why, short = " · paused", " · paused"
    elif urgent > 1:
        why, short = f" · waiting: {min(urgent, pages)} pages", f" · waiting {min(urgent, pages)}"
    else:
        why = short = ""
    forms = [f"Page {where}{why}", f"{where}{short}", where]
    return list(dict.fromkeys(forms))  # without repeats, in order


def synced_forms(synced: str) -> list[str]:
    """ "synced 5 s ago", "synced 5 s": shorter would not say what the age is of (the header
    gives it a row of its own instead)."""
    if synced.startswith("synced ") and synced.endswith(" ago"):
        return [synced, synced[: -len(" ago")]]
    return [synced]


@dataclass(frozen=True, slots=True)
class HeaderLayout:
    alarm: Rect
    clock: Rect
    page: Rect
    synced: Rect
    page_text: str
    synced_text: str
    alarm_lines: int
    height: float


def _secondary_choices(page: Sequence[Form], synced: Sequence[Form]) -> list[tuple[Form, Form]]:
    """Page and "synced" forms in the order to try: the page shortens first, then "synced"."""
    choices = [(p, synced[0]) for p in page]
    choices += [(page[-1], s) for s in synced[1:]]
    return choices


def _row_width(parts: Sequence[float], gap: float) -> float:
    present = [w for w in parts if w > 0]
    return sum(present) + gap * max(0, len(present) - 1)


def header_layout(
    width: float,
    *,
    alarm: float,
    clock: float,
    page: Sequence[Form],
    synced: Sequence[Form],
    alarm_height: float,
    clock_height: float,
    text_height: float,
    gap: float,
) -> HeaderLayout:
    """Where the header's texts go in `width`. The alarm ("▲ 2 HIGH NOT ACKNOWLEDGED") is never
    shortened: it takes the row's left and all the room the others leave. The clock stays whole
    and right. The page indicator and "synced … ago" shorten first (`page` and `synced` hold their
    forms, longest first), then move to a second row under the clock; when even the alarm and the
    clock do not share a row, the alarm has the first row to itself (wrapped over more rows should
    it be wider than the screen) and the rest follows below."""
    page = list(page) or [("", 0.0)]
    synced = list(synced) or [("", 0.0)]
    choices = _secondary_choices(page, synced)
    # one row: alarm, page, synced, clock
    row = max(alarm_height, clock_height, text_height)
    for p, s in choices:
        if alarm + gap + _row_width([p[1], s[1], clock], gap) <= width:
            return _one_row(width, row, alarm, clock, p, s, gap)
    if alarm + gap + clock <= width:
        # alarm and clock on the first row; page and synced right-aligned on a row of their own
        first = max(alarm_height, clock_height)
        clock_rect = Rect(width - clock, 0, clock, first)
        alarm_rect = Rect(0, 0, clock_rect.x - gap, first)
        p, s = _fitting(choices, width, gap)
        page_rect, synced_rect = _right_aligned(width, first, text_height, p, s, gap)
        return HeaderLayout(
            alarm_rect, clock_rect, page_rect, synced_rect, p[0], s[0], 1, first + text_height
        )
    # the alarm alone on the first row(s), the clock and the rest on the next
    lines = 1 if alarm <= width else math.ceil(alarm * 1.25 / max(1.0, width))
    alarm_rect = Rect(0, 0, width, alarm_height * lines)
    top = alarm_rect.bottom
    clock_rect = Rect(width - clock, top, clock, clock_height)
    room = clock_rect.x - gap
    for p, s in choices:
        if _row_width([p[1], s[1]], gap) <= room:
            page_rect, synced_rect = _right_aligned(room, top, clock_height, p, s, gap)
            return HeaderLayout(
                alarm_rect, clock_rect, page_rect, synced_rect, p[0], s[0], lines, top + clock_height
            )
    p, s = _fitting(choices, width, gap)
    page_rect, synced_rect = _right_aligned(width, top + clock_height, text_height, p, s, gap)
    return HeaderLayout(
        alarm_rect, clock_rect, page_rect, synced_rect, p[0], s[0], lines, top + clock_height + text_height
    )


def _one_row(
    width: float, row: float, alarm: float, clock: float, p: Form, s: Form, gap: float
) -> HeaderLayout:
    clock_rect = Rect(width - clock, 0, clock, row)
    page_rect, synced_rect = _right_aligned(clock_rect.x - gap, 0, row, p, s, gap)
    left = min((r.x - gap for r in (page_rect, synced_rect, clock_rect) if not r.empty), default=width)
    alarm_rect = Rect(0, 0, max(alarm, left), row)
    return HeaderLayout(alarm_rect, clock_rect, page_rect, synced_rect, p[0], s[0], 1, row)


def _fitting(choices: Sequence[tuple[Form, Form]], width: float, gap: float) -> tuple[Form, Form]:
    for p, s in choices:
        if _row_width([p[1], s[1]], gap) <= width:
            return p, s
    p, s = choices[-1]
    if s[1] <= width:
        return ("", 0.0), s  # no room for both: the age of the data wins over the page number
    return ("", 0.0), ("", 0.0)


def _right_aligned(
    right: float, top: float, height: float, p: Form, s: Form, gap: float
) -> tuple[Rect, Rect]:
    """The page then "synced", ending at `right` (an empty text gets an empty rectangle)."""
    synced_rect = Rect(right - s[1], top, s[1], height) if s[1] > 0 else Rect(right, top, 0, height)
    end = synced_rect.x - gap if s[1] > 0 else right
    page_rect = Rect(end - p[1], top, p[1], height) if p[1] > 0 else Rect(end, top, 0, height)
    return page_rect, synced_rect


# -- the side panel: on call, then today's figures, laid out by measured heights --


@dataclass(frozen=True, slots=True)
class SideLayout:
    on_call_heading: Rect
    on_call: Rect
    today_heading: Rect  # empty when the figures had to go
    figures: tuple[Rect, ...]  # value, caption, value, caption … (row by row, two columns)
    until: bool  # whether the on-call list says until when
    schedules: int  # how many schedules the list shows (the rest: "+N more")
    needed: float  # the height all of it would take, at most what it was given


def side_layout(
    width: float,
    height: float,
    *,
    heading: float,
    figure: float,
    caption: float,
    spacing: float,
    on_call: Callable[[bool, int], float],
    schedules: int,
    beside: bool = False,
    gap: float = 0.0,
    figures_width: float = 0.0,
) -> SideLayout:
    """On call now and today's figures in `width` x `height`. `on_call(until, n)` is the measured
    height of the on-call list with or without the "until …" texts, showing `n` schedules.

    In a column (beside the tiles) the figures sit at the bottom and the list takes what is left;
    `beside` puts the two side by side (a panel under the tiles, `gap` apart, see side_columns).
    `figures_width` is what the figures' two columns need: figures that would be cut are left out.
    When the list does not fit, content goes in order of priority, lowest first: the "until …" texts, then the
    figures (in a column), then schedules from the end of the list ("+N more"). Nothing is ever
    drawn over anything else: what does not fit is left out, not overlapped."""
    schedules = max(0, schedules)
    shown = max(1, schedules)
    figures_height = heading + spacing + 2 * (figure + spacing + caption) + spacing
    if beside:
        column, today_width = side_columns(width, gap, figures_width)
        room = height - heading - spacing
        until, shown = _fit_on_call(on_call, room, shown)
        list_height = heading + spacing + on_call(until, shown)
        keep_figures = figures_height <= height + 0.5 and figures_width <= today_width + 0.5
        needed = max(list_height, figures_height if keep_figures else 0.0)
        figures_left = column + gap
        today, cells = _figures(figures_left, 0, today_width, heading, figure, caption, spacing, keep_figures)
        return SideLayout(
            Rect(0, 0, column, heading),
            Rect(0, heading + spacing, column, max(0.0, min(height, needed) - heading - spacing)),
            today,
            cells,
            until,
            shown if schedules else 0,
            min(height, needed),
        )
    keep_figures = figures_width <= width + 0.5  # cut figures would mislead: none rather
    room = height - heading - spacing - (spacing + figures_height if keep_figures else 0.0)
    if not keep_figures:
        until, shown = _fit_on_call(on_call, room, shown)
    elif _until_fits(on_call, room, shown):
        until = True
    elif on_call(False, shown) <= room:
        until = False
    else:
        keep_figures = False
        room = height - heading - spacing
        until, shown = _fit_on_call(on_call, room, shown)
    list_height = on_call(until, shown)
    top = height - figures_height if keep_figures else height
    today, cells = _figures(0, top, width, heading, figure, caption, spacing, keep_figures)
    list_bottom = (today.y - spacing) if keep_figures else height
    return SideLayout(
        Rect(0, 0, width, heading),
        Rect(0, heading + spacing, width, max(0.0, list_bottom - heading - spacing)),
        today,
        cells,
        until,
        shown if schedules else 0,
        min(height, heading + spacing + list_height + (spacing + figures_height if keep_figures else 0)),
    )


def side_columns(width: float, gap: float, figures_width: float) -> tuple[float, float]:
    """Under the tiles: the on-call list's width and today's. Today takes half, or what its figures
    need, up to 65 % (names wrap; figures cannot)."""
    half = (width - gap) / 2
    today = min(max(half, figures_width), (width - gap) * 0.65)
    return width - gap - today, today


def _until_fits(on_call: Callable[[bool, int], float], room: float, shown: int) -> bool:
    """ "until …" goes on the person's line: only when it fits there (no wrapped half-lines)."""
    return on_call(True, shown) <= min(room, on_call(False, shown) + 0.5)


def _fit_on_call(on_call: Callable[[bool, int], float], room: float, shown: int) -> tuple[bool, int]:
    """Without "until …" before fewer schedules; one schedule always shows (clipped if need be)."""
    if _until_fits(on_call, room, shown):
        return True, shown
    while shown > 1 and on_call(False, shown) > room:
        shown -= 1
    return False, shown


def _figures(
    left: float,
    top: float,
    width: float,
    heading: float,
    figure: float,
    caption: float,
    spacing: float,
    keep: bool,
) -> tuple[Rect, tuple[Rect, ...]]:
    if not keep:
        return Rect(left, top, width, 0), ()
    column = (width - spacing) / 2
    today = Rect(left, top, width, heading)
    cells: list[Rect] = []
    y = today.bottom + spacing
    for _row in range(2):
        values = [Rect(left + c * (column + spacing), y, column, figure) for c in range(2)]
        captions = [
            Rect(left + c * (column + spacing), y + figure + spacing, column, caption) for c in range(2)
        ]
        cells += [values[0], captions[0], values[1], captions[1]]
        y += figure + spacing + caption + spacing
    return today, tuple(cells)


# -- a tile: priority, number and service, state, age, title; shorter words before less service --


class StateForm(enum.IntEnum):
    """How a tile says its acknowledgement, longest first. A board uses one form for all its tiles,
    so the room reads the same word for the same state across the wall."""

    FULL = 0  # "NOT ACKNOWLEDGED", "✓ priya", "✓ ACKNOWLEDGED"
    SHORT = 1  # "WAITING", "✓ priya", "✓ ACKED"
    ICON = 2  # "WAITING", "✓": waiting keeps its word (the one thing the room must read)


def state_words(group: Group, who: str | None, form: StateForm = StateForm.FULL) -> str:
    if not group.acknowledged:
        return "NOT ACKNOWLEDGED" if form is StateForm.FULL else "WAITING"
    if form is StateForm.ICON:
        return "✓"
    if who:
        return f"✓ {who}"
    return "✓ ACKNOWLEDGED" if form is StateForm.FULL else "✓ ACKED"


@dataclass(frozen=True, slots=True)
class TileMetrics:
    """A tile's spacing in pixels at scale 1 (a 1080p wall); `scaled` for others."""

    pad_left: float = 48  # the colour band (24) and a gap
    pad_right: float = 28
    pad_top: float = 16
    line: float = 56
    mark: float = 46
    after_mark: float = 16
    after_label: float = 24
    before_age: float = 32
    after_meta: float = 24
    before_title: float = 6
    title: float = 60
    pad_bottom: float = 12  # 16 + 56 + 6 + 60 + 12 = 150, the tile's height at 1080p
    meta_min: float = 280  # the service keeps this much (or all it needs) before the state shortens
    state_share: float = 0.45  # a long name must leave the priority and the service in view

    def scaled(self, s: float) -> TileMetrics:
        sized = {f.name: getattr(self, f.name) * s for f in fields(self) if f.name != "state_share"}
        sized["mark"] = round(self.mark * s)  # an image: whole pixels
        return replace(self, **sized)


@dataclass(frozen=True, slots=True)
class TileParts:
    mark: Rect
    label: Rect
    meta: Rect
    state: Rect
    age: Rect
    title: Rect

    def named(self) -> dict[str, Rect]:
        return {
            "mark": self.mark,
            "label": self.label,
            "meta": self.meta,
            "state": self.state,
            "age": self.age,
            "title": self.title,
        }


def tile_height(m: TileMetrics, *, compact: bool = False) -> float:
    """Two rows (the second the title); compact: the number and service get a row of their own."""
    return m.pad_top + m.line * (2 if compact else 1) + m.before_title + m.title + m.pad_bottom


def tile_parts(
    tile: Rect, m: TileMetrics, *, label: float, age: float, state: float, compact: bool = False
) -> TileParts:
    """Where a tile's texts go, from their measured widths: `label` ("HIGH"), `age`, `state` (the
    state's words in the board's form). The state is capped at `state_share` of the room after the
    label (the caller elides a long name into its rectangle) and the number and service take what
    is left between the label and the state. Compact: the number and service have the second row
    to themselves. The rectangles never overlap, however narrow the tile."""
    left = tile.x + m.pad_left
    right = max(left, tile.right - m.pad_right)
    top = tile.y + m.pad_top
    mark = Rect(left, top + (m.line - m.mark) / 2, m.mark, m.mark)
    x = min(right, mark.right + m.after_mark)
    label_rect = Rect(x, top, min(label, right - x), m.line)
    x = min(right, label_rect.right + m.after_label)
    age_width = min(age, max(0.0, right - x))
    age_rect = Rect(right - age_width, top, age_width, m.line)
    room = max(0.0, age_rect.x - m.before_age - x)
    state_width = min(state, (right - x) * m.state_share, room)
    state_rect = Rect(age_rect.x - m.before_age - state_width, top, state_width, m.line)
    if compact:
        meta_rect = Rect(left, top + m.line, right - left, m.line)
        title_top = meta_rect.bottom + m.before_title
    else:
        meta_rect = Rect(x, top, max(0.0, state_rect.x - m.after_meta - x), m.line)
        title_top = top + m.line + m.before_title
    title = Rect(left, title_top, right - left, m.title)
    return TileParts(mark, label_rect, meta_rect, state_rect, age_rect, title)


def choose_form(tile: Rect, m: TileMetrics, tiles: Iterable[TileWidths]) -> StateForm:
    """The longest state form with which every tile of the board keeps its words whole (a name
    may still be elided, as it always was) and its service readable: all of it, or at least
    `meta_min`. When none does, the shortest (the service is then elided, never the words)."""
    tiles = list(tiles)
    for form in StateForm:
        if all(_fits(tile, m, widths, form) for widths in tiles):
            return form
    return StateForm.ICON


@dataclass(frozen=True, slots=True)
class TileWidths:
    """A tile's measured texts: the label, the age, the state in each form, number and service."""

    label: float
    age: float
    states: Sequence[float]
    meta: float
    named: bool = False  # the state names who acknowledged: it may be elided


def _fits(tile: Rect, m: TileMetrics, w: TileWidths, form: StateForm) -> bool:
    parts = tile_parts(tile, m, label=w.label, age=w.age, state=w.states[form])
    whole = (w.named and form is not StateForm.ICON) or parts.state.width >= w.states[form] - 0.5
    return whole and parts.meta.width >= min(w.meta, m.meta_min)
