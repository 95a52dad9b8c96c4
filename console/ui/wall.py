"""The NOC wall (`python main.py wall`): open incidents as tiles, who is on call, today's figures, a
clock and the sync state, full screen and readable across a room (desktop.md §10).

The window never reads or writes the replica itself. It takes plain values through show_changes()
/ show_views(), set_sync_view() and set_on_call(), so tests feed it directly; WallFeeder reads the
replica for it in a worker thread, as app.py's reader does for the main window. Acknowledging from
the wall is opt-in (`allow_acknowledge`) and only emits `acknowledge_requested`: whoever wired the
wall records the op.

Every rule (order, paging, pausing, figures, staleness) lives in console/ui/wall_layout.py; this
module draws. Sizes are given for a 1080p wall and scaled with the window (a 4K panel at 100 %
gets the same layout at twice the pixels; at 200 % Qt's device pixel ratio does it), never below
the 1080p sizes, so nothing gets smaller than MIN_TEXT_PX.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from html import escape
from typing import Final

from PySide6.QtCore import QPointF, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import (
    QAction,
    QColor,
    QFont,
    QFontMetricsF,
    QImage,
    QKeySequence,
    QMouseEvent,
    QPainter,
    QPainterPath,
    QPaintEvent,
    QPen,
    QPolygonF,
    QResizeEvent,
    QShowEvent,
)
from PySide6.QtWidgets import (
    QApplication,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLayout,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from console.domain.oncall import OnCallNow
from console.domain.status import Rank
from console.domain.views import IncidentView
from console.notify.tray import TrayState, icon_image
from console.sync.state import Status, SyncView
from console.ui import wall_layout as layout

log = logging.getLogger(__name__)

# -- sizes, in pixels of a 1080p wall --
#
# Legibility at 5 m: we size for a cap height of about 1/250 of the viewing distance (a signage
# rule of thumb: 20 mm at 5 m), which a 55-65" 1080p panel (0.63-0.75 mm a pixel) gives with 27-32
# px of cap height; DejaVu Sans caps are 0.75 of the pixel size (measured), hence 40 px as the
# smallest text anywhere on the wall. Hierarchy comes from size and weight above that floor.
MIN_TEXT_PX: Final = 40
TEXT_PX: Final = {
    "clock": 72,
    "summary": 48,
    "banner": 52,
    "title": 46,
    "age": 46,
    "meta": 40,
    "label": 40,
    "person": 50,
    "figure": 64,
}
DESIGN_W, DESIGN_H = 1920, 1080
TILE_MIN_W: Final = 1000  # one column beside the side panel at 1080p; two on a very wide wall
TILE_H: Final = 150
TILE_GAP: Final = 18
SIDE_W: Final = 540
MARGIN: Final = 24
BURN_IN_PX: Final = 4  # how far the wall wanders from its place, each way

ROTATE_MS: Final = 20_000
BURN_IN_MS: Final = 120_000
IDLE_CURSOR_MS: Final = 3_000
SETTLE_MS: Final = 250  # data changes are laid out at most this often: a storm is a few layouts a second
ON_CALL_SHOWN: Final = 4

ACKNOWLEDGE_KEY: Final = "Ctrl+Shift+A"  # deliberate: a stray key on a wall keyboard must not act
LEAVE_KEY: Final = "Ctrl+Q"

_BACKGROUND: Final = QColor("#0B0B0B")
_TILE: Final = QColor("#1B1B1B")
_TILE_ALERT: Final = QColor("#2B170B")  # a hint of vermillion behind an unacknowledged high tile
_TEXT: Final = QColor("#F2F2F2")
_MUTED: Final = QColor("#C4C4C4")  # 11:1 on the tiles: secondary, still readable at distance
_GROUP_COLOUR: Final = {
    layout.Group.HIGH_UNACKNOWLEDGED: QColor(layout.VERMILLION),
    layout.Group.HIGH_ACKNOWLEDGED: QColor(layout.ORANGE),
    layout.Group.LOW_UNACKNOWLEDGED: QColor(layout.BLUE),
    layout.Group.LOW_ACKNOWLEDGED: QColor(layout.BLUE),
}
_STATE_COLOUR: Final = {  # the state's words: alarm only where the priority is high
    layout.Group.HIGH_UNACKNOWLEDGED: QColor(layout.VERMILLION),
    layout.Group.HIGH_ACKNOWLEDGED: QColor(layout.GREEN),
    layout.Group.LOW_UNACKNOWLEDGED: QColor(layout.SKY_BLUE),
    layout.Group.LOW_ACKNOWLEDGED: QColor(layout.GREEN),
}


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _font(px: float, *, bold: bool = False) -> QFont:
    font = QFont()
    # Condensed where installed: more of a title fits a tile at the same height.
    font.setFamilies(["DejaVu Sans Condensed", "DejaVu Sans", "Noto Sans", "Arial"])
    font.setStyleHint(QFont.StyleHint.SansSerif)
    font.setPixelSize(max(MIN_TEXT_PX, round(px)))
    font.setBold(bold)
    return font


def scale_for(width: int, height: int) -> float:
    """How much bigger than the 1080p design the wall is drawn: never smaller (MIN_TEXT_PX)."""
    return max(1.0, min(width / DESIGN_W, height / DESIGN_H))


@dataclass(frozen=True, slots=True)
class WallChanges:
    """What a read found for the wall: everything it needs (a full read), or what changed."""

    everything: Sequence[IncidentView] | None = None
    changed: Sequence[IncidentView] = ()
    gone: frozenset[str] = frozenset()
    acknowledged_by: Mapping[str, str] = field(default_factory=dict)  # incident id -> who acknowledged

    @property
    def empty(self) -> bool:
        return self.everything is None and not self.changed and not self.gone and not self.acknowledged_by


# -- the tiles --


class TileBoard(QWidget):
    """The page's tiles, painted by one widget: a storm re-lays one page, not hundreds of widgets,
    and shapes and text are vectors, sharp at any device pixel ratio.

    Signals:
        resized(): how many tiles fit may have changed (the banner came or went, a new screen).
    """

    resized = Signal()

    def __init__(self, clock: Callable[[], datetime], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._clock = clock
        self._scale = 1.0
        self._tiles: list[IncidentView] = []
        self._who: Mapping[str, str] = {}
        self._columns = 1
        self.pulse_on = True
        self.empty_text = "No open incidents"
        self._marks: dict[tuple[layout.Group, int, float], QImage] = {}
        self._fonts: dict[tuple[str, bool], QFont] = {}  # made once per scale, not per tile and paint
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)

    @property
    def tiles(self) -> list[IncidentView]:
        return list(self._tiles)

    def set_scale(self, scale: float) -> None:
        self._scale = scale
        self._marks.clear()
        self._fonts.clear()
        self.update()

    def _font(self, kind: str, *, bold: bool = False) -> QFont:
        font = self._fonts.get((kind, bold))
        if font is None:
            font = self._fonts[kind, bold] = _font(TEXT_PX[kind] * self._scale, bold=bold)
        return font

    def grid(self) -> layout.Grid:
        s = self._scale
        return layout.grid_for(
            self.width(), self.height(), tile_width=TILE_MIN_W * s, tile_height=TILE_H * s, gap=TILE_GAP * s
        )

    def set_tiles(self, tiles: Sequence[IncidentView], who: Mapping[str, str], columns: int) -> None:
        self._tiles = list(tiles)
        self._who = who
        self._columns = columns
        self.update()

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self.resized.emit()

    def tile_rect(self, index: int) -> QRectF:
        s = self._scale
        gap = TILE_GAP * s
        width = (self.width() - gap * (self._columns - 1)) / self._columns
        row, column = divmod(index, self._columns)
        return QRectF(column * (width + gap), row * (TILE_H * s + gap), width, TILE_H * s)

    def paintEvent(self, _event: QPaintEvent) -> None:
        painter = QPainter(self)
        try:
            painter.setRenderHint(QPainter.RenderHint.Antialiasing)
            painter.setRenderHint(QPainter.RenderHint.TextAntialiasing)
            painter.fillRect(self.rect(), _BACKGROUND)
            if not self._tiles:
                self._paint_empty(painter)
                return
            now = self._clock()
            for index, view in enumerate(self._tiles):
                self._paint_tile(painter, self.tile_rect(index), view, now)
        finally:
            painter.end()

    def _paint_empty(self, painter: QPainter) -> None:
        s = self._scale
        side = 120 * s
        centre = QPointF(self.width() / 2, self.height() / 2 - side)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(layout.GREEN))
        painter.drawEllipse(centre, side / 2, side / 2)
        painter.setPen(QPen(_TEXT, 12 * s, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap))
        painter.drawPolyline(
            QPolygonF([centre + QPointF(-26 * s, 2 * s), centre + QPointF(-6 * s, 22 * s),
                       centre + QPointF(28 * s, -20 * s)])
        )  # fmt: skip
        painter.setFont(self._font("summary", bold=True))
        painter.setPen(_TEXT)
        below = QRectF(0, centre.y() + side / 2 + 24 * s, self.width(), 80 * s)
        painter.drawText(below, Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop, self.empty_text)

    def _mark(self, group: layout.Group, px: int) -> QImage:
        """The priority's shape: the tray's vermillion triangle and blue ring, and for a high
        incident someone took, the triangle in orange with a check instead of "!"."""
        ratio = self.devicePixelRatioF()  # in the key: the window may move to a screen of another
        key = (group, px, ratio)
        image = self._marks.get(key)
        if image is None:
            size = max(1, round(px * ratio))
            if group is layout.Group.HIGH_UNACKNOWLEDGED:
                image = icon_image(TrayState.HIGH_UNACKNOWLEDGED, size)
            elif group is layout.Group.HIGH_ACKNOWLEDGED:
                image = _acknowledged_triangle(size)
            else:
                image = icon_image(TrayState.LOW_OPEN, size)
            image.setDevicePixelRatio(ratio)
            self._marks[key] = image
        return image

    def _paint_tile(self, painter: QPainter, rect: QRectF, view: IncidentView, now: datetime) -> None:
        s = self._scale
        incident = view.incident
        group = layout.group_of(view)
        colour = _GROUP_COLOUR[group]
        alert = group is layout.Group.HIGH_UNACKNOWLEDGED
        radius = 10 * s
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(_TILE_ALERT if alert else _TILE)
        painter.drawRoundedRect(rect, radius, radius)
        band = QPainterPath()
        band.addRoundedRect(QRectF(rect.left(), rect.top(), 24 * s, rect.height()), radius, radius)
        painter.fillPath(band, colour)
        painter.fillRect(QRectF(rect.left() + 12 * s, rect.top(), 12 * s, rect.height()), colour)
        if alert and self.pulse_on:  # the pulse: a border, never the whole tile (desktop.md §10)
            width = 6 * s
            painter.setPen(QPen(colour, width))
            painter.setBrush(Qt.BrushStyle.NoBrush)
            inset = width / 2
            painter.drawRoundedRect(rect.adjusted(inset, inset, -inset, -inset), radius, radius)

        left = rect.left() + 24 * s + 24 * s
        right = rect.right() - 28 * s
        top = rect.top() + 16 * s
        line = 56 * s
        mark_px = round(46 * s)
        painter.drawImage(QPointF(left, top + (line - mark_px) / 2), self._mark(group, mark_px))
        x = left + mark_px + 16 * s

        label_font = self._font("meta", bold=True)
        meta_font = self._font("meta")
        age_font = self._font("age", bold=True)
        centre = Qt.AlignmentFlag.AlignVCenter
        painter.setPen(_TEXT)
        painter.setFont(label_font)
        label = "HIGH" if group.high else "LOW"
        painter.drawText(QRectF(x, top, right - x, line), centre | Qt.AlignmentFlag.AlignLeft, label)
        x += QFontMetricsF(label_font).horizontalAdvance(label) + 24 * s

        age = layout.format_age(now - layout.as_utc(incident.created_at))
        painter.setFont(age_font)
        age_width = QFontMetricsF(age_font).horizontalAdvance(age)
        painter.drawText(QRectF(right - age_width, top, age_width, line), centre, age)
        painter.setFont(label_font)
        metrics = QFontMetricsF(label_font)
        # a long name must leave the priority and the service in view
        state = metrics.elidedText(self.state_text(view), Qt.TextElideMode.ElideRight, (right - x) * 0.45)
        state_width = metrics.horizontalAdvance(state)
        state_left = right - age_width - 32 * s - state_width
        painter.setPen(_STATE_COLOUR[group])
        painter.drawText(QRectF(state_left, top, state_width, line), centre, state)

        number = f"#{incident.number}" if incident.number else "new"
        meta = QFontMetricsF(meta_font).elidedText(
            f"{number} · {view.service}", Qt.TextElideMode.ElideRight, max(0.0, state_left - 24 * s - x)
        )
        painter.setFont(meta_font)
        painter.setPen(_MUTED)
        painter.drawText(QRectF(x, top, state_left - x, line), centre | Qt.AlignmentFlag.AlignLeft, meta)

        title_font = self._font("title")
        title_top = top + line + 6 * s
        title = QFontMetricsF(title_font).elidedText(
            incident.title or "(no title)", Qt.TextElideMode.ElideRight, right - left
        )
        painter.setFont(title_font)
        painter.setPen(_TEXT)
        painter.drawText(
            QRectF(left, title_top, right - left, 60 * s), centre | Qt.AlignmentFlag.AlignLeft, title
        )

    def state_text(self, view: IncidentView) -> str:
        """A tile's acknowledgement, in words: who took it, when known (else its assignee)."""
        who = self._who.get(view.id) or view.incident.assignee
        if not layout.group_of(view).acknowledged:
            return "NOT ACKNOWLEDGED"
        return f"✓ {who}" if who else "✓ ACKNOWLEDGED"


def _acknowledged_triangle(size: int) -> QImage:
    """The tray's triangle in orange, with a black check for its "!": high, and someone has it."""
    image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    try:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.scale(size / 16, size / 16)
        painter.setPen(QPen(QColor(layout.ORANGE).darker(140), 0.7))
        painter.setBrush(QColor(layout.ORANGE))
        painter.drawPolygon(QPolygonF([QPointF(8, 0.8), QPointF(15.4, 14.8), QPointF(0.6, 14.8)]))
        pen = QPen(QColor("#000000"), 1.8, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap)
        pen.setJoinStyle(Qt.PenJoinStyle.RoundJoin)
        painter.setPen(pen)
        painter.drawPolyline(QPolygonF([QPointF(5.0, 10.2), QPointF(7.2, 12.4), QPointF(11.2, 7.0)]))
    finally:
        painter.end()
    return image


# -- the window --


class WallWindow(QWidget):
    """The wall: a header (summary, page, last synced, clock), a banner when the data cannot be
    trusted, the tiles, and a side panel (on call now, today's figures).

    Signals:
        acknowledge_requested(str): with `allow_acknowledge`, ACKNOWLEDGE_KEY was pressed; the id
            of the first tile's incident, when it is not acknowledged yet. The wall writes nothing.
    """

    acknowledge_requested = Signal(str)

    def __init__(
        self,
        *,
        clock: Callable[[], datetime] = _utcnow,
        tz: tzinfo | None = None,
        allow_acknowledge: bool = False,
        stale_after: float = layout.STALE_AFTER.total_seconds(),
        rotate_ms: int = ROTATE_MS,
    ) -> None:
        super().__init__()
        self.setWindowTitle("Responder Console — wall")
        self._clock = clock
        self._tz = tz
        self._stale_after = timedelta(seconds=stale_after)
        self._views: dict[str, IncidentView] = {}  # open, or acknowledged/resolved today
        self._keys: dict[str, tuple[int, float, int, str]] = {}  # the open ones' tile order keys
        self._high = 0  # open, high priority, not acknowledged
        self._figures_due = False
        self._who: dict[str, str] = {}
        self._ordered: list[IncidentView] = []
        self._page = 0
        self._pages = 1
        self._urgent = 0  # pages of high-priority incidents waiting: rotation keeps to them
        self._sync: SyncView | None = None
        self._on_call: list[OnCallNow] = []
        self._day = layout.day_start(clock(), tz)
        self._scale = 1.0
        self._shift_step = 0
        self.health = layout.sync_health(None, last_sync_at=None, now=clock(), tz=tz)
        self.figures = layout.today_figures((), since=self._day)
        self.layouts = 0  # how often the tiles were laid out (the benchmark reports it)

        self.setMouseTracking(True)  # moves reach the window: the content lets them through
        self.setAutoFillBackground(True)
        self.setStyleSheet("WallWindow { background: #0B0B0B; } QLabel { color: #F2F2F2; }")

        self.summary = QLabel()
        self.page_label = QLabel()
        self.synced_label = QLabel()
        self.clock_label = QLabel()
        self.banner = QLabel()
        self.banner.setObjectName("wallBanner")
        self.banner.setWordWrap(True)
        self.banner.setVisible(False)
        self.board = TileBoard(clock)
        self.board.resized.connect(self._show_page)
        self.on_call_heading = QLabel("ON CALL NOW")
        self.on_call_label = QLabel()
        self.on_call_label.setTextFormat(Qt.TextFormat.RichText)
        self.on_call_label.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.on_call_label.setWordWrap(True)
        self.today_heading = QLabel("TODAY")
        self.figure_values = {name: QLabel("—") for name in ("open", "acknowledged", "mtta", "mttr")}
        self.figure_captions = {
            "open": QLabel("Open"),
            "acknowledged": QLabel("Acked"),
            "mtta": QLabel("MTTA"),
            "mttr": QLabel("MTTR"),
        }
        for label in (self.synced_label, self.on_call_heading, self.today_heading, self.page_label,
                      *self.figure_captions.values()):  # fmt: skip
            label.setStyleSheet("color: #C4C4C4;")

        header = QHBoxLayout()
        header.addWidget(self.summary, 1)
        header.addWidget(self.page_label)
        header.addWidget(self.synced_label)
        header.addWidget(self.clock_label)
        figures = QGridLayout()
        for index, name in enumerate(self.figure_values):
            row, column = divmod(index, 2)
            figures.addWidget(self.figure_values[name], row * 2, column)
            figures.addWidget(self.figure_captions[name], row * 2 + 1, column)
        self.side = QWidget()
        side = QVBoxLayout(self.side)
        side.setContentsMargins(0, 0, 0, 0)
        side.addWidget(self.on_call_heading)
        side.addWidget(self.on_call_label, 1)
        side.addWidget(self.today_heading)
        side.addLayout(figures)
        body = QHBoxLayout()
        body.addWidget(self.board, 1)
        body.addWidget(self.side)
        self.content = QWidget(self)
        # Read-only: the pointer only shows and hides the cursor, so the window takes every move.
        self.content.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        stack = QVBoxLayout(self.content)
        stack.addLayout(header)
        stack.addWidget(self.banner)
        stack.addLayout(body, 1)
        self._column = stack
        self._header = header
        self._body = body
        outer = QVBoxLayout(self)
        # The screen decides the size, never the texts: a long one is cut, the window stays put.
        outer.setSizeConstraint(QLayout.SizeConstraint.SetNoConstraint)
        outer.addWidget(self.content)
        for label in (self.summary, self.banner, *self.figure_values.values(), self.on_call_label):
            label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.board.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)
        self._outer = outer

        self._tick_timer = self._timer(1000, self.tick)
        self._pulse_timer = self._timer(layout.PULSE_TOGGLE_MS, self._pulse)
        self._rotate_timer = self._timer(rotate_ms, self.rotate_now)
        self._shift_timer = self._timer(BURN_IN_MS, self.shift_now)
        self._settle_timer = self._timer(SETTLE_MS, self._settled, single=True)
        self._idle_timer = self._timer(IDLE_CURSOR_MS, self._hide_cursor, single=True)
        for timer in (self._tick_timer, self._rotate_timer, self._shift_timer, self._idle_timer):
            timer.start()

        self.acknowledge_action: QAction | None = None
        if allow_acknowledge:
            self.acknowledge_action = self._shortcut(ACKNOWLEDGE_KEY, self._acknowledge_first)
        self._shortcut(LEAVE_KEY, self.close)

        self._apply_scale(1.0)
        self.tick()
        self.refresh()

    def _timer(self, ms: int, slot: Callable[[], None], *, single: bool = False) -> QTimer:
        timer = QTimer(self)
        timer.setInterval(ms)
        timer.setSingleShot(single)
        timer.timeout.connect(slot)
        return timer

    def _shortcut(self, key: str, slot: Callable[[], object]) -> QAction:
        action = QAction(self)
        action.setShortcut(QKeySequence(key))
        action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        action.triggered.connect(slot)
        self.addAction(action)
        return action

    # -- data in --

    def show_views(
        self, views: Iterable[IncidentView], acknowledged_by: Mapping[str, str] | None = None
    ) -> None:
        """Show these incidents, all of them (any other goes)."""
        self.show_changes(WallChanges(everything=list(views), acknowledged_by=acknowledged_by or {}))

    def show_changes(self, changes: WallChanges) -> None:
        """Take what a read found; the tiles follow within SETTLE_MS (refresh() for at once)."""
        if changes.empty:
            return
        if changes.everything is not None:
            self._views, self._keys = {}, {}
            for view in changes.everything:
                self._take(view)
        for view in changes.changed:
            self._take(view)
        for gone in changes.gone:
            self._forget(gone)
        self._who.update(changes.acknowledged_by)
        if not self._settle_timer.isActive():
            self._settle_timer.start()

    def _take(self, view: IncidentView) -> None:
        # The order key is made once per change, not on every layout: a storm's layout only sorts.
        if not layout.worth_keeping(view, self._day):
            self._forget(view.id)
            return
        self._views[view.id] = view
        if view.incident.status.is_open:
            self._keys[view.id] = layout.tile_key(view)
        else:
            self._keys.pop(view.id, None)

    def _forget(self, incident_id: str) -> None:
        self._views.pop(incident_id, None)
        self._keys.pop(incident_id, None)
        self._who.pop(incident_id, None)

    def set_sync_view(self, view: SyncView) -> None:
        """The sync engine's state (the same values the main window takes)."""
        self._sync = view
        self._show_health()

    def set_on_call(self, entries: Sequence[OnCallNow]) -> None:
        self._on_call = list(entries)
        self._show_on_call()

    # -- what is shown (for tests and the benchmark) --

    @property
    def page(self) -> int:
        return self._page

    @property
    def pages(self) -> int:
        return self._pages

    @property
    def rotation_paused(self) -> bool:
        """Rotation keeps to the pages of waiting high-priority incidents (the first, usually)."""
        return self._urgent > 0

    def knows(self, incident_id: str) -> bool:
        """Whether the wall holds this incident (taken in; the tiles follow within SETTLE_MS)."""
        return incident_id in self._views

    @property
    def ordered(self) -> list[IncidentView]:
        return list(self._ordered)

    @property
    def shift(self) -> tuple[int, int]:
        return layout.burn_in_offset(self._shift_step, round(BURN_IN_PX * self._scale))

    def type_sizes(self) -> dict[str, int]:
        """The pixel size of each kind of text as drawn now."""
        return {name: _font(px * self._scale).pixelSize() for name, px in TEXT_PX.items()}

    # -- laying out --

    def refresh(self) -> None:
        """Lay the tiles out and count today's figures now, from what the window holds."""
        self.lay_out(figures=True)

    def _settled(self) -> None:
        self.lay_out(figures=False)  # the figures follow with the next tick: a storm counts once a second

    def lay_out(self, *, figures: bool) -> None:
        self._settle_timer.stop()
        self.layouts += 1
        keys = self._keys
        ids = sorted(keys, key=keys.__getitem__)
        self._ordered = [self._views[incident_id] for incident_id in ids]
        waiting = layout.Group.HIGH_UNACKNOWLEDGED
        self._high = next((n for n, i in enumerate(ids) if keys[i][0] != waiting), len(ids))
        self._show_page()
        self._show_summary()
        if figures:
            self._count()
        else:
            self._figures_due = True

    def _count(self) -> None:
        self._figures_due = False
        self.figures = layout.today_figures(self._views.values(), since=self._day)
        self._show_figures()

    def rotate_now(self) -> None:
        """One rotation step (the timer's): the next page, unless paused."""
        self._page = layout.next_page(self._page, self._pages, urgent=self._urgent)
        self._show_page()

    def shift_now(self) -> None:
        """One burn-in step (the timer's): the whole wall moves to the next point of its orbit."""
        self._shift_step += 1
        self._apply_margins()

    def _show_page(self) -> None:
        grid = self.board.grid()
        self._pages = layout.page_count(len(self._ordered), grid.per_page)
        self._urgent = layout.urgent_pages(self._high, grid.per_page)
        self._page = layout.clamp_page(self._page, self._pages, urgent=self._urgent)
        shown = layout.page_items(self._ordered, self._page, grid.per_page)
        columns = min(grid.columns, max(1, len(shown)))
        self.board.set_tiles(shown, self._who, columns)
        pulsing = any(layout.is_high_unacknowledged(v) for v in shown)
        if pulsing and not self._pulse_timer.isActive():
            self.board.pulse_on = True
            self._pulse_timer.start()
        elif not pulsing:
            self._pulse_timer.stop()
        page = f"Page {self._page + 1}/{self._pages}" if self._pages > 1 else ""
        if self._urgent == 1 and self._pages > 1:
            page += " · paused"
        elif self._urgent > 1:
            page += f" · waiting: {min(self._urgent, self._pages)} pages"
        self.page_label.setText(page)

    def _show_summary(self) -> None:
        if self._high:
            text, colour = f"▲ {self._high} HIGH NOT ACKNOWLEDGED", layout.VERMILLION
        else:
            text, colour = ("✓ Every high priority taken" if self._ordered else "✓ All clear"), "#F2F2F2"
        if self.summary.text() != text:
            self.summary.setText(text)
            self.summary.setStyleSheet(f"color: {colour};")

    def _show_figures(self) -> None:
        figures = self.figures
        self.figure_values["open"].setText(str(figures.open))
        self.figure_values["acknowledged"].setText(str(figures.acknowledged))
        self.figure_values["mtta"].setText(layout.format_mean(figures.mean_to_acknowledge))
        self.figure_values["mttr"].setText(layout.format_mean(figures.mean_to_resolve))

    def _show_health(self) -> None:
        sync = self._sync
        self.health = layout.sync_health(
            sync.status if sync else None,
            last_sync_at=sync.last_sync_at if sync else None,
            now=self._clock(),
            message=sync.message if sync and sync.status is Status.ERROR else "",
            stale_after=self._stale_after,
            tz=self._tz,
        )
        self.synced_label.setText(self.health.synced)
        trusted = self.health.freshness is layout.Freshness.FRESH
        if self.banner.text() != self.health.banner:
            self.banner.setText(self.health.banner)
        self.banner.setVisible(not trusted)
        self.board.empty_text = "No open incidents" if trusted else "No open incidents known"

    def _show_on_call(self) -> None:
        s = self._scale
        muted = "#C4C4C4"
        small = f'<div style="font-size:{round(TEXT_PX["label"] * s)}px; color:{muted}">'
        rows = []
        for entry in self._on_call[:ON_CALL_SHOWN]:
            if entry.user is None:
                who = f'<span style="color:{layout.YELLOW}">⚠ NOBODY</span>'
            else:
                who = escape(entry.user)
            until = f"until {self._when(entry.until)}" if entry.until else ""
            rows.append(
                f'<div style="font-size:{round(TEXT_PX["label"] * s)}px; color:{muted}; '
                f'margin-top:{round(12 * s)}px">{escape(entry.schedule)}</div>'
                f'<div style="font-size:{round(TEXT_PX["person"] * s)}px; font-weight:700">{who} '
                f'<span style="font-size:{round(TEXT_PX["label"] * s)}px; font-weight:400; color:{muted}">'
                f"{until}</span></div>"
            )
        if len(self._on_call) > ON_CALL_SHOWN:
            rows.append(f"{small}+{len(self._on_call) - ON_CALL_SHOWN} more schedules</div>")
        if not rows:
            rows.append(f"{small}no schedules</div>")
        self.on_call_label.setText("".join(rows))

    def _when(self, at: datetime) -> str:
        local = layout.as_utc(at).astimezone(self._tz)
        today = layout.as_utc(self._clock()).astimezone(self._tz).date()
        return f"{local:%H:%M}" if local.date() == today else f"{local:%a %H:%M}"

    # -- scale, burn-in, cursor --

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        scale = scale_for(event.size().width(), event.size().height())
        if scale != self._scale:
            self._apply_scale(scale)

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self.refresh()

    def _apply_scale(self, scale: float) -> None:
        self._scale = scale
        self.board.set_scale(scale)
        px = {name: size * scale for name, size in TEXT_PX.items()}
        self.summary.setFont(_font(px["summary"], bold=True))
        self.page_label.setFont(_font(px["label"]))
        self.synced_label.setFont(_font(px["label"]))
        self.clock_label.setFont(_font(px["clock"], bold=True))
        self.banner.setFont(_font(px["banner"], bold=True))
        pad = round(16 * scale)
        self.banner.setStyleSheet(
            f"QLabel#wallBanner {{ background: {layout.YELLOW}; color: #000000; padding: {pad}px; "
            f"border: {round(6 * scale)}px solid #000000; }}"
        )
        for heading in (self.on_call_heading, self.today_heading):
            heading.setFont(_font(px["label"], bold=True))
        for label in self.figure_values.values():
            label.setFont(_font(px["figure"], bold=True))
        for label in self.figure_captions.values():
            label.setFont(_font(px["label"]))
        self.side.setFixedWidth(round(SIDE_W * scale))
        self._column.setSpacing(round(TILE_GAP * scale))
        self._header.setSpacing(round(36 * scale))
        self._body.setSpacing(round(MARGIN * scale))
        self._apply_margins()
        self._show_on_call()

    def _apply_margins(self) -> None:
        margin = round(MARGIN * self._scale)
        dx, dy = self.shift
        self._outer.setContentsMargins(margin + dx, margin + dy, margin - dx, margin - dy)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        self.unsetCursor()
        self._idle_timer.start()
        super().mouseMoveEvent(event)

    def _hide_cursor(self) -> None:
        self.setCursor(Qt.CursorShape.BlankCursor)

    # -- timers --

    def tick(self) -> None:
        """Once a second (the timer's): the clock, the ages, "last synced", the banner, midnight."""
        now = self._clock()
        self.clock_label.setText(f"{layout.as_utc(now).astimezone(self._tz):%H:%M:%S}")
        day = layout.day_start(now, self._tz)
        if day != self._day:  # midnight: yesterday's resolved incidents leave the figures
            self._day = day
            for incident_id in [k for k, v in self._views.items() if not layout.worth_keeping(v, day)]:
                self._forget(incident_id)
            self.refresh()
        elif self._figures_due:
            self._count()
        self._show_health()
        self.board.update()  # the ages

    def _pulse(self) -> None:
        self.board.pulse_on = not self.board.pulse_on
        self.board.update()

    def _acknowledge_first(self) -> None:
        shown = self.board.tiles
        if shown and shown[0].incident.status.rank is Rank.TRIGGERED:
            self.acknowledge_requested.emit(shown[0].id)


def place_on_screen(window: QWidget, index: int) -> None:
    """Full screen on screen `index` (QGuiApplication.screens() order; out of range: the primary)."""
    screens = QApplication.screens()
    screen = screens[index] if 0 <= index < len(screens) else QApplication.primaryScreen()
    window.setScreen(screen)
    window.setGeometry(screen.geometry())
    window.showFullScreen()
