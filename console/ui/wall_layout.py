"""What the NOC wall shows, decided without Qt: the order of the tiles, how many fit and which page
is up, whether rotation pauses, today's figures, and whether the data can be trusted (stale,
offline). console/ui/wall.py only draws what these functions answer, so the rules are tested with
plain values (and Hypothesis where they sort and page).

Tile order: high-priority unacknowledged first, then high acknowledged, then low unacknowledged,
then low acknowledged; within a group the **oldest first**. The oldest unacknowledged page is the
one escalation is about to reach and the one the room must chase, and an order by age is stable:
a new incident joins the end of its group instead of pushing every tile down the wall during a
storm. Ties (same second) fall back to the number, then the id, so the order is total.

Pages rotate when the tiles do not fit on one. While a high-priority incident waits for an
acknowledgement the rotation pauses on the first page, where it is; should waiting incidents fill
more than a page, it keeps to those pages only (a pause on page one would hide the rest of them).
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
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
