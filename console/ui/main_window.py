"""The responder's window: incidents on the left, the selected one on the right, actions on keys,
sync state always in sight. It reads and writes only through the port it is given (the replica)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from PySide6.QtCore import QItemSelectionModel, QModelIndex, Qt, Signal
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QLineEdit,
    QMainWindow,
    QPlainTextEdit,
    QSplitter,
    QTableView,
    QTabWidget,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from console.domain.errors import DomainError, KnownFailure
from console.domain.ops import OpType
from console.domain.views import IncidentView
from console.preferences import Preferences
from console.sync.state import Status, SyncView, offline_message
from console.ui.detail import IncidentDetailPane
from console.ui.incident_model import Column, IncidentFilter, IncidentTableModel, PreparedRows
from console.ui.ports import IncidentSource
from console.ui.settings_dialog import SettingsDialog

log = logging.getLogger(__name__)

SNOOZES = {"15 minutes": timedelta(minutes=15), "1 hour": timedelta(hours=1), "4 hours": timedelta(hours=4)}


class ReportDialog(QDialog):
    """Report a new incident: it exists at once, offline too, and gets its number at the next sync."""

    def __init__(self, services: Sequence[str], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Report an incident")
        self.title = QLineEdit()
        self.service = QComboBox()
        self.service.addItems(list(services))
        self.priority = QComboBox()
        self.priority.addItems(["high", "low"])
        self.category = QLineEdit()
        self.category.setPlaceholderText("e.g. network, database, security")
        self.description = QPlainTextEdit()
        form = QFormLayout(self)
        form.addRow("Title", self.title)
        form.addRow("Service", self.service)
        form.addRow("Priority", self.priority)
        form.addRow("Category", self.category)
        form.addRow("Description", self.description)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def values(self) -> dict[str, str]:
        return {
            "title": self.title.text(),
            "service": self.service.currentText(),
            "priority": self.priority.currentText(),
            "category": self.category.text(),
            "description": self.description.toPlainText(),
        }


@dataclass(frozen=True, slots=True)
class Changes:
    """What a read of the replica found: every incident (a full read; with `more`, the first and
    most urgent of them, the rest to come), or the changed ones."""

    everything: Sequence[IncidentView] | None = None
    more: Iterator[list[IncidentView]] | None = None
    changed: Mapping[str, IncidentView] | None = None
    gone: frozenset[str] = frozenset()
    services: Sequence[str] | None = None  # the service names, when the read had a change


class MainWindow(QMainWindow):
    acted = Signal()  # a local op was recorded: the sync engine should push soon

    def __init__(
        self,
        source: IncidentSource,
        *,
        user: str,
        server_label: str,
        preferences: Preferences | None = None,
        save_preferences: Callable[[Preferences], None] = lambda preferences: None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        super().__init__()
        self.setWindowTitle(f"Responder Console — {user}")  # counts come with the first refresh
        self._source = source
        self._watch = source.watch()
        self._loaded: set[str] | None = None  # during a full read in batches: the ids read so far
        self._user = user
        self._now = now
        self.preferences = preferences or Preferences()
        self._save_preferences = save_preferences
        self._server_label = server_label
        # Tests answer dialogs through these; the window asks a person otherwise.
        self.ask_note: Callable[[], str | None] = self._ask_note
        self.ask_snooze: Callable[[], timedelta | None] = self._ask_snooze
        self.ask_report: Callable[[], Mapping[str, str] | None] = self._ask_report
        self.ask_settings: Callable[[], Preferences | None] = self._ask_settings
        # After an action; app.py makes it a read in a worker thread, tests keep it synchronous.
        self.request_refresh: Callable[[], None] = self.refresh
        self.test_sound: Callable[[str], None] | None = None  # the settings' "test" buttons ("high"/"low")
        self.hide_on_close = False  # with a tray icon, closing the window keeps the console running

        self.model = IncidentTableModel()
        self.proxy = IncidentFilter(self.model)
        self.table = QTableView()
        self.table.setModel(self.proxy)
        header = self.table.horizontalHeader()
        # no column chosen: the default order (open first, high before low, newest first)
        header.setSortIndicator(-1, Qt.SortOrder.AscendingOrder)
        self.table.setSortingEnabled(True)
        self.table.setWordWrap(False)
        header.setSectionResizeMode(Column.TITLE, QHeaderView.ResizeMode.Stretch)
        # The narrow columns are fitted to the rows in view once, when rows first come (_fit_columns),
        # then the person's to resize: ResizeToContents measured them again on every change, a
        # good part of the UI thread's time in an alert storm (tests/perf/bench_window.py).
        header.setResizeContentsPrecision(0)  # size by the visible rows: measuring 100k took ~1 s
        self._fitted = False
        self.table.setSelectionBehavior(QTableView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QTableView.SelectionMode.SingleSelection)
        self.table.verticalHeader().setVisible(False)
        self.table.selectionModel().currentRowChanged.connect(self._selected)
        self.detail = IncidentDetailPane()

        self.banner = QLabel()
        self.banner.setObjectName("offlineBanner")
        self.banner.setStyleSheet("QLabel#offlineBanner { background: #E69F00; color: black; padding: 6px; }")
        self.banner.setVisible(False)
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search title, service, #number or id  (Ctrl+F)")
        self.search.textChanged.connect(self.proxy.set_text)
        self.status_filter = QComboBox()
        self.status_filter.addItems(["open", "all", "triggered", "acknowledged", "resolved"])
        self.status_filter.currentTextChanged.connect(self._status_chosen)
        self.priority_filter = QComboBox()
        self.priority_filter.addItems(["any priority", "high", "low"])
        self.priority_filter.currentTextChanged.connect(
            lambda text: self.proxy.set_priority(None if text == "any priority" else text)
        )
        self.service_filter = QComboBox()
        self.service_filter.addItem("all services")
        self.service_filter.currentTextChanged.connect(
            lambda text: self.proxy.set_service(None if text == "all services" else text)
        )
        self.mine = QCheckBox("Mine")
        self.mine.toggled.connect(lambda on: self.proxy.set_mine(self._user if on else None))

        filters = QHBoxLayout()
        for widget in (self.search, self.status_filter, self.priority_filter, self.service_filter, self.mine):
            filters.addWidget(widget)
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addLayout(filters)
        left_layout.addWidget(self.table)
        # The selected incident's pages: its detail, and others app.py adds (its runbooks).
        self.detail_pages = QTabWidget()
        self.detail_pages.setDocumentMode(True)
        self.detail_pages.addTab(self.detail, "Incident")
        self.detail_pages.tabBar().setVisible(False)  # until there is a second page
        # told the selected incident's id when the selection changes and when the replica changes it
        self.selection_watchers: list[Callable[[str | None], None]] = []
        split = QSplitter()
        split.addWidget(left)
        split.addWidget(self.detail_pages)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)
        split.setSizes([760, 520])
        # Incidents first; other views (On call) are pages beside them, added by app.py.
        self.pages = QTabWidget()
        self.pages.setDocumentMode(True)
        self.pages.addTab(split, "Incidents")
        self.pages.tabBar().setVisible(False)  # until there is a second page
        central = QWidget()
        layout = QVBoxLayout(central)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.banner)
        layout.addWidget(self.pages)
        self.setCentralWidget(central)

        self.connection = QLabel("Not synced yet")
        self.pending = QLabel("")
        self.last_sync = QLabel("")
        self.server = QLabel(server_label)
        self.sound = QLabel("")
        self.sound.setObjectName("soundState")
        for label in (self.sound, self.connection, self.pending, self.last_sync, self.server):
            self.statusBar().addPermanentWidget(label)

        self.commands: dict[str, QAction] = {}
        toolbar = self.toolbar = QToolBar("Actions")
        toolbar.setObjectName("actions")
        self.addToolBar(toolbar)
        for name, text, key, slot in (
            ("acknowledge", "Acknowledge", "A", lambda: self._act(OpType.ACKNOWLEDGE)),
            ("resolve", "Resolve", "R", lambda: self._act(OpType.RESOLVE)),
            ("note", "Note…", "N", self._note),
            ("escalate", "Escalate now", "E", lambda: self._act(OpType.ESCALATE)),
            ("snooze", "Snooze…", "S", self._snooze),
            ("reopen", "Reopen", "Shift+R", lambda: self._act(OpType.REOPEN)),
            ("report", "Report incident…", "Ctrl+N", self._report),
            ("search", "Search", "Ctrl+F", self.search.setFocus),
            ("settings", "Settings…", "Ctrl+,", self._settings),
        ):
            action = QAction(text, self)
            action.setShortcut(QKeySequence(key))
            action.setToolTip(f"{text} ({key})")
            action.triggered.connect(slot)
            toolbar.addAction(action)
            self.commands[name] = action
        self.proxy.set_statuses({"triggered", "acknowledged"})
        self._show_sound_state()
        self.table.setFocus()  # keys act on the selected incident at once, not typed into the search

    def add_detail_page(self, widget: QWidget, title: str) -> None:
        """A page beside the selected incident's detail (a tab), such as its runbooks."""
        self.detail_pages.addTab(widget, title)
        self.detail_pages.tabBar().setVisible(True)

    def add_page(self, widget: QWidget, title: str) -> None:
        """A view beside the incidents (a tab); the incident keys act only on the Incidents page."""
        self.pages.addTab(widget, title)
        self.pages.tabBar().setVisible(True)
        self.pages.currentChanged.connect(self._page_changed)

    def _page_changed(self, index: int) -> None:
        incidents = index == 0
        for name in ("acknowledge", "resolve", "note", "escalate", "snooze", "reopen", "search"):
            self.commands[name].setEnabled(incidents)

    # -- data in --

    def refresh(self) -> None:
        """Bring the table and the detail up to date with the replica, on this thread."""
        self.show_changes(self.read_changes())
        self.all_shown()

    def read_changes(self, *, batched: bool = False) -> Changes:
        """The incidents changed since the last read (all of them the first time; `batched`, the
        most urgent first and the rest in `more`). It only reads: app.py runs it and the batches
        in a worker thread, one read at a time, and hands the results to show_changes/show_more."""
        ids = self._watch.take()
        if ids is not None and not ids:
            return Changes(changed={})
        services = [name for _, name in self._source.services()]
        if ids is None:
            if not batched:
                return Changes(everything=self._source.incidents(), services=services)
            batches = self._source.urgent_first()
            return Changes(everything=next(batches), more=batches, services=services)
        found = self._source.views(ids)
        return Changes(changed=found, gone=frozenset(ids.difference(found)), services=services)

    def show_views(self, views: Iterable[IncidentView]) -> None:
        """Show these incidents, all of them (the rows of others go)."""
        services = [name for _, name in self._source.services()]
        self.show_changes(Changes(everything=list(views), services=services))

    def show_changes(self, changes: Changes) -> None:
        """Show what a read found: only the rows that changed are touched."""
        if changes.everything is None and not changes.changed and not changes.gone:
            return
        selected = self.selected_id()
        if changes.everything is not None and changes.more is None:
            self.model.update(changes.everything)
        elif changes.everything is not None:  # the first batch: the rest comes through show_more
            self._loaded = {view.id for view in changes.everything}
            self.model.upsert(changes.everything)
        else:
            if changes.gone:
                self.model.remove(changes.gone)
            if changes.changed:
                self.model.upsert(changes.changed.values())
        self._counted()
        if self.selected_id() is None and self.proxy.rowCount():
            self.table.selectRow(0)  # something to act on at once: the most urgent incident
        if not self._fitted and self.proxy.rowCount():
            self._fit_columns()
        if changes.services is not None:
            self._update_services(changes.services)
        if (
            changes.everything is not None
            or selected in changes.gone
            or (changes.changed is not None and selected in changes.changed)
        ):
            self._show_detail()

    def _fit_columns(self) -> None:
        """Fit the narrow columns to the rows in view, and to the widest text they can show."""
        self._fitted = True
        metrics = self.table.fontMetrics()
        widest = {  # texts wider than the first rows may have (an icon and padding come on top)
            Column.STATUS: "acknowledged ⟳",
            Column.AGE: "59 min",
            Column.UNSYNCED: "⟳ 99",
            Column.NUMBER: "#9999",
            Column.RUNBOOK: "✓ 99/99 ⚠",
        }
        header = self.table.horizontalHeader()
        narrow = (Column.PRIORITY, Column.NUMBER, Column.STATUS, Column.AGE, Column.UNSYNCED, Column.RUNBOOK)
        for column in narrow:
            self.table.resizeColumnToContents(column)
            if column in widest:
                width = metrics.horizontalAdvance(widest[column]) + 2 * metrics.averageCharWidth()
                header.resizeSection(column, max(header.sectionSize(column), width))

    def show_more(self, rows: PreparedRows) -> None:
        """A further batch of a full read, its rows made by IncidentTableModel.prepare()."""
        self.model.upsert(rows)
        if self._loaded is not None:
            self._loaded.update(rows.ids())
            self.statusBar().showMessage(f"Loading incidents: {self.model.rowCount():,}…")
        self._counted()

    def all_shown(self) -> None:
        """A full read in batches is complete: rows it did not find are gone."""
        if self._loaded is not None:
            self.model.remove(self.model.known_ids() - self._loaded)
            self._loaded = None
            self.statusBar().clearMessage()
        self._counted()

    def _counted(self) -> None:
        opened, waiting = self.model.counts()
        # counts in the title, where the taskbar and the window list show them
        self.setWindowTitle(
            f"Responder Console — {opened} open, {waiting} high unacknowledged — {self._user}"
        )

    def _update_services(self, names: Sequence[str]) -> None:
        current = self.service_filter.currentText()
        if [self.service_filter.itemText(i) for i in range(1, self.service_filter.count())] != list(names):
            self.service_filter.blockSignals(True)
            self.service_filter.clear()
            self.service_filter.addItem("all services")
            self.service_filter.addItems(names)
            self.service_filter.setCurrentText(current)
            self.service_filter.blockSignals(False)

    def set_sync_view(self, view: SyncView) -> None:
        """The sync engine's state: status bar always, the banner while offline or failing."""
        self.connection.setText({
            Status.ONLINE: "● Online",
            Status.SYNCING: "⟳ Syncing",
            Status.OFFLINE: "○ Offline",
            Status.ERROR: "⚠ Sync error",
        }[view.status])  # fmt: skip
        self.pending.setText(f"{view.pending} change{'s' if view.pending != 1 else ''} to sync")
        self.last_sync.setText(
            f"last sync {view.last_sync_at.astimezone():%H:%M:%S}" if view.last_sync_at else "never synced"
        )
        if view.status is Status.OFFLINE:
            self._banner(offline_message(view.pending))
        elif view.status is Status.ERROR:
            self._banner(view.message)
        elif view.status is Status.ONLINE:
            self.banner.setVisible(False)

    def _banner(self, text: str) -> None:
        self.banner.setText(text)
        self.banner.setVisible(True)

    # -- selection --

    def selected_id(self) -> str | None:
        index = self.table.selectionModel().currentIndex()
        if not index.isValid():
            return None
        return self.proxy.data(index, IncidentTableModel.IncidentRole).id  # type: ignore[no-any-return]

    def select(self, incident_id: str) -> None:
        for row in range(self.proxy.rowCount()):
            index = self.proxy.index(row, 0)
            if self.proxy.data(index, IncidentTableModel.IncidentRole).id == incident_id:
                flags = (
                    QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows
                )
                self.table.selectionModel().setCurrentIndex(index, flags)
                return

    def _selected(self, _current: QModelIndex, _previous: QModelIndex) -> None:
        self._show_detail()

    def _show_detail(self) -> None:
        incident_id = self.selected_id()
        for watcher in self.selection_watchers:
            watcher(incident_id)
        if incident_id is None:
            self.detail.show_incident(None)
            return
        try:
            self.detail.show_incident(self._source.incident(incident_id))
        except DomainError:
            self.detail.show_incident(None)

    # -- actions: one local transaction each, then the engine is told --

    def _act(self, kind: OpType, args: Mapping[str, Any] | None = None) -> None:
        incident_id = self.selected_id()
        if incident_id is None:
            self.statusBar().showMessage("Select an incident first.", 5000)
            return
        self._record(lambda: self._source.act(kind, incident_id, args))

    def _record(self, do: Callable[[], object]) -> None:
        try:
            do()
        except (DomainError, KnownFailure) as exc:  # a broken rule or a full disk: said, not a dialog
            self.statusBar().showMessage(str(exc), 10_000)
            return
        self.request_refresh()
        self.acted.emit()

    def _note(self) -> None:
        text = self.ask_note()
        if text:
            self._act(OpType.NOTE, {"text": text})

    def _snooze(self) -> None:
        length = self.ask_snooze()
        if length is not None:
            self._act(OpType.SNOOZE, {"until": (self._now() + length).isoformat()})

    def _report(self) -> None:
        values = self.ask_report()
        if not values:
            return
        self._record(
            lambda: self._source.report(
                values["title"],
                values["service"],
                priority=values.get("priority", "high"),
                category=values.get("category", ""),
                description=values.get("description", ""),
            )
        )

    def _ask_note(self) -> str | None:
        text, ok = QInputDialog.getItem(
            self,
            "Add a note",
            "Note (pick a response or write one):",
            list(self.preferences.responses),
            0,
            True,
        )
        return text.strip() if ok and text.strip() else None

    def _ask_snooze(self) -> timedelta | None:
        choice, ok = QInputDialog.getItem(self, "Snooze", "Snooze for:", list(SNOOZES), 1, False)
        return SNOOZES[choice] if ok else None

    def _ask_report(self) -> Mapping[str, str] | None:
        dialog = ReportDialog([name for _, name in self._source.services()], self)
        return dialog.values() if dialog.exec() == QDialog.DialogCode.Accepted else None

    def _settings(self) -> None:
        chosen = self.ask_settings()
        if chosen is None:
            return
        self.preferences = chosen
        self._show_sound_state()
        try:
            self._save_preferences(chosen)
        except OSError as exc:  # a full or read-only disk: said, and the window keeps the new values
            self.statusBar().showMessage(f"Settings not saved: {exc}", 10_000)

    def _show_sound_state(self) -> None:
        self.sound.setText("🔇 Sound muted" if self.preferences.muted else "")
        self.sound.setToolTip("Alert sounds are off (Settings)" if self.preferences.muted else "")

    def closeEvent(self, event: QCloseEvent) -> None:
        if self.hide_on_close:  # the tray icon stays; its menu quits
            event.ignore()
            self.hide()
            return
        super().closeEvent(event)

    def _ask_settings(self) -> Preferences | None:
        dialog = SettingsDialog(
            self.preferences,
            server=self._server_label,
            user=self._user,
            test_sound=self.test_sound,
            parent=self,
        )
        return dialog.preferences() if dialog.exec() == QDialog.DialogCode.Accepted else None

    def _status_chosen(self, text: str) -> None:
        self.proxy.set_statuses(
            None if text == "all" else {"triggered", "acknowledged"} if text == "open" else {text}
        )
