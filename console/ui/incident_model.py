"""The incident table: a Qt model over IncidentView values, the filter people narrow it with, and a
helper that keeps a view's place while the table changes under it.

Built for an alert storm on a large replica (100,000 incidents): every row is turned once, when it
arrives, into a compact record holding its display texts, its search text and its default sort key;
data() is a tuple or dict look-up from there. Refreshes are minimal updates keyed by incident id
(rows inserted, removed, moved or changed with the matching signals; a reset only when thousands of
scattered rows change at once), so selection, the current row and the scroll position survive them.

Sorting is done here, in Python, on the precomputed keys: the table model keeps its rows in the
order asked for and IncidentFilter.sort() forwards to it, so the proxy itself never sorts (a sort in
QSortFilterProxyModel calls back into Python for every comparison, seconds at 100,000 rows). The
default order (sort column -1) is: open incidents (triggered or acknowledged) first, then within
open and within done high priority before low, then newest first (creation time), then id.

Priority is never told by colour alone (desktop.md §10): its cell has a text ("HIGH" / "low"), a
shape (a filled vermillion triangle / a hollow blue circle, Okabe-Ito colours) and a bold font for
high; open high-priority rows get a tinted background and resolved or closed rows are dimmed.
Changes made here that the server has not confirmed yet are marked twice: "⟳" after the status, and
a "Sync" column with the count, a shape and a tooltip ("2 changes not synced yet").

The "Runbook" column shows the incident's runbook runs (IncidentView.runbook, this console's unsynced
ticks included): steps done of all its runs' steps, summed ("3/7"), "⚠" after it while a step is in
conflict, "✓ 7/7" when every step is done, empty without runs (runbook_text).
"""

from __future__ import annotations

import enum
import re
import weakref
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from itertools import compress, repeat
from operator import contains
from typing import Any, ClassVar, Final, cast

from PySide6.QtCore import (
    QAbstractItemModel,
    QAbstractProxyModel,
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QPoint,
    QPointF,
    QRectF,
    Qt,
    Signal,
    SignalInstance,
)
from PySide6.QtGui import QColor, QFont, QIcon, QPainter, QPen, QPixmap, QPolygonF
from PySide6.QtWidgets import QAbstractItemView
from shiboken6 import Shiboken

from console.domain.priority import Priority
from console.domain.status import Rank
from console.domain.views import IncidentView, RunbookProgress

__all__ = [
    "COLUMN_COUNT",
    "CONFLICT_SIGN",
    "DONE_SIGN",
    "SYNC_MARK",
    "Column",
    "IncidentCriteria",
    "IncidentFilter",
    "IncidentTableModel",
    "ScrollAnchor",
    "runbook_text",
    "statuses_from",
]

_Index = QModelIndex | QPersistentModelIndex


class Column(enum.IntEnum):
    PRIORITY = 0
    NUMBER = 1
    STATUS = 2
    SERVICE = 3
    TITLE = 4
    ASSIGNEE = 5
    AGE = 6
    UNSYNCED = 7
    RUNBOOK = 8  # last: the columns before it keep their numbers


COLUMN_COUNT: Final = len(Column)
_HEADERS: Final = ("Priority", "#", "Status", "Service", "Title", "Assignee", "Age", "Sync", "Runbook")
_HEADER_TIPS: Final = (
    "High pages and escalates; low notifies once",
    "Incident number (new: reported here, not numbered by the server yet)",
    "Triggered, acknowledged, resolved or closed (⟳: changed here, not synced yet)",
    "The service that is affected",
    "What is wrong",
    "Who is working on it",
    "Time since the incident was created",
    "Changes made on this console that the server has not confirmed yet",
    "Runbook steps done, of all the incident's runbooks (⚠: a step in conflict; ✓: all done)",
)

# The order a first click on a header sorts in: high first, newest numbers first, youngest first,
# most unsynced first, least runbook progress first; alphabetical for text.
_ASCENDING, _DESCENDING = Qt.SortOrder.AscendingOrder.value, Qt.SortOrder.DescendingOrder.value
_INITIAL_ORDER: Final = (_ASCENDING, _DESCENDING, _ASCENDING, _ASCENDING, _ASCENDING, _ASCENDING, _ASCENDING,
                         _DESCENDING, _ASCENDING)  # fmt: skip

_DISPLAY: Final = int(Qt.ItemDataRole.DisplayRole)
_DECORATION: Final = int(Qt.ItemDataRole.DecorationRole)
_TOOLTIP: Final = int(Qt.ItemDataRole.ToolTipRole)
_FONT: Final = int(Qt.ItemDataRole.FontRole)
_ALIGNMENT: Final = int(Qt.ItemDataRole.TextAlignmentRole)
_BACKGROUND: Final = int(Qt.ItemDataRole.BackgroundRole)
_FOREGROUND: Final = int(Qt.ItemDataRole.ForegroundRole)
_ACCESSIBLE: Final = int(Qt.ItemDataRole.AccessibleTextRole)
_USER: Final = int(Qt.ItemDataRole.UserRole)
_INITIAL_SORT: Final = int(Qt.ItemDataRole.InitialSortOrderRole)
_AGE: Final = int(Column.AGE)
_PRIORITY, _NUMBER, _STATUS = int(Column.PRIORITY), int(Column.NUMBER), int(Column.STATUS)
_SERVICE, _TITLE, _ASSIGNEE = int(Column.SERVICE), int(Column.TITLE), int(Column.ASSIGNEE)
_RUNBOOK: Final = int(Column.RUNBOOK)

_VERTICAL_SORT: Final = QAbstractItemModel.LayoutChangeHint.VerticalSortHint
_LAYOUT_SIGNAL: Final = ("QList<QPersistentModelIndex>", "QAbstractItemModel::LayoutChangeHint")
_FLAGS: Final = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemNeverHasChildren
_RIGHT: Final = int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
_CENTER: Final = int(Qt.AlignmentFlag.AlignCenter)

# Okabe-Ito: vermillion for high, blue for low; both keep >= 3:1 against white and near-black.
_VERMILLION: Final = QColor("#D55E00")
_BLUE: Final = QColor("#0072B2")
_HIGH_TRIGGERED_BACKGROUND: Final = QColor(213, 94, 0, 56)
_HIGH_ACKNOWLEDGED_BACKGROUND: Final = QColor(230, 159, 0, 36)
_DIMMED: Final = QColor(128, 128, 128)

SYNC_MARK: Final = "⟳"
CONFLICT_SIGN: Final = "⚠"
DONE_SIGN: Final = "✓"
_UNNUMBERED: Final = 1 << 62  # "new" incidents sort after every numbered one
_DONE: Final = int(Rank.RESOLVED)
_PRIORITY_TEXT: Final = ("HIGH", "low")
_STATUS_TEXT: Final = {
    (int(rank), pending): rank.label + (f" {SYNC_MARK}" if pending else "")
    for rank in Rank
    for pending in (False, True)
}


def _changes(count: int) -> str:
    return "1 change" if count == 1 else f"{count} changes"


def runbook_text(progress: RunbookProgress | None) -> str:
    """What the incident row shows of its runs: "3/7", "3/7 ⚠" with a step in conflict, "✓ 7/7"
    when every step is done, "" without runs (the runner's summary is this text too)."""
    if progress is None:
        return ""
    text = f"{progress.done}/{progress.total}"
    if progress.complete:
        text = f"{DONE_SIGN} {text}"
    return f"{text} {CONFLICT_SIGN}" if progress.conflicts else text


def _runbook_tip(progress: RunbookProgress | None) -> str:
    if progress is None:
        return "No runbook on this incident"
    steps = "1 step" if progress.total == 1 else f"{progress.total} steps"
    if progress.complete:
        line = f"All {steps} done" if progress.total > 1 else "The step is done"
    else:
        line = f"{progress.done} of {steps} done"
    where = "Runbook" if progress.runs == 1 else f"{progress.runs} runbooks"
    lines = [f"{where}: {line}"]
    if progress.conflicts:
        flagged = "1 step" if progress.conflicts == 1 else f"{progress.conflicts} steps"
        lines.append(f"{CONFLICT_SIGN} {flagged} in conflict: ticked and unticked at once (see the runbook)")
    return "\n".join(lines)


def _runbook_key(progress: RunbookProgress | None) -> float:
    """Least done first (the share of steps done); incidents without runs after every other."""
    return 2.0 if progress is None else progress.done / progress.total if progress.total else 1.0


def _age_text(seconds: float) -> str:
    """A compact age for a table cell: 42s, 17m, 3h 05m, 2d 4h."""
    total = max(int(seconds), 0)
    if total < 60:
        return f"{total}s"
    minutes = total // 60
    if minutes < 60:
        return f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h {minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d {hours}h"


def _timestamp(moment: datetime) -> float:
    return (moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)).timestamp()


def _utc_text(moment: datetime) -> str:
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return aware.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


class _Row:
    """One incident as the table keeps it: computed once when the view arrives, then only read."""

    __slots__ = (
        "assignee",
        "created",
        "dkey",
        "hay",
        "high",
        "id",
        "rank",
        "runbook",
        "service",
        "unsynced",
        "view",
    )

    def __init__(self, view: IncidentView) -> None:
        incident = view.incident
        self.view = view
        self.id = incident.id
        self.rank = rank = int(incident.status.rank)
        self.high = high = incident.priority is Priority.HIGH
        self.service = service = view.service
        self.assignee = incident.assignee
        self.unsynced = view.unsynced
        self.runbook = view.runbook
        created_at = incident.created_at
        if created_at.tzinfo is None:
            created_at = created_at.replace(tzinfo=UTC)
        self.created = created = created_at.timestamp()
        number = incident.number
        number_text = f"#{number}" if number else "new"
        title = incident.title
        # Searched by substring; the id is matched as a prefix separately (an id infix is noise).
        hay = f"{title}\n{service}\n{number_text}".casefold()
        self.hay = hay.replace("\x00", " ") if "\x00" in hay else hay  # NUL separates rows in searches
        self.dkey = ((0 if rank < _DONE else 2) + (0 if high else 1), -created, self.id)

    def text(self, column: int) -> str:
        """The cell's text (the age excepted: it needs the model's clock). Made when painted, not
        kept: 100,000 rows of kept texts were ~16 MB (tests/perf/bench_window.py)."""
        if column == _TITLE:
            return self.view.incident.title
        if column == _SERVICE:
            return self.service
        if column == _PRIORITY:
            return _PRIORITY_TEXT[0 if self.high else 1]
        if column == _NUMBER:
            number = self.view.incident.number
            return f"#{number}" if number else "new"
        if column == _STATUS:
            return _STATUS_TEXT[self.rank, self.unsynced > 0]
        if column == _ASSIGNEE:
            return self.assignee or ""
        if column == _RUNBOOK:
            return runbook_text(self.runbook)
        return f"{SYNC_MARK} {self.unsynced}" if self.unsynced else ""


class PreparedRows:
    """Rows made by IncidentTableModel.prepare(), ready for upsert()."""

    __slots__ = ("rows",)

    def __init__(self, rows: list[_Row]) -> None:
        self.rows = rows

    def ids(self) -> list[str]:
        return [row.id for row in self.rows]


_PLAIN_ID: Final = re.compile(r"[0-9a-f-]*")  # what UUIDs are made of


def _code_of(rank: int, *, high: bool) -> int:
    """Status and priority in one byte: the rank in bits 0-1, low priority in bit 2."""
    return rank | (0 if high else 4)


def _code(row: _Row) -> int:
    return _code_of(row.rank, high=row.high)


_OPEN: Final = (Rank.TRIGGERED, Rank.ACKNOWLEDGED)


class _Columns:
    """The rows' filter fields as parallel sequences in row order, kept in step with the rows, so
    that a filter judges 100,000 rows with a few C-level passes (map, translate) instead of a
    Python call per row on records scattered over the heap."""

    __slots__ = ("assignees", "codes", "hays", "ids", "plain_ids", "services")

    def __init__(self, rows: Sequence[_Row]) -> None:
        self.codes = bytearray([_code(row) for row in rows])
        self.services = [row.service for row in rows]
        self.assignees = [row.assignee or "" for row in rows]
        self.hays = [row.hay for row in rows]
        self.ids = [row.id for row in rows]
        # Every id lowercase hex and dashes: a search word with another letter starts none of them.
        self.plain_ids = _PLAIN_ID.fullmatch("".join(self.ids)) is not None

    def insert(self, position: int, rows: Sequence[_Row]) -> None:
        self.codes[position:position] = bytes([_code(row) for row in rows])
        self.services[position:position] = [row.service for row in rows]
        self.assignees[position:position] = [row.assignee or "" for row in rows]
        self.hays[position:position] = [row.hay for row in rows]
        self.ids[position:position] = [row.id for row in rows]
        self.plain_ids = self.plain_ids and all(_PLAIN_ID.fullmatch(row.id) for row in rows)

    def delete(self, first: int, last: int) -> None:
        del self.codes[first : last + 1]
        del self.services[first : last + 1]
        del self.assignees[first : last + 1]
        del self.hays[first : last + 1]
        del self.ids[first : last + 1]

    def put(self, position: int, row: _Row) -> None:
        self.codes[position] = _code(row)
        self.services[position] = row.service
        self.assignees[position] = row.assignee or ""
        self.hays[position] = row.hay
        self.ids[position] = row.id
        self.plain_ids = self.plain_ids and _PLAIN_ID.fullmatch(row.id) is not None


_SortKey = Callable[[_Row], Any]

# Scalar keys, so that they also work as QVariants (SortRole) for a plain QSortFilterProxyModel.
_COLUMN_KEYS: Final[dict[int, _SortKey]] = {
    Column.PRIORITY: lambda r: 0 if r.high else 1,
    Column.NUMBER: lambda r: r.view.incident.number or _UNNUMBERED,
    Column.STATUS: lambda r: r.rank,
    Column.SERVICE: lambda r: r.service.casefold(),
    Column.TITLE: lambda r: r.view.incident.title.casefold(),
    Column.ASSIGNEE: lambda r: (r.assignee or "").casefold(),
    Column.AGE: lambda r: -r.created,  # ascending: youngest first
    Column.UNSYNCED: lambda r: r.unsynced,
    Column.RUNBOOK: lambda r: _runbook_key(r.runbook),
}


def _default_key(row: _Row) -> tuple[int, float, str]:
    return row.dkey


class _Graphics:
    """Icons and fonts, drawn once per process (they need a QGuiApplication, hence lazily)."""

    high: QIcon
    low: QIcon
    pending: QIcon
    bold: QFont
    italic: QFont
    _made: ClassVar[_Graphics | None] = None

    @classmethod
    def get(cls) -> _Graphics:
        if cls._made is None:
            made = cls()
            made.high = _icon(_draw_triangle)
            made.low = _icon(_draw_ring)
            made.pending = _icon(_draw_pending)
            made.bold = QFont()
            made.bold.setBold(True)
            made.italic = QFont()
            made.italic.setItalic(True)
            cls._made = made
        return cls._made


def _icon(draw: Callable[[QPainter, float], None]) -> QIcon:
    icon = QIcon()
    for size in (16, 32):  # crisp on a 2x wall display too
        pixmap = QPixmap(size, size)
        pixmap.fill(Qt.GlobalColor.transparent)
        painter = QPainter(pixmap)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        draw(painter, size / 16)
        painter.end()
        icon.addPixmap(pixmap)
    return icon


def _draw_triangle(painter: QPainter, scale: float) -> None:
    painter.setPen(QPen(_VERMILLION.darker(150), scale))
    painter.setBrush(_VERMILLION)
    points = [
        QPointF(8 * scale, 1.5 * scale),
        QPointF(15 * scale, 14 * scale),
        QPointF(1 * scale, 14 * scale),
    ]
    painter.drawPolygon(QPolygonF(points))


def _draw_ring(painter: QPainter, scale: float) -> None:
    painter.setPen(QPen(_BLUE, 2 * scale))
    painter.setBrush(Qt.BrushStyle.NoBrush)
    painter.drawEllipse(QRectF(3 * scale, 3 * scale, 10 * scale, 10 * scale))


def _draw_pending(painter: QPainter, scale: float) -> None:
    painter.setPen(QPen(_BLUE, 2 * scale))
    painter.setBrush(Qt.BrushStyle.NoBrush)
    painter.drawArc(QRectF(3 * scale, 3 * scale, 10 * scale, 10 * scale), 90 * 16, 270 * 16)
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(_BLUE)
    points = [
        QPointF(8 * scale, 0.5 * scale),
        QPointF(12 * scale, 3 * scale),
        QPointF(8 * scale, 5.5 * scale),
    ]
    painter.drawPolygon(QPolygonF(points))


def _runs(positions: Sequence[int]) -> list[tuple[int, int]]:
    """Sorted row numbers as (first, last) runs of consecutive rows."""
    runs: list[tuple[int, int]] = []
    for position in positions:
        if runs and runs[-1][1] + 1 == position:
            runs[-1] = (runs[-1][0], position)
        else:
            runs.append((position, position))
    return runs


def _with_hint(signal: SignalInstance) -> Any:
    """The (parents, hint) overload of layoutAboutToBeChanged / layoutChanged, to pass a sort hint."""
    return cast(Any, signal)[_LAYOUT_SIGNAL]


def _utcnow() -> datetime:
    return datetime.now(UTC)


class IncidentTableModel(QAbstractTableModel):
    """Incidents as table rows (one IncidentView each), in the order sort() asked for.

    Roles, beyond Qt's display, decoration, tooltip, font, alignment, colours and accessible text:
        SortRole: a scalar sort key for the column (high before low, numbers numerically, age by time).
        IncidentRole: the row's IncidentView.
        IdRole: the incident id.

    Signals:
        incidents_will_change(): a batch of changes (set_incidents, update, upsert, remove) starts.
        incidents_changed(added, changed, removed): the batch is done, with its counts.
    """

    SortRole: ClassVar[int] = _USER
    IncidentRole: ClassVar[int] = _USER + 1
    IdRole: ClassVar[int] = _USER + 2

    RESET_ABOVE: int = 2000  # an update needing more row runs than this is a reset instead
    MOVES_AS_ROWS: int = 32  # up to this many moved rows, nobody's, are removed and re-inserted
    SORT_MOVES_ABOVE: int = 1000  # more moved rows than this: one sort beats the list insertions

    incidents_will_change = Signal()
    incidents_changed = Signal(int, int, int)

    def __init__(self, parent: QObject | None = None, *, clock: Callable[[], datetime] = _utcnow) -> None:
        super().__init__(parent)
        self._clock = clock
        self._now = _timestamp(clock())
        self._rows: list[_Row] = []
        self._by_id: dict[str, _Row] = {}
        self._sort_column = -1
        self._descending = False
        self._column_key: _SortKey | None = None
        # Bumped whenever _rows changes; IncidentFilter keys its cached verdicts on it.
        self._revision = 0
        self._columns: _Columns | None = None  # made on the first filtering, then kept in step
        self._filters: weakref.WeakSet[IncidentFilter] = weakref.WeakSet()
        self._roles: dict[int, Callable[[_Row, int], Any]] = {
            _DECORATION: self._decoration,
            _TOOLTIP: self._tooltip,
            _FONT: self._font,
            _ALIGNMENT: self._alignment,
            _BACKGROUND: self._background,
            _FOREGROUND: self._foreground,
            _ACCESSIBLE: self._accessible,
            self.SortRole: self._sort_value,
            self.IncidentRole: lambda r, _c: r.view,
            self.IdRole: lambda r, _c: r.id,
        }

    # -- Qt's model interface --

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008 (Qt's own default)
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else COLUMN_COUNT

    def data(self, index: _Index, role: int = _DISPLAY) -> Any:
        if not index.isValid():
            return None
        return self.data_at(index.row(), index.column(), role)

    def data_at(self, position: int, column: int, role: int = _DISPLAY) -> Any:
        """data() by row and column: a proxy calls it without making a source index."""
        row = self._rows[position]
        if role == _DISPLAY:
            if column == _AGE:
                return _age_text(self._now - row.created)
            return row.text(column)
        handler = self._roles.get(role)
        return None if handler is None else handler(row, column)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = _DISPLAY) -> Any:
        if orientation == Qt.Orientation.Horizontal and 0 <= section < COLUMN_COUNT:
            if role == _DISPLAY:
                return _HEADERS[section]
            if role == _TOOLTIP:
                return _HEADER_TIPS[section]
            if role == _INITIAL_SORT:
                return _INITIAL_ORDER[section]
            return None
        return super().headerData(section, orientation, role)

    def flags(self, index: _Index) -> Qt.ItemFlag:
        return _FLAGS if index.isValid() else Qt.ItemFlag.NoItemFlags

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        """Order the rows by a column (ties in the default order), or by the default rule if -1."""
        column = column if 0 <= column < COLUMN_COUNT else -1
        self._sort_column = column
        self._descending = column >= 0 and order == Qt.SortOrder.DescendingOrder
        self._column_key = _COLUMN_KEYS[column] if column >= 0 else None
        _with_hint(self.layoutAboutToBeChanged).emit([], _VERTICAL_SORT)
        persistent = self.persistentIndexList()
        held = [self._rows[index.row()] for index in persistent]
        self._order(self._rows)
        self._reordered()
        self._follow(persistent, held)
        _with_hint(self.layoutChanged).emit([], _VERTICAL_SORT)

    # -- what the window calls --

    @property
    def sort_column(self) -> int:
        return self._sort_column

    @property
    def sort_order(self) -> Qt.SortOrder:
        return Qt.SortOrder.DescendingOrder if self._descending else Qt.SortOrder.AscendingOrder

    def set_incidents(self, views: Iterable[IncidentView]) -> None:
        """Replace every row (a model reset: selection is lost; prefer update() for refreshes)."""
        self.incidents_will_change.emit()
        removed = len(self._rows)
        self.beginResetModel()
        self._now = _timestamp(self._clock())
        self._by_id = {view.incident.id: _Row(view) for view in views}
        rows = list(self._by_id.values())
        self._order(rows)
        self._rows = rows
        self._reordered()
        self.endResetModel()
        self.incidents_changed.emit(len(rows), 0, removed)

    def update(self, views: Iterable[IncidentView]) -> None:
        """Make the rows these views, all of them: rows of other incidents go, new ones are inserted
        at their place, changed ones change (and move if their place changed), with the signals for
        just that, so selection and scroll position survive."""
        incoming = {view.incident.id: view for view in views}
        if not self._rows:
            self.set_incidents(incoming.values())
            return
        known = self._by_id
        added: list[_Row] = []
        changed: list[tuple[_Row, _Row]] = []
        for incident_id, view in incoming.items():
            old = known.get(incident_id)
            if old is None:
                added.append(_Row(view))
            elif old.view is not view and old.view != view:
                changed.append((old, _Row(view)))
        removed: list[_Row] = []
        if len(incoming) - len(added) != len(known):
            removed = [row for incident_id, row in known.items() if incident_id not in incoming]
        self._apply(removed, changed, added)

    @staticmethod
    def prepare(views: Iterable[IncidentView]) -> PreparedRows:
        """The rows for these views, made where it is called: a worker thread can make them (pure
        Python, no Qt), so that upsert() on the UI thread only places them."""
        return PreparedRows([_Row(view) for view in views])

    def upsert(self, views: Iterable[IncidentView] | PreparedRows) -> None:
        """Add these incidents or change their rows; the other rows stay as they are."""
        known = self._by_id
        added: dict[str, _Row] = {}
        changed: dict[str, tuple[_Row, _Row]] = {}
        items: Iterable[IncidentView | _Row] = views.rows if isinstance(views, PreparedRows) else views
        for item in items:
            row = item if isinstance(item, _Row) else None
            view = item.view if isinstance(item, _Row) else item
            incident_id = view.incident.id
            old = known.get(incident_id)
            if old is None:
                added[incident_id] = row or _Row(view)
            elif old.view is not view and old.view != view:
                changed[incident_id] = (old, row or _Row(view))
        self._apply([], list(changed.values()), list(added.values()))

    def remove(self, incident_ids: Iterable[str]) -> None:
        """Take these incidents out (ids not shown are ignored)."""
        gone = {
            incident_id: self._by_id[incident_id]
            for incident_id in incident_ids
            if incident_id in self._by_id
        }
        self._apply(list(gone.values()), [], [])

    def refresh_ages(self) -> None:
        """Re-read the clock and repaint the Age column (call it from a timer, every minute or so)."""
        self._now = _timestamp(self._clock())
        if self._rows:
            top, bottom = self.index(0, Column.AGE), self.index(len(self._rows) - 1, Column.AGE)
            self.dataChanged.emit(top, bottom, [_DISPLAY, _TOOLTIP])

    def counts(self) -> tuple[int, int]:
        """(open incidents, high-priority ones nobody has acknowledged), counted over the filter
        columns' status-and-priority bytes: C passes, not a Python loop over every row."""
        codes = self._filter_columns().codes
        high_triggered = _code_of(Rank.TRIGGERED, high=True)
        opened = sum(codes.count(_code_of(rank, high=high)) for rank in _OPEN for high in (True, False))
        return opened, codes.count(high_triggered)

    def incident_id(self, row: int) -> str:
        return self._rows[row].id

    def view_at(self, row: int) -> IncidentView:
        return self._rows[row].view

    def row_of(self, incident_id: str) -> int:
        """The row showing this incident, or -1."""
        found = self._by_id.get(incident_id)
        return -1 if found is None else self._find(found)

    def index_of(self, incident_id: str, column: int = 0) -> QModelIndex:
        row = self.row_of(incident_id)
        return QModelIndex() if row < 0 else self.index(row, column)

    def known_ids(self) -> set[str]:
        return set(self._by_id)

    def views(self) -> list[IncidentView]:
        """Every incident, in the table's order."""
        return [row.view for row in self._rows]

    # -- roles --

    def _decoration(self, row: _Row, column: int) -> QIcon | None:
        if column == Column.PRIORITY:
            graphics = _Graphics.get()
            return graphics.high if row.high else graphics.low
        if column == Column.UNSYNCED and row.unsynced:
            return _Graphics.get().pending
        return None

    def _font(self, row: _Row, column: int) -> QFont | None:
        if column == Column.PRIORITY and row.high:
            return _Graphics.get().bold
        if column == Column.NUMBER and not row.view.incident.number:
            return _Graphics.get().italic
        return None

    def _alignment(self, _row: _Row, column: int) -> int | None:
        if column in (Column.NUMBER, Column.AGE):
            return _RIGHT
        return _CENTER if column in (Column.UNSYNCED, Column.RUNBOOK) else None

    def _background(self, row: _Row, _column: int) -> QColor | None:
        if not row.high or row.rank >= _DONE:
            return None
        return _HIGH_TRIGGERED_BACKGROUND if row.rank == Rank.TRIGGERED else _HIGH_ACKNOWLEDGED_BACKGROUND

    def _foreground(self, row: _Row, _column: int) -> QColor | None:
        return _DIMMED if row.rank >= _DONE else None

    def _sort_value(self, row: _Row, column: int) -> Any:
        return _COLUMN_KEYS[column](row)

    def _accessible(self, row: _Row, column: int) -> str | None:
        if column == Column.PRIORITY:
            return "high priority" if row.high else "low priority"
        if column == Column.NUMBER:
            number = row.view.incident.number
            return f"incident {number}" if number else "new incident, not numbered yet"
        if column == Column.STATUS:
            label = Rank(row.rank).label
            return f"{label}, {_changes(row.unsynced)} not synced yet" if row.unsynced else label
        if column in (Column.UNSYNCED, Column.RUNBOOK):
            return self._tooltip(row, column)
        return None

    def _tooltip(self, row: _Row, column: int) -> str:
        incident = row.view.incident
        if column == Column.PRIORITY:
            if row.high:
                return "High priority: pages and escalates until someone acknowledges"
            return "Low priority: notifies once, never escalates"
        if column == Column.NUMBER:
            if incident.number:
                return f"Incident #{incident.number} (id {incident.id})"
            return f"New incident: not numbered by the server yet (id {incident.id})"
        if column == Column.STATUS:
            lines = [Rank(row.rank).label.capitalize()]
            if incident.acknowledged_at is not None:
                lines.append(f"acknowledged {_utc_text(incident.acknowledged_at)}")
            if incident.resolved_at is not None:
                lines.append(f"resolved {_utc_text(incident.resolved_at)}")
            if incident.snoozed_until is not None:
                lines.append(f"snoozed until {_utc_text(incident.snoozed_until)}")
            if row.unsynced:
                lines.append(f"{SYNC_MARK} {_changes(row.unsynced)} not synced yet")
            return "\n".join(lines)
        if column == Column.SERVICE:
            return f"Service {row.service}" if row.service else "Unknown service"
        if column == Column.TITLE:
            alerts = "1 alert" if incident.alert_count == 1 else f"{incident.alert_count} alerts"
            return f"{incident.title}\n{alerts}, {incident.open_alerts} open"
        if column == Column.ASSIGNEE:
            return f"Assigned to {row.assignee}" if row.assignee else "Nobody is assigned"
        if column == Column.AGE:
            age = _age_text(self._now - row.created)
            return f"Created {_utc_text(incident.created_at)}, {age} ago"
        if column == Column.RUNBOOK:
            return _runbook_tip(row.runbook)
        if row.unsynced:
            return f"{_changes(row.unsynced)} not synced yet"
        return "In sync with the server"

    # -- ordering --

    def _order(self, rows: list[_Row]) -> None:
        """Sort rows in place: the default key, then (stable) the column's key."""
        rows.sort(key=_default_key)
        if self._column_key is not None:
            rows.sort(key=self._column_key, reverse=self._descending)

    def _before(self, a: _Row, b: _Row) -> bool:
        key = self._column_key
        if key is not None:
            ka, kb = key(a), key(b)
            if ka != kb:
                return bool(ka > kb) if self._descending else bool(ka < kb)
        return a.dkey < b.dkey

    def _position(self, row: _Row) -> int:
        """Where row goes (or is) in the current order: a binary search on the sort keys."""
        rows, before = self._rows, self._before
        low, high = 0, len(rows)
        while low < high:
            middle = (low + high) // 2
            if before(rows[middle], row):
                low = middle + 1
            else:
                high = middle
        return low

    def _find(self, row: _Row) -> int:
        position = self._position(row)
        if position >= len(self._rows) or self._rows[position] is not row:
            raise LookupError(f"incident {row.id} is not at its place")  # a bug: the order was broken
        return position

    def _same_place(self, old: _Row, new: _Row) -> bool:
        key = self._column_key
        return old.dkey == new.dkey and (key is None or key(old) == key(new))

    def _follow(self, persistent: list[QModelIndex], held: list[_Row]) -> None:
        """Point persistent indexes (selection, current row) at the rows they held, now moved."""
        if not persistent:
            return
        if len(persistent) > 64:
            where = {row.id: n for n, row in enumerate(self._rows)}
            rows = [where[row.id] for row in held]
        else:
            rows = [self._find(row) for row in held]
        self.changePersistentIndexList(
            persistent, [self.index(row, index.column()) for row, index in zip(rows, persistent, strict=True)]
        )

    # -- changes --

    def _apply(self, removed: list[_Row], changed: list[tuple[_Row, _Row]], added: list[_Row]) -> None:
        if not (removed or changed or added):
            return
        self.incidents_will_change.emit()
        self._now = _timestamp(self._clock())
        counts = (len(added), len(changed), len(removed))
        in_place: list[tuple[_Row, _Row]] = []
        movers: list[tuple[_Row, _Row]] = []
        for pair in changed:
            (in_place if self._same_place(*pair) else movers).append(pair)
        if movers and len(movers) <= self.MOVES_AS_ROWS and not self._holds([old for old, _new in movers]):
            # Nobody holds these rows (no selection, no current row on them): a removal and an
            # insertion each, which a proxy maps in place, instead of a layout change, which makes
            # every proxy re-map (and re-filter) all its rows.
            removed = removed + [old for old, _new in movers]
            added = added + [new for _old, new in movers]
            movers = []
        if len(removed) + len(added) > self.RESET_ABOVE and self._too_scattered(removed, added):
            self._reset_with(removed, movers + in_place, added)
        else:
            self._remove_rows(removed)
            self._move_rows(movers)
            self._insert_rows(added)
            self._change_rows(in_place)
        self.incidents_changed.emit(*counts)

    def _holds(self, rows: list[_Row]) -> bool:
        """Whether a persistent index (a selection, a current row) of this model or of one of its
        IncidentFilters points at one of these rows."""
        held = {index.row() for index in self.persistentIndexList()}
        for proxy in list(self._filters):
            if not Shiboken.isValid(proxy):  # its Qt object was deleted (with its parent, say)
                continue
            for index in proxy.persistentIndexList():
                source = proxy.mapToSource(index)
                if source.isValid():
                    held.add(source.row())
        return bool(held) and any(self._find(row) in held for row in rows)

    def _too_scattered(self, removed: list[_Row], added: list[_Row]) -> bool:
        runs = len(_runs(sorted(self._find(row) for row in removed)))
        self._order(added)
        return runs + len(set(self._positions(added))) > self.RESET_ABOVE

    def _positions(self, added: list[_Row]) -> list[int]:
        """Where each of these rows (in order) goes: a binary search only where a row does not go
        where the one before it went (a batch of a full read goes at the end, in one piece)."""
        rows, before = self._rows, self._before
        end = len(rows)
        positions: list[int] = []
        position = -1
        for row in added:
            if position < 0 or (position < end and before(rows[position], row)):
                position = self._position(row)
            positions.append(position)
        return positions

    def _reset_with(self, removed: list[_Row], changed: list[tuple[_Row, _Row]], added: list[_Row]) -> None:
        self.beginResetModel()
        for row in removed:
            del self._by_id[row.id]
        for _old, new in changed:
            self._by_id[new.id] = new
        for row in added:
            self._by_id[row.id] = row
        rows = list(self._by_id.values())
        self._order(rows)
        self._rows = rows
        self._reordered()
        self.endResetModel()

    def _remove_rows(self, removed: list[_Row]) -> None:
        if not removed:
            return
        rows = self._rows
        positions = sorted(self._find(row) for row in removed)
        for first, last in reversed(_runs(positions)):
            self.beginRemoveRows(QModelIndex(), first, last)
            del rows[first : last + 1]
            if self._columns is not None:  # read again: a proxy may have made it in the last signal
                self._columns.delete(first, last)
            self._revision += 1
            self.endRemoveRows()
        for row in removed:
            del self._by_id[row.id]

    def _move_rows(self, movers: list[tuple[_Row, _Row]]) -> None:
        """Changed rows whose place changes, moved in one layout change that keeps them selected."""
        if not movers:
            return
        rows = self._rows
        _with_hint(self.layoutAboutToBeChanged).emit([], _VERTICAL_SORT)
        persistent = self.persistentIndexList()
        held = [rows[index.row()] for index in persistent]
        replacing = {old.id: new for old, new in movers}
        if len(movers) > self.SORT_MOVES_ABOVE:
            rows[:] = [row for row in rows if row.id not in replacing]
            rows.extend(replacing.values())
            self._order(rows)
            self._reordered()
        else:
            for old, _new in movers:
                position = self._find(old)
                del rows[position]
                if self._columns is not None:
                    self._columns.delete(position, position)
            for _old, new in movers:
                position = self._position(new)
                rows.insert(position, new)
                if self._columns is not None:
                    self._columns.insert(position, [new])
            self._revision += 1
        self._by_id.update(replacing)
        self._follow(persistent, [replacing.get(row.id, row) for row in held])
        _with_hint(self.layoutChanged).emit([], _VERTICAL_SORT)

    def _insert_rows(self, added: list[_Row]) -> None:
        if not added:
            return
        self._order(added)
        runs: list[tuple[int, list[_Row]]] = []
        # positions in the rows as they are now; equal ones make one run
        for row, position in zip(added, self._positions(added), strict=True):
            if runs and runs[-1][0] == position:
                runs[-1][1].append(row)
            else:
                runs.append((position, [row]))
        rows = self._rows
        for position, run in reversed(runs):  # bottom-up, so the positions above stay right
            self.beginInsertRows(QModelIndex(), position, position + len(run) - 1)
            rows[position:position] = run
            if self._columns is not None:
                self._columns.insert(position, run)
            self._revision += 1
            self.endInsertRows()
        for row in added:
            self._by_id[row.id] = row

    def _change_rows(self, changed: list[tuple[_Row, _Row]]) -> None:
        if not changed:
            return
        rows = self._rows
        positions = []
        for old, new in changed:
            position = self._find(old)
            rows[position] = new
            if self._columns is not None:
                self._columns.put(position, new)
            self._by_id[new.id] = new
            positions.append(position)
        self._revision += 1
        positions.sort()
        last_column = COLUMN_COUNT - 1
        for first, last in _runs(positions):
            self.dataChanged.emit(self.index(first, 0), self.index(last, last_column), [])

    def _reordered(self) -> None:
        """The rows were rebuilt or re-sorted: the filter columns are made again when next needed."""
        self._columns = None
        self._revision += 1

    def _filter_columns(self) -> _Columns:
        if self._columns is None:
            self._columns = _Columns(self._rows)
        return self._columns


# -- the filter --


@dataclass(frozen=True, slots=True)
class IncidentCriteria:
    """What IncidentFilter lets through; every part set narrows (they combine with AND).

    statuses: the ranks shown, None for all. priority: None for both. service: one service's name,
    None for all. assignee: only incidents assigned to this person ("mine"), None for anyone's.
    text: words that must each be found, case-insensitively, in the title, the service or the
    number ("#42"), or be the start of the incident id.
    """

    statuses: frozenset[Rank] | None = None
    priority: Priority | None = None
    service: str | None = None
    assignee: str | None = None
    text: str = ""


_STATUS_WORDS: Final[dict[str, frozenset[Rank]]] = {
    "open": frozenset({Rank.TRIGGERED, Rank.ACKNOWLEDGED}),
    **{rank.label: frozenset({rank}) for rank in Rank},
}


def statuses_from(given: str | Rank | Iterable[str | Rank] | None) -> frozenset[Rank] | None:
    """None or "all" → None; "open" → triggered and acknowledged; a label, a Rank, or several."""
    if given is None or given == "all":
        return None
    items: Iterable[str | Rank] = [given] if isinstance(given, str | Rank) else given
    ranks: set[Rank] = set()
    for item in items:
        if isinstance(item, Rank):
            ranks.add(item)
        elif item.strip().lower() in _STATUS_WORDS:
            ranks |= _STATUS_WORDS[item.strip().lower()]
        else:
            raise ValueError(f"There is no status {item!r}; use one of: {', '.join(_STATUS_WORDS)}.")
    return frozenset(ranks)


def _search_terms(text: str) -> tuple[str, ...]:
    return tuple("".join(ch for ch in text if ch.isprintable()).casefold().split())


class _Search:
    """Text search over a model's columns. The search texts (and, when a word could start an id,
    the ids, casefolded) are copied into fresh strings in row order: a scan then walks memory in
    order instead of jumping between records, 3-5x faster. Kept until the model changes."""

    def __init__(self) -> None:
        self._revision = -1
        self._columns: _Columns | None = None
        self._hays: list[str] = []
        self._ids: list[str] | None = None

    def prepare(self, model: IncidentTableModel) -> None:
        if self._revision != model._revision or self._columns is None:
            self._columns = model._filter_columns()
            self._hays = _fresh_copies(self._columns.hays)
            self._ids = None
            self._revision = model._revision

    def in_text(self, term: str) -> int:
        return int.from_bytes(bytes(map(contains, self._hays, repeat(term))), "little")

    def id_start(self, term: str) -> int:
        columns = self._columns
        assert columns is not None, "prepare() first"
        if columns.plain_ids and _PLAIN_ID.fullmatch(term) is None:
            return 0  # a word with a letter past f starts no UUID
        if self._ids is None:
            self._ids = _fresh_copies(columns.ids, casefold=not columns.plain_ids)
        return int.from_bytes(bytes(map(str.startswith, self._ids, repeat(term))), "little")


def _fresh_copies(texts: list[str], *, casefold: bool = False) -> list[str]:
    """New strings, allocated one after the other in list order."""
    if not texts:
        return []
    joined = "\x00".join(texts)
    copies = (joined.casefold() if casefold else joined).split("\x00")
    if len(copies) != len(texts):  # a NUL inside a text (an odd id): one by one, then
        copies = [text.casefold() if casefold else text for text in texts]
    return copies


class _Selection:
    """IncidentCriteria compiled: a check of one row, and a pass over all of them at once."""

    def __init__(self, criteria: IncidentCriteria) -> None:
        ranks = None if criteria.statuses is None else {int(rank) for rank in criteria.statuses}
        high = None if criteria.priority is None else criteria.priority is Priority.HIGH
        self.codes: bytes | None = None  # a translate table: row code -> 1 if shown, else 0
        if (ranks is not None and len(ranks) < len(Rank)) or high is not None:
            self.codes = bytes(
                (ranks is None or code & 3 in ranks) and (high is None or (code & 4 == 0) is high)
                for code in range(256)
            )
        self.service = criteria.service
        self.assignee = criteria.assignee
        self.terms = _search_terms(criteria.text)
        self.everything = (
            self.codes is None and self.service is None and self.assignee is None and not self.terms
        )

    def match(self, row: _Row) -> bool:
        if self.codes is not None and not self.codes[_code(row)]:
            return False
        if self.service is not None and row.service != self.service:
            return False
        if self.assignee is not None and row.assignee != self.assignee:
            return False
        row_id = row.id.casefold()
        return all(term in row.hay or row_id.startswith(term) for term in self.terms)

    def judge(self, columns: _Columns, search: _Search) -> bytes:
        """One byte per row, 1 for shown: each criterion is a C-level pass over a column, and the
        passes are combined as big integers (one bit set per byte)."""
        count = len(columns.codes)
        passes: list[int] = []
        if self.codes is not None:
            passes.append(int.from_bytes(columns.codes.translate(self.codes), "little"))
        if self.service is not None:
            passes.append(int.from_bytes(bytes(map(self.service.__eq__, columns.services)), "little"))
        if self.assignee is not None:
            passes.append(int.from_bytes(bytes(map(self.assignee.__eq__, columns.assignees)), "little"))
        passes.extend(search.in_text(term) | search.id_start(term) for term in self.terms)
        if not passes:
            return b"\x01" * count
        shown = passes[0]
        for other in passes[1:]:
            shown &= other
        return shown.to_bytes(count, "little")


class IncidentFilter(QAbstractProxyModel):
    """The incidents a person asked to see, over an IncidentTableModel, in the model's order.

    Each setter changes one part of the criteria and re-filters once (nothing when the value is the
    one already set); set_criteria() changes several at once.

    A QSortFilterProxyModel asks filterAcceptsRow() about every source row, a C++ -> Python call
    of about a microsecond each: 100,000 rows cost 100 ms before any work. This proxy keeps the
    shown source rows as a sorted list instead, made from the verdicts of one pass over columns the
    model keeps in row order (IncidentTableModel._Columns), and follows the model's signals: an
    insertion or removal in the source is one (or no) insertion or removal here, a change that
    alters a row's verdict inserts or removes it, and a new filter is one layout change that keeps
    the selection on the rows still shown.

    Sorting is the source model's (see IncidentTableModel.sort); sort() forwards there.

    Signals:
        criteria_changed(IncidentCriteria): the filter changed and has been applied.
    """

    criteria_changed = Signal(object)

    def __init__(self, model: IncidentTableModel, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._model = model
        self._criteria = IncidentCriteria()
        self._selection = _Selection(self._criteria)
        self._shown: list[int] = []  # source rows shown, ascending
        self._removing: tuple[int, int] | None = None  # proxy rows announced as going
        self._held: list[tuple[QModelIndex, str]] = []  # persistent indexes during a layout change
        self._search = _Search()
        self.setSourceModel(model)

    def setSourceModel(self, sourceModel: QAbstractItemModel) -> None:
        if not isinstance(sourceModel, IncidentTableModel):
            raise TypeError("IncidentFilter filters an IncidentTableModel")
        old = self.sourceModel()
        if isinstance(old, IncidentTableModel):
            old._filters.discard(self)
            for signal, slot in self._connections(old):
                signal.disconnect(slot)
        self.beginResetModel()
        self._model = sourceModel
        sourceModel._filters.add(self)
        self._search = _Search()
        super().setSourceModel(sourceModel)
        for signal, slot in self._connections(sourceModel):
            signal.connect(slot)
        self._shown = self._judge_all()
        self.endResetModel()

    def _connections(self, model: IncidentTableModel) -> list[tuple[Any, Callable[..., None]]]:
        return [
            (model.modelAboutToBeReset, self.beginResetModel),
            (model.modelReset, self._source_reset),
            (model.rowsInserted, self._source_inserted),
            (model.rowsAboutToBeRemoved, self._source_about_to_remove),
            (model.rowsRemoved, self._source_removed),
            (model.layoutAboutToBeChanged, self._source_layout_to_change),
            (model.layoutChanged, self._source_layout_changed),
            (model.dataChanged, self._source_data_changed),
            (model.headerDataChanged, self.headerDataChanged.emit),
        ]

    # -- the proxy model --

    def index(self, row: int, column: int, parent: _Index = QModelIndex()) -> QModelIndex:  # noqa: B008
        if parent.isValid() or not (0 <= row < len(self._shown) and 0 <= column < COLUMN_COUNT):
            return QModelIndex()
        return self.createIndex(row, column)

    def parent(self, child: _Index = QModelIndex()) -> QModelIndex:  # type: ignore[override]  # noqa: B008
        return QModelIndex()

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._shown)

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else COLUMN_COUNT

    def hasChildren(self, parent: _Index = QModelIndex()) -> bool:  # noqa: B008
        return not parent.isValid() and bool(self._shown)

    def mapToSource(self, proxyIndex: _Index) -> QModelIndex:
        if not proxyIndex.isValid() or proxyIndex.model() is not self:
            return QModelIndex()
        return self._model.index(self._shown[proxyIndex.row()], proxyIndex.column())

    def mapFromSource(self, sourceIndex: _Index) -> QModelIndex:
        if not sourceIndex.isValid():
            return QModelIndex()
        row = sourceIndex.row()
        position = bisect_left(self._shown, row)
        if position == len(self._shown) or self._shown[position] != row:
            return QModelIndex()
        return self.createIndex(position, sourceIndex.column())

    def data(self, index: _Index, role: int = _DISPLAY) -> Any:
        if not index.isValid():
            return None
        return self._model.data_at(self._shown[index.row()], index.column(), role)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = _DISPLAY) -> Any:
        if orientation == Qt.Orientation.Horizontal:
            return self._model.headerData(section, orientation, role)
        return section + 1 if role == _DISPLAY else None

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        self._model.sort(column, order)

    # -- following the source --

    def _source_reset(self) -> None:
        self._shown = self._judge_all()
        self.endResetModel()

    def _source_inserted(self, parent: _Index, first: int, last: int) -> None:
        count = last - first + 1
        position = bisect_left(self._shown, first)
        moved = [row + count for row in self._shown[position:]]
        if self._selection.everything:
            added = list(range(first, last + 1))
        else:
            rows = self._model._rows
            match = self._selection.match
            added = [row for row in range(first, last + 1) if match(rows[row])]
        self._shown[position:] = moved  # the rows shown already, numbered as the source is now
        if added:
            self.beginInsertRows(QModelIndex(), position, position + len(added) - 1)
            self._shown[position:position] = added
            self.endInsertRows()

    def _source_about_to_remove(self, parent: _Index, first: int, last: int) -> None:
        low, high = bisect_left(self._shown, first), bisect_right(self._shown, last)
        self._removing = (low, high)
        if high > low:
            self.beginRemoveRows(QModelIndex(), low, high - 1)

    def _source_removed(self, parent: _Index, first: int, last: int) -> None:
        if self._removing is None:  # not announced: find the rows again
            return self._source_layout_changed()
        low, high = self._removing
        self._removing = None
        count = last - first + 1
        self._shown[low:] = [row - count for row in self._shown[high:]]
        if high > low:
            self.endRemoveRows()
        return None

    def _source_layout_to_change(self, *_args: Any) -> None:
        self.layoutAboutToBeChanged.emit()
        rows = self._model._rows
        self._held = [
            (index, rows[self._shown[index.row()]].id)
            for index in self.persistentIndexList()
            if index.isValid()
        ]

    def _source_layout_changed(self, *_args: Any) -> None:
        self._shown = self._judge_all()
        self._relocate()
        self.layoutChanged.emit()

    def _relocate(self) -> None:
        """Point the held persistent indexes at their incidents' new rows (or nowhere)."""
        held, self._held = self._held, []
        if not held:
            return
        model = self._model
        new = [self.mapFromSource(model.index_of(incident_id, index.column())) for index, incident_id in held]
        self.changePersistentIndexList([index for index, _ in held], new)

    def _source_data_changed(self, top: _Index, bottom: _Index, roles: Sequence[int] = ()) -> None:
        first, last = top.row(), bottom.row()
        if (roles and self.IncidentRole not in roles) or self._selection.everything:  # no verdict changes
            self._forward_changed(first, last, top.column(), bottom.column(), roles)
            return
        rows = self._model._rows
        match = self._selection.match
        for row in range(first, last + 1):
            position = bisect_left(self._shown, row)
            shown = position < len(self._shown) and self._shown[position] == row
            if match(rows[row]) != shown:
                if shown:
                    self.beginRemoveRows(QModelIndex(), position, position)
                    del self._shown[position]
                    self.endRemoveRows()
                else:
                    self.beginInsertRows(QModelIndex(), position, position)
                    self._shown.insert(position, row)
                    self.endInsertRows()
        self._forward_changed(first, last, top.column(), bottom.column(), roles)

    def _forward_changed(self, first: int, last: int, left: int, right: int, roles: Sequence[int]) -> None:
        low, high = bisect_left(self._shown, first), bisect_right(self._shown, last)
        if high > low:
            self.dataChanged.emit(self.index(low, left), self.index(high - 1, right), list(roles))

    IncidentRole = IncidentTableModel.IncidentRole

    # -- criteria --

    @property
    def criteria(self) -> IncidentCriteria:
        return self._criteria

    def refilter(self) -> None:
        """Judge every source row again, now (what a change of criteria does)."""
        self._source_layout_to_change()
        self._source_layout_changed()

    def set_criteria(self, criteria: IncidentCriteria) -> None:
        if criteria == self._criteria:
            return
        self._criteria = criteria
        self._selection = _Selection(criteria)
        self._source_layout_to_change()
        self._source_layout_changed()
        self.criteria_changed.emit(criteria)

    def set_statuses(self, statuses: str | Rank | Iterable[str | Rank] | None) -> None:
        """None or "all" for every status, "open" for triggered and acknowledged, or some labels."""
        self.set_criteria(replace(self._criteria, statuses=statuses_from(statuses)))

    def set_priority(self, priority: Priority | str | None) -> None:
        """Priority.HIGH or "high", Priority.LOW or "low"; None (or "all") for both."""
        if isinstance(priority, str):
            chosen = None if priority in ("", "all") else Priority(priority.strip().lower())
        else:
            chosen = priority
        self.set_criteria(replace(self._criteria, priority=chosen))

    def set_service(self, service: str | None) -> None:
        self.set_criteria(replace(self._criteria, service=service or None))

    def set_mine(self, user_name: str | None) -> None:
        """Only incidents assigned to user_name; None shows everyone's."""
        self.set_criteria(replace(self._criteria, assignee=user_name or None))

    def set_text(self, text: str) -> None:
        self.set_criteria(replace(self._criteria, text=text.strip()))

    def clear(self) -> None:
        self.set_criteria(IncidentCriteria())

    # -- rows --

    def incident_id(self, row: int) -> str:
        return self._model.incident_id(self._shown[row])

    def view_at(self, row: int) -> IncidentView:
        return self._model.view_at(self._shown[row])

    def index_of(self, incident_id: str, column: int = 0) -> QModelIndex:
        """The proxy index of an incident, invalid when it is filtered out or unknown."""
        return self.mapFromSource(self._model.index_of(incident_id, column))

    def _judge_all(self) -> list[int]:
        """The source rows the criteria let through: one pass over the model's columns."""
        model = self._model
        count = model.rowCount()
        if self._selection.everything:
            return list(range(count))
        if self._selection.terms:
            self._search.prepare(model)
        verdicts = self._selection.judge(model._filter_columns(), self._search)
        return list(compress(range(count), verdicts))


class ScrollAnchor(QObject):
    """Keeps the rows a person is reading in place while the table updates under them.

    New incidents arrive at the top (newest first); without this, each insertion above the visible
    rows pushes them down. When the view is scrolled to the very top it stays there, so the newest
    incidents come into sight; otherwise the row at the top of the viewport stays at the top.
    """

    def __init__(self, view: QAbstractItemView, model: IncidentTableModel) -> None:
        super().__init__(view)
        self._view = view
        self._anchor: QPersistentModelIndex | None = None
        self._offset = 0
        model.incidents_will_change.connect(self._remember)
        model.incidents_changed.connect(self._restore)

    def _remember(self) -> None:
        view = self._view
        self._anchor = None
        if view.verticalScrollBar().value() == 0:
            return
        top = view.indexAt(QPoint(1, 1))
        if top.isValid():
            self._anchor = QPersistentModelIndex(top)
            self._offset = view.visualRect(top).top()

    def _restore(self, _added: int, _changed: int, _removed: int) -> None:
        anchor, self._anchor = self._anchor, None
        if anchor is None or not anchor.isValid():
            return
        view = self._view
        view.scrollTo(anchor, QAbstractItemView.ScrollHint.PositionAtTop)
        if view.verticalScrollMode() == QAbstractItemView.ScrollMode.ScrollPerPixel:
            bar = view.verticalScrollBar()
            bar.setValue(bar.value() - self._offset)
