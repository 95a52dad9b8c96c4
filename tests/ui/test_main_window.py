"""The window over a real replica synced with a real server: actions change the replica and the
outbox; the offline banner comes when the server stops and goes when it is back; a screenshot with
demo data."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path

import pytest
from PySide6.QtGui import QImage
from pytestqt.qtbot import QtBot

from console.demo import AlertStream, seed
from console.domain.status import Rank
from console.sync.client import SyncClient
from console.sync.engine import Backoff, SyncEngine
from console.sync.state import Status, SyncView
from console.ui.main_window import MainWindow
from tests.stack import Stack


@pytest.fixture
def window(qtbot: QtBot, stack: Stack) -> MainWindow:
    stack.trigger("database down")
    stack.trigger("disk 91% full", severity="warning")
    stack.sync()
    made = MainWindow(stack.replica, user="ann", server_label=stack.url)
    qtbot.addWidget(made)
    made.refresh()
    return made


def _select(window: MainWindow, title: str) -> str:
    incident_id = next(v.id for v in window.model.views() if v.incident.title == title)
    window.select(incident_id)
    assert window.selected_id() == incident_id
    return incident_id


def test_each_action_changes_the_replica_and_the_outbox(window: MainWindow, stack: Stack) -> None:
    incident_id = _select(window, "database down")
    acted: list[bool] = []
    window.acted.connect(lambda: acted.append(True))

    window.commands["acknowledge"].trigger()
    assert stack.replica.incident(incident_id).view.incident.status.rank is Rank.ACKNOWLEDGED
    window.ask_note = lambda: "Investigating."
    window.commands["note"].trigger()
    window.ask_snooze = lambda: timedelta(hours=1)
    window.commands["snooze"].trigger()
    window.commands["escalate"].trigger()
    window.commands["resolve"].trigger()
    window.ask_report = lambda: {"title": "printer on fire", "service": "shop", "priority": "low"}
    window.commands["report"].trigger()

    kinds = [op.type for op in reversed(stack.replica.outbox())]
    assert kinds == ["acknowledge", "note", "snooze", "escalate", "resolve", "report"]
    assert all(op.state == "pending" for op in stack.replica.outbox())
    assert len(acted) == 6
    detail = stack.replica.incident(incident_id)
    assert detail.view.incident.status.rank is Rank.RESOLVED
    assert any(e.entry.body.get("text") == "Investigating." and e.unsynced for e in detail.timeline)
    reported = [v for v in window.model.views() if v.incident.title == "printer on fire"]
    assert reported
    assert reported[0].unsynced == 1  # shown at once, not numbered yet


def test_a_refused_action_is_a_message_not_a_dialog(window: MainWindow, stack: Stack) -> None:
    window.status_filter.setCurrentText("all")  # a resolved incident stays in view
    _select(window, "database down")
    window.commands["resolve"].trigger()
    window.commands["acknowledge"].trigger()  # already resolved: refused here, with the reason
    assert "already resolved" in window.statusBar().currentMessage()
    assert [op.type for op in stack.replica.outbox()] == ["resolve"]


def test_filters_and_search_reach_the_table(window: MainWindow) -> None:
    window.search.setText("disk")
    assert window.proxy.rowCount() == 1
    window.search.setText("")
    window.priority_filter.setCurrentText("high")
    assert window.proxy.rowCount() == 1
    window.priority_filter.setCurrentText("any priority")
    assert window.proxy.rowCount() == 2


async def _until(check: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not check():
        assert asyncio.get_running_loop().time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


def test_the_offline_banner_comes_with_an_outage_and_goes_after_sync(
    window: MainWindow, stack: Stack
) -> None:
    views: list[SyncView] = []

    def changed(view: SyncView) -> None:
        views.append(view)
        window.set_sync_view(view)

    async def scenario() -> None:
        client = SyncClient(stack.url, stack.token, stack.replica.state().client_id, timeout=2)
        engine = SyncEngine(
            stack.replica, client, on_change=changed, slow_poll=0.5, backoff=Backoff(0.05, 0.2)
        )
        window.acted.connect(engine.wake)
        running = asyncio.create_task(engine.run())
        step: Callable[[Callable[[], bool], float, str], Awaitable[None]] = _until
        try:
            await step(lambda: bool(views) and views[-1].status is Status.ONLINE, 10, "online")
            assert window.banner.isHidden()
            await asyncio.to_thread(stack.stop)
            _select(window, "database down")
            window.commands["acknowledge"].trigger()
            await step(lambda: not window.banner.isHidden(), 10, "the offline banner")
            assert window.banner.text() == "Working offline: 1 change will sync."
            assert "1 change to sync" in window.pending.text()
            back = len(views)
            await asyncio.to_thread(stack.start)
            await step(lambda: window.banner.isHidden(), 15, "the banner to go")
            assert any(v.status is Status.ONLINE and v.pending == 0 for v in views[back:])
        finally:
            engine.stop()
            await asyncio.gather(running, return_exceptions=True)
            await client.aclose()

    asyncio.run(scenario())
    assert stack.replica.outbox()[0].state == "applied"


def test_a_screenshot_with_demo_data(qtbot: QtBot, tmp_path: Path, stack: Stack) -> None:
    keys = seed(stack.engine)

    async def feed() -> None:
        stop = asyncio.Event()
        stream = AlertStream(stack.url, keys, rng_seed=3, speed=30)
        task = asyncio.create_task(stream.run(stop))
        await asyncio.sleep(3)
        stop.set()
        await task
        assert stream.accepted >= 10

    asyncio.run(feed())
    stack.sync()
    window = MainWindow(stack.replica, user="morgan", server_label=stack.url)
    qtbot.addWidget(window)
    window.resize(1280, 800)
    window.refresh()
    window.table.selectRow(0)
    path = tmp_path / "window.png"
    assert window.grab().save(str(path))
    image = QImage(str(path))
    assert (image.width(), image.height()) == (1280, 800)
    colours = {image.pixel(x, y) for x in range(0, 1280, 16) for y in range(0, 800, 16)}
    assert len(colours) > 20  # text, badges and rows were drawn, not a blank window
    assert window.proxy.rowCount() >= 3


def test_the_title_counts_what_is_open_and_the_most_urgent_is_selected(window: MainWindow) -> None:
    assert window.windowTitle() == "Responder Console — 2 open, 1 high unacknowledged — ann"
    assert window.selected_id() is not None
    selected = window.model.view_at(window.model.row_of(window.selected_id() or ""))
    assert selected.incident.title == "database down"  # high before low


@pytest.mark.qt_log_ignore("does not support propagateSizeHints")
def test_the_on_call_page_is_a_tab_and_the_incident_keys_rest_there(
    window: MainWindow, stack: Stack, qtbot: QtBot
) -> None:
    from datetime import UTC, datetime

    from console.config_file import parse
    from console.server.oncall import apply_config
    from console.ui.oncall_view import OnCallView

    apply_config(stack.engine, parse(ONE_SCHEDULE))
    stack.sync()
    view = OnCallView(stack.replica, user="ann")
    assert not window.pages.tabBar().isVisible()  # one page: no tab bar
    window.add_page(view, "On call")
    window.show()
    qtbot.waitExposed(window)
    assert window.pages.tabBar().isVisible()
    window.pages.setCurrentIndex(1)
    view.refresh(datetime(2026, 12, 2, 9, 0, tzinfo=UTC))
    assert not window.commands["acknowledge"].isEnabled()  # "A" typed there acknowledges nothing
    assert window.commands["report"].isEnabled()
    cells = [view.board.item(0, column) for column in (0, 1)]
    assert [cell.text() if cell else None for cell in cells] == ["primary", "ann"]
    window.pages.setCurrentIndex(0)
    assert window.commands["acknowledge"].isEnabled()


ONE_SCHEDULE = """
[[users]]
name = "ann"
[[schedules]]
name = "primary"
time_zone = "UTC"
[[schedules.layers]]
name = "all"
participants = ["ann"]
anchor = 2026-11-02
"""
