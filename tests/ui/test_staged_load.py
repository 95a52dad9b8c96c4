"""The window's full read in batches over a real replica (as app.py drives it: read_changes(batched=
True), show_changes, show_more with rows prepared off the UI thread, all_shown): every incident
ends up in the table once, in the default order, with Qt's model contract kept throughout; rows the
replica lost go at the end; a later refresh touches only the rows that changed."""

from __future__ import annotations

import random
import shutil
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import pytest
from PySide6.QtCore import QAbstractItemModel, QModelIndex, Qt
from PySide6.QtTest import QAbstractItemModelTester
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from console.domain.incident import Incident
from console.domain.ops import OpType
from console.domain.priority import Priority
from console.domain.status import Rank, Status
from console.domain.views import IncidentView
from console.store.replica import Replica
from console.ui.incident_model import Column, IncidentTableModel
from console.ui.main_window import MainWindow
from tests.store.test_watch import SERVER, T0, incident_id, incident_row, page, urgency

COUNT = 300  # incidents the server sent, in three pages
FIRST, BATCH = 40, 100  # so that they load in four batches


class SmallBatches(Replica):
    """The replica, with batches small enough that a few hundred incidents make several (the
    window asks for urgent_first() with the defaults)."""

    def urgent_first(self, *, first: int = FIRST, batch: int = BATCH) -> Iterator[list[IncidentView]]:
        return super().urgent_first(first=first, batch=batch)


class ModelTester(Protocol):
    """pytest-qt's qtmodeltester fixture (untyped there)."""

    def check(self, model: QAbstractItemModel, force_py: bool = False) -> None: ...


def rows(numbers: range | list[int]) -> list[list[Any]]:
    """Incidents of every status and both priorities, created in a scrambled order."""
    statuses = ["triggered", "acknowledged", "resolved", "closed", "triggered"]
    return [
        incident_row(n, status=statuses[n % 5], priority="high" if n % 3 else "low", minutes=(n * 37) % COUNT)
        for n in numbers
    ]


def pages(numbers: list[int]) -> list[dict[str, Any]]:
    chunks = [numbers[start : start + 100] for start in range(0, len(numbers), 100)]
    return [
        page(seq=seq, incidents=rows(chunk), more=seq < len(chunks))
        for seq, chunk in enumerate(chunks, start=1)
    ]


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "replica.db"
    made = Replica(path)
    made.set_server(SERVER, "ann")
    for one in pages(list(range(1, COUNT + 1))):
        made.apply_page(one)
    made.close()
    return path


@pytest.fixture
def replica(template: Path, tmp_path: Path) -> Iterator[SmallBatches]:
    shutil.copy(template, tmp_path / "replica.db")
    made = SmallBatches(tmp_path / "replica.db")
    yield made
    made.close()


@pytest.fixture
def window(qtbot: QtBot, replica: SmallBatches) -> MainWindow:
    made = MainWindow(replica, user="ann", server_label=SERVER)
    qtbot.addWidget(made)
    return made


def live_testers(window: MainWindow) -> list[QAbstractItemModelTester]:
    """Qt's model tester on the table model and on the window's filter, kept connected: every
    signal is checked as it comes (a failure is a Qt warning, and Qt warnings fail the test)."""
    mode = QAbstractItemModelTester.FailureReportingMode.Warning
    return [QAbstractItemModelTester(window.model, mode), QAbstractItemModelTester(window.proxy, mode)]


def staged_load(window: MainWindow) -> list[int]:
    """A full read as app.py runs it; the model's row count after each batch."""
    changes = window.read_changes(batched=True)
    assert changes.everything is not None
    assert changes.more is not None
    window.show_changes(changes)
    counts = [window.model.rowCount()]
    for batch in changes.more:
        window.show_more(IncidentTableModel.prepare(batch))
        counts.append(window.model.rowCount())
        assert window.statusBar().currentMessage() == f"Loading incidents: {counts[-1]:,}…"
    window.all_shown()
    return counts


def title(views: list[IncidentView]) -> str:
    opened = sum(view.incident.status.is_open for view in views)
    waiting = sum(
        view.incident.status.rank is Rank.TRIGGERED and view.incident.priority is Priority.HIGH
        for view in views
    )
    return f"Responder Console — {opened} open, {waiting} high unacknowledged — ann"


def ids(views: list[IncidentView]) -> list[str]:
    return [view.id for view in views]


def test_a_staged_load_shows_every_incident_once_in_order(
    window: MainWindow, replica: SmallBatches, qtmodeltester: ModelTester
) -> None:
    reported = replica.report("printer on fire", "shop").entity_id  # unsynced: no row yet
    acknowledged = incident_id(10)  # triggered in the replica
    replica.act(OpType.ACKNOWLEDGE, acknowledged)
    expected = sorted(replica.incidents(), key=urgency)
    assert len(expected) == COUNT + 1
    _live = live_testers(window)

    changes = window.read_changes(batched=True)
    assert changes.everything is not None
    assert changes.more is not None
    window.show_changes(changes)
    synced = [view for view in expected if view.id not in (reported, acknowledged)]
    # the most urgent first, and the incidents with unsynced ops (ordered by what they are here)
    assert set(ids(window.model.views())) == {*ids(synced[:FIRST]), reported, acknowledged}
    assert window.selected_id() == expected[0].id  # something to act on at once
    assert window.windowTitle() == title(window.model.views())  # counts of what is loaded so far
    counts = [window.model.rowCount()]
    for batch in changes.more:
        window.show_more(IncidentTableModel.prepare(batch))
        counts.append(window.model.rowCount())
    window.all_shown()

    assert counts == [FIRST + 2, FIRST + 2 + BATCH, FIRST + 2 + 2 * BATCH, COUNT + 1]
    assert window.model.views() == expected
    assert window.windowTitle() == title(expected)
    assert window.statusBar().currentMessage() == ""
    shown = window.model.views()
    assert shown[window.model.row_of(acknowledged)].incident.status.rank is Rank.ACKNOWLEDGED
    assert shown[window.model.row_of(reported)].unsynced == 1
    open_ids = [view.id for view in expected if view.incident.status.is_open]
    assert [window.proxy.incident_id(row) for row in range(window.proxy.rowCount())] == open_ids
    qtmodeltester.check(window.model, force_py=True)
    qtmodeltester.check(window.proxy)


def test_a_row_the_replica_lost_goes_when_all_is_shown(
    window: MainWindow, replica: SmallBatches, qtmodeltester: ModelTester
) -> None:
    window.refresh()  # everything, read at once
    assert len(window.model.known_ids()) == COUNT
    selected = window.selected_id()
    gone = [incident_id(n) for n in (2, 150, 299)]  # one near the top, two deeper
    assert selected not in gone
    _live = live_testers(window)
    resets: list[bool] = []
    window.model.modelReset.connect(lambda: resets.append(True))

    replica.start_snapshot()  # a 410: the server sends everything again, without these
    for one in pages([n for n in range(1, COUNT + 1) if incident_id(n) not in gone]):
        replica.apply_page(one)
    changes = window.read_changes(batched=True)
    assert changes.more is not None
    window.show_changes(changes)
    for batch in changes.more:
        window.show_more(IncidentTableModel.prepare(batch))
    assert set(gone) <= window.model.known_ids()  # not yet: the read may still find them
    window.all_shown()

    assert window.model.known_ids().isdisjoint(gone)
    assert window.model.views() == sorted(replica.incidents(), key=urgency)
    assert window.windowTitle() == title(replica.incidents())
    assert window.selected_id() == selected
    assert resets == []
    qtmodeltester.check(window.model, force_py=True)


def test_a_refresh_after_an_act_touches_only_that_row(window: MainWindow, replica: SmallBatches) -> None:
    staged_load(window)
    selected = window.selected_id()
    other = next(
        view.id
        for view in reversed(window.model.views())
        if view.incident.status.rank is Rank.TRIGGERED and view.incident.priority is Priority.HIGH
    )
    assert other != selected
    _live = live_testers(window)
    changed: list[tuple[int, int, int, int]] = []
    structure: list[str] = []

    def data_changed(top: QModelIndex, bottom: QModelIndex, _roles: object = ()) -> None:
        changed.append((top.row(), bottom.row(), top.column(), bottom.column()))

    window.model.dataChanged.connect(data_changed)
    window.model.rowsInserted.connect(lambda *_: structure.append("inserted"))
    window.model.rowsRemoved.connect(lambda *_: structure.append("removed"))
    window.model.modelReset.connect(lambda: structure.append("reset"))
    window.model.layoutChanged.connect(lambda *_: structure.append("layout"))
    before = window.model.views()

    replica.act(OpType.ACKNOWLEDGE, other)
    changes = window.read_changes()  # window.refresh(), in its two steps
    assert changes.everything is None
    assert changes.changed is not None
    assert (set(changes.changed), changes.gone) == ({other}, frozenset())  # read: that incident only
    window.show_changes(changes)
    window.all_shown()

    row = window.model.row_of(other)
    assert structure == []
    assert changed == [(row, row, 0, len(Column) - 1)]
    after = window.model.views()
    assert [view.id for view in after] == [view.id for view in before]
    assert [n for n, (old, new) in enumerate(zip(before, after, strict=True)) if old != new] == [row]
    assert (after[row].incident.status.rank, after[row].unsynced) == (Rank.ACKNOWLEDGED, 1)
    assert window.selected_id() == selected
    assert window.windowTitle() == title(replica.incidents())


def test_upserting_prepared_rows_equals_upserting_views(
    qapp: QApplication, replica: SmallBatches, qtmodeltester: ModelTester
) -> None:
    now = T0 + timedelta(hours=6)
    replica.act(OpType.RESOLVE, incident_id(1))
    replica.act(OpType.PRIORITY, incident_id(2), {"priority": "low"})
    batches = list(replica.urgent_first())
    assert len(batches) == 4
    later = [  # the same incidents changed: an op on each of some of them
        IncidentView(view.incident, view.service, view.unsynced + 1) for view in batches[1][::7]
    ]
    orders: list[tuple[int, Qt.SortOrder]] = [
        (-1, Qt.SortOrder.AscendingOrder),
        (Column.TITLE, Qt.SortOrder.DescendingOrder),
        (Column.AGE, Qt.SortOrder.AscendingOrder),
    ]
    everything = replica.incidents()
    for column, order in orders:
        plain, prepared, whole = (IncidentTableModel(clock=lambda: now) for _ in range(3))
        for model in (plain, prepared, whole):
            model.sort(column, order)
        # in the order of a staged read, then out of it (a batch lands in the middle), then changes
        for batch in [batches[0], batches[3], batches[1], batches[2], later]:
            plain.upsert(batch)
            prepared.upsert(IncidentTableModel.prepare(batch))
            assert ids(prepared.views()) == ids(plain.views())
        whole.set_incidents([*everything, *later])
        assert prepared.views() == plain.views() == whole.views()
        if column == -1:
            final = {view.id: view for view in [*everything, *later]}
            assert prepared.views() == sorted(final.values(), key=urgency)
        qtmodeltester.check(prepared, force_py=True)
        for model in (plain, prepared, whole):
            model.deleteLater()


def view_of(row: list[Any], unsynced: int) -> IncidentView:
    """The IncidentView of an incident row as a page sends it, made without a replica."""
    id_, number, service_id, title_, priority, category, status, epoch, alerts, open_alerts = row[:10]
    created, updated = row[10:12]
    incident = Incident(
        id=id_,
        number=number,
        service_id=service_id,
        title=title_,
        priority=Priority(priority),
        category=category,
        status=Status(epoch, Rank.from_label(status)),
        created_at=datetime.fromisoformat(created),
        updated_at=datetime.fromisoformat(updated),
        alert_count=alerts,
        open_alerts=open_alerts,
    )
    return IncidentView(incident, "shop", unsynced)


def test_positions_of_sorted_rows_are_where_a_binary_search_puts_each(qapp: QApplication) -> None:
    pick = random.Random(7)

    def views(numbers: list[int]) -> list[IncidentView]:
        made = []
        for row in rows(numbers):
            row[10] = row[11] = (T0 + timedelta(minutes=pick.randrange(50))).isoformat()  # many ties
            made.append(view_of(row, pick.randrange(3)))
        return made

    for column in (-1, Column.TITLE, Column.NUMBER, Column.UNSYNCED):
        model = IncidentTableModel(clock=lambda: T0)
        model.sort(column, Qt.SortOrder.DescendingOrder)
        numbers = pick.sample(range(1, 1000), 400)
        model.upsert(views(numbers[:200]))
        for size in (1, 5, 50, 200):
            added = IncidentTableModel.prepare(views(numbers[200 : 200 + size])).rows
            model._order(added)
            assert model._positions(added) == [model._position(row) for row in added], (column, size)
        model.deleteLater()
