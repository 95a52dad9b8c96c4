"""The NOC wall over a real replica: tiles in the wall's order, the banner when the data is stale or
the console offline, rotation that pauses while a high-priority incident waits, the pulse within
3 flashes a second, burn-in shifts, the idle cursor, the opt-in acknowledge shortcut, and the
feeder's incremental reads. The helpers here also serve test_wall_screens.py and the benchmark."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest
import qasync
from PySide6.QtCore import QEvent, QPointF, Qt
from PySide6.QtGui import QFontMetrics, QKeySequence, QMouseEvent
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from console.demo import CASCADE_ROOT, CHECKS, DEMO_SERVICES
from console.domain.oncall import OnCallNow, board
from console.domain.ops import OpType
from console.domain.schedule import Layer, Schedule, Turn
from console.domain.status import Rank
from console.domain.views import IncidentView
from console.notify.tray import TrayState, icon_image
from console.store.replica import Replica
from console.sync.state import Status, SyncView
from console.ui import wall_layout as layout
from console.ui.wall import (
    ACKNOWLEDGE_KEY,
    BURN_IN_PX,
    TEXT_FLOOR_PX,
    WallChanges,
    WallWindow,
    min_text_px,
    place_on_screen,
    scale_for,
)
from console.ui.wall_feeder import WallFeeder

NOW = datetime(2026, 11, 27, 9, 30, tzinfo=UTC)
SERVER = "http://server"
SERVICES = {index: name for index, (name, _parent) in enumerate(DEMO_SERVICES, start=1)}
INCIDENT_COLUMNS = [
    "id", "number", "service_id", "title", "priority", "category", "status", "epoch", "alert_count",
    "open_alerts", "created_at", "updated_at", "acknowledged_at", "resolved_at", "assignee", "description",
    "snoozed_until", "clocks", "seq",
]  # fmt: skip
TIMELINE_COLUMNS = ["id", "incident_id", "service_id", "at", "kind", "actor", "body", "seq"]


# -- test data: incidents as the server sends them, into a real replica --


@dataclass(frozen=True, slots=True)
class Row:
    """One incident as the server would send it; times in minutes before `now`."""

    number: int
    title: str = ""
    priority: str = "high"
    status: str = "triggered"
    age: float = 5.0
    service: int = 1
    acked_by: str | None = None  # a timeline "acknowledged" entry by this person
    acked_after: float = 2.0  # minutes after creation
    resolved_after: float = 30.0

    @property
    def id(self) -> str:
        return incident_id(self.number)


def incident_id(number: int) -> str:
    return f"01wall-{number:05d}"


def _at(now: datetime, minutes: float) -> str:
    return (now - timedelta(minutes=minutes)).isoformat()


def incident_row(row: Row, now: datetime = NOW, seq: int = 1) -> list[Any]:
    created = row.age
    acked = None if row.status == "triggered" else _at(now, max(0.0, created - row.acked_after))
    resolved = (
        _at(now, max(0.0, created - row.resolved_after)) if row.status in ("resolved", "closed") else None
    )
    open_alerts = 0 if resolved else 1
    return [row.id, row.number, row.service, row.title or f"incident {row.number}", row.priority, "general",
            row.status, 0, 1, open_alerts, _at(now, created), _at(now, created), acked, resolved, None, "",
            None, {}, seq]  # fmt: skip


def timeline_rows(row: Row, now: datetime = NOW, seq: int = 1) -> list[list[Any]]:
    if row.acked_by is None or row.status == "triggered":
        return []
    at = _at(now, max(0.0, row.age - row.acked_after))
    return [[f"ack-{row.id}", row.id, row.service, at, "acknowledged", row.acked_by, {"epoch": 0}, seq]]


def pull_page(rows: Sequence[Row], *, now: datetime = NOW, seq: int = 1) -> dict[str, Any]:
    services = [[sid, name, None, 1] for sid, name in SERVICES.items()]
    return {
        "cursor": f"c{seq}",
        "last_seq": seq,
        "page_seq": seq,
        "more": False,
        "hlc": "",
        "tables": {
            "services": {"columns": ["id", "name", "parent_id", "seq"], "rows": services},
            "incidents": {"columns": INCIDENT_COLUMNS, "rows": [incident_row(r, now, seq) for r in rows]},
            "timeline": {
                "columns": TIMELINE_COLUMNS,
                "rows": [t for r in rows for t in timeline_rows(r, now, seq)],
            },
        },
    }


def replica_with(path: Path, rows: Sequence[Row], now: datetime = NOW) -> Replica:
    made = Replica(path)
    made.set_server(SERVER, "wallboard")
    made.apply_page(pull_page(rows, now=now))
    return made


# What each demo check is on the wall: (priority, status, who acknowledged). Two high-priority
# incidents wait, two are taken, lows of both kinds, and some resolved today for the figures.
DEMO_PLAN: dict[int, tuple[str, str, str | None]] = {
    2: ("high", "acknowledged", "priya"),
    3: ("high", "triggered", None),
    4: ("high", "resolved", "sam"),
    5: ("low", "triggered", None),
    6: ("low", "acknowledged", "lee"),
    7: ("high", "resolved", "priya"),
    8: ("high", "acknowledged", "morgan"),
    9: ("low", "triggered", None),
    10: ("low", "resolved", "lee"),
    11: ("high", "resolved", "sam"),
    12: ("low", "acknowledged", "sam"),
    13: ("high", "resolved", "morgan"),
    14: ("low", "triggered", None),
    15: ("low", "triggered", None),
    16: ("high", "resolved", "priya"),
    17: ("low", "acknowledged", "lee"),
    18: ("high", "resolved", "sam"),
}


def demo_rows() -> list[Row]:
    """A believable wall from the demo's checks (console/demo.py) and responders."""
    service_ids = {name: sid for sid, name in SERVICES.items()}
    root = CASCADE_ROOT.summary.format(value=100)
    made = [Row(1, root, "high", "triggered", 3.2, service_ids["postgres-main"])]
    for index, check in enumerate(CHECKS, start=2):
        priority, status, who = DEMO_PLAN[index]
        made.append(
            Row(
                index,
                check.summary.format(value=check.values[1]),
                priority,
                status,
                age=7.0 * index + 1,
                service=service_ids[check.service],
                acked_by=who,
                acked_after=1.5 + index % 5,
                resolved_after=20.0 + 3 * index,
            )
        )
    return made


# -- on call: the pure board over domain schedules --


class ScheduleBoard:
    """An OnCallBoard over domain schedules (the replica's own is another engineer's)."""

    def __init__(self, schedules: Sequence[Schedule]) -> None:
        self._schedules = list(schedules)

    def on_call_now(self, at: datetime) -> list[OnCallNow]:
        return board(self._schedules, at)


def demo_schedules() -> list[Schedule]:
    def weekly(name: str, people: tuple[str, ...], hour: int) -> Schedule:
        layer = Layer("rotation", people, "Europe/Berlin", date(2026, 11, 2), time(hour, 0), Turn.weekly())
        return Schedule(name, (layer,))

    daily = Layer("days", ("lee", "jordan"), "Europe/Berlin", date(2026, 11, 2), time(8, 0), Turn.daily())
    return [
        weekly("database", ("priya", "sam", "lee"), 9),
        weekly("payments", ("morgan", "priya"), 10),
        Schedule("platform", (daily,)),
    ]


class Clock:
    """A clock the test moves."""

    def __init__(self, now: datetime = NOW) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def synced(at: datetime, status: Status = Status.ONLINE, message: str = "In sync.") -> SyncView:
    return SyncView(status, message, 0, at, SERVER)


# -- fixtures --


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def wall(qtbot: QtBot, clock: Clock) -> WallWindow:
    made = WallWindow(clock=clock, tz=UTC)
    qtbot.addWidget(made)
    made.resize(1920, 1080)
    made.set_sync_view(synced(clock.now))
    return made


@pytest.fixture
def replica(tmp_path: Path) -> Iterator[Replica]:
    made = replica_with(
        tmp_path / "replica.db",
        [
            Row(1, "low, new", "low", age=1),
            Row(2, "high acked, old", "high", "acknowledged", age=50, acked_by="sam"),
            Row(3, "high waiting, young", "high", age=2),
            Row(4, "high waiting, old", "high", age=40),
            Row(5, "low acked", "low", "acknowledged", age=90),
            Row(6, "resolved today", "high", "resolved", age=45),
            Row(7, "high acked, young", "high", "acknowledged", age=10, acked_by="lee"),
            Row(8, "low, old", "low", age=120),
        ],
    )
    try:
        yield made
    finally:
        made.close()


def titles(views: Sequence[IncidentView]) -> list[str]:
    return [v.incident.title for v in views]


# -- ordering --


def test_tiles_come_high_waiting_first_then_high_taken_then_low_oldest_first(
    wall: WallWindow, replica: Replica
) -> None:
    wall.show_views(replica.incidents())
    wall.refresh()
    assert titles(wall.ordered) == [
        "high waiting, old",
        "high waiting, young",
        "high acked, old",
        "high acked, young",
        "low, old",
        "low, new",
        "low acked",
    ]
    assert titles(wall.board.tiles) == titles(wall.ordered)[: len(wall.board.tiles)]
    assert "resolved today" not in titles(wall.ordered)  # in the figures only


def test_an_acknowledgement_moves_its_tile_down_and_the_figures_follow(
    wall: WallWindow, replica: Replica
) -> None:
    wall.show_views(replica.incidents())
    wall.refresh()
    assert (wall.figures.open, wall.figures.acknowledged, wall.figures.high_unacknowledged) == (7, 3, 2)
    assert wall.figures.resolved_today == 1
    watch = replica.watch()
    watch.take()  # the first take is "everything"
    replica.act(OpType.ACKNOWLEDGE, incident_id(4))
    changed = watch.take()
    assert changed == {incident_id(4)}
    wall.show_changes(WallChanges(changed=list(replica.views(changed).values())))
    wall.refresh()
    assert titles(wall.ordered)[:3] == ["high waiting, young", "high acked, old", "high waiting, old"]
    assert (wall.figures.acknowledged, wall.figures.high_unacknowledged) == (4, 1)


def test_changes_are_laid_out_by_the_settle_timer_not_on_every_read(
    qtbot: QtBot, wall: WallWindow, replica: Replica
) -> None:
    before = wall.layouts
    for view in replica.incidents():  # a storm's reads, one incident each
        wall.show_changes(WallChanges(changed=[view]))
    assert wall.layouts == before  # nothing laid out yet: the reads are coalesced
    qtbot.waitUntil(lambda: len(wall.ordered) == 7, timeout=2000)
    assert wall.layouts == before + 1
    qtbot.waitUntil(lambda: wall.figures.open == 7, timeout=3000)  # counted by the next tick


def test_at_midnight_yesterdays_resolved_incidents_leave_the_figures(
    wall: WallWindow, replica: Replica, clock: Clock
) -> None:
    wall.show_views(replica.incidents())
    wall.refresh()
    assert wall.figures.resolved_today == 1
    assert wall.knows(incident_id(6))
    clock.now = datetime(2026, 11, 28, 0, 0, 1, tzinfo=UTC)
    wall.tick()
    assert wall.figures.resolved_today == 0
    assert wall.figures.open == 7  # open incidents stay, whatever their age
    assert not wall.knows(incident_id(6))


def test_a_tile_names_who_acknowledged_from_the_timeline(wall: WallWindow, replica: Replica) -> None:
    feeder = WallFeeder(wall, replica, clock=Clock(), tz=UTC)
    changes = feeder.read()
    assert changes.everything is not None
    assert changes.acknowledged_by == {incident_id(2): "sam", incident_id(7): "lee"}
    wall.show_changes(changes)
    wall.refresh()
    by_title = {v.incident.title: v for v in wall.ordered}
    assert wall.board.state_text(by_title["high acked, old"]) == "✓ sam"
    assert wall.board.state_text(by_title["low acked"]) == "✓ ACKNOWLEDGED"  # nobody known
    assert wall.board.state_text(by_title["high waiting, old"]) == "NOT ACKNOWLEDGED"
    assert feeder.read().empty  # nothing changed since: nothing read


def test_names_beyond_the_lookups_of_one_read_come_with_the_next(wall: WallWindow, replica: Replica) -> None:
    feeder = WallFeeder(wall, replica, clock=Clock(), tz=UTC)
    feeder.LOOKUPS = 1  # a storm of acknowledgements, in small
    reads = [feeder.read()]
    assert feeder.behind
    while feeder.behind and len(reads) < 10:
        reads.append(feeder.read())  # nothing changed in the replica: the backlog alone
    assert len(reads) == 3  # three acknowledged incidents, one looked up a read ("low acked": nobody)
    names = {k: v for read in reads for k, v in read.acknowledged_by.items()}
    assert names == {incident_id(2): "sam", incident_id(7): "lee"}
    assert feeder.read().empty


# -- the banner: stale, offline, never synced --


def test_the_banner_comes_when_nothing_synced_for_too_long_and_goes_with_a_sync(
    qtbot: QtBot, wall: WallWindow, clock: Clock
) -> None:
    wall.tick()
    assert wall.banner.isHidden()
    assert wall.synced_label.text() == "synced 0 s ago"
    clock.advance(layout.STALE_AFTER.total_seconds() + 1)
    # the once-a-second timer notices on its own: a frozen sync engine sends nothing
    qtbot.waitUntil(lambda: not wall.banner.isHidden(), timeout=3000)
    assert wall.banner.text().startswith("STALE")
    assert wall.health.freshness is layout.Freshness.STALE
    wall.set_sync_view(synced(clock.now))
    assert wall.banner.isHidden()


def test_the_banner_says_offline_with_the_age_of_the_data(wall: WallWindow, clock: Clock) -> None:
    wall.set_sync_view(synced(clock.now - timedelta(minutes=12), Status.OFFLINE, "Working offline."))
    assert not wall.banner.isHidden()
    assert wall.banner.text() == "OFFLINE — server unreachable · data from 09:18 (12 min ago)"
    wall.set_sync_view(synced(clock.now, Status.ERROR, "The server refused the token."))
    assert wall.banner.text().startswith("SYNC ERROR — The server refused the token.")


def test_a_wall_that_never_synced_says_so(qtbot: QtBot, clock: Clock) -> None:
    made = WallWindow(clock=clock, tz=UTC)
    qtbot.addWidget(made)
    assert not made.banner.isHidden()
    assert made.banner.text().startswith("NOT SYNCED YET")
    assert made.board.empty_text == "No open incidents known"  # not "all clear": it cannot know


# -- rotation --


def paused(wall: WallWindow) -> bool:
    return wall.rotation_paused  # read anew (mypy would keep an earlier assert's answer)


def many(count: int, *, start: int = 100, priority: str = "low", status: str = "triggered") -> list[Row]:
    return [Row(start + n, f"{priority} {n}", priority, status, age=200 - n) for n in range(count)]


def test_pages_rotate_when_more_than_fits(wall: WallWindow, tmp_path: Path) -> None:
    replica = replica_with(tmp_path / "r.db", many(12))
    wall.show_views(replica.incidents())
    wall.refresh()
    per_page = len(wall.board.tiles)
    assert per_page == wall.board.grid().per_page
    assert wall.pages == -(-12 // per_page) >= 2
    seen = [wall.page]
    for _ in range(wall.pages):
        wall.rotate_now()
        seen.append(wall.page)
    assert seen == [*range(wall.pages), 0]
    assert not wall.rotation_paused
    replica.close()


def test_rotation_pauses_while_a_high_priority_incident_waits(
    qtbot: QtBot, clock: Clock, tmp_path: Path
) -> None:
    wall = WallWindow(clock=clock, tz=UTC, rotate_ms=50)
    qtbot.addWidget(wall)
    wall.resize(1920, 1080)
    wall.set_sync_view(synced(clock.now))
    replica = replica_with(tmp_path / "r.db", [*many(12), Row(1, "database down", "high", age=1)])
    wall.show_views(replica.incidents())
    wall.refresh()
    assert wall.rotation_paused
    assert wall.page_label.text().endswith("· paused")
    qtbot.wait(300)  # six rotation periods
    assert wall.page == 0
    assert titles(wall.board.tiles)[0] == "database down"

    replica.act(OpType.ACKNOWLEDGE, incident_id(1))
    wall.show_views(replica.incidents())
    wall.refresh()
    assert not paused(wall)
    qtbot.waitUntil(lambda: wall.page == 1, timeout=2000)  # the timer turns the pages again
    replica.close()


def test_waiting_incidents_on_two_pages_keep_the_rotation_to_those_pages(
    wall: WallWindow, tmp_path: Path
) -> None:
    per_page = wall.board.grid().per_page
    highs = many(per_page + 1, start=1, priority="high")  # one page and one more tile
    replica = replica_with(tmp_path / "r.db", [*highs, *many(3 * per_page, start=500)])
    wall.show_views(replica.incidents())
    wall.refresh()
    assert wall.pages >= 4
    seen = []
    for _ in range(6):
        wall.rotate_now()
        seen.append(wall.page)
    assert seen == [1, 0, 1, 0, 1, 0]  # never the low-priority pages
    replica.close()


def test_a_new_waiting_incident_brings_the_first_page_back(wall: WallWindow, tmp_path: Path) -> None:
    replica = replica_with(tmp_path / "r.db", many(20))
    wall.show_views(replica.incidents())
    wall.refresh()
    wall.rotate_now()
    wall.rotate_now()
    assert wall.page == 2
    replica.apply_page(pull_page([Row(1, "checkout down", "high", age=0.5)], seq=2))
    wall.show_views(replica.incidents())
    wall.refresh()
    assert wall.page == 0
    assert titles(wall.board.tiles)[0] == "checkout down"
    replica.close()


# -- smaller screens --


def test_type_scales_with_a_smaller_screen_down_to_a_floor() -> None:
    assert (scale_for(1920, 1080), scale_for(3840, 2160), scale_for(2560, 1080), scale_for(1080, 1920)) == (
        1.0,
        2.0,
        1.0,
        1.0,
    )  # at 1080 lines and more, as it always was
    sizes = [(1920, 1080), (3840, 2160), (1366, 768), (1280, 720), (800, 800), (640, 480)]
    assert [min_text_px(*size) for size in sizes] == [40, 80, 28, 27, 30, TEXT_FLOOR_PX]


def test_a_short_header_shortens_the_page_never_the_alarm(qtbot: QtBot, clock: Clock, tmp_path: Path) -> None:
    wall = WallWindow(clock=clock, tz=UTC)
    qtbot.addWidget(wall)
    replica = replica_with(tmp_path / "r.db", [*many(30), *many(3, start=1, priority="high")])
    wall.set_sync_view(synced(clock.now - timedelta(seconds=75)))
    wall.show_views(replica.incidents())
    for size in ((1920, 1080), (1024, 600), (700, 900)):
        wall.resize(*size)
        wall.grab()  # lays it out
        wall.refresh()
        summary = wall.summary
        assert summary.text() == "▲ 3 HIGH NOT ACKNOWLEDGED"
        assert QFontMetrics(summary.font()).horizontalAdvance(summary.text()) <= summary.width()
        page = wall.page_label.text()
        assert page.split(" · ")[0].endswith(f"1/{wall.pages}")  # the page number survives
        assert wall.synced_label.text().startswith(("synced 1 min", "1 min"))
        for label in (wall.page_label, wall.synced_label, wall.clock_label):
            assert not label.geometry().intersects(summary.geometry())
    replica.close()


def test_the_on_call_list_counts_what_it_leaves_out(wall: WallWindow) -> None:
    entries = [OnCallNow(f"schedule {n}", "sam", None, None, None) for n in range(6)]
    wall.set_on_call(entries)
    assert "+2 more schedules" in wall.on_call_label.text()
    wall.set_on_call(entries[:5])
    assert "+1 more schedule<" in wall.on_call_label.text()


# -- pulse, burn-in, cursor --


def test_waiting_high_tiles_pulse_at_most_three_times_a_second(
    qtbot: QtBot, wall: WallWindow, replica: Replica
) -> None:
    pulse = wall._pulse_timer
    assert not pulse.isActive()  # nothing shown: no repaints for nothing
    wall.show_views(replica.incidents())
    wall.refresh()
    assert pulse.isActive()
    assert layout.flashes_per_second(pulse.interval()) <= layout.MAX_FLASHES_PER_SECOND
    first = wall.board.pulse_on
    qtbot.waitUntil(lambda: wall.board.pulse_on is not first, timeout=2000)  # toggled by the timer
    for view in replica.incidents(statuses=["triggered"]):
        if view.incident.priority.value == "high":
            replica.act(OpType.ACKNOWLEDGE, view.id)
    wall.show_views(replica.incidents())
    wall.refresh()
    assert not pulse.isActive()


def test_the_wall_wanders_a_few_pixels_against_burn_in(wall: WallWindow) -> None:
    wall.show()
    start = wall.content.geometry()
    positions = set()
    for _ in range(9):
        wall.shift_now()
        QApplication.processEvents()
        geometry = wall.content.geometry()
        positions.add((geometry.x(), geometry.y()))
        assert abs(geometry.x() - start.x()) <= BURN_IN_PX
        assert abs(geometry.y() - start.y()) <= BURN_IN_PX
        assert geometry.size() == start.size()  # moved, never resized
    assert len(positions) == 9  # a different place at each step of the orbit


def test_the_cursor_hides_when_idle_and_comes_back_on_a_move(qtbot: QtBot, wall: WallWindow) -> None:
    qtbot.waitUntil(lambda: wall.cursor().shape() == Qt.CursorShape.BlankCursor, timeout=5000)
    move = QMouseEvent(
        QEvent.Type.MouseMove,
        QPointF(200, 200),
        QPointF(200, 200),
        Qt.MouseButton.NoButton,
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
    )
    QApplication.sendEvent(wall, move)
    assert wall.cursor().shape() == Qt.CursorShape.ArrowCursor


def test_the_wall_goes_full_screen_on_the_screen_asked_for_or_the_primary(qtbot: QtBot, clock: Clock) -> None:
    made = WallWindow(clock=clock, tz=UTC)
    qtbot.addWidget(made)
    place_on_screen(made, len(QApplication.screens()) + 3)  # no such screen: the primary one
    assert made.isFullScreen()
    assert made.screen() is QApplication.primaryScreen()
    assert made.size() == QApplication.primaryScreen().geometry().size()


# -- acknowledging from the wall: opt-in, and only a signal --


def test_the_wall_cannot_acknowledge_unless_allowed(wall: WallWindow) -> None:
    assert wall.acknowledge_action is None
    assert all(a.shortcut() != QKeySequence(ACKNOWLEDGE_KEY) for a in wall.actions())


def test_the_acknowledge_shortcut_asks_for_the_first_waiting_tile(
    qtbot: QtBot, clock: Clock, replica: Replica
) -> None:
    wall = WallWindow(clock=clock, tz=UTC, allow_acknowledge=True)
    qtbot.addWidget(wall)
    wall.resize(1920, 1080)
    wall.show_views(replica.incidents())
    wall.refresh()
    action = wall.acknowledge_action
    assert action is not None
    assert action.shortcut() == QKeySequence(ACKNOWLEDGE_KEY)
    with qtbot.waitSignal(wall.acknowledge_requested, timeout=1000) as blocker:
        action.trigger()
    assert blocker.args == [incident_id(4)]  # the oldest high-priority incident waiting
    assert replica.incident(incident_id(4)).view.incident.status.rank is Rank.TRIGGERED  # wrote nothing


# -- on call, colours --


def test_the_on_call_panel_names_who_is_on_call_and_a_gap(wall: WallWindow) -> None:
    entries = ScheduleBoard(demo_schedules()).on_call_now(NOW)
    entries.append(OnCallNow("nights", None, None, "sam", NOW + timedelta(hours=8)))
    wall.set_on_call(entries)
    text = wall.on_call_label.text()
    assert [e.schedule for e in entries[:3]] == ["database", "payments", "platform"]
    for entry in entries[:3]:
        assert entry.user is not None
        assert entry.user in text
    assert "NOBODY" in text


def test_the_wall_draws_with_the_trays_colours() -> None:
    high = icon_image(TrayState.HIGH_UNACKNOWLEDGED, 64).pixelColor(12, 56)  # the triangle's body
    low = icon_image(TrayState.LOW_OPEN, 64).pixelColor(32, 32 - 22)  # on the ring
    assert high.name().upper() == layout.VERMILLION
    assert low.name().upper() == layout.BLUE


# -- the feeder: watch-based reads in a worker thread, on the Qt loop --


def test_the_feeder_keeps_the_wall_in_step_with_the_replica(
    qapp: QApplication, qtbot: QtBot, wall: WallWindow, replica: Replica
) -> None:
    loop = qasync.QEventLoop(qapp)
    feeder = WallFeeder(wall, replica, ScheduleBoard(demo_schedules()), clock=Clock(), tz=UTC)
    feeder.MIN_GAP = 0.0

    async def scenario() -> None:
        on_call = asyncio.ensure_future(feeder.run_on_call())
        feeder.request()
        await feeder.idle()
        wall.refresh()
        assert len(wall.ordered) == 7
        assert gc.get_freeze_count() > 0  # the full read is out of the collector's passes
        replica.act(OpType.ACKNOWLEDGE, incident_id(3))
        feeder.request()
        await feeder.idle()
        wall.refresh()
        assert wall.figures.high_unacknowledged == 1
        assert "priya" in wall.on_call_label.text()
        on_call.cancel()
        await asyncio.gather(on_call, return_exceptions=True)

    try:
        loop.run_until_complete(asyncio.wait_for(scenario(), 10))
    finally:
        loop.close()
        asyncio.set_event_loop(None)
        gc.unfreeze()  # the feeder froze what the full read loaded: the suite's later tests need gc
