"""The NOC wall (`python main.py wall`): open incidents as tiles, who is on call, today's figures, a
clock and the sync state, full screen and readable across a room (desktop.md §10).

The window never reads or writes the replica itself. It takes plain values through show_changes()
/ show_views(), set_sync_view() and set_on_call(), so tests feed it directly; WallFeeder reads the
replica for it in a worker thread, as app.py's reader does for the main window. Acknowledging from
the wall is opt-in (`allow_acknowledge`) and only emits `acknowledge_requested`: whoever wired the
wall records the op.

Every rule (order, paging, pausing, figures, staleness, and where each text goes) lives in
console/ui/wall_layout.py; this module measures texts with Qt and draws where the layout says.
Sizes are given for a 1080p wall and scaled with the window (a 4K panel at 100 % gets the same
layout at twice the pixels; at 200 % Qt's device pixel ratio does it). Below 1080 lines they scale
with the height down to TEXT_FLOOR_PX (see the sizes below), and what no longer fits gives way in
order: the header's page and "synced" shorten or take a row of their own (the alarm never), the
side panel keeps its share of the width or moves under the tiles and leaves out "until …", then
the figures, then schedules, and tiles say "WAITING" or "✓" before they cut the service, and give
the service a row of their own when very narrow. Nothing is drawn over anything else
(WallWindow.regions() answers where every text went).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from html import escape
from typing import Final

from PySide6.QtCore import QPoint, QPointF, QRect, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import (
    QAction,
    QColor,
    QFont,
    QFontMetrics,
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
    QBoxLayout,
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
# smallest text anywhere on a 1080p wall. Hierarchy comes from size and weight above that floor.
#
# Smaller screens (1366x768, 1280x720 TVs, a square 800x800 panel): 40 px there would leave room
# for two tiles and cut every text, so below 1080 lines the wall is drawn at the screen's height
# over 1080 (40 px becomes 28 at 768 lines, 27 at 720). The rule of thumb still holds because such
# screens are small panels watched from closer: a 32" 720p TV has 0.55 mm pixels, so 27 px (20 px
# caps, 11 mm) read at about 2.8 m, the distance a small screen in a room is watched from. The
# floor is TEXT_FLOOR_PX, 24 px (18 px caps: 10 mm at 0.55 mm, about 2.5 m): smaller text is no
# longer a wall but a desktop, so below it the wall pages (fewer tiles a page) instead of
# shrinking. At 1080 lines and above nothing changes: 40 px at 1080p, 80 px on a 4K panel.
MIN_TEXT_PX: Final = 40
TEXT_FLOOR_PX: Final = 24
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
COMPACT_TILE_W: Final = 820  # narrower tiles (portrait, tiny screens) give the number and service a row
TILE_METRICS: Final = layout.TileMetrics()
# The side panel (on call now, today) takes a share of the width: 540 px of the 1854 a 1080p wall
# has inside its margins (29 %), never more than that on a wider wall (the tiles need the
# room), never less than SIDE_MIN_W (the figures in two columns). When the tiles beside it would
# get narrower than TILE_BESIDE_MIN_W, the panel moves under the tiles (a square or portrait screen).
SIDE_W: Final = 540
SIDE_SHARE: Final = 540 / 1854
SIDE_MIN_W: Final = 460  # "53 min" twice at 64 px, and room to spare
TILE_BESIDE_MIN_W: Final = 800
SIDE_UNDER_MAX: Final = 0.55  # under the tiles: it leaves two tiles room, taking up to 45 % if need be
SIDE_SPACING: Final = 6  # between the panel's texts (the style's layout spacing it always had)
MARGIN: Final = 24
BURN_IN_PX: Final = 4  # how far the wall wanders from its place, each way

ROTATE_MS: Final = 20_000
BURN_IN_MS: Final = 120_000
IDLE_CURSOR_MS: Final = 3_000
SETTLE_MS: Final = 250  # data changes are laid out at most this often: a storm is a few layouts a second
ON_CALL_SHOWN: Final = 4

ACKNOWLEDGE_KEY: Final = "Ctrl+Shift+A"  # deliberate: a stray key on a wall keyboard must not act
LEAVE_KEY: Final = "Ctrl+Q"

_QWIDGETSIZE_MAX: Final = (1 << 24) - 1  # Qt's QWIDGETSIZE_MAX: no maximum
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
    font.setPixelSize(max(TEXT_FLOOR_PX, round(px)))
    font.setBold(bold)
    return font


def scale_for(width: int, height: int) -> float:
    """How much bigger than the 1080p design the wall is drawn. At 1080 lines and more: by the
    smaller ratio, never below 1 (MIN_TEXT_PX). Below: by the height (see TEXT_FLOOR_PX), so a
    16:9 TV gets the 1080p wall at its own size and a narrower screen the same type, relaid."""
    return max(min(width / DESIGN_W, height / DESIGN_H), min(1.0, height / DESIGN_H))


def min_text_px(width: int, height: int) -> int:
    """The smallest text the wall draws on a screen this size."""
    return max(TEXT_FLOOR_PX, round(MIN_TEXT_PX * scale_for(width, height)))


def _text_width(font: QFont, text: str) -> int:
    """What a QLabel with `font` needs for `text` on one line (its size hint's width)."""
    if not text:
        return 0
    flags = int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
    return QFontMetrics(font).boundingRect(QRect(0, 0, 1 << 20, 1 << 20), flags, text).width()


def _rect(r: layout.Rect) -> QRectF:
    return QRectF(r.x, r.y, r.width, r.height)


def _from_q(r: QRect | QRectF) -> layout.Rect:
    return layout.Rect(r.x(), r.y(), r.width(), r.height())


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


@dataclass(frozen=True, slots=True)
class DrawnTile:
    """One tile as painted: where each text goes and the words chosen for it."""

    view: IncidentView
    rect: layout.Rect
    parts: layout.TileParts
    label: str
    meta: str
    state: str
    age: str
    title: str


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

    @property
    def compact(self) -> bool:
        """Tiles too narrow for the number and service beside the state: they get a row of their own."""
        return self.width() < COMPACT_TILE_W * self._scale

    def metrics(self) -> layout.TileMetrics:
        return TILE_METRICS.scaled(self._scale)

    def tile_height(self) -> float:
        return layout.tile_height(self.metrics(), compact=self.compact)

    def tile_height_for(self, width: float) -> float:
        """A tile's height on a board `width` wide (before the board has its size)."""
        return layout.tile_height(self.metrics(), compact=width < COMPACT_TILE_W * self._scale)

    def grid(self) -> layout.Grid:
        s = self._scale
        return layout.grid_for(
            self.width(),
            self.height(),
            tile_width=TILE_MIN_W * s,
            tile_height=self.tile_height(),
            gap=TILE_GAP * s,
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
        height = self.tile_height()
        row, column = divmod(index, self._columns)
        return QRectF(column * (width + gap), row * (height + gap), width, height)

    def drawn(self, now: datetime | None = None) -> list[DrawnTile]:
        """The page's tiles laid out: one state form for the whole board (the longest with which
        every tile keeps its service readable), every text elided into its own rectangle."""
        now = self._clock() if now is None else now
        m = self.metrics()
        label_m = QFontMetricsF(self._font("meta", bold=True))
        meta_m = QFontMetricsF(self._font("meta"))
        age_m = QFontMetricsF(self._font("age", bold=True))
        title_m = QFontMetricsF(self._font("title"))
        measured = []
        for index, view in enumerate(self._tiles):
            group = layout.group_of(view)
            who = self._who.get(view.id) or view.incident.assignee
            label = "HIGH" if group.high else "LOW"
            age = layout.format_age(now - layout.as_utc(view.incident.created_at))
            number = f"#{view.incident.number}" if view.incident.number else "new"
            meta = f"{number} · {view.service}"
            states = [layout.state_words(group, who, form) for form in layout.StateForm]
            widths = layout.TileWidths(
                label_m.horizontalAdvance(label),
                age_m.horizontalAdvance(age),
                [label_m.horizontalAdvance(state) for state in states],
                meta_m.horizontalAdvance(meta),
                named=group.acknowledged and bool(who),
            )
            measured.append((index, view, label, age, meta, states, widths))
        compact = self.compact
        first = _from_q(self.tile_rect(0))
        if compact:  # the state has the first row but for the label and the age: the longest that fits
            form = layout.StateForm.ICON
            for candidate in layout.StateForm:
                if all(
                    layout.tile_parts(
                        first, m, label=w.label, age=w.age, state=w.states[candidate], compact=True
                    ).state.width
                    >= w.states[candidate] - 0.5
                    for *_, w in measured
                ):
                    form = candidate
                    break
        else:
            form = layout.choose_form(first, m, (w for *_, w in measured))
        drawn = []
        for index, view, label, age, meta, states, widths in measured:
            rect = _from_q(self.tile_rect(index))
            parts = layout.tile_parts(
                rect, m, label=widths.label, age=widths.age, state=widths.states[form], compact=compact
            )
            elide = Qt.TextElideMode.ElideRight
            drawn.append(
                DrawnTile(
                    view,
                    rect,
                    parts,
                    label,
                    meta_m.elidedText(meta, elide, parts.meta.width) if parts.meta.width > 0 else "",
                    label_m.elidedText(states[form], elide, parts.state.width)
                    if parts.state.width > 0
                    else "",
                    age,
                    title_m.elidedText(view.incident.title or "(no title)", elide, parts.title.width),
                )
            )
        return drawn

    def paintEvent(self, _event: QPaintEvent) -> None:
        painter = QPainter(self)
        try:
            painter.setRenderHint(QPainter.RenderHint.Antialiasing)
            painter.setRenderHint(QPainter.RenderHint.TextAntialiasing)
            painter.fillRect(self.rect(), _BACKGROUND)
            if not self._tiles:
                self._paint_empty(painter)
                return
            for tile in self.drawn():
                self._paint_tile(painter, tile)
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

    def _paint_tile(self, painter: QPainter, tile: DrawnTile) -> None:
        s = self._scale
        rect = _rect(tile.rect)
        parts = tile.parts
        group = layout.group_of(tile.view)
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

        painter.drawImage(QPointF(parts.mark.x, parts.mark.y), self._mark(group, round(parts.mark.width)))
        centre = Qt.AlignmentFlag.AlignVCenter
        left = centre | Qt.AlignmentFlag.AlignLeft
        painter.setPen(_TEXT)
        painter.setFont(self._font("meta", bold=True))
        painter.drawText(_rect(parts.label), left, tile.label)
        painter.setFont(self._font("age", bold=True))
        painter.drawText(_rect(parts.age), left, tile.age)
        painter.setFont(self._font("meta", bold=True))
        painter.setPen(_STATE_COLOUR[group])
        painter.drawText(_rect(parts.state), centre | Qt.AlignmentFlag.AlignRight, tile.state)
        painter.setFont(self._font("meta"))
        painter.setPen(_MUTED)
        painter.drawText(_rect(parts.meta), left, tile.meta)
        painter.setFont(self._font("title"))
        painter.setPen(_TEXT)
        painter.drawText(_rect(parts.title), left, tile.title)

    def state_text(self, view: IncidentView, form: layout.StateForm = layout.StateForm.FULL) -> str:
        """A tile's acknowledgement, in words: who took it, when known (else its assignee)."""
        who = self._who.get(view.id) or view.incident.assignee
        return layout.state_words(layout.group_of(view), who, form)


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


# -- the header and the side panel: labels placed by wall_layout's measured layouts --


class WallHeader(QWidget):
    """The alarm summary, the page, "synced … ago" and the clock. The alarm is never cut: the page
    and "synced" shorten first, then go to a row of their own (layout.header_layout)."""

    def __init__(self, width: Callable[[], int] | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._width = width or self.width  # the window knows it before a hidden header is laid out
        self.summary = QLabel(self)
        self.page_label = QLabel(self)
        self.synced_label = QLabel(self)
        self.clock_label = QLabel(self)
        self.gap = 36.0
        self.alarm = ""
        self.page_forms: list[str] = [""]
        self.synced_forms: list[str] = [""]
        self.clock = ""
        self.arranged: layout.HeaderLayout | None = None

    def set_texts(
        self,
        *,
        alarm: str | None = None,
        page: Sequence[str] | None = None,
        synced: Sequence[str] | None = None,
        clock: str | None = None,
    ) -> None:
        before = (self.alarm, self.page_forms, self.synced_forms, self.clock)
        self.alarm = self.alarm if alarm is None else alarm
        self.page_forms = self.page_forms if page is None else list(page)
        self.synced_forms = self.synced_forms if synced is None else list(synced)
        self.clock = self.clock if clock is None else clock
        if (self.alarm, self.page_forms, self.synced_forms, self.clock) != before:
            self.arrange()

    def arrange(self) -> None:
        """Measure the texts, place the labels, take the height the rows need."""
        width = self._width()
        if width <= 0:
            return
        placed = self.layout_for(width)
        self.arranged = placed
        self.summary.setWordWrap(placed.alarm_lines > 1)
        for label, rect, text in (
            (self.summary, placed.alarm, self.alarm),
            (self.page_label, placed.page, placed.page_text),
            (self.synced_label, placed.synced, placed.synced_text),
            (self.clock_label, placed.clock, self.clock),
        ):
            if label.text() != text:
                label.setText(text)
            label.setGeometry(_rect(rect).toRect())
            label.setVisible(bool(text))
        height = math.ceil(placed.height)
        if self.height() != height or self.minimumHeight() != height:
            self.setFixedHeight(height)

    def layout_for(self, width: float) -> layout.HeaderLayout:
        text_font = self.page_label.font()
        return layout.header_layout(
            width,
            alarm=_text_width(self.summary.font(), self.alarm),
            clock=_text_width(self.clock_label.font(), self.clock),
            page=[(text, _text_width(text_font, text)) for text in self.page_forms],
            synced=[(text, _text_width(self.synced_label.font(), text)) for text in self.synced_forms],
            alarm_height=QFontMetrics(self.summary.font()).height(),
            clock_height=QFontMetrics(self.clock_label.font()).height(),
            text_height=QFontMetrics(text_font).height(),
            gap=self.gap,
        )

    def regions(self) -> dict[str, layout.Rect]:
        if self.arranged is None:
            return {}
        a = self.arranged
        return {"alarm": a.alarm, "page": a.page, "synced": a.synced, "clock": a.clock}

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        if event.size().width() != event.oldSize().width():
            self.arrange()


class SidePanel(QWidget):
    """On call now and today's figures, laid out by measured heights (layout.side_layout): beside
    the tiles as a column, or under them as two columns (`beside`). What does not fit goes, lowest
    priority first (the "until …" texts, then the figures, then schedules), instead of overlapping."""

    def __init__(self, on_call_html: Callable[[bool, int], str], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._html = on_call_html
        self.schedules = 0
        self.beside = False
        self.gap = 24.0
        self.on_call_heading = QLabel("ON CALL NOW", self)
        self.on_call_label = QLabel(self)
        self.on_call_label.setTextFormat(Qt.TextFormat.RichText)
        self.on_call_label.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.on_call_label.setWordWrap(True)
        self.today_heading = QLabel("TODAY", self)
        self.figure_values = {name: QLabel("—", self) for name in ("open", "acknowledged", "mtta", "mttr")}
        self.figure_captions = {
            "open": QLabel("Open", self),
            "acknowledged": QLabel("Acked", self),
            "mtta": QLabel("MTTA", self),
            "mttr": QLabel("MTTR", self),
        }
        self.arranged: layout.SideLayout | None = None
        self._sized = False

    def figures_width(self) -> float:
        """What the figures' two columns need: the widest value or caption, twice, and a spacing."""
        labels = [*self.figure_values.values(), *self.figure_captions.values()]
        return 2 * max(_text_width(label.font(), label.text()) for label in labels) + SIDE_SPACING

    def _plan(self, width: float, height: float) -> layout.SideLayout:
        figures_width = self.figures_width()
        column = layout.side_columns(width, self.gap, figures_width)[0] if self.beside else width
        label = self.on_call_label
        measured: dict[tuple[bool, int], float] = {}

        def on_call(until: bool, shown: int) -> float:
            if (until, shown) not in measured:
                label.setText(self._html(until, shown))
                measured[until, shown] = label.heightForWidth(max(1, int(column)))
            return measured[until, shown]

        return layout.side_layout(
            width,
            height,
            heading=self.on_call_heading.sizeHint().height(),
            figure=self.figure_values["open"].sizeHint().height(),
            caption=self.figure_captions["open"].sizeHint().height(),
            spacing=SIDE_SPACING,
            on_call=on_call,
            schedules=self.schedules,
            beside=self.beside,
            gap=self.gap,
            figures_width=figures_width,
        )

    def plan_for(self, width: float, most: float) -> layout.SideLayout:
        """What the panel would show in `width` x `most` (its `needed` height: at most `most`)."""
        plan = self._plan(width, most)
        self.arrange()  # the measuring set the list's text: put back what is shown
        return plan

    def arrange(self) -> None:
        if not self._sized:  # not laid out yet (a hidden window): everything, until it has its size
            self.on_call_label.setText(self._html(True, self.schedules))
            return
        plan = self._plan(self.width(), self.height())
        self.arranged = plan
        html = self._html(plan.until, plan.schedules)
        if self.on_call_label.text() != html:
            self.on_call_label.setText(html)
        self.on_call_heading.setGeometry(_rect(plan.on_call_heading).toRect())
        self.on_call_label.setGeometry(_rect(plan.on_call).toRect())
        shown = bool(plan.figures)
        self.today_heading.setVisible(shown)
        self.today_heading.setGeometry(_rect(plan.today_heading).toRect())
        labels = [
            label
            for name in self.figure_values
            for label in (self.figure_values[name], self.figure_captions[name])
        ]
        for index, label in enumerate(labels):
            label.setVisible(shown)
            if shown:
                label.setGeometry(_rect(plan.figures[index]).toRect())

    def regions(self) -> dict[str, layout.Rect]:
        plan = self.arranged
        if plan is None:
            return {}
        found = {"on_call_heading": plan.on_call_heading, "on_call": plan.on_call}
        if plan.figures:
            found["today_heading"] = plan.today_heading
            found.update({f"figure{index}": rect for index, rect in enumerate(plan.figures)})
        return found

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._sized = True
        self.arrange()


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

        self.header = WallHeader(lambda: self._content_size()[0])
        self.summary = self.header.summary
        self.page_label = self.header.page_label
        self.synced_label = self.header.synced_label
        self.clock_label = self.header.clock_label
        self.banner = QLabel()
        self.banner.setObjectName("wallBanner")
        self.banner.setWordWrap(True)
        self.banner.setVisible(False)
        self.board = TileBoard(clock)
        self.board.resized.connect(self._show_page)
        self.side = SidePanel(self._on_call_html)
        self.on_call_heading = self.side.on_call_heading
        self.on_call_label = self.side.on_call_label
        self.today_heading = self.side.today_heading
        self.figure_values = self.side.figure_values
        self.figure_captions = self.side.figure_captions
        for label in (self.synced_label, self.on_call_heading, self.today_heading, self.page_label,
                      *self.figure_captions.values()):  # fmt: skip
            label.setStyleSheet("color: #C4C4C4;")

        body = QBoxLayout(QBoxLayout.Direction.LeftToRight)
        body.addWidget(self.board, 1)
        body.addWidget(self.side)
        self.content = QWidget(self)
        # Read-only: the pointer only shows and hides the cursor, so the window takes every move.
        self.content.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        stack = QVBoxLayout(self.content)
        stack.addWidget(self.header)
        stack.addWidget(self.banner)
        stack.addLayout(body, 1)
        self._column = stack
        self._body = body
        outer = QVBoxLayout(self)
        # The screen decides the size, never the texts: a long one is cut, the window stays put.
        outer.setSizeConstraint(QLayout.SizeConstraint.SetNoConstraint)
        outer.addWidget(self.content)
        for label in (self.banner, *self.figure_values.values(), self.on_call_label):
            label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.header.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
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
        self.header.set_texts(page=layout.page_forms(self._page, self._pages, self._urgent))

    def _show_summary(self) -> None:
        if self._high:
            text, colour = f"▲ {self._high} HIGH NOT ACKNOWLEDGED", layout.VERMILLION
        else:
            text, colour = ("✓ Every high priority taken" if self._ordered else "✓ All clear"), "#F2F2F2"
        if self.header.alarm != text:
            self.summary.setStyleSheet(f"color: {colour};")
            self.header.set_texts(alarm=text)

    def _show_figures(self) -> None:
        figures = self.figures
        before = self.side.figures_width()
        self.figure_values["open"].setText(str(figures.open))
        self.figure_values["acknowledged"].setText(str(figures.acknowledged))
        self.figure_values["mtta"].setText(layout.format_mean(figures.mean_to_acknowledge))
        self.figure_values["mttr"].setText(layout.format_mean(figures.mean_to_resolve))
        if self.side.figures_width() != before:
            self.side.arrange()  # wider figures may take a wider column, or not fit at all

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
        self.header.set_texts(synced=layout.synced_forms(self.health.synced))
        trusted = self.health.freshness is layout.Freshness.FRESH
        if self.banner.text() != self.health.banner:
            self.banner.setText(self.health.banner)
        self.board.empty_text = "No open incidents" if trusted else "No open incidents known"
        if self.banner.isHidden() != trusted:
            self.banner.setVisible(not trusted)
            self._arrange_body()  # under the tiles, the panel gives the banner room

    def _show_on_call(self) -> None:
        self.side.schedules = min(len(self._on_call), ON_CALL_SHOWN)
        self.side.arrange()

    def _on_call_html(self, until: bool, shown: int) -> str:
        """The on-call list: the first `shown` schedules (the rest as "+N more"), with or without
        until when (the first thing to go when the panel is short of room)."""
        label, person = self._px("label"), self._px("person")
        muted = "#C4C4C4"
        small = f'<div style="font-size:{label}px; color:{muted}">'
        rows = []
        shown = min(shown, len(self._on_call))
        for entry in self._on_call[:shown]:
            if entry.user is None:
                who = f'<span style="color:{layout.YELLOW}">⚠ NOBODY</span>'
            else:
                who = escape(entry.user)
            until_text = f"until {self._when(entry.until)}" if entry.until and until else ""
            rows.append(
                f'<div style="font-size:{label}px; color:{muted}; '
                f'margin-top:{round(12 * self._scale)}px">{escape(entry.schedule)}</div>'
                f'<div style="font-size:{person}px; font-weight:700">{who} '
                f'<span style="font-size:{label}px; font-weight:400; color:{muted}">'
                f"{until_text}</span></div>"
            )
        if len(self._on_call) > shown and self._on_call:
            more = len(self._on_call) - shown
            rows.append(f"{small}+{more} more schedule{'s' if more > 1 else ''}</div>")
        if not rows:
            rows.append(f"{small}no schedules</div>")
        return "".join(rows)

    def _px(self, kind: str) -> int:
        return max(TEXT_FLOOR_PX, round(TEXT_PX[kind] * self._scale))

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
        else:
            self._arrange_body()

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
        self._column.setSpacing(round(TILE_GAP * scale))
        self.header.gap = round(36 * scale)
        self.side.gap = round(MARGIN * scale)
        self._body.setSpacing(round(MARGIN * scale))
        self._apply_margins()
        self.header.arrange()
        self._arrange_body()

    def _content_size(self) -> tuple[int, int]:
        """The room inside the margins (what the header and the body share)."""
        inner = self._column.contentsMargins()
        margin = 2 * round(MARGIN * self._scale)
        return (
            self.width() - margin - inner.left() - inner.right(),
            self.height() - margin - inner.top() - inner.bottom(),
        )

    def _arrange_body(self) -> None:
        """The side panel beside the tiles, a share of the width, or under them when the tiles
        beside it would be too narrow (SIDE_SHARE, SIDE_MIN_W, TILE_BESIDE_MIN_W)."""
        s = self._scale
        width, height = self._content_size()
        gap = round(MARGIN * s)
        side = round(min(SIDE_W * s, max(SIDE_MIN_W * s, width * SIDE_SHARE)))
        beside = width - side - gap >= TILE_BESIDE_MIN_W * s
        self.side.beside = not beside
        if beside:
            self._body.setDirection(QBoxLayout.Direction.LeftToRight)
            self.side.setMinimumHeight(0)
            self.side.setMaximumHeight(_QWIDGETSIZE_MAX)
            self.side.setFixedWidth(side)
        else:
            self._body.setDirection(QBoxLayout.Direction.TopToBottom)
            self.side.setMinimumWidth(0)
            self.side.setMaximumWidth(_QWIDGETSIZE_MAX)
            # under the tiles: as tall as it needs, but leaving the tiles room for three rows, or
            # two, with the figures still in; failing that two rows, or 1 - SIDE_UNDER_MAX of the
            # height below the header on a very small screen
            spacing = round(TILE_GAP * s)
            below = height - math.ceil(self.header.layout_for(width).height) - spacing - gap
            if not self.banner.isHidden():
                below -= self.banner.heightForWidth(width) + spacing
            tile = self.board.tile_height_for(width)
            plan = None
            for rows in (3, 2):
                most = below - rows * tile - (rows - 1) * spacing
                if most > 0:
                    plan = self.side.plan_for(width, most)
                    if plan.figures:
                        break
                    plan = None
            if plan is None:
                plan = self.side.plan_for(
                    width, max(below * (1 - SIDE_UNDER_MAX), below - 2 * tile - spacing)
                )
            self.side.setFixedHeight(max(0, math.ceil(plan.needed)))
        self.side.arrange()

    def regions(self) -> dict[str, layout.Rect]:
        """Every text's rectangle on the window, by name (tests check that none overlaps another)."""
        found: dict[str, layout.Rect] = {}

        def add(prefix: str, widget: QWidget, rects: Mapping[str, layout.Rect]) -> None:
            at = widget.mapTo(self, QPoint(0, 0))
            for name, rect in rects.items():
                found[f"{prefix}{name}"] = rect.translated(at.x(), at.y())

        add("header.", self.header, self.header.regions())
        if self.banner.isVisible():
            add("", self.banner, {"banner": _from_q(self.banner.rect())})
        for index, tile in enumerate(self.board.drawn()):
            add(f"tile{index}.", self.board, tile.parts.named())
        add("side.", self.side, self.side.regions())
        return found

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
        self.header.set_texts(clock=f"{layout.as_utc(now).astimezone(self._tz):%H:%M:%S}")
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
