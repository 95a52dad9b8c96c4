"""The On-call view: who is on call now and next per schedule, a two-week timeline, my shifts, making
an override (pending, not in effect, until the server accepts it), iCalendar export, and the workload
table with its fairness hint.

Everything comes from the OnCallSource port (the replica; works offline). The view has no timer: the
window calls `refresh(now)` when the replica changes and on a slow tick, and tests call it with the
instant they want.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Final
from zoneinfo import ZoneInfo

from PySide6.QtCore import QDate, QDateTime, QEvent, QPointF, QRectF, QSize, Qt, QTime, QTimeZone, Signal
from PySide6.QtGui import QBrush, QColor, QHelpEvent, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDateTimeEdit,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSizePolicy,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QToolTip,
    QVBoxLayout,
    QWidget,
)

from console.calendar_export import schedule_ical, whole_shifts
from console.domain.errors import DomainError, KnownFailure
from console.domain.ids import uuid7
from console.domain.oncall import HORIZON, OnCallNow, PendingOverride
from console.domain.schedule import (
    Origin,
    Override,
    Schedule,
    Shift,
    first_instant,
    gaps,
    shifts,
    to_utc,
)
from console.domain.workload import FairnessRule, Workload, home_zones, workload
from console.ui.ports import IncidentSource, OnCallSource

PENDING: Final = "pending, not in effect"
WORKLOAD_WINDOW: Final = timedelta(days=28)  # four weeks: a whole cycle of most rotations
EXPORT_AHEAD: Final = timedelta(weeks=8)  # far enough to plan around; re-export for later
# Okabe-Ito without vermillion, which marks "now" and gaps; a name is always written on its bar.
PALETTE: Final = ("#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#CC79A7")
_DARK_BACKGROUNDS: Final = frozenset({"#0072B2"})  # white text there, black on the others
VERMILLION: Final = "#D55E00"
DEFAULT_RULE: Final = FairnessRule()

Acknowledgements = Callable[[Collection[str]], Mapping[str, datetime | None]]


def acknowledged_from(source: IncidentSource) -> Acknowledgements:
    """Incident acknowledgement times read through the incidents port, for the workload table."""

    def read(ids: Collection[str]) -> Mapping[str, datetime | None]:
        return {key: view.incident.acknowledged_at for key, view in source.views(ids).items()}

    return read


def system_zone() -> ZoneInfo:
    """The zone this machine's clock shows (IANA name from Qt); UTC when it has none we know."""
    name = bytes(QTimeZone.systemTimeZoneId().data()).decode()
    try:
        return ZoneInfo(name)
    except (ValueError, KeyError, OSError):
        return ZoneInfo("UTC")


def colours_for(people: Iterable[str]) -> dict[str, QColor]:
    """One colour per person, fixed by name order so it stays put between refreshes."""
    return {name: QColor(PALETTE[i % len(PALETTE)]) for i, name in enumerate(sorted(set(people)))}


def _text_on(colour: QColor) -> QColor:
    return QColor("#FFFFFF") if colour.name().upper() in _DARK_BACKGROUNDS else QColor("#000000")


def _hours(length: timedelta) -> str:
    hours = length / timedelta(hours=1)
    return f"{hours:.0f} h" if hours == int(hours) else f"{hours:.1f} h"


def _minutes(length: timedelta | None) -> str:
    if length is None:
        return "—"
    seconds = int(length.total_seconds())
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s" if seconds < 600 else f"{seconds // 60} min"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


# -- the timeline --


@dataclass(frozen=True, slots=True)
class Bar:
    """One stretch drawn on the timeline: a shift, or an override not yet in effect."""

    user: str
    start: datetime
    end: datetime
    detail: str  # the tooltip
    pending: bool = False

    @property
    def labels(self) -> tuple[str, ...]:
        """What to write on the bar, longest first: the first that fits is drawn."""
        return (
            (f"{self.user}: {PENDING}", f"{self.user} (pending)", self.user) if self.pending else (self.user,)
        )


@dataclass(frozen=True, slots=True)
class TimelineRow:
    schedule: str
    bars: tuple[Bar, ...]
    pending: tuple[Bar, ...]  # drawn hatched in a lane of their own: they decide nothing yet
    gaps: tuple[tuple[datetime, datetime], ...]


class TimelineWidget(QWidget):
    """Schedules down, days across: bars per shift coloured per person, gaps hatched, now a line."""

    LABEL_WIDTH: Final = 150
    AXIS: Final = 24
    LANE: Final = 24
    PENDING_LANE: Final = 16
    ROW: Final = LANE + PENDING_LANE + 10
    BOTTOM: Final = 16  # room for the "now" label under the line

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.rows: list[TimelineRow] = []
        self.start = self.end = self.now = datetime(1970, 1, 1, tzinfo=UTC)
        self.zone = ZoneInfo("UTC")
        self.colours: dict[str, QColor] = {}
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setMouseTracking(True)

    def show_rows(
        self, rows: Sequence[TimelineRow], start: datetime, end: datetime, now: datetime, zone: ZoneInfo
    ) -> None:
        self.rows = list(rows)
        self.start, self.end, self.now, self.zone = start, end, now, zone
        people = {bar.user for row in rows for bar in (*row.bars, *row.pending)}
        self.colours = colours_for(people)
        self.setFixedHeight(self.sizeHint().height())
        self.updateGeometry()
        self.update()

    def sizeHint(self) -> QSize:
        return QSize(900, self.AXIS + max(1, len(self.rows)) * self.ROW + self.BOTTOM)

    def minimumSizeHint(self) -> QSize:
        return QSize(self.LABEL_WIDTH + 200, self.sizeHint().height())

    def x_of(self, at: datetime) -> float:
        span = (self.end - self.start).total_seconds() or 1.0
        width = self.width() - self.LABEL_WIDTH - 4
        share = min(max((at - self.start).total_seconds() / span, 0.0), 1.0)
        return self.LABEL_WIDTH + share * width

    def _lane(self, index: int, pending: bool) -> QRectF:
        top = self.AXIS + index * self.ROW + (self.LANE + 2 if pending else 0)
        height = self.PENDING_LANE if pending else self.LANE
        return QRectF(0, top, self.width(), height)

    def _rect(self, bar: Bar, lane: QRectF) -> QRectF:
        left, right = self.x_of(bar.start), self.x_of(bar.end)
        return QRectF(left, lane.top(), max(right - left, 1.0), lane.height())

    def bar_at(self, x: float, y: float) -> Bar | None:
        for index, row in enumerate(self.rows):
            for bars, pending in ((row.bars, False), (row.pending, True)):
                lane = self._lane(index, pending)
                for bar in bars:
                    if self._rect(bar, lane).contains(QPointF(x, y)):
                        return bar
        return None

    def event(self, event: QEvent) -> bool:
        if event.type() == QEvent.Type.ToolTip and isinstance(event, QHelpEvent):
            bar = self.bar_at(event.pos().x(), event.pos().y())
            if bar is None:
                QToolTip.hideText()
                event.ignore()
            else:
                QToolTip.showText(event.globalPos(), bar.detail, self)
            return True
        return super().event(event)

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        try:
            painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)
            self._paint_days(painter)
            for index, row in enumerate(self.rows):
                self._paint_row(painter, index, row)
            self._paint_now(painter)
        finally:
            painter.end()

    def _days(self) -> list[datetime]:
        """Local midnights from the day of `start` to past `end`, as instants."""
        day = self.start.astimezone(self.zone).date()
        found = []
        while True:
            at = first_instant(datetime.combine(day, datetime.min.time()), self.zone)
            found.append(at)
            if at >= self.end:
                return found
            day += timedelta(days=1)

    def _paint_days(self, painter: QPainter) -> None:
        text = self.palette().color(self.foregroundRole())
        grid = QColor(text)
        grid.setAlpha(40)
        weekend = QColor(text)
        weekend.setAlpha(14)
        bottom = self.height()
        metrics = painter.fontMetrics()
        days = self._days()
        for midnight, following in pairwise(days):
            left, right = self.x_of(midnight), self.x_of(following)
            local = midnight.astimezone(self.zone)
            if local.weekday() >= 5:
                painter.fillRect(QRectF(left, 0, right - left, bottom), weekend)
            painter.setPen(QPen(grid))
            painter.drawLine(QPointF(left, 0), QPointF(left, bottom))
            fits = [
                t
                for t in (local.strftime("%a %d"), local.strftime("%d"))
                if metrics.horizontalAdvance(t) + 6 < right - left
            ]
            label = fits[0] if fits else ""
            painter.setPen(text)
            painter.drawText(QRectF(left, 0, right - left, self.AXIS), Qt.AlignmentFlag.AlignCenter, label)

    def _paint_row(self, painter: QPainter, index: int, row: TimelineRow) -> None:
        text = self.palette().color(self.foregroundRole())
        lane = self._lane(index, False)
        painter.setPen(text)
        name = painter.fontMetrics().elidedText(
            row.schedule, Qt.TextElideMode.ElideRight, self.LABEL_WIDTH - 10
        )
        painter.drawText(
            QRectF(6, lane.top(), self.LABEL_WIDTH - 10, lane.height()),
            Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft,
            name,
        )
        for start, end in row.gaps:
            rect = self._rect(Bar("", start, end, ""), lane)
            painter.fillRect(rect, QBrush(QColor(VERMILLION), Qt.BrushStyle.FDiagPattern))
            self._label(painter, rect, ("nobody",), QColor(VERMILLION))
        for bar in row.bars:
            colour = self.colours.get(bar.user, QColor(PALETTE[0]))
            rect = self._rect(bar, lane)
            painter.fillRect(rect, colour)
            painter.setPen(QPen(colour.darker(150)))
            painter.drawRect(rect.adjusted(0, 0, -1, -1))
            self._label(painter, rect, bar.labels, _text_on(colour))
        pending_lane = self._lane(index, True)
        for bar in row.pending:
            colour = self.colours.get(bar.user, QColor(PALETTE[0]))
            rect = self._rect(bar, pending_lane)
            tint = QColor(colour)
            tint.setAlpha(70)
            painter.fillRect(rect, tint)
            painter.fillRect(rect, QBrush(colour.darker(140), Qt.BrushStyle.BDiagPattern))
            painter.setPen(QPen(colour.darker(170), 1, Qt.PenStyle.DashLine))
            painter.drawRect(rect.adjusted(0, 0, -1, -1))
            self._label(painter, rect, bar.labels, text, backdrop=True)

    def _label(
        self, painter: QPainter, rect: QRectF, texts: Sequence[str], colour: QColor, *, backdrop: bool = False
    ) -> None:
        metrics = painter.fontMetrics()
        room = int(rect.width()) - 6
        if room < metrics.horizontalAdvance("x…"):
            return
        fitting = [t for t in texts if metrics.horizontalAdvance(t) <= room]
        shown = fitting[0] if fitting else metrics.elidedText(texts[-1], Qt.TextElideMode.ElideRight, room)
        if backdrop:  # readable over the hatching
            width = metrics.horizontalAdvance(shown) + 6
            behind = self.palette().color(self.backgroundRole())
            behind.setAlpha(210)
            painter.fillRect(QRectF(rect.left() + 1, rect.top() + 1, width, rect.height() - 2), behind)
        painter.setPen(colour)
        painter.drawText(
            rect.adjusted(3, 0, -3, 0), Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft, shown
        )

    def _paint_now(self, painter: QPainter) -> None:
        if not self.start <= self.now <= self.end:
            return
        x = self.x_of(self.now)
        bottom = self.height() - self.BOTTOM
        veil = self.palette().color(self.backgroundRole())  # the past, faded: it can no longer change
        veil.setAlpha(120)
        painter.fillRect(QRectF(self.LABEL_WIDTH, self.AXIS, x - self.LABEL_WIDTH, bottom - self.AXIS), veil)
        painter.setPen(QPen(QColor(VERMILLION), 2))
        painter.drawLine(QPointF(x, self.AXIS), QPointF(x, bottom))
        painter.drawText(QRectF(x - 30, bottom, 60, self.BOTTOM), Qt.AlignmentFlag.AlignCenter, "now")


# -- making an override --


class OverrideDialog(QDialog):
    """New override: who covers which schedule when, optionally only someone's shifts. A clash with
    an override already made is shown here, in words, and the dialog stays open to fix it."""

    def __init__(
        self,
        schedules: Sequence[Schedule],
        people: Sequence[str],
        submit: Callable[[str, Override], object],
        *,
        zone: ZoneInfo,
        now: datetime,
        user: str,
        schedule: str | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("New override")
        self._schedules = {s.name: s for s in schedules}
        self._submit = submit
        self._zone = zone
        self.schedule = QComboBox()
        self.schedule.addItems(list(self._schedules))
        if schedule in self._schedules:
            self.schedule.setCurrentText(schedule)
        self.who = QComboBox()
        self.who.setEditable(True)  # someone the replica does not list yet can still be named
        self.who.addItems(list(people))
        self.who.setCurrentText(user)
        start = now.astimezone(zone).replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
        self.start = self._edit(start.replace(tzinfo=None))
        self.end = self._edit((start + timedelta(hours=8)).replace(tzinfo=None))
        self.replaces = QComboBox()
        self.schedule.currentTextChanged.connect(self._offer_replaces)
        self._offer_replaces(self.schedule.currentText())
        self.error = QLabel()
        self.error.setObjectName("overrideError")
        self.error.setWordWrap(True)
        self.error.setStyleSheet(f"QLabel#overrideError {{ color: {VERMILLION}; }}")
        self.error.setVisible(False)
        note = QLabel(
            f"Times in {zone.key}. Until the server accepts it the override is {PENDING}: paging "
            "follows the schedule as it was."
        )
        note.setWordWrap(True)
        form = QFormLayout(self)
        form.addRow("Schedule", self.schedule)
        form.addRow("Who is on call", self.who)
        form.addRow("From", self.start)
        form.addRow("Until", self.end)
        form.addRow("Takes the shifts of", self.replaces)
        form.addRow(note)
        form.addRow(self.error)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        form.addRow(self.buttons)

    def _edit(self, wall: datetime) -> QDateTimeEdit:
        # The edit holds a wall-clock reading of `zone`: kept in UTC so Qt never shifts it through the
        # machine's own zone; `_instant` reads it back in `zone`.
        edit = QDateTimeEdit(
            QDateTime(
                QDate(wall.year, wall.month, wall.day),
                QTime(wall.hour, wall.minute),
                QTimeZone(QTimeZone.Initialization.UTC),
            )
        )
        edit.setTimeZone(QTimeZone(QTimeZone.Initialization.UTC))
        edit.setDisplayFormat("ddd dd MMM yyyy HH:mm")
        edit.setCalendarPopup(True)
        return edit

    def set_times(self, start: datetime, end: datetime) -> None:
        """Set From and Until to these instants (shown in the dialog's zone)."""
        for edit, at in ((self.start, start), (self.end, end)):
            wall = to_utc(at).astimezone(self._zone)
            edit.setDateTime(
                QDateTime(
                    QDate(wall.year, wall.month, wall.day),
                    QTime(wall.hour, wall.minute),
                    QTimeZone(QTimeZone.Initialization.UTC),
                )
            )

    def _instant(self, edit: QDateTimeEdit) -> datetime:
        shown = edit.dateTime()
        day, clock = shown.date(), shown.time()
        wall = datetime(day.year(), day.month(), day.day(), clock.hour(), clock.minute())
        return first_instant(wall, self._zone)

    def _offer_replaces(self, name: str) -> None:
        self.replaces.clear()
        self.replaces.addItem("nobody: cover the whole time", None)
        schedule = self._schedules.get(name)
        people = sorted({p for layer in schedule.layers for p in layer.participants}) if schedule else []
        for person in people:
            self.replaces.addItem(person, person)

    def override(self) -> Override:
        """The override as filled in; ValueError says what is wrong with it."""
        replaces = self.replaces.currentData()
        return Override(
            uuid7(),
            self.who.currentText().strip(),
            self._instant(self.start),
            self._instant(self.end),
            replaces if isinstance(replaces, str) else None,
        )

    def accept(self) -> None:
        try:
            self._submit(self.schedule.currentText(), self.override())
        except (DomainError, KnownFailure, ValueError) as exc:  # a clash, a bad value, a full disk
            self.error.setText(str(exc))
            self.error.setVisible(True)
            return
        super().accept()


# -- the view --


def _item(text: str, *, tip: str = "") -> QTableWidgetItem:
    item = QTableWidgetItem(text)
    if tip:
        item.setToolTip(tip)
    item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEditable)
    return item


def _table(headers: Sequence[str]) -> QTableWidget:
    table = QTableWidget(0, len(headers))
    table.setHorizontalHeaderLabels(list(headers))
    table.verticalHeader().setVisible(False)
    table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
    table.setSelectionMode(QTableWidget.SelectionMode.SingleSelection)
    table.setWordWrap(False)
    table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    table.horizontalHeader().setStretchLastSection(True)
    return table


class OnCallView(QWidget):
    acted = Signal()  # an override was recorded in the outbox: the sync engine should push soon

    BOARD_COLUMNS: Final = ("Schedule", "On call now", "Until", "Next", "From")
    MINE_COLUMNS: Final = ("Schedule", "From", "Until", "Length", "How")
    WORKLOAD_COLUMNS: Final = (
        "Responder",
        "Zone",
        "Pages",
        "Night pages",
        "Hours on call",
        "Median to ack",
        "Mean to ack",
        "Fairness hint",
    )

    def __init__(
        self,
        source: OnCallSource,
        *,
        user: str,
        acknowledged: Acknowledgements = lambda ids: {},
        own_zones: Mapping[str, str | None] | None = None,
        zone: ZoneInfo | None = None,
        rule: FairnessRule = DEFAULT_RULE,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._source = source
        self._user = user
        self._acknowledged = acknowledged
        self.own_zones: dict[str, str | None] = dict(own_zones or {})  # people's home zones, by name
        self.zone = zone or system_zone()
        self._rule = rule
        self._now = datetime.now(UTC)
        self._schedules: list[Schedule] = []
        self._pending: list[PendingOverride] = []
        self.workload_rows: list[Workload] = []
        # Tests answer these; a person gets a dialog otherwise.
        self.show_dialog: Callable[[QDialog], object] = lambda dialog: dialog.exec()
        self.ask_save_path: Callable[[str], Path | None] = self._ask_save_path

        self.new_override_button = QPushButton("New override…")
        self.new_override_button.clicked.connect(self.new_override)
        self.export_button = QPushButton("Export iCalendar…")
        self.export_button.setToolTip(f"The selected schedule's next {EXPORT_AHEAD.days // 7} weeks, in UTC")
        self.export_button.clicked.connect(self.export_ical)
        self.only_mine = QCheckBox("only my shifts")
        self.message = QLabel()
        self.message.setObjectName("oncallMessage")
        self.message.setWordWrap(True)
        actions = self._actions = QHBoxLayout()
        for widget in (self.new_override_button, self.export_button, self.only_mine):
            actions.addWidget(widget)
        actions.addWidget(self.message, 1)

        self.board = _table(self.BOARD_COLUMNS)
        self.board.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.timeline = TimelineWidget()
        self.timeline_caption = QLabel()
        self.mine = _table(self.MINE_COLUMNS)
        self.overrides = QLabel()  # made here and waiting for the server
        self.overrides.setObjectName("pendingOverrides")
        self.rejected = QLabel()  # refused by the server, with its reason
        self.rejected.setObjectName("rejectedOverrides")
        self.rejected.setStyleSheet(f"QLabel#rejectedOverrides {{ color: {VERMILLION}; }}")
        for label in (self.overrides, self.rejected):
            label.setWordWrap(True)
            label.setTextFormat(Qt.TextFormat.PlainText)  # names are data, never markup
        self.workload = _table(self.WORKLOAD_COLUMNS)
        self.workload_caption = QLabel()

        self.timeline_caption.setWordWrap(True)
        self.workload_caption.setWordWrap(True)
        mine_box = QGroupBox(f"My shifts ({user}), next {HORIZON.days} days")
        QVBoxLayout(mine_box).addWidget(self.mine)
        overrides_box = QGroupBox("Overrides made here")
        overrides_layout = QVBoxLayout(overrides_box)
        overrides_layout.addWidget(self.overrides)
        overrides_layout.addWidget(self.rejected)
        overrides_layout.addStretch(1)
        middle = QSplitter(Qt.Orientation.Horizontal)
        middle.addWidget(mine_box)
        middle.addWidget(overrides_box)
        middle.setSizes([700, 500])
        work_box = QGroupBox(f"Workload, last {WORKLOAD_WINDOW.days} days")
        work_layout = QVBoxLayout(work_box)
        work_layout.addWidget(self.workload_caption)
        work_layout.addWidget(self.workload)
        lower = QSplitter(Qt.Orientation.Vertical)
        lower.addWidget(middle)
        lower.addWidget(work_box)
        lower.setSizes([260, 300])
        self.board.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.workload.sortByColumn(0, Qt.SortOrder.AscendingOrder)  # a header starts out descending

        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(actions)
        layout.addWidget(self.board)
        layout.addWidget(self.timeline_caption)
        layout.addWidget(self.timeline)
        layout.addWidget(lower, 1)

    # -- reading --

    def add_action(self, widget: QWidget) -> None:
        """Another button in the row of actions (app.py adds the managers' editor)."""
        self._actions.insertWidget(self._actions.indexOf(self.only_mine), widget)

    def refresh(self, now: datetime) -> None:
        """Read the source again and show it as of `now` (a wall display calls this every minute)."""
        self._now = now = to_utc(now)
        self._schedules = sorted(self._source.schedules(), key=lambda s: s.name)
        self._pending = list(self._source.pending_overrides())
        self._show_board(self._source.on_call_now(now))
        self._show_timeline(now)
        self._show_mine(now)
        self._show_overrides()
        self._show_workload(now)

    def when(self, at: datetime) -> str:
        return at.astimezone(self.zone).strftime("%a %d %b %H:%M")

    def selected_schedule(self) -> str | None:
        row = self.board.currentRow()
        item = self.board.item(row, 0) if row >= 0 else None
        if item is not None:
            return item.text()
        return self._schedules[0].name if self._schedules else None

    def _show_board(self, board: Sequence[OnCallNow]) -> None:
        selected = self.selected_schedule()
        self.board.setRowCount(len(board))
        for row, entry in enumerate(board):
            cells = (
                _item(entry.schedule),
                _item(entry.user or "nobody (a gap)"),
                _item(self.when(entry.until) if entry.until else f"beyond {HORIZON.days} days"),
                _item(entry.next_user or "—"),
                _item(self.when(entry.next_at) if entry.next_at else "—"),
            )
            if entry.user is None:
                cells[1].setForeground(QColor(VERMILLION))
            for column, cell in enumerate(cells):
                self.board.setItem(row, column, cell)
            if entry.schedule == selected:
                self.board.selectRow(row)
        if self.board.currentRow() < 0 and board:
            self.board.selectRow(0)
        height = self.board.horizontalHeader().height() + sum(
            self.board.rowHeight(r) for r in range(self.board.rowCount())
        )
        self.board.setFixedHeight(height + 2 * self.board.frameWidth() + 2)

    def timeline_start(self, now: datetime) -> datetime:
        """The timeline starts at today's local midnight, so the morning's handoffs stay in sight."""
        return first_instant(
            datetime.combine(now.astimezone(self.zone).date(), datetime.min.time()), self.zone
        )

    def timeline_rows(self, now: datetime) -> list[TimelineRow]:
        start, end = self.timeline_start(now), now + HORIZON
        rows = []
        for schedule in self._schedules:
            bars = tuple(
                Bar(s.user, s.start, s.end, self._describe(schedule.name, s))
                for s in shifts(schedule, start, end)
            )
            pending = tuple(
                Bar(
                    p.override.user,
                    max(p.override.start, start),
                    min(p.override.end, end),
                    f"{self._said(p)}: {PENDING} until the server accepts it",
                    pending=True,
                )
                for p in self._pending
                if p.schedule == schedule.name
                and not p.reason
                and p.override.end > now
                and p.override.start < end
            )
            rows.append(TimelineRow(schedule.name, bars, pending, tuple(gaps(schedule, start, end))))
        return rows

    def _show_timeline(self, now: datetime) -> None:
        self.timeline_caption.setText(
            f"Next {HORIZON.days} days, times in {self.zone.key}. Hatched: {PENDING}; "
            "red hatching: nobody on call; faded: past."
        )
        rows = self.timeline_rows(now)
        self.timeline.show_rows(rows, self.timeline_start(now), now + HORIZON, now, self.zone)

    def _describe(self, schedule: str, shift: Shift) -> str:
        how = f"layer {shift.source}" if shift.origin is Origin.LAYER else "override"
        return f"{shift.user} on call for {schedule}, {self._span(shift.start, shift.end)} ({how})"

    def _span(self, start: datetime, end: datetime) -> str:
        return f"{self.when(start)} to {self.when(end)}"

    def _said(self, pending: PendingOverride) -> str:
        o = pending.override
        what = "covers" if o.replaces is None else f"takes {o.replaces}'s shifts"
        return f"{o.user} {what} {self._span(o.start, o.end)}"

    def _show_mine(self, now: datetime) -> None:
        rows: list[tuple[str, datetime, datetime, str]] = []
        for schedule in self._schedules:
            for s in whole_shifts(schedule, now, now + HORIZON):  # the current one from its real start
                if s.user == self._user:
                    how = f"layer {s.source}" if s.origin is Origin.LAYER else "override"
                    rows.append((schedule.name, s.start, s.end, how))
        for p in self._pending:
            if p.override.user == self._user and not p.reason and p.override.end > now:
                rows.append((p.schedule, p.override.start, p.override.end, f"override, {PENDING}"))
        rows.sort(key=lambda r: (r[1], r[0]))
        self.mine.setRowCount(len(rows))
        for index, (name, start, end, how) in enumerate(rows):
            cells = (
                _item(name),
                _item(self.when(start)),
                _item(self.when(end)),
                _item(_hours(end - start)),
                _item(how),
            )
            for column, cell in enumerate(cells):
                self.mine.setItem(index, column, cell)

    def _show_overrides(self) -> None:
        waiting = [
            f"Pending, not in effect: {p.schedule}: {self._said(p)}" for p in self._pending if not p.reason
        ]
        refused = [f"Rejected: {p.schedule}: {self._said(p)}. {p.reason}" for p in self._pending if p.reason]
        self.overrides.setText("\n".join(waiting) if waiting else "No overrides waiting for the server.")
        self.rejected.setText("\n".join(refused))
        self.rejected.setVisible(bool(refused))

    def _show_workload(self, now: datetime) -> None:
        start = now - WORKLOAD_WINDOW
        pages = self._source.pages(since=start)
        worked = [s for schedule in self._schedules for s in shifts(schedule, start, now)]
        people = {p for schedule in self._schedules for layer in schedule.layers for p in layer.participants}
        acks = self._acknowledged({page.incident_id for page in pages}) if pages else {}
        self.workload_rows = workload(
            pages,
            worked,
            acks,
            start,
            now,
            zones=home_zones(self._schedules, self.own_zones),
            people=people,
            rule=self._rule,
        )
        self.workload_caption.setText(
            "Night: 22:00 to 07:00 in the responder's zone. "
            f"A stretch of up to {_hours(self._rule.stretch)} on call with ≥ {self._rule.night_pages} "
            f"night pages or ≥ {self._rule.pages} pages suggests {_hours(self._rule.rest)} off after it."
        )
        self.workload.setSortingEnabled(False)
        self.workload.setRowCount(len(self.workload_rows))
        for index, row in enumerate(self.workload_rows):
            hint, tip = self.hint_text(row, now)
            zone_text, zone_tip = {
                "user": (row.zone.name, "the responder's own time zone"),
                "schedule": (f"{row.zone.name} (schedule)", "no own zone set: the zone of their rotation"),
            }.get(row.zone.source, ("UTC (unknown)", "no zone known for them: nights are counted in UTC"))
            cells = (
                _item(row.user),
                _item(zone_text, tip=zone_tip),
                _number(row.pages),
                _number(row.night_pages),
                _number(round(row.hours_on_call, 1)),
                _item(_minutes(row.median_ack), tip=f"{row.acknowledged} incidents acknowledged"),
                _item(_minutes(row.mean_ack)),
                _item(hint, tip=tip),
            )
            if hint.startswith("Rest"):
                font = cells[7].font()
                font.setBold(True)
                cells[7].setFont(font)
            for column, cell in enumerate(cells):
                self.workload.setItem(index, column, cell)
        self.workload.setSortingEnabled(True)

    def hint_text(self, row: Workload, now: datetime) -> tuple[str, str]:
        """The fairness hint for a row, and a tooltip listing every heavy stretch."""
        hint = row.hint
        if hint is None:
            return "", ""
        tip = "\n".join(f"{self._span(h.start, h.end)}: {h.reason}" for h in row.heavy)
        if hint.rest_until > now:
            return f"Rest until {self.when(hint.rest_until)} ({hint.reason})", tip
        many = f"{len(row.heavy)} heavy stretches" if len(row.heavy) > 1 else "1 heavy stretch"
        return f"{many}; last ended {self.when(hint.end)} ({hint.reason})", tip

    # -- acting --

    def override_dialog(self) -> OverrideDialog:
        people = sorted({name for _, name, role in self._source.users() if role != "viewer"})
        return OverrideDialog(
            self._schedules,
            people,
            self._record_override,
            zone=self.zone,
            now=self._now,
            user=self._user,
            schedule=self.selected_schedule(),
            parent=self,
        )

    def new_override(self) -> None:
        if not self._schedules:
            self.message.setText("No schedules yet: nothing to override.")
            return
        self.show_dialog(self.override_dialog())

    def _record_override(self, schedule: str, override: Override) -> None:
        self._source.add_override(schedule, override)  # OverrideRejected and the like: the dialog says why
        self.message.setText(f"Override recorded: {PENDING} until the server accepts it.")
        self.refresh(self._now)
        self.acted.emit()

    def export_ical(self) -> None:
        name = self.selected_schedule()
        schedule = next((s for s in self._schedules if s.name == name), None)
        if schedule is None:
            self.message.setText("No schedule to export.")
            return
        user = self._user if self.only_mine.isChecked() else None
        suggested = f"{schedule.name}{'-' + user if user else ''}.ics".replace(" ", "-").replace("/", "-")
        path = self.ask_save_path(suggested)
        if path is None:
            return
        data = schedule_ical(schedule, self._now, self._now + EXPORT_AHEAD, user=user)
        try:
            path.write_bytes(data)
        except OSError as exc:  # a read-only folder or a full disk: said, nothing else breaks
            self.message.setText(f"Not exported: {exc}")
            return
        self.message.setText(f"Exported {schedule.name} ({EXPORT_AHEAD.days // 7} weeks) to {path}")

    def _ask_save_path(self, suggested: str) -> Path | None:
        chosen, _ = QFileDialog.getSaveFileName(self, "Export iCalendar", suggested, "iCalendar (*.ics)")
        return Path(chosen) if chosen else None


def _number(value: float) -> QTableWidgetItem:
    """A cell that sorts as a number."""
    item = QTableWidgetItem()
    item.setData(Qt.ItemDataRole.DisplayRole, value)
    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
    item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEditable)
    return item
