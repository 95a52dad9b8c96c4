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


# -- geometry: nothing drawn over anything else, the alarm never shortened --

ALARM = 760.0  # "▲ 2 HIGH NOT ACKNOWLEDGED" at 48 px
CLOCK = 323.0
PAGE = [("Page 1/3 · paused", 322.0), ("1/3 · paused", 230.0), ("1/3", 60.0)]
SYNCED = [("synced 5 s ago", 270.0), ("synced 5 s", 200.0)]


def header(width: float, **kw: object) -> layout.HeaderLayout:
    args: dict[str, object] = {
        "alarm": ALARM,
        "clock": CLOCK,
        "page": PAGE,
        "synced": SYNCED,
        "alarm_height": 56.0,
        "clock_height": 84.0,
        "text_height": 46.0,
        "gap": 36.0,
    }
    args.update(kw)
    return layout.header_layout(width, **args)  # type: ignore[arg-type]


def header_rects(placed: layout.HeaderLayout) -> dict[str, layout.Rect]:
    return {"alarm": placed.alarm, "page": placed.page, "synced": placed.synced, "clock": placed.clock}


def test_the_header_fits_on_one_row_when_there_is_room_as_at_1080p() -> None:
    placed = header(1854)  # a 1080p wall inside its margins
    assert (placed.page_text, placed.synced_text) == ("Page 1/3 · paused", "synced 5 s ago")
    assert placed.height == 84
    assert placed.alarm_lines == 1
    assert placed.alarm == layout.Rect(
        0, 0, 1854 - 323 - 36 - 270 - 36 - 322 - 36, 84
    )  # what the others leave
    assert placed.clock.right == 1854


def test_the_page_shortens_first_then_synced_then_they_take_a_second_row() -> None:
    one_row = ALARM + CLOCK + 3 * 36
    assert header(one_row + 322 + 36 + 270).page_text == "Page 1/3 · paused"
    assert (header(one_row + 230 + 36 + 270).page_text, header(one_row + 230 + 36 + 270).synced_text) == (
        "1/3 · paused",
        "synced 5 s ago",
    )
    tight = header(one_row + 60 + 36 + 200)
    assert (tight.page_text, tight.synced_text, tight.height) == ("1/3", "synced 5 s", 84)
    two_rows = header(ALARM + 36 + CLOCK + 10)  # only the alarm and the clock share the first row
    assert two_rows.height == 84 + 46
    assert (two_rows.page_text, two_rows.synced_text) == ("Page 1/3 · paused", "synced 5 s ago")
    assert two_rows.page.y == two_rows.synced.y == 84
    alone = header(ALARM + 10)  # the alarm has the first row to itself, the clock the next
    assert alone.alarm.width >= ALARM
    assert alone.clock.y >= alone.alarm.bottom


def test_one_page_says_nothing_and_takes_no_room() -> None:
    placed = header(1854, page=[("", 0.0)])
    assert placed.page_text == ""
    assert placed.page.empty
    assert placed.alarm.width == 1854 - CLOCK - 36 - 270 - 36


@given(
    st.floats(300, 4000),
    st.floats(100, 1600),
    st.floats(40, 700),
    st.lists(st.floats(0, 700), min_size=1, max_size=3),
    st.lists(st.floats(0, 600), min_size=1, max_size=3),
)
def test_the_header_never_shortens_the_alarm_nor_overlaps(
    width: float, alarm: float, clock: float, page: list[float], synced: list[float]
) -> None:
    page_forms = [(f"p{index}", w) for index, w in enumerate(sorted(page, reverse=True))]
    synced_forms = [(f"s{index}", w) for index, w in enumerate(sorted(synced, reverse=True))]
    placed = header(width, alarm=alarm, clock=clock, page=page_forms, synced=synced_forms)
    rects = header_rects(placed)
    assert layout.overlapping(rects) == []
    if alarm <= width:
        assert placed.alarm.width >= alarm
        assert placed.alarm_lines == 1
    else:
        assert placed.alarm.width == width
        assert placed.alarm_lines >= 2
    if clock <= width:
        assert placed.clock.width == clock
        assert placed.clock.x >= 0
    for name in ("page", "synced"):
        assert rects[name].empty or (rects[name].x >= -0.01 and rects[name].right <= width + 0.01)
    assert placed.height >= max(r.bottom for r in rects.values())


def test_page_and_synced_words_shorten_keeping_the_numbers() -> None:
    assert layout.page_forms(0, 1, 0) == [""]
    assert layout.page_forms(0, 3, 1) == ["Page 1/3 · paused", "1/3 · paused", "1/3"]
    assert layout.page_forms(1, 4, 2) == ["Page 2/4 · waiting: 2 pages", "2/4 · waiting 2", "2/4"]
    assert layout.page_forms(2, 3, 0) == ["Page 3/3", "3/3"]
    assert layout.synced_forms("synced 12 s ago") == ["synced 12 s ago", "synced 12 s"]
    assert layout.synced_forms("never synced") == ["never synced"]


def side(
    height: float, *, beside: bool = False, schedules: int = 3, width: float = 540, wraps: bool = False,
    figures_width: float = 0.0,
) -> layout.SideLayout:  # fmt: skip
    def on_call(until: bool, shown: int) -> float:
        # a schedule: a 40 px name line and a 60 px person line ("until" on it, or wrapped below
        # it: 40 px more), then "+N more": 47 px
        return shown * (100 + (40 if until and wraps else 0)) + (47 if shown < schedules else 0)

    return layout.side_layout(
        width, height, heading=47, figure=75, caption=47, spacing=6, on_call=on_call, schedules=schedules,
        beside=beside, gap=24, figures_width=figures_width,
    )  # fmt: skip


def side_rects(plan: layout.SideLayout) -> dict[str, layout.Rect]:
    found = {"heading": plan.on_call_heading, "on_call": plan.on_call, "today": plan.today_heading}
    found.update({f"figure{index}": rect for index, rect in enumerate(plan.figures)})
    return found


FIGURES = 47 + 6 + 2 * (75 + 6 + 47) + 6  # 315: TODAY and two rows of figures
TOP = 47 + 6  # ON CALL NOW


def test_the_side_panel_drops_until_then_the_figures_then_schedules_rather_than_overlap() -> None:
    roomy = side(TOP + 3 * 100 + 6 + FIGURES)
    assert (roomy.until, bool(roomy.figures), roomy.schedules) == (True, True, 3)
    assert roomy.today_heading.y == roomy.on_call.bottom + 6  # the figures at the bottom, as at 1080p
    assert roomy.on_call.y == TOP
    wrapped = side(2000, wraps=True)  # "until" would wrap onto a line of its own: not at all
    assert (wrapped.until, bool(wrapped.figures), wrapped.schedules) == (False, True, 3)
    no_figures = side(TOP + 3 * 100)
    assert (no_figures.until, bool(no_figures.figures), no_figures.schedules) == (True, False, 3)
    fewer = side(TOP + 2 * 100 + 47)
    assert (bool(fewer.figures), fewer.schedules) == (False, 2)
    cut = side(2000, figures_width=600)  # figures wider than the panel: none rather than cut ones
    assert not cut.figures
    assert cut.on_call.bottom == 2000


def test_under_the_tiles_the_panel_puts_on_call_and_today_side_by_side() -> None:
    plan = side(600, beside=True, width=746)
    assert plan.until
    assert plan.figures
    assert plan.on_call.right <= plan.today_heading.x
    assert plan.needed == max(TOP + 3 * 100, FIGURES)
    short = side(250, beside=True, width=746)
    assert not short.figures  # 315 px of figures do not fit in 250
    assert short.schedules == 1
    wide_figures = side(600, beside=True, width=746, figures_width=420)
    assert wide_figures.today_heading.width == 420  # today takes what its figures need
    assert wide_figures.on_call.width == 746 - 24 - 420


@given(
    st.floats(50, 1500),
    st.booleans(),
    st.integers(0, 6),
    st.floats(300, 900),
    st.booleans(),
    st.floats(0, 700),
)
def test_the_side_panel_never_overlaps_and_stays_inside(
    height: float, beside: bool, schedules: int, width: float, wraps: bool, figures_width: float
) -> None:
    plan = side(
        height, beside=beside, schedules=schedules, width=width, wraps=wraps, figures_width=figures_width
    )
    rects = side_rects(plan)
    assert layout.overlapping(rects) == []
    box = layout.Rect(0, 0, width, height)
    for rect in rects.values():
        assert rect.empty or box.contains(rect)
    assert plan.needed <= height + 0.01


def test_state_words_shorten_but_waiting_keeps_a_word() -> None:
    high, taken = layout.Group.HIGH_UNACKNOWLEDGED, layout.Group.LOW_ACKNOWLEDGED
    assert [layout.state_words(high, None, form) for form in layout.StateForm] == [
        "NOT ACKNOWLEDGED",
        "WAITING",
        "WAITING",
    ]
    assert [layout.state_words(taken, "priya", form) for form in layout.StateForm] == [
        "✓ priya",
        "✓ priya",
        "✓",
    ]
    assert [layout.state_words(taken, None, form) for form in layout.StateForm] == [
        "✓ ACKNOWLEDGED",
        "✓ ACKED",
        "✓",
    ]


M = layout.TileMetrics()


def test_a_1080p_tile_keeps_its_full_words_and_its_geometry() -> None:
    tile = layout.Rect(0, 0, 1295, layout.tile_height(M))
    assert tile.height == 150
    # "LOW", "1 h 46", the three state forms, "#15 · payments-gateway" (40 px DejaVu Sans Condensed)
    assert (
        layout.choose_form(tile, M, [layout.TileWidths(83.0, 140.0, [380.0, 170.0, 30.0], 480.0)])
        is layout.StateForm.FULL
    )
    parts = layout.tile_parts(tile, M, label=83, age=140, state=380)
    assert parts.label.x == 48 + 46 + 16
    assert parts.age.right == 1295 - 28
    assert parts.state.right == parts.age.x - 32
    assert parts.meta.right == parts.state.x - 24
    assert parts.title == layout.Rect(48, 16 + 56 + 6, 1295 - 48 - 28, 60)


def test_a_narrow_tile_shortens_the_state_before_the_service() -> None:
    widths = layout.TileWidths(90.0, 130.0, [380.0, 170.0, 30.0], 480.0)
    tile = layout.Rect(0, 0, 900, layout.tile_height(M))
    assert layout.choose_form(tile, M, [widths]) is layout.StateForm.SHORT
    parts = layout.tile_parts(tile, M, label=90, age=130, state=170)
    assert parts.meta.width >= M.meta_min
    narrower = layout.Rect(0, 0, 760, layout.tile_height(M))
    assert layout.choose_form(narrower, M, [widths]) is layout.StateForm.ICON
    short_service = layout.TileWidths(
        90.0, 130.0, [380.0, 170.0, 30.0], 150.0
    )  # "#8 · auth": fits with the full words
    assert layout.choose_form(layout.Rect(0, 0, 1100, 150), M, [short_service]) is layout.StateForm.FULL


@given(
    st.floats(0, 3000),
    st.floats(0.5, 2.5),
    st.floats(0, 400),
    st.floats(0, 400),
    st.floats(0, 800),
    st.booleans(),
)
def test_a_tiles_texts_never_overlap_however_narrow(
    width: float, scale: float, label: float, age: float, state: float, compact: bool
) -> None:
    m = M.scaled(scale)
    tile = layout.Rect(10, 20, width, layout.tile_height(m, compact=compact))
    parts = layout.tile_parts(tile, m, label=label, age=age, state=state, compact=compact)
    named = parts.named()
    assert layout.overlapping(named) == []
    for name, rect in named.items():
        if name != "mark" and not rect.empty:  # the mark sits in the padding of a tile too narrow
            assert rect.x >= tile.x - 0.01, name
            assert rect.right <= tile.right + 0.01, name
        assert rect.bottom <= tile.bottom + 0.01
    if width >= 1000 * scale and label <= 120 * scale and age <= 200 * scale:
        assert parts.label.width == label
        assert parts.age.width == age


def test_compact_tiles_give_the_service_a_row() -> None:
    assert layout.tile_height(M, compact=True) == 150 + 56
    parts = layout.tile_parts(layout.Rect(0, 0, 600, 206), M, label=90, age=130, state=170, compact=True)
    assert parts.meta.y == parts.label.bottom
    assert parts.meta.width == 600 - 48 - 28
    assert parts.title.y == parts.meta.bottom + 6
