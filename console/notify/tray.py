"""The tray adapter: one system-tray icon that says at a glance whether anything needs the person,
and a menu to acknowledge from it (DESIGN.md §1, desktop.md §3). The one notify module that uses
QtWidgets, where QSystemTrayIcon and QMenu live.

The tray is a convenience, never the only way to acknowledge (desktop.md §3): when no tray host
runs (`Tray.available()` is False: GNOME without its extension, offscreen) the app keeps to the
window and the notifications.

What the icon says (`tray_state`), in this order of precedence:

1. HIGH_UNACKNOWLEDGED: some open high-priority incident is not acknowledged (snoozed ones too: a
   snooze only quietens it). Nothing hides this, offline least of all: the icon stays the
   vermillion triangle and takes an offline badge.
2. OFFLINE: the console cannot reach its server. It beats the two calm states because what it
   knows may be stale: an offline console never shows "all clear".
3. LOW_OPEN: something is open, but no high-priority incident waits for an acknowledgement.
4. ALL_CLEAR: nothing is open.

Each state has its own colour (Okabe-Ito, safe for colour-blind eyes) and its own shape, so it is
never told by colour alone (desktop.md §10): a bluish-green disc with a check mark (all clear), a
blue ring (open, like the low-priority mark of the incident table), a vermillion triangle with "!"
(high unacknowledged, like the table's high mark), a grey circle with a slash (offline). Badges:
a small slashed circle when offline, a small speaker when low priority is muted. Icons are drawn
with QPainter from shapes (no fonts) at every common tray size up to 64 px, so they stay crisp on
HiDPI panels.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Final

from PySide6.QtCore import QObject, QPointF, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QColor, QIcon, QImage, QPainter, QPainterPath, QPen, QPixmap, QPolygonF
from PySide6.QtWidgets import QMenu, QSystemTrayIcon

from console.domain.priority import Priority
from console.domain.status import Rank
from console.domain.views import IncidentView

__all__ = [
    "ICON_SIZES",
    "MUTE_TEXT",
    "NOTHING_TEXT",
    "Tray",
    "TrayState",
    "icon_image",
    "tooltip_text",
    "tray_icon",
    "tray_state",
]


class TrayState(enum.Enum):
    ALL_CLEAR = "all_clear"
    LOW_OPEN = "low_open"
    HIGH_UNACKNOWLEDGED = "high_unacknowledged"
    OFFLINE = "offline"


# --- what the icon says ---------------------------------------------------------------------------


def _high_unacknowledged(view: IncidentView) -> bool:
    incident = view.incident
    return incident.priority is Priority.HIGH and incident.status.rank is Rank.TRIGGERED


def _count(incidents: Iterable[IncidentView]) -> tuple[int, int]:
    """(open, of which high priority and not acknowledged)."""
    open_count = high = 0
    for view in incidents:
        if view.incident.status.is_open:
            open_count += 1
            high += _high_unacknowledged(view)
    return open_count, high


def state_for(open_count: int, high_unacknowledged: int, *, online: bool) -> TrayState:
    """tray_state from counts the caller keeps (the window's model counts 100,000 rows in C)."""
    if high_unacknowledged:
        return TrayState.HIGH_UNACKNOWLEDGED
    if not online:
        return TrayState.OFFLINE
    return TrayState.LOW_OPEN if open_count else TrayState.ALL_CLEAR


def tray_state(incidents: Iterable[IncidentView], *, online: bool) -> TrayState:
    """The state the tray icon shows; the precedence is the module docstring's (high first)."""
    return state_for(*_count(incidents), online=online)


def _plural(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def tooltip_text(incidents: Iterable[IncidentView], *, online: bool, unsynced: int = 0) -> str:
    """The icon's tooltip: "2 high unacknowledged, 5 open — offline, 3 changes to sync".

    "open" counts every open incident, the high unacknowledged ones included. `unsynced` is the
    number of changes made here that the server has not confirmed (the outbox), given apart from
    the incidents because some of them (a note on a closed incident) belong to none of these.
    """
    open_count, high = _count(incidents)
    return tooltip_for(open_count, high, online=online, unsynced=unsynced)


def tooltip_for(open_count: int, high: int, *, online: bool, unsynced: int = 0) -> str:
    """tooltip_text from counts."""
    head = [f"{high} high unacknowledged"] if high else []
    if open_count:
        head.append(f"{open_count} open")
    tail = [] if online else ["offline"]
    if unsynced > 0:
        tail.append(f"{_plural(unsynced, 'change')} to sync")
    text = ", ".join(head) if head else ("All clear" if online else "No open incidents known")
    return f"{text} — {', '.join(tail)}" if tail else text


# --- icons ------------------------------------------------------------------------------------------

ICON_SIZES: Final = (16, 20, 22, 24, 32, 40, 44, 48, 64)  # 2x panels ask for 32-64 px

# Okabe-Ito; the grey is neutral, readable on light and dark panels alike
_GREEN: Final = QColor("#009E73")  # bluish green
_BLUE: Final = QColor("#0072B2")
_VERMILLION: Final = QColor("#D55E00")
_GREY: Final = QColor("#7F7F7F")
_BLACK: Final = QColor("#000000")
_WHITE: Final = QColor("#FFFFFF")

_GRID: Final = 16.0  # shapes are drawn on a 16 x 16 grid, scaled to the size asked for


def _pen(color: QColor, width: float) -> QPen:
    pen = QPen(color, width)
    pen.setCapStyle(Qt.PenCapStyle.RoundCap)
    pen.setJoinStyle(Qt.PenJoinStyle.RoundJoin)
    return pen


def _draw_check(p: QPainter) -> None:
    p.setPen(_pen(_GREEN.darker(130), 0.6))
    p.setBrush(_GREEN)
    p.drawEllipse(QPointF(8, 8), 7.2, 7.2)
    p.setPen(_pen(_WHITE, 2.0))
    p.setBrush(Qt.BrushStyle.NoBrush)
    p.drawPolyline(QPolygonF([QPointF(4.3, 8.3), QPointF(7.0, 11.0), QPointF(11.8, 5.4)]))


def _draw_ring(p: QPainter) -> None:
    p.setPen(_pen(_BLUE, 3.0))
    p.setBrush(Qt.BrushStyle.NoBrush)
    p.drawEllipse(QPointF(8, 8), 5.6, 5.6)


def _draw_triangle(p: QPainter) -> None:
    p.setPen(_pen(_VERMILLION.darker(140), 0.7))
    p.setBrush(_VERMILLION)
    p.drawPolygon(QPolygonF([QPointF(8, 0.8), QPointF(15.4, 14.8), QPointF(0.6, 14.8)]))
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(_WHITE)
    p.drawRoundedRect(QRectF(7.05, 4.6, 1.9, 5.9), 0.9, 0.9)  # "!": its bar
    p.drawEllipse(QPointF(8, 12.5), 1.1, 1.1)  # and its dot


def _draw_no_entry(p: QPainter, color: QColor, centre: QPointF, radius: float, width: float) -> None:
    """A circle with a slash from top left to bottom right: "not connected"."""
    p.setPen(_pen(color, width))
    p.setBrush(Qt.BrushStyle.NoBrush)
    p.drawEllipse(centre, radius, radius)
    reach = radius / math.sqrt(2)
    p.drawLine(
        QPointF(centre.x() - reach, centre.y() - reach), QPointF(centre.x() + reach, centre.y() + reach)
    )


def _draw_offline(p: QPainter) -> None:
    _draw_no_entry(p, _GREY, QPointF(8, 8), 6.0, 2.4)


def _halo(p: QPainter, path: QPainterPath) -> None:
    """Clear a margin around a badge so it stands apart from the shape under it."""
    p.save()
    p.setCompositionMode(QPainter.CompositionMode.CompositionMode_Clear)
    p.setPen(_pen(_BLACK, 1.6))
    p.setBrush(_BLACK)
    p.drawPath(path)
    p.restore()


def _draw_offline_badge(p: QPainter) -> None:
    centre, radius = QPointF(12.3, 12.3), 3.0
    disc = QPainterPath()
    disc.addEllipse(centre, radius + 0.7, radius + 0.7)
    _halo(p, disc)
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(_WHITE)
    p.drawPath(disc)
    _draw_no_entry(p, _GREY.darker(150), centre, radius, 1.4)


def _draw_mute_badge(p: QPainter) -> None:
    """A struck-through speaker on a white plate in the top left corner: low priority is muted."""
    plate = QPainterPath()
    plate.addRoundedRect(QRectF(0.2, 0.2, 7.0, 7.0), 1.6, 1.6)
    _halo(p, plate)
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(_WHITE)
    p.drawPath(plate)
    p.setBrush(_BLACK)
    speaker = [(1.2, 2.9), (2.6, 2.9), (4.8, 1.2), (4.8, 6.2), (2.6, 4.5), (1.2, 4.5)]
    p.drawPolygon(QPolygonF([QPointF(x, y) for x, y in speaker]))
    p.setPen(_pen(_WHITE, 1.9))  # a gap along the strike, so it reads over the speaker
    p.drawLine(QPointF(1.3, 6.3), QPointF(6.3, 1.3))
    p.setPen(_pen(_BLACK, 0.9))
    p.drawLine(QPointF(1.3, 6.3), QPointF(6.3, 1.3))


_SHAPES: Final[dict[TrayState, Callable[[QPainter], None]]] = {
    TrayState.ALL_CLEAR: _draw_check,
    TrayState.LOW_OPEN: _draw_ring,
    TrayState.HIGH_UNACKNOWLEDGED: _draw_triangle,
    TrayState.OFFLINE: _draw_offline,
}


def icon_image(state: TrayState, size: int, *, offline: bool = False, muted: bool = False) -> QImage:
    """The icon of `state`, `size` pixels square, transparent around its shape.

    `offline` adds the offline badge (to any state but OFFLINE, which is that already); `muted`
    adds the muted badge. Needs no QGuiApplication (shapes only, no text).
    """
    image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    try:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.scale(size / _GRID, size / _GRID)
        _SHAPES[state](painter)
        if offline and state is not TrayState.OFFLINE:
            _draw_offline_badge(painter)
        if muted:
            _draw_mute_badge(painter)
    finally:
        painter.end()
    return image


_icons: dict[tuple[TrayState, bool, bool], QIcon] = {}


def tray_icon(state: TrayState, *, offline: bool = False, muted: bool = False) -> QIcon:
    """The icon of `state` at every size in ICON_SIZES (made once; needs a QGuiApplication)."""
    key = (state, offline and state is not TrayState.OFFLINE, muted)
    icon = _icons.get(key)
    if icon is None:
        icon = QIcon()
        for size in ICON_SIZES:
            icon.addPixmap(QPixmap.fromImage(icon_image(state, size, offline=key[1], muted=muted)))
        _icons[key] = icon
    return icon


# --- the tray ----------------------------------------------------------------------------------------

MUTE_TEXT: Final = "Mute low priority for an hour"
NOTHING_TEXT: Final = "Nothing to acknowledge"
_TITLE_CHARS: Final = 60  # longer titles are cut: a menu as wide as the screen is no use


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _menu_text(text: str) -> str:
    """Text as a menu shows it literally: one line, "&" not taken for a mnemonic, no tab (which
    would start a shortcut column), cut to a readable length."""
    one_line = " ".join(text.split())
    if len(one_line) > _TITLE_CHARS:
        one_line = one_line[: _TITLE_CHARS - 1].rstrip() + "…"
    return one_line.replace("&", "&&")


def _left(remaining: timedelta) -> str:
    minutes = max(1, math.ceil(remaining.total_seconds() / 60))
    if minutes <= 60:
        return f"{minutes} min left"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min left"


@dataclass(frozen=True, slots=True)
class _Entry:
    """What one "Acknowledge …" line shows; the menu is rebuilt only when these change."""

    incident_id: str
    text: str
    high: bool


def _entry(view: IncidentView) -> _Entry:
    incident = view.incident
    number = f"#{incident.number}" if incident.number else "new"
    title = _menu_text(incident.title) or "(no title)"
    text = f"Acknowledge {number} {title} ({_menu_text(view.service)})"
    return _Entry(incident.id, text, incident.priority is Priority.HIGH)


def _newest_first(view: IncidentView) -> tuple[bool, float, int, str]:
    """High before low, then newest first (the incident table's default order)."""
    incident = view.incident
    created = incident.created_at
    if created.tzinfo is None:
        created = created.replace(tzinfo=UTC)
    return (incident.priority is not Priority.HIGH, -created.timestamp(), -incident.number, incident.id)


class Tray(QObject):
    """The system-tray icon and its menu.

    Menu, top to bottom: "Acknowledge #12 database down (checkout-api)" for the first `listed`
    unacknowledged incidents given to set_unacknowledged (high priority first, then newest; each
    marked with its priority's shape), a line that opens the console when there are more, then
    "Acknowledge all mine (N)", "Open the console", "Mute low priority for an hour" (checkable; shows
    the time left), "Quit". A click on the icon opens the console.

    The menu is rebuilt only when what it lists changes, and not while it is open on screen: a line
    must not move under the pointer, and "all mine" acknowledges the incidents it counted when shown.
    (A StatusNotifierItem panel shows its own copy of the menu over D-Bus: that one follows at once.)

    Signals:
        acknowledge(str): the person chose "Acknowledge" on one incident (its id).
        acknowledge_mine(list): "Acknowledge all mine"; the ids of the incidents it counted.
        open_console(): a click on the icon, "Open the console", or the "more" line.
        mute_low(bool): the person muted (True) or unmuted (False) low priority. A mute that
            runs out is not signalled: the alert policy compares the time itself.
        quit(): "Quit".
    """

    acknowledge = Signal(str)
    acknowledge_mine = Signal(list)
    open_console = Signal()
    mute_low = Signal(bool)
    quit = Signal()

    def __init__(
        self,
        parent: QObject | None = None,
        *,
        listed: int = 5,
        mute_for: timedelta = timedelta(hours=1),
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        super().__init__(parent)
        self._listed = listed
        self._mute_for = mute_for
        self._clock = clock
        self._state = TrayState.ALL_CLEAR
        self._offline = False
        self._tooltip = tooltip_text((), online=True)
        self._muted_until: datetime | None = None
        self._sound_muted = False
        self._icon_key: tuple[TrayState, bool, bool] | None = None
        self._entries: tuple[_Entry, ...] | None = None  # None: never built
        self._more = 0
        self._mine: list[str] = []
        self._shown_actions: list[QAction] = []
        self._pending: list[IncidentView] | None = None  # given while the menu was open
        self._pending_mine: list[str] | None = None
        self.rebuilds = 0  # how often the incident lines were made anew

        self._menu = QMenu()
        self._menu.setToolTipsVisible(True)
        self._separator = self._menu.addSeparator()
        self._mine_action = self._menu.addAction("")
        self._mine_action.triggered.connect(self._acknowledge_mine)
        self._menu.addSeparator()
        self._open_action = self._menu.addAction("Open the console")
        self._open_action.triggered.connect(self.open_console)
        self._mute_action = self._menu.addAction(MUTE_TEXT)
        self._mute_action.setCheckable(True)
        self._mute_action.triggered.connect(self._mute_chosen)
        self._menu.addSeparator()
        self._quit_action = self._menu.addAction("Quit")
        self._quit_action.triggered.connect(self.quit)
        self._menu.aboutToShow.connect(self._menu_shown)
        self._menu.aboutToHide.connect(self._menu_hidden)

        self._mute_timer = QTimer(self)
        self._mute_timer.setInterval(15_000)
        self._mute_timer.timeout.connect(self._refresh)

        self._icon = QSystemTrayIcon(self)
        self._icon.setContextMenu(self._menu)
        self._icon.activated.connect(self._activated)
        self._apply_unacknowledged([])
        self._refresh()

    # --- queries --------------------------------------------------------------------------------

    @staticmethod
    def available() -> bool:
        """Whether a tray host runs; without one the app keeps to the window."""
        return QSystemTrayIcon.isSystemTrayAvailable()

    @property
    def menu(self) -> QMenu:
        return self._menu

    @property
    def system_tray_icon(self) -> QSystemTrayIcon:
        return self._icon

    @property
    def state(self) -> TrayState:
        return self._state

    @property
    def low_muted_until(self) -> datetime | None:
        return self._muted_until

    # --- showing --------------------------------------------------------------------------------

    def show(self) -> None:
        self._icon.show()

    def hide(self) -> None:
        self._icon.hide()

    def set_state(self, state: TrayState, tooltip: str, *, offline: bool = False) -> None:
        """What the icon shows (see tray_state and tooltip_text). `offline` adds the offline badge
        to a state that outranks OFFLINE (high unacknowledged)."""
        self._state = state
        self._offline = offline
        self._tooltip = tooltip
        self._refresh()

    def set_unacknowledged(
        self, incidents: Sequence[IncidentView], *, mine: Sequence[str] | None = None
    ) -> None:
        """The unacknowledged incidents to list (anything acknowledged or done among them is left
        out); `mine`, the ids "Acknowledge all mine" acknowledges (assigned or paged to the person;
        None: all of `incidents`)."""
        if self._menu.isVisible():  # a popup menu on screen; a D-Bus menu (SNI) is the panel's, never
            self._pending = list(incidents)  # visible here: it follows at once
            self._pending_mine = None if mine is None else list(mine)
            return
        self._apply_unacknowledged(incidents, mine)

    def set_sound_muted(self, muted: bool) -> None:
        """All sound is off (the settings' mute): the icon's mute badge and the tooltip say so."""
        self._sound_muted = muted
        self._refresh()

    def set_low_muted_until(self, until: datetime | None) -> None:
        """Low priority is muted until then (None: not muted), as the settings say; not signalled."""
        self._muted_until = until
        self._refresh()

    # --- inside ---------------------------------------------------------------------------------

    def _apply_unacknowledged(
        self, incidents: Iterable[IncidentView], mine: Sequence[str] | None = None
    ) -> None:
        waiting = sorted(
            (v for v in incidents if v.incident.status.rank is Rank.TRIGGERED), key=_newest_first
        )
        self._mine = [view.id for view in waiting] if mine is None else list(mine)
        mine_text = f"Acknowledge all mine ({len(self._mine)})"
        if self._mine_action.text() != mine_text:
            self._mine_action.setText(mine_text)
        self._mine_action.setEnabled(bool(self._mine))
        entries = tuple(_entry(view) for view in waiting[: self._listed])
        more = len(waiting) - len(entries)
        if entries == self._entries and more == self._more:
            return
        self._entries, self._more = entries, more
        self._rebuild()

    def _rebuild(self) -> None:
        for action in self._shown_actions:
            self._menu.removeAction(action)
            action.deleteLater()
        self._shown_actions = []
        assert self._entries is not None
        for entry in self._entries:
            action = QAction(entry.text, self._menu)
            action.setIcon(tray_icon(TrayState.HIGH_UNACKNOWLEDGED if entry.high else TrayState.LOW_OPEN))
            action.setToolTip("High priority" if entry.high else "Low priority")
            action.triggered.connect(partial(self._acknowledge_one, entry.incident_id))
            self._shown_actions.append(action)
        if self._more:
            action = QAction(f"{self._more} more unacknowledged: open the console", self._menu)
            action.triggered.connect(self.open_console)
            self._shown_actions.append(action)
        if not self._entries:
            action = QAction(NOTHING_TEXT, self._menu)
            action.setEnabled(False)
            self._shown_actions.append(action)
        self._menu.insertActions(self._separator, self._shown_actions)
        self.rebuilds += 1

    def _acknowledge_one(self, incident_id: str, _checked: bool = False) -> None:
        self.acknowledge.emit(incident_id)

    def _acknowledge_mine(self) -> None:
        if self._mine:
            self.acknowledge_mine.emit(list(self._mine))

    def _activated(self, reason: QSystemTrayIcon.ActivationReason) -> None:
        if reason == QSystemTrayIcon.ActivationReason.Trigger:
            self.open_console.emit()

    def _menu_shown(self) -> None:
        self._refresh()

    def _menu_hidden(self) -> None:
        # once the click that closed it has been handled: a menu hides before its action fires
        QTimer.singleShot(0, self, self._menu_closed)

    def _menu_closed(self) -> None:
        if self._pending is None or self._menu.isVisible():  # nothing waits, or open again
            return
        pending, self._pending = self._pending, None
        mine, self._pending_mine = self._pending_mine, None
        self._apply_unacknowledged(pending, mine)

    def _mute_chosen(self, checked: bool) -> None:
        self._muted_until = self._clock() + self._mute_for if checked else None
        self._refresh()
        self.mute_low.emit(checked)

    def _refresh(self) -> None:
        """Bring the mute line, its timer, the icon and the tooltip up to date (a mute runs out here)."""
        remaining = None if self._muted_until is None else self._muted_until - self._clock()
        if remaining is not None and remaining <= timedelta(0):
            self._muted_until = remaining = None
        low_muted = remaining is not None
        muted = low_muted or self._sound_muted
        text = f"{MUTE_TEXT} ({_left(remaining)})" if remaining is not None else MUTE_TEXT
        if self._mute_action.isChecked() != low_muted:
            self._mute_action.setChecked(low_muted)
        if self._mute_action.text() != text:
            self._mute_action.setText(text)
        if low_muted != self._mute_timer.isActive():
            if low_muted:
                self._mute_timer.start()
            else:
                self._mute_timer.stop()
        key = (self._state, self._offline and self._state is not TrayState.OFFLINE, muted)
        if key != self._icon_key:
            self._icon_key = key
            self._icon.setIcon(tray_icon(self._state, offline=key[1], muted=muted))
        tooltip = self._tooltip
        if self._sound_muted:
            tooltip = f"{tooltip}\nSound muted (settings)"
        if remaining is not None:
            tooltip = f"{tooltip}\nLow priority muted, {_left(remaining)}"
        if self._icon.toolTip() != tooltip:
            self._icon.setToolTip(tooltip)
