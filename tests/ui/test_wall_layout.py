"""The wall's rules without Qt: tile order, grid and pages, the rotation that keeps to waiting
incidents, today's figures, staleness, burn-in and the pulse rate. Hypothesis where they sort and
page; plain examples where a rule is one sentence."""

from __future__ import annotations

import itertools
import random
import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from console.domain.incident import Incident
from console.domain.priority import Priority
from console.domain.status import Rank, Status
from console.domain.views import IncidentView
from console.sync.state import Status as SyncStatus
from console.ui import wall_layout as layout

NOW = datetime(2026, 11, 27, 9, 30, tzinfo=UTC)
MIDNIGHT = datetime(2026, 11, 27, tzinfo=UTC)


def view(
    number: int,
    *,
    priority: Priority = Priority.HIGH,
    rank: Rank = Rank.TRIGGERED,
    age: timedelta = timedelta(minutes=5),
    acked_after: timedelta | None = None,
    resolved_after: timedelta | None = None,
) -> IncidentView:
    created = NOW - age
    incident = Incident(
        id=f"id-{number:05d}",
        number=number,
        service_id=1,
        title=f"incident {number}",
        priority=priority,
        category="general",
        status=Status(0, rank),
        created_at=created,
        updated_at=created,
        acknowledged_at=None if acked_after is None else created + acked_after,
        resolved_at=None if resolved_after is None else created + resolved_after,
    )
    return IncidentView(incident, "shop")


views_strategy = st.lists(
    st.builds(
        view,
        st.integers(0, 3000),
        priority=st.sampled_from(Priority),
        rank=st.sampled_from(Rank),
        age=st.integers(0, 600).map(lambda m: timedelta(minutes=m)),
    ),
    max_size=60,
    unique_by=lambda v: v.id,
)


# -- order --


@given(views_strategy, st.randoms())
def test_the_order_is_waiting_high_then_taken_high_then_low_each_oldest_first(
    views: list[IncidentView], rng: random.Random
) -> None:
    ordered = layout.order_tiles(views)
    assert {v.id for v in ordered} == {v.id for v in views if v.incident.status.is_open}
    groups = [layout.group_of(v) for v in ordered]
    assert groups == sorted(groups)
    for before, after in itertools.pairwise(ordered):
        if layout.group_of(before) == layout.group_of(after):
            assert before.incident.created_at <= after.incident.created_at
    shuffled = list(views)
    rng.shuffle(shuffled)
    assert [v.id for v in layout.order_tiles(shuffled)] == [v.id for v in ordered]  # a total order


def test_groups_in_words() -> None:
    assert layout.group_of(view(1)) is layout.Group.HIGH_UNACKNOWLEDGED
    assert layout.group_of(view(2, rank=Rank.ACKNOWLEDGED)) is layout.Group.HIGH_ACKNOWLEDGED
    assert layout.group_of(view(3, priority=Priority.LOW)) is layout.Group.LOW_UNACKNOWLEDGED
    assert layout.order_tiles([view(4, rank=Rank.RESOLVED), view(5, rank=Rank.CLOSED)]) == []


def test_a_new_incident_joins_the_end_of_its_group() -> None:
    old = [view(n, age=timedelta(minutes=60 - n)) for n in range(1, 6)]
    ordered = layout.order_tiles([*old, view(99, age=timedelta(0))])
    assert [v.incident.number for v in ordered] == [1, 2, 3, 4, 5, 99]  # nothing above it moved


# -- grid and pages --


@given(
    st.integers(1, 8000),
    st.integers(1, 5000),
    st.integers(50, 1500),
    st.integers(20, 400),
    st.integers(0, 60),
)
def test_the_grid_fits_and_one_more_column_or_row_would_not(
    width: int, height: int, tile_width: int, tile_height: int, gap: int
) -> None:
    grid = layout.grid_for(width, height, tile_width=tile_width, tile_height=tile_height, gap=gap)
    assert grid.columns >= 1
    assert grid.rows >= 1
    if grid.columns > 1:
        assert grid.columns * tile_width + (grid.columns - 1) * gap <= width
    if grid.rows > 1:
        assert grid.rows * tile_height + (grid.rows - 1) * gap <= height
    assert (grid.columns + 1) * tile_width + grid.columns * gap > width
    assert (grid.rows + 1) * tile_height + grid.rows * gap > height


@given(st.lists(st.integers(), max_size=200), st.integers(1, 40))
def test_the_pages_hold_every_tile_once_in_order(items: list[int], per_page: int) -> None:
    pages = layout.page_count(len(items), per_page)
    shown = [layout.page_items(items, page, per_page) for page in range(pages)]
    assert [item for page in shown for item in page] == items
    assert all(len(page) <= per_page for page in shown)
    assert all(shown[:-1]) or pages == 1  # no empty page but the only one
    assert pages == 1 or len(shown[-1]) > 0


@given(st.integers(1, 30), st.integers(0, 40), st.integers(0, 30))
def test_rotation_keeps_to_the_waiting_pages_and_otherwise_visits_all(
    pages: int, urgent: int, start: int
) -> None:
    current = layout.clamp_page(start, pages, urgent=urgent)
    span = min(urgent, pages) if urgent else pages
    assert 0 <= current < span
    visited = set()
    for _ in range(2 * pages + 2):
        current = layout.next_page(current, pages, urgent=urgent)
        visited.add(current)
    assert visited == set(range(span))  # every page in reach, nothing beyond


def test_one_waiting_page_is_a_pause() -> None:
    assert layout.next_page(0, 5, urgent=1) == 0
    assert layout.next_page(3, 5, urgent=1) == 0  # a new waiting incident: back to the first page
    assert layout.clamp_page(3, 5, urgent=0) == 3
    assert layout.clamp_page(7, 5, urgent=0) == 0  # fewer pages now
    assert layout.urgent_pages(0, 5) == 0
    assert layout.urgent_pages(6, 5) == 2


# -- figures --


def test_todays_figures() -> None:
    views = [
        view(1),  # open, waiting
        view(2, rank=Rank.ACKNOWLEDGED, age=timedelta(minutes=30), acked_after=timedelta(minutes=4)),
        view(3, priority=Priority.LOW, rank=Rank.ACKNOWLEDGED, acked_after=timedelta(minutes=2)),
        view(
            4,
            rank=Rank.RESOLVED,
            age=timedelta(hours=2),
            acked_after=timedelta(minutes=6),
            resolved_after=timedelta(minutes=50),
        ),
        view(  # all of it yesterday: in neither mean
            5,
            rank=Rank.RESOLVED,
            age=timedelta(hours=20),
            acked_after=timedelta(minutes=1),
            resolved_after=timedelta(hours=1),
        ),
    ]
    figures = layout.today_figures(views, since=MIDNIGHT)
    assert (figures.open, figures.acknowledged, figures.high_unacknowledged) == (3, 2, 1)
    assert figures.acknowledged_today == 3
    assert figures.mean_to_acknowledge == timedelta(minutes=4)  # (4 + 2 + 6) / 3
    assert figures.resolved_today == 1
    assert figures.mean_to_resolve == timedelta(minutes=50)
    assert layout.today_figures([], since=MIDNIGHT).mean_to_resolve is None
    assert [layout.worth_keeping(v, MIDNIGHT) for v in views] == [True, True, True, True, False]


def test_the_day_starts_at_local_midnight() -> None:
    berlin_winter = timezone(timedelta(hours=1))
    assert layout.day_start(datetime(2026, 11, 27, 23, 30, tzinfo=UTC), berlin_winter) == datetime(
        2026, 11, 28, tzinfo=berlin_winter
    )


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0 s"), (59, "59 s"), (60, "1 min"), (3599, "59 min"), (3600, "1 h 00"), (7500, "2 h 05"),
     (90000, "1 d 01 h"), (-5, "0 s")],
)  # fmt: skip
def test_ages_read_at_a_glance(seconds: int, text: str) -> None:
    assert layout.format_age(timedelta(seconds=seconds)) == text


# -- can the wall be trusted --


def test_fresh_then_stale_after_the_limit() -> None:
    synced_at = NOW - layout.STALE_AFTER
    fresh = layout.sync_health(SyncStatus.ONLINE, last_sync_at=synced_at, now=NOW, tz=UTC)
    assert fresh.freshness is layout.Freshness.FRESH
    assert fresh.banner == ""
    assert fresh.synced == "synced 1 min ago"
    later = NOW + timedelta(seconds=1)
    stale = layout.sync_health(SyncStatus.SYNCING, last_sync_at=synced_at, now=later, tz=UTC)
    assert stale.freshness is layout.Freshness.STALE
    assert stale.banner == "STALE — nothing new from the server · data from 09:28 (1 min ago)"


def test_offline_and_errors_say_so_at_once() -> None:
    offline = layout.sync_health(SyncStatus.OFFLINE, last_sync_at=NOW, now=NOW, tz=UTC)
    assert offline.freshness is layout.Freshness.OFFLINE
    assert offline.banner.startswith("OFFLINE")
    error = layout.sync_health(SyncStatus.ERROR, last_sync_at=NOW, now=NOW, message="Token refused.", tz=UTC)
    assert error.banner.startswith("SYNC ERROR — Token refused.")
    never = layout.sync_health(None, last_sync_at=None, now=NOW)
    assert never.freshness is layout.Freshness.NEVER
    assert never.synced == "never synced"


# -- burn-in and flashing --


@given(st.integers(0, 10_000), st.integers(1, 20))
def test_the_burn_in_orbit_stays_within_its_amplitude(step: int, amplitude: int) -> None:
    dx, dy = layout.burn_in_offset(step, amplitude)
    assert abs(dx) <= amplitude
    assert abs(dy) <= amplitude
    assert layout.burn_in_offset(step + 9, amplitude) == (dx, dy)  # a cycle of nine places
    assert len({layout.burn_in_offset(step + k, amplitude) for k in range(9)}) == 9


def test_the_pulse_is_within_three_flashes_a_second() -> None:
    assert layout.flashes_per_second(layout.PULSE_TOGGLE_MS) <= layout.MAX_FLASHES_PER_SECOND
    assert layout.flashes_per_second(100) > layout.MAX_FLASHES_PER_SECOND  # what it guards against


def test_the_rules_import_without_qt() -> None:
    code = "import sys; sys.modules['PySide6'] = None; import console.ui.wall_layout; print('ok')"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
