"""The tray: what state it shows (precedence), its tooltip, icons told apart by colour and by shape,
the menu's lines and the signals they send, the mute toggle and its time left, cheap rebuilds; and
one run on a real X server with a real XEmbed tray host (Xvfb + trayer), clicked with xdotool."""

from __future__ import annotations

import ctypes
import ctypes.util
import itertools
import json
import math
import os
import queue
import shutil
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QPoint
from PySide6.QtGui import QAction, QColor, QImage
from PySide6.QtWidgets import QApplication, QSystemTrayIcon
from pytestqt.qtbot import QtBot

from console.domain.status import Rank, Status
from console.domain.views import IncidentView
from console.notify.tray import (
    ICON_SIZES,
    MUTE_TEXT,
    NOTHING_TEXT,
    Tray,
    TrayState,
    icon_image,
    tooltip_text,
    tray_icon,
    tray_state,
)
from tests.desktop_session import SessionBus
from tests.e2e.xsession import XServer, env_without_display, start_xvfb
from tests.notify.incidents import T0, acknowledged, low, resolved, view

ROOT = Path(__file__).resolve().parents[2]
HIGH, LOW, CLEAR, OFFLINE = (
    TrayState.HIGH_UNACKNOWLEDGED,
    TrayState.LOW_OPEN,
    TrayState.ALL_CLEAR,
    TrayState.OFFLINE,
)
COLOURS = {CLEAR: "#009e73", LOW: "#0072b2", HIGH: "#d55e00", OFFLINE: "#7f7f7f"}


class FakeClock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def snoozed(v: IncidentView) -> IncidentView:
    return IncidentView(replace(v.incident, snoozed_until=T0 + timedelta(hours=1)), v.service)


def reopened(v: IncidentView) -> IncidentView:
    return IncidentView(replace(v.incident, status=Status(1, Rank.TRIGGERED)), v.service)


def texts(tray: Tray) -> list[str]:
    """The menu's lines as shown ("" for a separator)."""
    return [action.text().replace("&&", "&") for action in tray.menu.actions()]


def action(tray: Tray, text: str) -> QAction:
    found = [a for a in tray.menu.actions() if a.text().replace("&&", "&") == text]
    assert len(found) == 1, f"{text!r} in {texts(tray)}"
    return found[0]


def muted_until(tray: Tray) -> datetime | None:
    return tray.low_muted_until  # a call, so that mypy does not narrow it across the test


def recorder(tray: Tray) -> list[tuple[str, tuple[Any, ...]]]:
    """Every signal the tray sends, in order, with its arguments."""
    seen: list[tuple[str, tuple[Any, ...]]] = []
    for name in ("acknowledge", "acknowledge_mine", "open_console", "mute_low", "quit"):
        getattr(tray, name).connect(lambda *args, name=name: seen.append((name, args)))
    return seen


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
def tray(qapp: QApplication, clock: FakeClock) -> Iterator[Tray]:
    made = Tray(clock=clock)
    yield made
    made.menu.deleteLater()
    made.deleteLater()


# --- what the icon says ---------------------------------------------------------------------------

PRECEDENCE = [
    # (incidents, online, state)
    ([], True, CLEAR),
    ([], False, OFFLINE),
    ([resolved(view(1)), resolved(low(2))], True, CLEAR),
    ([resolved(view(1))], False, OFFLINE),
    ([low(1)], True, LOW),
    ([acknowledged(low(1))], True, LOW),
    ([acknowledged(view(1))], True, LOW),  # high, but someone has it
    ([low(1)], False, OFFLINE),  # what it knows may be stale: never calm while offline
    ([view(1)], True, HIGH),
    ([view(1)], False, HIGH),  # offline never hides a high one
    ([low(1), acknowledged(view(2)), low(3), view(4)], False, HIGH),  # wherever it is in the list
    ([snoozed(view(1))], True, HIGH),  # a snooze quietens it, it is still unacknowledged
    ([reopened(acknowledged(view(1)))], True, HIGH),
    ([resolved(view(1)), low(2)], True, LOW),
]


@pytest.mark.parametrize(("incidents", "online", "state"), PRECEDENCE)
def test_tray_state_puts_high_unacknowledged_first_then_offline_then_open(
    incidents: list[IncidentView], online: bool, state: TrayState
) -> None:
    assert tray_state(incidents, online=online) is state
    assert tray_state(iter(incidents), online=online) is state  # any iterable, read once


@pytest.mark.parametrize(
    ("incidents", "online", "unsynced", "text"),
    [
        (
            [view(1), view(2), low(3), acknowledged(view(4)), low(5), resolved(view(6))],
            False,
            3,
            "2 high unacknowledged, 5 open — offline, 3 changes to sync",
        ),
        ([], True, 0, "All clear"),
        ([resolved(view(1))], True, 0, "All clear"),
        ([], False, 0, "No open incidents known — offline"),
        ([], True, 1, "All clear — 1 change to sync"),
        ([low(1)], True, 0, "1 open"),
        ([view(1)], True, 0, "1 high unacknowledged, 1 open"),
        ([acknowledged(view(1)), low(2)], True, 2, "2 open — 2 changes to sync"),
    ],
)
def test_tooltip_counts_what_is_open_and_says_offline_and_unsynced(
    incidents: list[IncidentView], online: bool, unsynced: int, text: str
) -> None:
    assert tooltip_text(incidents, online=online, unsynced=unsynced) == text


# --- icons ----------------------------------------------------------------------------------------


def opaque(image: QImage) -> set[tuple[int, int]]:
    return {
        (x, y)
        for y in range(image.height())
        for x in range(image.width())
        if image.pixelColor(x, y).alpha() >= 128
    }


def dominant(image: QImage) -> str:
    """The most frequent fully opaque colour."""
    counts = Counter(
        image.pixelColor(x, y).name()
        for y in range(image.height())
        for x in range(image.width())
        if image.pixelColor(x, y).alpha() == 255
    )
    return counts.most_common(1)[0][0]


def overlap(a: set[tuple[int, int]], b: set[tuple[int, int]]) -> float:
    """Intersection over union of two masks: 1.0 for the same shape."""
    return len(a & b) / len(a | b)


@pytest.mark.parametrize("size", [16, 22, 32, 64])
def test_each_state_has_its_own_colour_and_its_own_shape(size: int) -> None:
    images = {state: icon_image(state, size) for state in TrayState}
    for state, image in images.items():
        assert dominant(image) == COLOURS[state], state
    masks = {state: opaque(image) for state, image in images.items()}
    for a, b in itertools.combinations(TrayState, 2):
        assert overlap(masks[a], masks[b]) < 0.75, f"{a.name} and {b.name} have nearly the same shape"
    middle = (size // 2, size // 2)
    assert middle not in masks[LOW]  # a ring: hollow
    assert middle in masks[OFFLINE]  # the slash crosses the middle of its circle
    corner = (size // 8, size - 1 - size // 8)  # bottom left: inside the triangle's base, outside a circle
    assert corner in masks[HIGH]
    assert corner not in masks[CLEAR]
    assert corner not in masks[LOW]


# Machado, Oliveira & Fernandes (2009), severity 1.0, on linear RGB
_DICHROMACY = {
    "protanopia": (
        (0.152286, 1.052583, -0.204868), (0.114503, 0.786281, 0.099216), (-0.003882, -0.048116, 1.051998),
    ),
    "deuteranopia": (
        (0.367322, 0.860646, -0.227968), (0.280085, 0.672501, 0.047413), (-0.011820, 0.042940, 0.968881),
    ),
    "tritanopia": (
        (1.255528, -0.076749, -0.178779), (-0.078411, 0.930809, 0.148250), (0.004733, 0.691367, 0.303900),
    ),
}  # fmt: skip


def seen_as(colour: str, matrix: tuple[tuple[float, ...], ...]) -> tuple[float, ...]:
    def linear(c: float) -> float:
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    def encoded(c: float) -> float:
        c = min(max(c, 0.0), 1.0)
        return 255 * (12.92 * c if c <= 0.0031308 else 1.055 * c ** (1 / 2.4) - 0.055)

    qcolour = QColor(colour)
    rgb = [linear(v) for v in (qcolour.redF(), qcolour.greenF(), qcolour.blueF())]
    return tuple(encoded(sum(m * v for m, v in zip(row, rgb, strict=True))) for row in matrix)


@pytest.mark.parametrize("kind", sorted(_DICHROMACY))
def test_where_colours_merge_for_colour_blind_eyes_the_shapes_still_differ(kind: str) -> None:
    masks = {state: opaque(icon_image(state, 32)) for state in TrayState}
    merged = 0
    for a, b in itertools.combinations(TrayState, 2):
        distance = math.dist(seen_as(COLOURS[a], _DICHROMACY[kind]), seen_as(COLOURS[b], _DICHROMACY[kind]))
        if distance < 60:  # hard to tell apart by colour
            merged += 1
            assert overlap(masks[a], masks[b]) < 0.7, f"{kind}: {a.name} and {b.name}"
    if kind == "deuteranopia":
        assert merged  # green and grey do merge: the reason each state has its own shape


def test_badges_mark_offline_and_mute_in_their_corners() -> None:
    size = 64
    plain, offline, muted = (
        icon_image(HIGH, size, offline=o, muted=m) for o, m in [(False, False), (True, False), (False, True)]
    )
    assert plain != offline
    assert plain != muted
    assert offline != muted

    def changed(a: QImage, b: QImage) -> set[tuple[int, int]]:
        return {(x, y) for y in range(size) for x in range(size) if a.pixelColor(x, y) != b.pixelColor(x, y)}

    assert all(min(x, y) > 0.45 * size for x, y in changed(plain, offline))  # bottom right
    assert all(max(x, y) < 0.55 * size for x, y in changed(plain, muted))  # top left
    # OFFLINE is the offline mark already: no badge on it
    assert icon_image(OFFLINE, size, offline=True) == icon_image(OFFLINE, size)
    for state in TrayState:
        assert icon_image(state, size, muted=True) != icon_image(state, size)


def test_icons_come_at_every_tray_size_and_keep_inside_them(qapp: QApplication) -> None:
    for state in TrayState:
        icon = tray_icon(state)
        assert sorted(s.width() for s in icon.availableSizes()) == sorted(ICON_SIZES)
        assert tray_icon(state).cacheKey() == icon.cacheKey()  # drawn once
        for size in ICON_SIZES:
            image = icon_image(state, size)
            mask = opaque(image)
            assert len(mask) > size * size // 5, f"{state.name} at {size} px is too faint"
            edge = {(x, y) for x, y in mask if x in (0, size - 1) or y in (0, size - 1)}
            assert len(edge) <= size // 4, f"{state.name} at {size} px is cut at its edge"


def test_the_icon_needs_no_application_to_be_drawn() -> None:
    code = (
        "from console.notify.tray import TrayState, icon_image\n"
        "from PySide6.QtWidgets import QApplication\n"
        "assert QApplication.instance() is None\n"
        "image = icon_image(TrayState.HIGH_UNACKNOWLEDGED, 32, offline=True, muted=True)\n"
        "print(image.pixelColor(10, 26).name())\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "#d55e00"


# --- the menu -------------------------------------------------------------------------------------

STATIC = ["", "Acknowledge all mine ({})", "", "Open the console", MUTE_TEXT, "", "Quit"]


def static(mine: int) -> list[str]:
    return [text.format(mine) for text in STATIC]


def test_a_new_tray_lists_nothing_to_acknowledge(tray: Tray) -> None:
    assert texts(tray) == [NOTHING_TEXT, *static(0)]
    assert not action(tray, NOTHING_TEXT).isEnabled()
    assert not action(tray, "Acknowledge all mine (0)").isEnabled()
    assert tray.system_tray_icon.contextMenu() is tray.menu
    assert tray.system_tray_icon.toolTip() == "All clear"


def test_the_menu_names_the_unacknowledged_incidents_high_first_then_newest(tray: Tray) -> None:
    minute = timedelta(minutes=1)
    tray.set_unacknowledged(
        [
            low(3, title="disk 80% on db-2", service="storage", created_at=T0 + 9 * minute),
            view(12, title="database down", created_at=T0),
            view(14, title="card payments fail", service="payments", created_at=T0 + 5 * minute),
            acknowledged(view(15, created_at=T0 + 20 * minute)),  # not waiting for anyone
            resolved(low(16, created_at=T0 + 20 * minute)),
            view(0, title="printer on fire", service="office", created_at=T0 + 7 * minute),  # reported here
            low(8, title="slow login", service="auth", created_at=T0 + 2 * minute),
            low(9, title="queue backlog", service="jobs", created_at=T0 + minute),
        ]
    )
    assert texts(tray) == [
        "Acknowledge new printer on fire (office)",
        "Acknowledge #14 card payments fail (payments)",
        "Acknowledge #12 database down (checkout-api)",
        "Acknowledge #3 disk 80% on db-2 (storage)",
        "Acknowledge #8 slow login (auth)",
        "1 more unacknowledged: open the console",
        *static(6),
    ]
    high_icon, low_icon = tray_icon(HIGH).cacheKey(), tray_icon(LOW).cacheKey()
    shapes = [a.icon().cacheKey() for a in tray.menu.actions()[:5]]
    assert shapes == [high_icon, high_icon, high_icon, low_icon, low_icon]  # the priority's shape and colour


def test_titles_show_literally_on_one_line_and_long_ones_are_cut(tray: Tray) -> None:
    long_title = "replication lag " * 10
    tray.set_unacknowledged([view(1, title="R&D\tdb down\nagain", service="r&d"), view(2, title=long_title)])
    first, second = tray.menu.actions()[:2]
    assert first.text() == "Acknowledge #2 " + long_title[:59].rstrip() + "… (checkout-api)"
    assert first.text().count("…") == 1
    assert second.text() == "Acknowledge #1 R&&D db down again (r&&d)"  # "&&" shows one "&", no mnemonic
    assert "\t" not in second.text()


def test_each_line_sends_its_own_signal(tray: Tray, qtbot: QtBot) -> None:
    incidents = [view(n, created_at=T0 + timedelta(minutes=n)) for n in range(1, 8)]  # 5 listed, 2 more
    tray.set_unacknowledged(incidents)
    seen = recorder(tray)
    for number in range(7, 2, -1):
        action(tray, f"Acknowledge #{number} Something broke ({number}) (checkout-api)").trigger()
    action(tray, "2 more unacknowledged: open the console").trigger()
    action(tray, "Open the console").trigger()
    action(tray, "Acknowledge all mine (7)").trigger()
    action(tray, "Quit").trigger()
    assert seen == [
        *[("acknowledge", (f"inc-{n}",)) for n in range(7, 2, -1)],
        ("open_console", ()),
        ("open_console", ()),
        ("acknowledge_mine", ([f"inc-{n}" for n in range(7, 0, -1)],)),
        ("quit", ()),
    ]


def test_a_click_on_the_icon_opens_the_console_and_nothing_else_does(tray: Tray) -> None:
    seen = recorder(tray)
    reason = QSystemTrayIcon.ActivationReason
    for other in (reason.Context, reason.DoubleClick, reason.MiddleClick, reason.Unknown):
        tray.system_tray_icon.activated.emit(other)
    assert seen == []
    tray.system_tray_icon.activated.emit(reason.Trigger)
    assert seen == [("open_console", ())]


def test_acknowledge_all_mine_counts_the_waiting_ones_and_is_off_without_any(tray: Tray) -> None:
    seen = recorder(tray)
    tray.set_unacknowledged([view(1), low(2), acknowledged(view(3)), resolved(view(4)), snoozed(low(5))])
    mine = action(tray, "Acknowledge all mine (3)")
    assert mine.isEnabled()
    mine.trigger()
    assert seen == [("acknowledge_mine", (["inc-1", "inc-5", "inc-2"],))]
    tray.set_unacknowledged([acknowledged(view(1))])
    assert texts(tray) == [NOTHING_TEXT, *static(0)]
    assert not mine.isEnabled()
    mine.trigger()
    assert seen == [("acknowledge_mine", (["inc-1", "inc-5", "inc-2"],))]  # nothing more


def test_mute_toggles_shows_the_time_left_and_badges_the_icon(
    tray: Tray, clock: FakeClock, qtbot: QtBot
) -> None:
    tray.set_state(LOW, "1 open")
    mute = tray.menu.actions()[texts(tray).index(MUTE_TEXT)]
    assert mute.isCheckable()
    assert not mute.isChecked()
    with qtbot.waitSignal(tray.mute_low, timeout=1000) as muted:
        mute.trigger()
    assert muted.args == [True]
    assert mute.isChecked()
    assert mute.text() == f"{MUTE_TEXT} (60 min left)"
    assert muted_until(tray) == T0 + timedelta(hours=1)
    assert tray.system_tray_icon.icon().cacheKey() == tray_icon(LOW, muted=True).cacheKey()
    assert tray.system_tray_icon.toolTip() == "1 open\nLow priority muted, 60 min left"

    clock.now = T0 + timedelta(minutes=17, seconds=30)
    tray.menu.aboutToShow.emit()  # opening the menu brings the time left up to date
    assert mute.text() == f"{MUTE_TEXT} (43 min left)"
    tray.menu.aboutToHide.emit()

    with qtbot.waitSignal(tray.mute_low, timeout=1000) as unmuted:
        mute.trigger()
    assert unmuted.args == [False]
    assert not mute.isChecked()
    assert mute.text() == MUTE_TEXT
    assert muted_until(tray) is None
    assert tray.system_tray_icon.icon().cacheKey() == tray_icon(LOW).cacheKey()
    assert tray.system_tray_icon.toolTip() == "1 open"


def test_a_mute_set_by_the_app_shows_without_a_signal_and_runs_out_by_itself(
    tray: Tray, clock: FakeClock, qtbot: QtBot
) -> None:
    mute = tray.menu.actions()[texts(tray).index(MUTE_TEXT)]
    with qtbot.assertNotEmitted(tray.mute_low):
        tray.set_low_muted_until(T0 + timedelta(hours=2, minutes=5))
        assert mute.isChecked()
        assert mute.text() == f"{MUTE_TEXT} (2 h 05 min left)"
        clock.now = T0 + timedelta(hours=2, minutes=5)
        tray.menu.aboutToShow.emit()
        assert not mute.isChecked()
        assert mute.text() == MUTE_TEXT
        assert muted_until(tray) is None
        assert tray.system_tray_icon.icon().cacheKey() == tray_icon(CLEAR).cacheKey()
        tray.menu.aboutToHide.emit()
        tray.set_low_muted_until(None)
        assert not mute.isChecked()


def test_the_menu_is_rebuilt_only_when_what_it_lists_changes(tray: Tray) -> None:
    incidents = [view(n, created_at=T0 + timedelta(minutes=n)) for n in range(1, 8)]
    tray.set_unacknowledged(incidents)
    built = tray.rebuilds
    lines = tray.menu.actions()
    tray.set_unacknowledged(list(reversed([replace(v) for v in incidents])))  # equal values, other order
    tray.set_unacknowledged([*incidents, acknowledged(view(20)), resolved(view(21))])  # nothing new waits
    assert tray.rebuilds == built
    assert tray.menu.actions() == lines  # the very same QActions

    seen = recorder(tray)
    tray.set_unacknowledged([*incidents[1:], view(30, created_at=T0)])  # an unlisted one replaced: same lines
    assert tray.rebuilds == built
    action(tray, "Acknowledge all mine (7)").trigger()  # but "all mine" means the new ones
    assert seen[-1] == (
        "acknowledge_mine",
        (["inc-7", "inc-6", "inc-5", "inc-4", "inc-3", "inc-2", "inc-30"],),
    )

    tray.set_unacknowledged([*incidents, view(31, created_at=T0)])  # one more beyond the listed
    assert tray.rebuilds == built + 1
    assert "3 more unacknowledged: open the console" in texts(tray)
    renamed = IncidentView(replace(incidents[-1].incident, title="renamed"), "checkout-api")
    tray.set_unacknowledged([*incidents[:-1], renamed, view(31, created_at=T0)])
    assert tray.rebuilds == built + 2
    assert texts(tray)[0] == "Acknowledge #7 renamed (checkout-api)"


@pytest.mark.qt_log_ignore("This plugin does not support")  # offscreen: no raise(), no keyboard grab
def test_an_open_menu_keeps_its_lines_until_it_closes(tray: Tray, qtbot: QtBot) -> None:
    tray.set_unacknowledged([view(1)])
    seen = recorder(tray)
    tray.menu.popup(QPoint(10, 10))
    assert tray.menu.isVisible()
    tray.set_unacknowledged([view(1), view(2, created_at=T0 + timedelta(minutes=1))])
    assert texts(tray)[:2] == ["Acknowledge #1 Something broke (1) (checkout-api)", ""]  # nothing moved
    tray.menu.hide()  # a click on a line: the menu hides, then the line's action fires
    action(tray, "Acknowledge all mine (1)").trigger()
    assert seen == [("acknowledge_mine", (["inc-1"],))]  # what it showed
    qtbot.waitUntil(lambda: "Acknowledge all mine (2)" in texts(tray), timeout=1000)
    assert texts(tray)[:2] == [
        "Acknowledge #2 Something broke (2) (checkout-api)",
        "Acknowledge #1 Something broke (1) (checkout-api)",
    ]


def test_set_state_draws_the_state_and_its_offline_badge(tray: Tray) -> None:
    icon = tray.system_tray_icon
    incidents = [view(1), low(2)]
    tray.set_state(tray_state(incidents, online=False), tooltip_text(incidents, online=False), offline=True)
    assert tray.state is HIGH
    assert icon.icon().cacheKey() == tray_icon(HIGH, offline=True).cacheKey()
    assert icon.toolTip() == "1 high unacknowledged, 2 open — offline"
    tray.set_state(OFFLINE, "1 open — offline", offline=True)
    assert icon.icon().cacheKey() == tray_icon(OFFLINE).cacheKey()
    tray.set_state(CLEAR, "All clear")
    assert icon.icon().cacheKey() == tray_icon(CLEAR).cacheKey()
    assert icon.toolTip() == "All clear"


def test_available_is_whether_a_tray_host_runs(tray: Tray) -> None:
    assert Tray.available() is QSystemTrayIcon.isSystemTrayAvailable()
    assert not Tray.available()  # offscreen has no tray host: the app keeps to its window


# --- a real X server with a real tray host ------------------------------------------------------

TRAYER_HINT = "add the Debian package `trayer` (an XEmbed system tray) to packaging/bootstrap's test packages"
DEADLINE = 15.0

CHILD = r"""
import json, sys
from PySide6.QtCore import QTimer, qInstallMessageHandler
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QApplication

def say(**event):
    print(json.dumps(event), flush=True)

qInstallMessageHandler(lambda kind, context, text: say(event="qt", kind=int(kind.value), text=text))
app = QApplication(sys.argv)
app.setApplicationName("responder-tray-test")

from console.notify.tray import Tray, tooltip_text, tray_state
from tests.notify.incidents import low, view

incidents = [view(12, title="database down"), low(13, title="disk 80%", service="storage")]
tray = Tray()
tray.set_state(tray_state(incidents, online=True), tooltip_text(incidents, online=True))
tray.set_unacknowledged(incidents)
for name in ("acknowledge", "acknowledge_mine", "open_console", "mute_low", "quit"):
    getattr(tray, name).connect(lambda *args, name=name: say(event="signal", name=name, args=list(args)))
tray.quit.connect(app.quit)
menu = tray.menu

def report_menu():
    items = []
    for action in menu.actions():
        if action.text():
            centre = menu.mapToGlobal(menu.actionGeometry(action).center())
            items.append([action.text(), centre.x(), centre.y()])
    say(event="menu", visible=menu.isVisible(), items=items)

menu.aboutToShow.connect(lambda: QTimer.singleShot(300, report_menu))
vermillion = QColor("#D55E00")
tries = []

def when_embedded():
    geometry = tray.system_tray_icon.geometry()
    seen = 0
    if not geometry.isEmpty():
        shot = app.primaryScreen().grabWindow(
            0, geometry.x(), geometry.y(), geometry.width(), geometry.height()
        ).toImage()
        for y in range(shot.height()):
            for x in range(shot.width()):
                c = shot.pixelColor(x, y)
                if max(abs(c.red() - 213), abs(c.green() - 94), abs(c.blue() - 0)) <= 12:
                    seen += 1
    tries.append(1)
    if seen >= 20 or len(tries) > 100:
        say(event="ready", available=Tray.available(),
            icon=[geometry.x(), geometry.y(), geometry.width(), geometry.height()], vermillion=seen)
    else:
        QTimer.singleShot(100, when_embedded)

say(event="started", available=Tray.available())
tray.show()
QTimer.singleShot(100, when_embedded)
app.exec()
say(event="exit")
"""


class _Display:
    """An Xlib connection held open for the test: an X server resets when its last client leaves, and
    a client connecting during that reset (trayer, just after Xvfb answered a probe) is refused."""

    def __init__(self, display: str) -> None:
        xlib = ctypes.CDLL(ctypes.util.find_library("X11") or "libX11.so.6")
        xlib.XOpenDisplay.argtypes = [ctypes.c_char_p]
        xlib.XOpenDisplay.restype = ctypes.c_void_p
        xlib.XInternAtom.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
        xlib.XInternAtom.restype = ctypes.c_ulong
        xlib.XGetSelectionOwner.argtypes = [ctypes.c_void_p, ctypes.c_ulong]
        xlib.XGetSelectionOwner.restype = ctypes.c_ulong
        xlib.XCloseDisplay.argtypes = [ctypes.c_void_p]
        self._xlib = xlib
        deadline = time.monotonic() + DEADLINE
        while not (connection := xlib.XOpenDisplay(display.encode())):
            if time.monotonic() > deadline:
                pytest.fail(f"cannot open display {display}")
            time.sleep(0.05)
        self._connection = connection
        self._tray = xlib.XInternAtom(connection, b"_NET_SYSTEM_TRAY_S0", False)

    def tray_owner(self) -> int:
        """The window owning the XEmbed system-tray selection of screen 0 (0: no tray host)."""
        return int(self._xlib.XGetSelectionOwner(self._connection, self._tray))

    def close(self) -> None:
        self._xlib.XCloseDisplay(self._connection)


def _stop(process: subprocess.Popen[Any]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


@pytest.fixture
def tray_host(tmp_path: Path) -> Iterator[XServer]:
    """Xvfb with trayer, a small XEmbed system tray, along its top edge."""
    trayer = shutil.which("trayer")
    if trayer is None:
        pytest.fail(f"`trayer` is not installed; {TRAYER_HINT}", pytrace=False)
    server = start_xvfb(tmp_path)
    held = _Display(server.display)
    host: subprocess.Popen[bytes] | None = None
    try:
        log = tmp_path / "trayer.log"
        with log.open("wb") as out:
            host = subprocess.Popen(
                [trayer, "--edge", "top", "--align", "right", "--widthtype", "request", "--height", "32"],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**env_without_display(os.environ), "DISPLAY": server.display},
            )
        deadline = time.monotonic() + DEADLINE
        while not held.tray_owner():
            if host.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"trayer did not take the system tray (exit {host.poll()}): {log.read_text()}")
            time.sleep(0.05)
        yield server
    finally:
        if host is not None:
            _stop(host)
        held.close()
        server.stop()


class Child:
    """The tray in its own process on the X display; its events are JSON lines on stdout."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process
        self.events: queue.Queue[dict[str, Any]] = queue.Queue()
        self.seen: list[dict[str, Any]] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            try:
                self.events.put(json.loads(line))
            except ValueError:
                self.events.put({"event": "text", "text": line.rstrip()})

    def expect(self, what: str, match: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        deadline = time.monotonic() + DEADLINE
        while True:
            try:
                event = self.events.get(timeout=max(deadline - time.monotonic(), 0.01))
            except queue.Empty:
                pytest.fail(f"not within {DEADLINE:.0f} s: {what}; seen: {self.seen}", pytrace=False)
            self.seen.append(event)
            if match(event):
                return event

    def signal(self, name: str) -> dict[str, Any]:
        return self.expect(f"signal {name}", lambda e: e["event"] == "signal" and e["name"] == name)

    def menu(self) -> list[tuple[str, int, int]]:
        event = self.expect("the menu shown", lambda e: e["event"] == "menu")
        assert event["visible"]
        return [(text, x, y) for text, x, y in event["items"]]


def test_on_a_real_x_tray_host_the_icon_shows_and_clicks_reach_the_signals(
    tray_host: XServer, session_bus: SessionBus, tmp_path: Path
) -> None:
    env = {
        **env_without_display(session_bus.daemon_env),  # a private bus: Qt finds no SNI host there
        **tray_host.env,
        "DBUS_SESSION_BUS_ADDRESS": session_bus.address,
        "QT_API": "pyside6",
    }
    stderr = tmp_path / "child.err"
    with stderr.open("w") as err:
        process = subprocess.Popen(
            [sys.executable, "-c", CHILD], cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=err, text=True,
        )  # fmt: skip
    child = Child(process)
    try:
        ready = child.expect("the icon embedded in the tray", lambda e: e["event"] == "ready")
        assert ready["available"], "Qt does not see trayer's system tray"
        x, y, width, height = ready["icon"]
        assert width > 0
        assert height > 0
        assert ready["vermillion"] >= 20, "the high-priority triangle is not on the screen"
        centre = (str(x + width // 2), str(y + height // 2))

        tray_host.xdotool("mousemove", *centre, "click", "1")
        child.signal("open_console")

        tray_host.xdotool("mousemove", *centre, "click", "3")
        items = child.menu()
        assert [text for text, _, _ in items] == [
            "Acknowledge #12 database down (checkout-api)",
            "Acknowledge #13 disk 80% (storage)",
            "Acknowledge all mine (2)",
            "Open the console",
            MUTE_TEXT,
            "Quit",
        ]
        _, item_x, item_y = items[0]
        tray_host.xdotool("mousemove", str(item_x), str(item_y), "sleep", "0.2", "click", "1")
        assert child.signal("acknowledge")["args"] == ["inc-12"]

        tray_host.xdotool("mousemove", *centre, "click", "3")
        _, item_x, item_y = child.menu()[4]
        tray_host.xdotool("mousemove", str(item_x), str(item_y), "sleep", "0.2", "click", "1")
        assert child.signal("mute_low")["args"] == [True]

        tray_host.xdotool("mousemove", *centre, "click", "3")
        items = child.menu()
        assert items[4][0] == f"{MUTE_TEXT} (60 min left)"
        _, item_x, item_y = items[5]
        tray_host.xdotool("mousemove", str(item_x), str(item_y), "sleep", "0.2", "click", "1")
        child.signal("quit")
        child.expect("the process to end", lambda e: e["event"] == "exit")
        assert process.wait(timeout=DEADLINE) == 0
        warnings = [e for e in child.seen if e["event"] == "qt" and e["kind"] in (1, 2, 3)]
        assert warnings == [], "Qt warned in the tray process"
    finally:
        _stop(process)
        if process.stdout is not None:
            process.stdout.close()
