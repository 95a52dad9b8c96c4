"""The incident table and its filter: Qt's model contract through updates, what each cell says and
shows, the default order and column sorting, every filter alone and combined, minimal updates that
keep a selection and the scroll position, and a randomized comparison with a plain Python filter."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import pytest
from PySide6.QtCore import (
    QAbstractItemModel,
    QItemSelectionModel,
    QPersistentModelIndex,
    QPoint,
    QSortFilterProxyModel,
    QStringListModel,
    Qt,
)
from PySide6.QtGui import QColor, QFont, QIcon, QImage
from PySide6.QtTest import QAbstractItemModelTester, QSignalSpy, QTest
from PySide6.QtWidgets import QApplication, QTableView
from pytestqt.qtbot import QtBot

from console.domain.incident import Incident
from console.domain.ops import OpType
from console.domain.priority import Priority
from console.domain.runbook import Progress, RunOpKind, progress
from console.domain.status import Rank, Status
from console.domain.views import IncidentView, RunbookProgress
from console.store.replica import Replica
from console.ui.incident_model import (
    SYNC_MARK,
    Column,
    IncidentCriteria,
    IncidentFilter,
    IncidentTableModel,
    ScrollAnchor,
    runbook_text,
    statuses_from,
)
from console.ui.runbook_runner import progress_text
from tests.store import test_watch
from tests.store.test_replica_runbooks import op_row, run_row, runs_page

T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
NOW = T0 + timedelta(hours=2)
DISPLAY = Qt.ItemDataRole.DisplayRole
ROWS = QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows


def make(
    number: int,
    *,
    status: str = "triggered",
    priority: str = "high",
    service: str = "checkout-api",
    title: str = "",
    assignee: str | None = None,
    minutes: int = 0,
    unsynced: int = 0,
    incident_id: str = "",
) -> IncidentView:
    rank = Rank.from_label(status)
    created = T0 + timedelta(minutes=minutes)
    incident = Incident(
        id=incident_id or f"01aa-{number:04d}",
        number=number,
        service_id=1,
        title=title or f"incident {number}",
        priority=Priority(priority),
        category="general",
        status=Status(0, rank),
        created_at=created,
        updated_at=created,
        alert_count=2,
        open_alerts=1 if rank < Rank.RESOLVED else 0,
        acknowledged_at=created + timedelta(minutes=1) if rank >= Rank.ACKNOWLEDGED else None,
        resolved_at=created + timedelta(minutes=5) if rank >= Rank.RESOLVED else None,
        assignee=assignee,
    )
    return IncidentView(incident, service, unsynced)


def changed(view: IncidentView, *, unsynced: int | None = None, **fields: Any) -> IncidentView:
    if isinstance(fields.get("status"), str):
        fields["status"] = Status(0, Rank.from_label(fields["status"]))
    if "priority" in fields:
        fields["priority"] = Priority(fields["priority"])
    return IncidentView(
        replace(view.incident, **fields), view.service, view.unsynced if unsynced is None else unsynced
    )


def standard() -> list[IncidentView]:
    return [
        make(1, title="checkout 5xx", minutes=0),
        make(2, status="acknowledged", priority="low", service="payments", title="payments latency",
             assignee="ann", minutes=10),
        make(3, status="resolved", title="Disk full on db-1", assignee="bob", minutes=20),
        make(4, priority="low", service="login", title="login slow", minutes=30),
        make(5, status="closed", priority="low", service="payments", title="card declines", minutes=40),
        make(6, status="acknowledged", service="dns", title="resolver timeouts", assignee="ann", minutes=50),
        make(0, service="shop", title="printer on fire", minutes=60, unsynced=1, incident_id="0190ffee-0007"),
    ]  # fmt: skip


class ModelTester(Protocol):
    """pytest-qt's qtmodeltester fixture (untyped there)."""

    def check(self, model: QAbstractItemModel, force_py: bool = False) -> None: ...


def watch(model: QAbstractItemModel) -> QAbstractItemModelTester:
    """Qt's own model tester, kept connected: every later signal is checked too (a failure is a Qt
    warning, and Qt warnings fail tests)."""
    return QAbstractItemModelTester(model, QAbstractItemModelTester.FailureReportingMode.Warning)


def numbers(model: QAbstractItemModel) -> list[str]:
    return [model.index(row, Column.NUMBER).data() for row in range(model.rowCount())]


def cell(model: QAbstractItemModel, number: str, column: int, role: int = DISPLAY) -> Any:
    row = numbers(model).index(number)
    return model.index(row, column).data(role)


@pytest.fixture
def model(qapp: QApplication) -> Iterator[IncidentTableModel]:
    made = IncidentTableModel(clock=lambda: NOW)
    made.set_incidents(standard())
    yield made
    made.deleteLater()


@pytest.fixture
def proxy(model: IncidentTableModel) -> IncidentFilter:
    return IncidentFilter(model, model)


# -- Qt's contract --


def test_the_model_and_the_filter_keep_the_qt_contract_through_updates(
    model: IncidentTableModel, proxy: IncidentFilter, qtmodeltester: ModelTester
) -> None:
    qtmodeltester.check(model, force_py=True)
    _checking_the_model = watch(model)  # a second, live tester for the model
    proxy.set_statuses("open")
    qtmodeltester.check(proxy)
    views = standard()
    views[0] = changed(views[0], status="resolved")  # moves to the done rows
    views[3] = changed(views[3], status="acknowledged", assignee="cy")  # changes in place
    del views[1]  # removed
    views += [make(7, minutes=70), make(8, priority="low", minutes=80, title="queue backlog")]
    model.update(views)
    model.upsert([changed(views[2], priority="low"), make(9, minutes=90)])
    model.remove(["01aa-0008", "no-such-id"])
    proxy.set_text("i")
    model.sort(Column.TITLE, Qt.SortOrder.DescendingOrder)
    model.update([*views, make(10, minutes=100)])
    proxy.set_statuses(None)
    model.refresh_ages()
    model.set_incidents(standard())
    qtmodeltester.check(model)
    qtmodeltester.check(proxy)


def test_the_filter_takes_only_an_incident_table(proxy: IncidentFilter) -> None:
    with pytest.raises(TypeError, match="IncidentTableModel"):
        proxy.setSourceModel(QStringListModel(["a"]))


# -- what the cells say and show --


def test_rows_come_open_first_then_high_before_low_then_newest(model: IncidentTableModel) -> None:
    # open high: new (+60), #6 (+50), #1 (+0); open low: #4, #2; done high: #3; done low: #5
    assert numbers(model) == ["new", "#6", "#1", "#4", "#2", "#3", "#5"]
    assert model.sort_column == -1


def test_cells_show_priority_number_status_service_title_assignee_age_and_sync(
    model: IncidentTableModel,
) -> None:
    row = numbers(model).index("#2")
    texts = [model.index(row, column).data() for column in Column]
    assert texts == ["low", "#2", "acknowledged", "payments", "payments latency", "ann", "1h 50m", "", ""]
    assert [model.headerData(c, Qt.Orientation.Horizontal) for c in Column] == [
        "Priority", "#", "Status", "Service", "Title", "Assignee", "Age", "Sync", "Runbook"]  # fmt: skip
    assert cell(model, "new", Column.NUMBER) == "new"
    assert cell(model, "new", Column.AGE) == "1h 00m"
    assert cell(model, "#1", Column.ASSIGNEE) == ""
    assert "Nobody is assigned" in cell(model, "#1", Column.ASSIGNEE, Qt.ItemDataRole.ToolTipRole)
    age_tip = cell(model, "#1", Column.AGE, Qt.ItemDataRole.ToolTipRole)
    assert age_tip == "Created 2026-11-27 09:00 UTC, 2h 00m ago"
    assert "2 alerts, 1 open" in cell(model, "#1", Column.TITLE, Qt.ItemDataRole.ToolTipRole)
    assert "not numbered" in cell(model, "new", Column.NUMBER, Qt.ItemDataRole.ToolTipRole)


def icon_image(icon: QIcon) -> QImage:
    return icon.pixmap(16, 16).toImage()


def coloured_pixels(image: QImage) -> int:
    return sum(
        1 for x in range(image.width()) for y in range(image.height()) if image.pixelColor(x, y).alpha() > 128
    )


def test_priority_is_told_by_text_shape_and_colour_never_colour_alone(model: IncidentTableModel) -> None:
    decoration = Qt.ItemDataRole.DecorationRole
    high, low = cell(model, "#1", Column.PRIORITY, decoration), cell(model, "#4", Column.PRIORITY, decoration)
    assert isinstance(high, QIcon)
    assert isinstance(low, QIcon)
    assert (cell(model, "#1", Column.PRIORITY), cell(model, "#4", Column.PRIORITY)) == ("HIGH", "low")
    # different shapes (a filled triangle has many more painted pixels than a thin ring) and colours
    high_image, low_image = icon_image(high), icon_image(low)
    assert high_image != low_image
    assert coloured_pixels(high_image) > 1.5 * coloured_pixels(low_image)
    assert high_image.pixelColor(8, 10).red() > 150
    assert low_image.pixelColor(8, 10).alpha() == 0  # the ring is hollow
    # drawn once: every high row shares one icon
    assert cell(model, "#6", Column.PRIORITY, decoration).cacheKey() == high.cacheKey()
    font = cell(model, "#1", Column.PRIORITY, Qt.ItemDataRole.FontRole)
    assert isinstance(font, QFont)
    assert font.bold()
    assert cell(model, "#4", Column.PRIORITY, Qt.ItemDataRole.FontRole) is None
    accessible = Qt.ItemDataRole.AccessibleTextRole
    assert cell(model, "#1", Column.PRIORITY, accessible) == "high priority"
    assert cell(model, "#4", Column.PRIORITY, accessible) == "low priority"
    assert "pages" in cell(model, "#1", Column.PRIORITY, Qt.ItemDataRole.ToolTipRole)


def test_open_high_rows_are_tinted_and_done_rows_dimmed(model: IncidentTableModel) -> None:
    background, foreground = Qt.ItemDataRole.BackgroundRole, Qt.ItemDataRole.ForegroundRole
    triggered_high = cell(model, "#1", Column.TITLE, background)
    acknowledged_high = cell(model, "#6", Column.TITLE, background)
    assert isinstance(triggered_high, QColor)
    assert isinstance(acknowledged_high, QColor)
    assert triggered_high != acknowledged_high
    assert cell(model, "#4", Column.TITLE, background) is None  # low
    assert cell(model, "#3", Column.TITLE, background) is None  # resolved
    assert cell(model, "#1", Column.TITLE, foreground) is None
    dimmed = cell(model, "#3", Column.TITLE, foreground)
    assert isinstance(dimmed, QColor)
    assert cell(model, "#5", Column.STATUS, foreground) == dimmed


def page(*rows: list[Any], seq: int = 1) -> dict[str, Any]:
    columns = ["id", "number", "service_id", "title", "priority", "category", "status", "epoch",
               "alert_count", "open_alerts", "created_at", "updated_at", "acknowledged_at", "resolved_at",
               "assignee", "description", "snoozed_until", "clocks", "seq"]  # fmt: skip
    return {
        "cursor": f"c{seq}", "last_seq": seq, "page_seq": seq, "more": False, "hlc": "",
        "tables": {
            "services": {"columns": ["id", "name", "parent_id", "seq"],
                         "rows": [[1, "checkout-api", None, 1], [2, "payments", None, 1]]},
            "incidents": {"columns": columns, "rows": list(rows)},
        },
    }  # fmt: skip


def incident_row(incident_id: str, number: int, service_id: int, priority: str, minutes: int) -> list[Any]:
    at = (T0 + timedelta(minutes=minutes)).isoformat()
    return [incident_id, number, service_id, f"incident {number}", priority, "general", "triggered", 0, 1, 1,
            at, at, None, None, None, "", None, {}, 1]  # fmt: skip


@pytest.fixture
def replica(tmp_path: Path) -> Iterator[Replica]:
    made = Replica(tmp_path / "replica.db")
    made.set_server("http://server", "ann")
    made.apply_page(
        page(incident_row("01aa-0001", 1, 1, "high", 0), incident_row("01aa-0002", 2, 2, "low", 5))
    )
    yield made
    made.close()


def test_changes_not_synced_yet_are_marked_with_a_sign_a_count_and_a_tooltip(
    replica: Replica, qtbot: QtBot
) -> None:
    model = IncidentTableModel(clock=lambda: NOW)
    model.set_incidents(replica.incidents())
    assert cell(model, "#1", Column.STATUS) == "triggered"
    assert cell(model, "#1", Column.UNSYNCED) == ""
    assert cell(model, "#1", Column.UNSYNCED, Qt.ItemDataRole.ToolTipRole) == "In sync with the server"
    replica.act(OpType.ACKNOWLEDGE, "01aa-0001")
    with qtbot.waitSignal(model.dataChanged, timeout=1000):
        model.update(replica.incidents())
    assert cell(model, "#1", Column.STATUS) == f"acknowledged {SYNC_MARK}"
    assert cell(model, "#1", Column.UNSYNCED) == f"{SYNC_MARK} 1"
    assert cell(model, "#1", Column.UNSYNCED, Qt.ItemDataRole.ToolTipRole) == "1 change not synced yet"
    assert isinstance(cell(model, "#1", Column.UNSYNCED, Qt.ItemDataRole.DecorationRole), QIcon)
    assert "1 change not synced yet" in cell(model, "#1", Column.STATUS, Qt.ItemDataRole.ToolTipRole)
    replica.act(OpType.NOTE, "01aa-0001", {"text": "looking"})
    model.update(replica.incidents())
    assert cell(model, "#1", Column.UNSYNCED, Qt.ItemDataRole.ToolTipRole) == "2 changes not synced yet"
    assert cell(model, "#2", Column.STATUS) == "triggered"
    assert cell(model, "#2", Column.UNSYNCED, Qt.ItemDataRole.DecorationRole) is None


def test_roles_give_the_view_and_the_id_behind_a_row(
    model: IncidentTableModel, proxy: IncidentFilter
) -> None:
    row = numbers(model).index("#4")
    view = model.index(row, Column.TITLE).data(IncidentTableModel.IncidentRole)
    assert isinstance(view, IncidentView)
    assert view.incident.number == 4
    assert model.index(row, 0).data(IncidentTableModel.IdRole) == "01aa-0004"
    assert model.incident_id(row) == "01aa-0004"
    assert model.view_at(row) is view
    assert model.row_of("01aa-0004") == row
    assert model.row_of("nope") == -1
    assert not model.index_of("nope").isValid()
    proxy.set_priority("low")
    assert proxy.incident_id(0) == "01aa-0004"
    assert proxy.view_at(0) is view
    assert proxy.index_of("01aa-0004").row() == 0
    assert not proxy.index_of("01aa-0001").isValid()  # filtered out


# -- runbook progress --

TIP = Qt.ItemDataRole.ToolTipRole


def with_runbooks() -> list[IncidentView]:
    progress = {
        1: RunbookProgress(3, 7),
        2: RunbookProgress(1, 4, conflicts=1),
        3: RunbookProgress(7, 7),
        4: RunbookProgress(7, 7, conflicts=2),
        6: RunbookProgress(4, 9, runs=2),
    }
    return [replace(view, runbook=progress.get(view.incident.number)) for view in standard()]


def test_the_runbook_column_shows_steps_done_a_conflict_and_all_done(
    model: IncidentTableModel, qtmodeltester: ModelTester
) -> None:
    model.update(with_runbooks())
    qtmodeltester.check(model)
    texts = {number: cell(model, number, Column.RUNBOOK) for number in numbers(model)}
    assert texts == {
        "#1": "3/7",
        "#2": "1/4 ⚠",
        "#3": "✓ 7/7",
        "#4": "✓ 7/7 ⚠",
        "#6": "4/9",
        "#5": "",
        "new": "",
    }
    assert cell(model, "#1", Column.RUNBOOK, TIP) == "Runbook: 3 of 7 steps done"
    assert cell(model, "#6", Column.RUNBOOK, TIP) == "2 runbooks: 4 of 9 steps done"
    assert cell(model, "#3", Column.RUNBOOK, TIP) == "Runbook: All 7 steps done"
    assert cell(model, "#2", Column.RUNBOOK, TIP) == (
        "Runbook: 1 of 4 steps done\n⚠ 1 step in conflict: ticked and unticked at once (see the runbook)"
    )
    assert "2 steps in conflict" in cell(model, "#4", Column.RUNBOOK, TIP)
    assert cell(model, "#5", Column.RUNBOOK, TIP) == "No runbook on this incident"
    accessible = Qt.ItemDataRole.AccessibleTextRole
    assert cell(model, "#1", Column.RUNBOOK, accessible) == "Runbook: 3 of 7 steps done"
    centred = int(Qt.AlignmentFlag.AlignCenter)
    assert cell(model, "#1", Column.RUNBOOK, Qt.ItemDataRole.TextAlignmentRole) == centred
    assert model.headerData(Column.RUNBOOK, Qt.Orientation.Horizontal, TIP).startswith("Runbook steps done")


def test_the_row_text_is_the_runners_summary() -> None:
    """One text for both: the runner's summary of the runs it shows is the row's text."""
    for runs in ([], [Progress(3, 7)], [Progress(3, 7), Progress(1, 2, 1)], [Progress(7, 7), Progress(1, 1)]):
        assert progress_text(runs) == runbook_text(RunbookProgress.of(runs))
    assert progress_text([Progress(7, 7), Progress(1, 1)]) == "✓ 8/8"
    assert progress_text([Progress(7, 7), Progress(0, 1)]) == "7/8"  # all done only when every run is
    assert runbook_text(None) == ""


def test_sorting_by_runbook_puts_the_least_done_first_and_none_last(
    model: IncidentTableModel, proxy: IncidentFilter
) -> None:
    model.update(with_runbooks())
    proxy.sort(Column.RUNBOOK, Qt.SortOrder.AscendingOrder)
    # 1/4, 3/7, 4/9, then the done ones and those without runs, each in the default order
    assert numbers(proxy) == ["#2", "#1", "#6", "#4", "#3", "new", "#5"]
    keys = [proxy.index(r, Column.RUNBOOK).data(IncidentTableModel.SortRole) for r in range(proxy.rowCount())]
    assert keys == sorted(keys)


def test_a_tick_changes_only_its_rows_runbook_cell_in_place(model: IncidentTableModel, qtbot: QtBot) -> None:
    _checking = watch(model)
    views = with_runbooks()
    model.update(views)
    ticked = [
        replace(view, runbook=RunbookProgress(4, 7)) if view.incident.number == 1 else view for view in views
    ]
    data = QSignalSpy(model.dataChanged)
    with qtbot.assertNotEmitted(model.layoutChanged), qtbot.assertNotEmitted(model.rowsRemoved):
        model.update(ticked)
    assert data.count() == 1
    assert data.at(0)[0].row() == data.at(0)[1].row() == numbers(model).index("#1")
    assert cell(model, "#1", Column.RUNBOOK) == "4/7"


def test_the_row_shows_the_replicas_runs_and_a_tick_made_here_at_once(
    tmp_path: Path, qapp: QApplication
) -> None:
    """Over a real replica: the row agrees with the runs the runner is given, unsynced ticks included."""
    one, two = test_watch.incident_id(1), test_watch.incident_id(2)
    replica = test_watch.made_replica(tmp_path / "replica.db", [test_watch.incident_row(n) for n in (1, 2)])
    try:
        replica.apply_page(
            runs_page(2, runs=[run_row("run-1", one)], ops=[op_row("o1", "run-1", one, "tick", "dashboard")])
        )
        model = IncidentTableModel(clock=lambda: NOW)
        model.set_incidents(replica.incidents())
        assert (cell(model, "#1", Column.RUNBOOK), cell(model, "#2", Column.RUNBOOK)) == ("1/4", "")
        changes = replica.watch()
        changes.take()
        replica.act_on_run("run-1", RunOpKind.TICK, "status")  # offline: not synced yet
        model.upsert(replica.views(changes.take() or ()).values())  # as the window refreshes
        assert cell(model, "#1", Column.RUNBOOK) == "2/4"
        runner = progress_text([progress(run) for run in replica.runs(one)])
        assert runner == cell(model, "#1", Column.RUNBOOK)
        assert replica.views([two])[two].runbook is None
        model.deleteLater()
    finally:
        replica.close()


# -- sorting --


def test_sorting_by_priority_number_and_age(model: IncidentTableModel, proxy: IncidentFilter) -> None:
    model.upsert([make(10, priority="low", minutes=5)])  # #10 after #2 numerically, not as text
    proxy.sort(Column.PRIORITY, Qt.SortOrder.AscendingOrder)
    assert [proxy.index(r, 0).data() for r in range(proxy.rowCount())] == ["HIGH"] * 4 + ["low"] * 4
    assert numbers(proxy)[:4] == ["new", "#6", "#1", "#3"]  # ties keep the default order
    proxy.sort(Column.PRIORITY, Qt.SortOrder.DescendingOrder)
    assert numbers(proxy) == ["#4", "#2", "#10", "#5", "new", "#6", "#1", "#3"]
    proxy.sort(Column.NUMBER, Qt.SortOrder.AscendingOrder)
    assert numbers(proxy) == ["#1", "#2", "#3", "#4", "#5", "#6", "#10", "new"]
    proxy.sort(Column.AGE, Qt.SortOrder.AscendingOrder)  # youngest first
    assert numbers(proxy) == ["new", "#6", "#5", "#4", "#3", "#2", "#10", "#1"]
    proxy.sort(Column.AGE, Qt.SortOrder.DescendingOrder)
    assert numbers(proxy)[0] == "#1"
    assert (model.sort_column, model.sort_order) == (Column.AGE, Qt.SortOrder.DescendingOrder)
    proxy.sort(-1)
    assert numbers(proxy) == ["new", "#6", "#1", "#4", "#2", "#10", "#3", "#5"]


@pytest.mark.parametrize("column", [Column.PRIORITY, Column.NUMBER, Column.AGE, Column.TITLE])
def test_the_sort_role_orders_a_plain_qt_proxy_as_the_model_does(
    model: IncidentTableModel, column: Column
) -> None:
    plain = QSortFilterProxyModel()
    plain.setSourceModel(model)
    plain.setSortRole(IncidentTableModel.SortRole)
    plain.sort(column, Qt.SortOrder.AscendingOrder)
    model.sort(column, Qt.SortOrder.AscendingOrder)
    keys = [plain.index(r, column).data(IncidentTableModel.SortRole) for r in range(plain.rowCount())]
    assert keys == [model.index(r, column).data(IncidentTableModel.SortRole) for r in range(model.rowCount())]
    assert keys == sorted(keys)


def test_a_first_click_on_a_header_sorts_the_useful_way_round(
    model: IncidentTableModel, qtbot: QtBot
) -> None:
    initial = Qt.ItemDataRole.InitialSortOrderRole
    orders = [Qt.SortOrder(model.headerData(c, Qt.Orientation.Horizontal, initial)) for c in Column]
    assert orders[Column.PRIORITY] == Qt.SortOrder.AscendingOrder  # high first
    assert orders[Column.NUMBER] == Qt.SortOrder.DescendingOrder  # newest first
    assert orders[Column.AGE] == Qt.SortOrder.AscendingOrder  # youngest first
    assert orders[Column.RUNBOOK] == Qt.SortOrder.AscendingOrder  # least done first
    view = QTableView()
    qtbot.addWidget(view)
    view.setModel(IncidentFilter(model, view))
    view.horizontalHeader().setSortIndicator(-1, Qt.SortOrder.AscendingOrder)
    view.setSortingEnabled(True)
    assert numbers(model) == ["new", "#6", "#1", "#4", "#2", "#3", "#5"]  # no column: the default order
    view.resize(800, 300)
    view.show()
    qtbot.waitExposed(view)
    header = view.horizontalHeader()
    section = QPoint(header.sectionViewportPosition(Column.NUMBER) + 5, 5)
    QTest.mouseClick(header.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, section)
    assert (model.sort_column, model.sort_order) == (Column.NUMBER, Qt.SortOrder.DescendingOrder)
    assert numbers(model)[:3] == ["new", "#6", "#5"]  # not numbered yet: the newest


def test_a_sort_keeps_the_selection(model: IncidentTableModel, proxy: IncidentFilter) -> None:
    selection = QItemSelectionModel(proxy)
    selection.setCurrentIndex(proxy.index_of("01aa-0004"), ROWS)
    proxy.sort(Column.TITLE)
    assert [proxy.incident_id(i.row()) for i in selection.selectedRows()] == ["01aa-0004"]
    assert proxy.incident_id(selection.currentIndex().row()) == "01aa-0004"


# -- filters --


def test_filters_by_status_priority_service_and_assignee_alone_and_combined(proxy: IncidentFilter) -> None:
    proxy.set_statuses("open")
    assert numbers(proxy) == ["new", "#6", "#1", "#4", "#2"]
    proxy.set_statuses({"resolved", "closed"})
    assert numbers(proxy) == ["#3", "#5"]
    proxy.set_statuses(Rank.ACKNOWLEDGED)
    assert numbers(proxy) == ["#6", "#2"]
    proxy.set_statuses(None)
    proxy.set_priority("high")
    assert numbers(proxy) == ["new", "#6", "#1", "#3"]
    proxy.set_priority(Priority.LOW)
    assert numbers(proxy) == ["#4", "#2", "#5"]
    proxy.set_service("payments")
    assert numbers(proxy) == ["#2", "#5"]
    proxy.set_statuses("open")
    assert numbers(proxy) == ["#2"]
    proxy.set_mine("ann")
    assert numbers(proxy) == ["#2"]
    proxy.set_priority(None)
    proxy.set_service(None)
    assert numbers(proxy) == ["#6", "#2"]
    proxy.set_mine("bob")
    assert numbers(proxy) == []
    proxy.set_statuses("all")
    assert numbers(proxy) == ["#3"]
    proxy.clear()
    assert proxy.rowCount() == 7
    assert proxy.criteria == IncidentCriteria()


def test_search_matches_title_service_number_and_id_prefix_ignoring_case(proxy: IncidentFilter) -> None:
    proxy.set_text("DISK")
    assert numbers(proxy) == ["#3"]
    proxy.set_text("payments")  # a title and a service
    assert numbers(proxy) == ["#2", "#5"]
    proxy.set_text("#4")
    assert numbers(proxy) == ["#4"]
    proxy.set_text("01aa-0006")
    assert numbers(proxy) == ["#6"]
    proxy.set_text("0190ff")  # an id prefix; ids are not searched inside ("aa-0006" finds nothing)
    assert numbers(proxy) == ["new"]
    proxy.set_text("aa-0006")
    assert numbers(proxy) == []
    proxy.set_text("  card   DECLINES ")  # every word must match, anywhere
    assert numbers(proxy) == ["#5"]
    proxy.set_text("card latency")
    assert numbers(proxy) == []
    proxy.set_text("fire")
    proxy.set_statuses("open")
    proxy.set_priority("high")
    assert numbers(proxy) == ["new"]
    proxy.set_text("")
    assert numbers(proxy) == ["new", "#6", "#1"]


def test_each_change_refilters_once_and_an_unchanged_one_not_at_all(
    proxy: IncidentFilter, qtbot: QtBot
) -> None:
    layouts = QSignalSpy(proxy.layoutChanged)
    with qtbot.waitSignal(proxy.criteria_changed, timeout=1000) as blocker:
        proxy.set_statuses("open")
    assert blocker.args == [IncidentCriteria(statuses=frozenset({Rank.TRIGGERED, Rank.ACKNOWLEDGED}))]
    assert layouts.count() <= 1
    with qtbot.assertNotEmitted(proxy.criteria_changed), qtbot.assertNotEmitted(proxy.layoutChanged):
        proxy.set_statuses({"triggered", "acknowledged"})
        proxy.set_text("   ")
        proxy.set_service("")
    spy = QSignalSpy(proxy.criteria_changed)
    proxy.set_criteria(IncidentCriteria(statuses_from("open"), Priority.HIGH, "dns", "ann", "resolver"))
    assert spy.count() == 1
    assert numbers(proxy) == ["#6"]


def test_unknown_status_words_are_refused() -> None:
    with pytest.raises(ValueError, match="no status 'pending'"):
        statuses_from(["open", "pending"])
    assert statuses_from("Open") == frozenset({Rank.TRIGGERED, Rank.ACKNOWLEDGED})


# -- updates --


def test_an_update_signals_inserted_removed_and_changed_rows_only(
    model: IncidentTableModel, qtbot: QtBot
) -> None:
    _checking = watch(model)
    views = standard()
    views[0] = changed(views[0], status="acknowledged", assignee="cy")  # #1: same place, new data
    del views[3]  # #4 goes
    views.append(make(7, minutes=70))  # the newest: at the top
    inserted, removed, data = (
        QSignalSpy(model.rowsInserted),
        QSignalSpy(model.rowsRemoved),
        QSignalSpy(model.dataChanged),
    )
    with (
        qtbot.assertNotEmitted(model.modelReset),
        qtbot.assertNotEmitted(model.layoutChanged),
        qtbot.waitSignal(model.incidents_changed, timeout=1000) as done,
    ):
        model.update(views)
    assert done.args == [1, 1, 1]
    assert (inserted.count(), removed.count(), data.count()) == (1, 1, 1)
    assert inserted.at(0)[1:] == [0, 0]
    assert removed.at(0)[1:] == [3, 3]  # where #4 was
    top_left, bottom_right = data.at(0)[0], data.at(0)[1]
    assert (top_left.row(), bottom_right.row()) == (numbers(model).index("#1"),) * 2
    assert (top_left.column(), bottom_right.column()) == (0, len(Column) - 1)
    assert numbers(model) == ["#7", "new", "#6", "#1", "#2", "#3", "#5"]
    assert cell(model, "#1", Column.ASSIGNEE) == "cy"
    with qtbot.assertNotEmitted(model.incidents_changed), qtbot.assertNotEmitted(model.dataChanged):
        model.update(list(views))  # nothing changed


def test_a_moved_row_nobody_holds_is_removed_and_inserted_and_a_held_one_moves(
    model: IncidentTableModel, proxy: IncidentFilter, qtbot: QtBot
) -> None:
    views = standard()
    views[0] = changed(views[0], status="resolved")  # #1 from the open rows to the done rows
    with qtbot.assertNotEmitted(model.layoutChanged), qtbot.waitSignal(model.rowsInserted, timeout=1000):
        model.update(views)
    assert numbers(model) == ["new", "#6", "#4", "#2", "#3", "#1", "#5"]
    selection = QItemSelectionModel(proxy)
    selection.setCurrentIndex(proxy.index_of("01aa-0006"), ROWS)
    views[5] = changed(views[5], status="resolved")  # #6, selected, moves to the done rows
    with qtbot.assertNotEmitted(model.rowsRemoved), qtbot.waitSignal(model.layoutChanged, timeout=1000):
        model.update(views)
    assert numbers(model) == ["new", "#4", "#2", "#6", "#3", "#1", "#5"]
    assert [proxy.incident_id(i.row()) for i in selection.selectedRows()] == ["01aa-0006"]


def test_an_update_in_a_storm_keeps_the_selected_incident_selected_and_current(
    model: IncidentTableModel, proxy: IncidentFilter
) -> None:
    proxy.set_statuses("open")
    selection = QItemSelectionModel(proxy)
    selection.setCurrentIndex(proxy.index_of("01aa-0004"), ROWS)
    views = standard()
    for minute in range(100):  # new incidents land above the selected one
        views.append(make(100 + minute, priority=("high", "low")[minute % 2], minutes=61 + minute))
    views[1] = changed(views[1], status="resolved")  # #2 leaves the filter
    del views[5]  # #6 goes
    model.update(views)
    assert [proxy.incident_id(i.row()) for i in selection.selectedRows()] == ["01aa-0004"]
    assert proxy.incident_id(selection.currentIndex().row()) == "01aa-0004"
    views[3] = changed(views[3], priority="high", assignee="ann")  # the selected one itself moves
    model.update(views)
    assert [proxy.incident_id(i.row()) for i in selection.selectedRows()] == ["01aa-0004"]
    assert proxy.incident_id(selection.currentIndex().row()) == "01aa-0004"
    assert proxy.index_of("01aa-0004").row() < proxy.index_of("01aa-0001").row()  # high, newer than #1


def test_filtered_rows_follow_updates(model: IncidentTableModel, proxy: IncidentFilter) -> None:
    proxy.set_statuses("open")
    proxy.set_text("incident")
    views = [make(n, minutes=n) for n in range(1, 6)]
    model.update(views)
    assert numbers(proxy) == ["#5", "#4", "#3", "#2", "#1"]
    views[4] = changed(views[4], status="resolved")
    views[0] = changed(views[0], title="renamed")
    views.append(make(6, minutes=6, priority="low"))
    model.update(views)
    assert numbers(proxy) == ["#4", "#3", "#2", "#6"]
    model.upsert([changed(views[4], status=Status(1, Rank.TRIGGERED))])  # reopened
    assert numbers(proxy) == ["#5", "#4", "#3", "#2", "#6"]


def test_set_incidents_resets_and_update_of_an_empty_model_loads(qapp: QApplication, qtbot: QtBot) -> None:
    model = IncidentTableModel(clock=lambda: NOW)
    with qtbot.waitSignal(model.modelReset, timeout=1000):
        model.update(standard())
    assert model.rowCount() == 7
    with qtbot.waitSignal(model.incidents_changed, timeout=1000) as blocker:
        model.set_incidents([make(1)])
    assert blocker.args == [1, 0, 7]
    assert model.views() == [make(1)]


def test_refresh_ages_rereads_the_clock_and_repaints_the_age_column(qtbot: QtBot, qapp: QApplication) -> None:
    now = [NOW]
    model = IncidentTableModel(clock=lambda: now[0])
    model.set_incidents(standard())
    assert cell(model, "#1", Column.AGE) == "2h 00m"
    now[0] = NOW + timedelta(days=1, hours=3)
    with qtbot.waitSignal(model.dataChanged, timeout=1000) as blocker:
        model.refresh_ages()
    assert {blocker.args[0].column(), blocker.args[1].column()} == {Column.AGE}
    assert cell(model, "#1", Column.AGE) == "1d 5h"
    assert cell(model, "new", Column.AGE) == "1d 4h"


def test_the_scroll_anchor_keeps_the_top_row_in_place_unless_the_view_is_at_the_top(
    qtbot: QtBot, qapp: QApplication
) -> None:
    model = IncidentTableModel(clock=lambda: NOW)
    proxy = IncidentFilter(model, model)
    model.set_incidents([make(n, minutes=n) for n in range(1, 301)])
    view = QTableView()
    qtbot.addWidget(view)
    view.setModel(proxy)
    view.resize(600, 300)
    ScrollAnchor(view, model)
    view.show()
    qtbot.waitExposed(view)
    view.scrollTo(proxy.index(100, 0), QTableView.ScrollHint.PositionAtTop)
    top = proxy.incident_id(view.indexAt(QPoint(1, 1)).row())
    model.upsert([make(n, minutes=n) for n in range(301, 321)])  # 20 newer ones above
    assert proxy.incident_id(view.indexAt(QPoint(1, 1)).row()) == top
    view.scrollToTop()
    model.upsert([make(321, minutes=321)])
    assert proxy.incident_id(view.indexAt(QPoint(1, 1)).row()) == "01aa-0321"  # at the top, the newest shows


# -- against a plain Python filter --


def expected(views: list[IncidentView], criteria: IncidentCriteria) -> set[str]:
    words = criteria.text.casefold().split()
    out = set()
    for view in views:
        incident = view.incident
        number = f"#{incident.number}" if incident.number else "new"
        text = f"{incident.title} {view.service} {number}".casefold()
        if (
            (criteria.statuses is None or incident.status.rank in criteria.statuses)
            and (criteria.priority is None or incident.priority is criteria.priority)
            and (criteria.service is None or view.service == criteria.service)
            and (criteria.assignee is None or incident.assignee == criteria.assignee)
            and all(word in text or incident.id.casefold().startswith(word) for word in words)
        ):
            out.add(incident.id)
    return out


def random_view(rng: random.Random, number: int, odd_ids: bool) -> IncidentView:
    words = ["disk", "full", "latency", "cert", "expired", "dns", "queue", "Backlog", "5xx", "slow"]
    incident_id = f"INC-{number:05d}-X" if odd_ids and number % 3 == 0 else f"{rng.getrandbits(64):016x}"
    return make(
        number if rng.random() > 0.05 else 0,
        status=rng.choice(["triggered", "acknowledged", "resolved", "closed"]),
        priority=rng.choice(["high", "low"]),
        service=rng.choice(["api", "db", "dns", "web"]),
        title=" ".join(rng.sample(words, 3)),
        assignee=rng.choice([None, "ann", "bob"]),
        minutes=rng.randrange(10_000),
        unsynced=rng.choice([0, 0, 1]),
        incident_id=incident_id,
    )


@pytest.mark.parametrize("odd_ids", [False, True])
def test_the_filter_agrees_with_a_plain_python_filter_through_random_changes(
    odd_ids: bool, qapp: QApplication
) -> None:
    rng = random.Random(20261127 + odd_ids)
    model = IncidentTableModel(clock=lambda: NOW)
    proxy = IncidentFilter(model, model)
    selection = QItemSelectionModel(proxy)
    views = {v.incident.id: v for v in (random_view(rng, n, odd_ids) for n in range(1, 1501))}
    model.set_incidents(views.values())
    texts = ["", "disk", "DISK full", "d", "#1", "#12", "new", "inc-0", "inc-00003", "a", "q", "api", "zzz"]
    resets = QSignalSpy(model.modelReset)
    for step in range(60):
        # every way of changing rows: removal and insertion, one layout change, a sort, a reset
        model.MOVES_AS_ROWS = rng.choice([0, 32, 10_000])
        model.SORT_MOVES_ABOVE = rng.choice([0, 1000])
        model.RESET_ABOVE = rng.choice([2000, 2000, 10])
        criteria = IncidentCriteria(
            statuses=rng.choice([None, statuses_from("open"), statuses_from(["resolved"]), frozenset(Rank)]),
            priority=rng.choice([None, Priority.HIGH, Priority.LOW]),
            service=rng.choice([None, None, "dns", "api"]),
            assignee=rng.choice([None, None, "ann"]),
            text=rng.choice(texts) + rng.choice(["", "", " " + rng.choice(texts)]),
        )
        if rng.random() < 0.3:  # the text alone changes, as when typing
            criteria = replace(proxy.criteria, text=rng.choice(texts))
        proxy.set_criteria(criteria)
        if proxy.rowCount() and rng.random() < 0.5:
            selection.setCurrentIndex(proxy.index(rng.randrange(proxy.rowCount()), 0), ROWS)
        held = {  # persistent indexes on the model, as a view on it or another proxy keeps them
            model.incident_id(row): (
                QPersistentModelIndex(model.index(row, row % len(Column))),
                row % len(Column),
            )
            for row in rng.sample(range(model.rowCount()), min(model.rowCount(), rng.choice([3, 100])))
        }
        resets_before = resets.count()
        ids = list(views)
        for incident_id in rng.sample(ids, rng.choice([0, 3, 40])):  # changed (some move, some stay)
            view = views[incident_id]
            views[incident_id] = changed(
                view,
                status=rng.choice(["triggered", "acknowledged", "resolved"]),
                assignee=rng.choice([None, "ann"]),
                title=view.incident.title if rng.random() < 0.7 else "disk " + view.incident.title,
            )
        for incident_id in rng.sample(ids, rng.choice([0, 2, 30])):
            del views[incident_id]
        for _ in range(rng.choice([0, 5, 50])):
            fresh = random_view(rng, 2000 + step * 100 + rng.randrange(100), odd_ids)
            views[fresh.incident.id] = fresh
        if rng.random() < 0.2:
            model.sort(
                rng.choice([-1, *Column]),
                rng.choice([Qt.SortOrder.AscendingOrder, Qt.SortOrder.DescendingOrder]),
            )
        if rng.random() < 0.5:
            model.update(list(views.values()))
        else:
            model.upsert(list(views.values()))
            model.remove(
                [i for i in (model.incident_id(r) for r in range(model.rowCount())) if i not in views]
            )
        shown = [proxy.incident_id(row) for row in range(proxy.rowCount())]
        assert set(shown) == expected(list(views.values()), proxy.criteria), (step, proxy.criteria)
        in_order = [model.incident_id(row) for row in range(model.rowCount())]
        assert shown == [i for i in in_order if i in set(shown)]  # the proxy keeps the model's order
        assert sorted(in_order) == sorted(views)
        assert [model.row_of(i) for i in in_order] == list(range(model.rowCount()))
        if resets.count() == resets_before:
            for incident_id, (index, column) in held.items():
                if incident_id in views:
                    assert (model.incident_id(index.row()), index.column()) == (incident_id, column), step
                else:
                    assert not index.isValid()
