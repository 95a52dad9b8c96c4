"""The wall rendered offscreen with demo data at 1920x1080 and 3840x2160, and checked in the pixels:
every priority's colour is on screen, the pulse is a border, the banner is there exactly when the
data is stale or the console offline, text is as tall as a room needs, and 4K is the same wall
drawn at twice the pixels (not a scaled-up 1080p). Smaller screens too (1366x768, 1280x720 and a
square 800x800): nothing drawn over anything else, the alarm whole, type legible.

The README's screenshots come from here:

    QT_QPA_PLATFORM=offscreen /work/venv/bin/python -m tests.ui.test_wall_screens resources/screenshots

writes wall-1080p.png (in sync) and wall-2160p.png (offline: the banner).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from datetime import UTC, timedelta
from pathlib import Path
from typing import cast

import pytest
from PySide6.QtCore import QPoint, QRect
from PySide6.QtGui import QColor, QFontMetrics, QFontMetricsF, QImage
from PySide6.QtWidgets import QApplication, QWidget
from pytestqt.qtbot import QtBot

from console.sync.state import Status, SyncView
from console.ui import wall_layout as layout
from console.ui.wall import MIN_TEXT_PX, TEXT_FLOOR_PX, TEXT_PX, TILE_H, WallWindow, min_text_px, scale_for
from console.ui.wall_feeder import WallFeeder
from tests.ui.test_wall import Clock, ScheduleBoard, demo_rows, demo_schedules, replica_with, synced

SIZES = {"1080p": (1920, 1080), "2160p": (3840, 2160)}
SMALL_SIZES = {"1366x768": (1366, 768), "1280x720": (1280, 720), "800x800": (800, 800)}
EVERY_SIZE = {**SIZES, **SMALL_SIZES}


def demo_wall(
    root: Path, size: tuple[int, int], sync: Callable[[Clock], SyncView] | None = None
) -> WallWindow:
    """The wall over a replica of the demo's incidents, fed as the feeder feeds it, laid out."""
    clock = Clock()
    replica = replica_with(root / "replica.db", demo_rows())
    wall = WallWindow(clock=clock, tz=UTC)
    wall.show_changes(WallFeeder(wall, replica, clock=clock, tz=UTC).read())
    replica.close()
    wall.set_on_call(ScheduleBoard(demo_schedules()).on_call_now(clock.now))
    wall.set_sync_view(sync(clock) if sync else synced(clock.now))
    wall.resize(*size)
    wall.refresh()
    wall.board.pulse_on = True  # the pulse's "on" half, whatever the timer did
    return wall


def offline(clock: Clock) -> SyncView:
    return synced(clock.now - timedelta(minutes=6), Status.OFFLINE, "Working offline.")


def shot(wall: WallWindow) -> QImage:
    return wall.grab().toImage().convertToFormat(QImage.Format.Format_RGB32)


def count(image: QImage, colour: str) -> int:
    """Pixels of exactly `colour` (RGB32 is B, G, R, 0xFF in memory)."""
    c = QColor(colour)
    pattern = bytes([c.blue(), c.green(), c.red(), 0xFF])
    return bytes(cast("memoryview", image.constBits())).count(pattern)


def row(image: QImage, y: int, rect: QRect) -> bytes:
    """Row `y` of `rect` as bytes (B, G, R, 0xFF a pixel)."""
    return bytes(cast("memoryview", image.constScanLine(y)))[rect.left() * 4 : (rect.right() + 1) * 4]


def ink_height(image: QImage, rect: QRect, inked: Callable[[bytes], bool]) -> int:
    """Rows from the first to the last that hold ink within `rect`: how tall the text is drawn."""
    rows = [y for y in range(rect.top(), rect.bottom() + 1) if inked(row(image, y, rect))]
    return rows[-1] - rows[0] + 1 if rows else 0


def light(row: bytes) -> bool:
    return max(row[1::4]) > 160  # white or light text on the dark wall (green channel)


def dark(row: bytes) -> bool:
    return min(row[1::4]) < 90  # black text on the yellow banner


def geometry(wall: WallWindow, widget: QWidget) -> QRect:
    return QRect(widget.mapTo(wall, QPoint(0, 0)), widget.size())


@pytest.fixture(params=sorted(SIZES))
def size(request: pytest.FixtureRequest) -> tuple[str, tuple[int, int]]:
    return request.param, SIZES[request.param]


@pytest.fixture
def walls(qtbot: QtBot, tmp_path: Path) -> Callable[..., WallWindow]:
    made: list[WallWindow] = []

    def make(size: tuple[int, int], sync: Callable[[Clock], SyncView] | None = None) -> WallWindow:
        root = tmp_path / f"wall-{len(made)}"
        root.mkdir()
        wall = demo_wall(root, size, sync)
        qtbot.addWidget(wall)
        made.append(wall)
        return wall

    return make


def test_the_wall_fills_the_screen_with_every_priority_in_its_colour(
    walls: Callable[..., WallWindow], size: tuple[str, tuple[int, int]], tmp_path: Path
) -> None:
    name, (width, height) = size
    wall = walls((width, height))
    image = shot(wall)
    image.save(str(tmp_path / f"wall-{name}.png"))
    assert (image.width(), image.height()) == (width, height)
    scale = width / 1920
    band = 12 * TILE_H * scale * scale  # the solid part of one tile's colour band
    groups = [layout.group_of(v) for v in wall.board.tiles]
    assert groups.count(layout.Group.HIGH_UNACKNOWLEDGED) == 2
    assert count(image, layout.VERMILLION) > 2 * band
    assert count(image, layout.ORANGE) > groups.count(layout.Group.HIGH_ACKNOWLEDGED) * band > 0
    assert count(image, layout.BLUE) > band
    assert count(image, layout.YELLOW) == 0  # in sync: no banner
    wall.board.pulse_on = False
    dimmed = count(shot(wall), layout.VERMILLION)
    border = 2 * 2 * (1000 * scale) * 4 * scale  # two tiles' long edges, a few pixels thick
    assert count(image, layout.VERMILLION) - dimmed > border  # the pulse is the border, on and off


def test_the_banner_cannot_be_missed_when_offline(
    walls: Callable[..., WallWindow], size: tuple[str, tuple[int, int]]
) -> None:
    _name, (width, height) = size
    wall = walls((width, height), offline)
    image = shot(wall)
    banner = geometry(wall, wall.banner)
    assert not wall.banner.isHidden()
    assert banner.width() > 0.9 * width  # across the whole wall
    board = wall.board.rect()
    assert len(wall.board.tiles) == wall.board.grid().per_page  # as many as fit below the banner
    for index in range(len(wall.board.tiles)):  # fewer tiles fit below the banner: none is cut
        assert board.contains(wall.board.tile_rect(index).toAlignedRect())
    yellow = count(image, layout.YELLOW)
    assert yellow > 0.6 * banner.width() * banner.height()
    scale = width / 1920
    inside = banner.adjusted(round(40 * scale), round(12 * scale), -round(40 * scale), -round(12 * scale))
    assert ink_height(image, inside, dark) >= 0.7 * TEXT_PX["banner"] * scale


def test_text_is_tall_enough_for_five_metres_and_twice_as_tall_on_4k(
    walls: Callable[..., WallWindow],
) -> None:
    heights: dict[str, dict[str, int]] = {}
    for name, (width, height) in SIZES.items():
        wall = walls((width, height))
        image = shot(wall)
        scale = width / 1920
        assert min(wall.type_sizes().values()) >= MIN_TEXT_PX * scale
        clock = geometry(wall, wall.clock_label)
        tile = wall.board.tile_rect(0).toRect().translated(geometry(wall, wall.board).topLeft())
        title = QRect(tile.left() + round(48 * scale), tile.top() + round(80 * scale),
                      tile.width() - round(80 * scale), round(60 * scale))  # fmt: skip
        heights[name] = {"clock": ink_height(image, clock, light), "title": ink_height(image, title, light)}
        # digits are ~0.73 of the pixel size; a title with ascenders and descenders more
        assert heights[name]["clock"] >= 0.65 * TEXT_PX["clock"] * scale
        assert heights[name]["title"] >= 0.7 * TEXT_PX["title"] * scale
        assert heights[name]["title"] >= 0.7 * MIN_TEXT_PX * scale
        assert len(wall.board.tiles) == 5  # the same wall, whatever the pixels
    for what in ("clock", "title"):
        assert 1.8 <= heights["2160p"][what] / heights["1080p"][what] <= 2.2


def fits(font_metrics: QFontMetrics | QFontMetricsF, text: str, rect: QRect) -> bool:
    """Whether `text` on one line fits the width of `rect` (half a pixel of rounding allowed)."""
    return font_metrics.horizontalAdvance(text) <= rect.width() + 0.5


@pytest.mark.parametrize("name", list(EVERY_SIZE))
@pytest.mark.parametrize("sync", [None, offline], ids=["synced", "offline"])
def test_nothing_is_drawn_over_anything_else_and_the_alarm_is_whole(
    walls: Callable[..., WallWindow], name: str, sync: Callable[[Clock], SyncView] | None, tmp_path: Path
) -> None:
    width, height = EVERY_SIZE[name]
    wall = walls((width, height), sync)
    image = shot(wall)
    image.save(str(tmp_path / f"wall-{name}.png"))
    regions = wall.regions()
    assert {"header.alarm", "header.clock", "tile0.state", "side.on_call"} <= set(regions)
    assert layout.overlapping(regions) == []
    screen = layout.Rect(0, 0, width, height)
    for region, rect in regions.items():
        assert rect.empty or screen.contains(rect), region

    # the alarm in full, in a rectangle wide enough for it (and the label is where the layout says)
    alarm = wall.summary
    assert alarm.text() == "▲ 2 HIGH NOT ACKNOWLEDGED"
    assert fits(QFontMetrics(alarm.font()), alarm.text(), alarm.geometry())
    placed = regions["header.alarm"]
    assert geometry(wall, alarm) == QRect(
        round(placed.x), round(placed.y), round(placed.width), round(placed.height)
    )
    assert count(image.copy(geometry(wall, alarm)), layout.VERMILLION) > 0
    for label in (wall.page_label, wall.synced_label, wall.clock_label):
        assert fits(QFontMetrics(label.font()), label.text(), label.geometry()), label.text()
    assert wall.synced_label.text().endswith(("s ago", " s", "min ago", " min"))  # the data's age stays

    # the tiles: words of the board's form, the number always whole, no tile cut by the board
    tiles = wall.board.drawn()
    assert len(tiles) >= 2
    board = wall.board.rect()
    for tile in tiles:
        assert board.contains(wall.board.tile_rect(tiles.index(tile)).toAlignedRect())
        assert tile.state in {wall.board.state_text(tile.view, form) for form in layout.StateForm}
        assert tile.meta.startswith(f"#{tile.view.incident.number} · ")
        assert tile.label in ("HIGH", "LOW")
        assert tile.parts.label.width > 0
        assert tile.parts.age.width > 0

    # the side panel: what it shows fits where it is
    on_call = wall.on_call_label
    assert on_call.heightForWidth(on_call.width()) <= on_call.height()
    assert "priya" in on_call.text()
    for label in [*wall.figure_values.values(), *wall.figure_captions.values()]:
        assert label.isHidden() or fits(QFontMetrics(label.font()), label.text(), label.geometry()), (
            label.text()
        )

    # legible: the type follows the screen down to the floor, never below
    assert min(wall.type_sizes().values()) >= min_text_px(width, height) >= TEXT_FLOOR_PX
    if sync is offline:
        banner = geometry(wall, wall.banner)
        assert not wall.banner.isHidden()
        assert banner.width() > 0.9 * width
        assert count(image, layout.YELLOW) > 0.6 * banner.width() * banner.height()
        inside = banner.adjusted(banner.width() // 20, 8, -banner.width() // 20, -8)
        assert ink_height(image, inside, dark) >= 0.7 * TEXT_PX["banner"] * scale_for(width, height)


def test_small_screens_keep_the_1080p_words_when_they_have_its_shape(
    walls: Callable[..., WallWindow],
) -> None:
    """A 16:9 TV is the 1080p wall at its own size: the full words, the side panel's share."""
    for size in ((1366, 768), (1280, 720)):
        wall = walls(size)
        shot(wall)
        states = {tile.state for tile in wall.board.drawn()}
        assert "NOT ACKNOWLEDGED" in states
        assert wall.page_label.text().startswith("Page ")
        assert abs(wall.side.width() - 540 * scale_for(*size)) <= 2  # 29 % of the width, as at 1080p
        assert geometry(wall, wall.side).left() > geometry(wall, wall.board).right()  # beside the tiles
    square = walls((800, 800))
    shot(square)
    assert geometry(square, square.side).top() > geometry(square, square.board).bottom()  # under them
    assert {tile.state for tile in square.board.drawn()} >= {"WAITING"}


_AT_200 = """
import sys
from pathlib import Path
from PySide6.QtWidgets import QApplication
app = QApplication([])
from tests.ui.test_wall_screens import demo_wall, geometry, shot
wall = demo_wall(Path(sys.argv[1]), (1920, 1080))
image = shot(wall)  # lays the window out: the clock is where it is drawn
clock = geometry(wall, wall.clock_label)
image.save(sys.argv[2])
print(wall.devicePixelRatioF(), clock.x(), clock.y(), clock.width(), clock.height())
"""


def test_a_4k_panel_at_200_percent_draws_at_its_own_pixels(tmp_path: Path) -> None:
    # QT_SCALE_FACTOR is read when the QApplication starts: a process of its own
    env = {**os.environ, "QT_SCALE_FACTOR": "2", "QT_QPA_PLATFORM": "offscreen"}
    path = tmp_path / "wall.png"
    done = subprocess.run(
        [sys.executable, "-c", _AT_200, str(tmp_path), str(path)],
        capture_output=True, text=True, timeout=120, env=env, cwd=Path(__file__).parents[2],
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    ratio, x, y, width, height = (float(v) for v in done.stdout.split())
    assert ratio == 2.0
    image = QImage(str(path)).convertToFormat(QImage.Format.Format_RGB32)
    assert (image.width(), image.height()) == (3840, 2160)
    clock = QRect(round(x * ratio), round(y * ratio), round(width * ratio), round(height * ratio))
    assert ink_height(image, clock, light) >= 0.65 * TEXT_PX["clock"] * ratio
    # Not a 1080p picture blown up, where every pair of rows would be the same: drawn at 4K,
    # the rows through the digits' curves differ.
    tops = range(clock.top() - clock.top() % 2, clock.bottom(), 2)
    pairs = [(row(image, y, clock), row(image, y + 1, clock)) for y in tops if light(row(image, y, clock))]
    assert len(pairs) > 20
    assert sum(a != b for a, b in pairs) > 0.5 * len(pairs)


# -- the README's pictures --


def main(argv: list[str]) -> int:
    target = Path(argv[0] if argv else "resources/screenshots")
    target.mkdir(parents=True, exist_ok=True)
    _app = QApplication.instance() or QApplication([])
    with tempfile.TemporaryDirectory() as tmp:
        for name, sync in (("1080p", None), ("2160p", offline)):
            root = Path(tmp) / name
            root.mkdir()
            wall = demo_wall(root, SIZES[name], sync)
            path = target / f"wall-{name}.png"
            shot(wall).save(str(path))
            print(f"{path}: {SIZES[name][0]}x{SIZES[name][1]}")
            wall.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
