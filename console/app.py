"""Composition root of the console: builds the concrete objects and wires them. Nothing imports it.

`python main.py` starts the embedded server (a child process) unless a team server is configured,
opens the window on a qasync event loop, and runs the sync engine on that loop; `--demo` also seeds
sample services and feeds a realistic alert stream through the server's real intake.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import signal
import sys
import traceback
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from console import logs, settings
from console.domain.errors import KnownFailure

if TYPE_CHECKING:  # the window's modules load Qt: imported when run() runs, not on import
    from PySide6.QtWidgets import QApplication

    from console.domain.views import IncidentView
    from console.domain.views import IncidentView as _View
    from console.notify.alerting import Alerting
    from console.notify.policy import AlertSettings, Command, Page
    from console.notify.tray import Tray
    from console.store.replica import Replica

    _Waiting = tuple[list[_View], list[str]]
    from console.preferences import Preferences
    from console.session import Session
    from console.sync.state import SyncView
    from console.ui.incident_model import PreparedRows
    from console.ui.main_window import Changes, MainWindow

log = logging.getLogger(__name__)


def run(
    *,
    data_dir: str | None = None,
    db_url: str | None = None,
    server_url: str | None = None,
    demo: bool = False,
    screenshot: Path | None = None,
    screenshot_after: float = 20.0,
    screenshot_page: str = "Incidents",
) -> int:
    started = _start(data_dir, db_url, server_url)
    if started is None:
        return 1
    app, session, config = started
    try:
        with asyncio.Runner(loop_factory=lambda: _loop(app)) as runner:
            shot = (screenshot, screenshot_after, screenshot_page) if screenshot else None
            return runner.run(_window(app, session, config.data_dir, db_url, demo, shot))
    finally:
        session.close()


def run_wall(
    *,
    data_dir: str | None = None,
    db_url: str | None = None,
    server_url: str | None = None,
    screen: int = 0,
    allow_acknowledge: bool = False,
    screenshot: Path | None = None,
    screenshot_after: float = 20.0,
) -> int:
    """`python main.py wall`: the NOC view full screen, read-only unless acknowledging is allowed."""
    started = _start(data_dir, db_url, server_url, bug_dialogs=False)  # no modal dialogs on a wall
    if started is None:
        return 1
    app, session, _config = started
    try:
        with asyncio.Runner(loop_factory=lambda: _loop(app)) as runner:
            shot = (screenshot, screenshot_after) if screenshot else None
            return runner.run(_wall(app, session, screen, allow_acknowledge, shot))
    finally:
        session.close()


def _start(
    data_dir: str | None, db_url: str | None, server_url: str | None, *, bug_dialogs: bool = True
) -> tuple[QApplication, Session, settings.Settings] | None:
    """The Qt application and the session (the embedded server started, or the team server's token
    found); None when it cannot start (said once, in a message box)."""
    config = settings.load(data_dir=data_dir, db_url=db_url)
    logs.configure(config.data_dir)
    os.environ.setdefault("QT_API", "pyside6")  # qasync picks its binding from this

    from PySide6.QtWidgets import QApplication, QInputDialog, QLineEdit, QMessageBox

    from console.session import open_session

    app = QApplication(sys.argv[:1])
    app.setApplicationName("Responder Console")
    app.setQuitOnLastWindowClosed(False)  # the asyncio side ends the loop, after the sync engine stops
    if bug_dialogs:
        _report_bugs_in_a_dialog()

    def ask_token(url: str) -> str | None:
        token, ok = QInputDialog.getText(
            None, "Sign in", f"User token for {url}\n(from `python main.py admin add-user` on the server):",
            QLineEdit.EchoMode.Password,
        )  # fmt: skip
        return token if ok else None

    try:
        session = open_session(config.data_dir, server_url=server_url, db_url=db_url, ask_token=ask_token)
    except KnownFailure as exc:  # no keyring, server not starting, token refused: said once, clearly
        log.error("cannot start: %s", exc)
        QMessageBox.critical(None, "Responder Console", str(exc))
        return None
    return app, session, config


def _loop(app: QApplication) -> asyncio.AbstractEventLoop:
    import qasync

    loop: asyncio.AbstractEventLoop = qasync.QEventLoop(app)
    return loop


async def _wall(
    app: QApplication,
    session: Session,
    screen: int,
    allow_acknowledge: bool,
    screenshot: tuple[Path, float] | None,
) -> int:
    from PySide6.QtCore import QTimer

    from console.domain.errors import DomainError
    from console.domain.ops import OpType
    from console.sync.client import SyncClient
    from console.sync.engine import SyncEngine
    from console.ui.wall import WallWindow, place_on_screen
    from console.ui.wall_feeder import WallFeeder

    sys.setswitchinterval(0.001)  # as for the window: the UI thread gets the GIL back sooner
    replica = session.replica
    window = WallWindow(allow_acknowledge=allow_acknowledge)
    feeder = WallFeeder(window, replica, replica)
    closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def quit_wall() -> None:
        if not closed.done():
            closed.set_result(None)

    app.lastWindowClosed.connect(quit_wall)
    signal.signal(signal.SIGTERM, lambda *_: quit_wall())
    heartbeat = QTimer(window)  # lets Python run its signal handler between Qt events
    heartbeat.start(250)
    place_on_screen(window, screen)
    feeder.request()
    client = SyncClient(session.base_url, session.token, replica.state().client_id)

    def changed(view: SyncView) -> None:
        window.set_sync_view(view)
        feeder.request()

    engine = SyncEngine(replica, client, on_change=changed)

    def acknowledge(incident_id: str) -> None:
        async def record() -> None:
            try:
                await asyncio.to_thread(replica.act, OpType.ACKNOWLEDGE, incident_id)
            except DomainError as exc:  # acknowledged meanwhile: nothing to do
                log.info("acknowledge %s from the wall: %s", incident_id, exc)
            feeder.request()
            engine.wake()

        asyncio.ensure_future(record()).add_done_callback(_report_failure)

    window.acknowledge_requested.connect(acknowledge)
    tasks = [
        asyncio.create_task(engine.run(), name="sync"),
        asyncio.create_task(feeder.run_on_call(), name="on-call"),
    ]
    if screenshot is not None:  # for the README and the e2e test: the wall after a while, then quit
        path, after = screenshot

        async def shoot() -> None:
            await asyncio.sleep(after)
            await feeder.idle()
            window.grab().save(str(path))
            log.info("screenshot saved to %s", path)
            quit_wall()

        tasks.append(asyncio.create_task(shoot(), name="screenshot"))
    try:
        await closed
    finally:
        engine.stop()
        for task in tasks[1:]:
            task.cancel()  # the on-call loop runs until cancelled
        await asyncio.gather(*tasks, return_exceptions=True)
        await client.aclose()
    return 0


async def _window(
    app: QApplication,
    session: Session,
    data_dir: Path,
    db_url: str | None,
    demo: bool,
    screenshot: tuple[Path, float, str] | None,
) -> int:
    from PySide6.QtCore import QTimer

    from console import preferences
    from console.domain.errors import DomainError
    from console.domain.ops import OpType
    from console.notify.alerting import Alerting
    from console.notify.player import SoundPlayer
    from console.notify.policy import AlertPolicy, Urgency
    from console.notify.tray import Tray
    from console.sync.client import SyncClient
    from console.sync.engine import SyncEngine
    from console.sync.state import Status
    from console.ui.main_window import MainWindow

    # Worker threads (replica reads, sync pages) hold the GIL in Python code; the UI thread gives
    # it up around every Qt call and must wait a switch interval to get it back. 1 ms instead of
    # 5 keeps a busy worker from turning a 20 ms UI callback into 200 (tests/perf/bench_window.py).
    sys.setswitchinterval(0.001)
    replica = session.replica
    label = f"embedded server {session.base_url}" if session.embedded else session.base_url
    chosen = preferences.load(data_dir)

    def acknowledge(incident_ids: tuple[str, ...]) -> None:
        """From a notification's button or the tray: through the outbox like the window's, so
        offline too; in a worker thread, as a storm summary can stand for thousands of incidents."""

        def record() -> None:
            for incident_id in incident_ids:
                try:
                    replica.act(OpType.ACKNOWLEDGE, incident_id)
                except DomainError as exc:  # acknowledged meanwhile, say: nothing to do
                    log.info("acknowledge %s from a notification: %s", incident_id, exc)

        async def acknowledged() -> None:
            await asyncio.to_thread(record)
            reader.request()
            window.acted.emit()

        asyncio.ensure_future(acknowledged()).add_done_callback(_report_failure)

    def show_window() -> None:
        window.showNormal()
        window.raise_()
        window.activateWindow()

    def open_incident(incident_id: str) -> None:
        show_window()
        window.select(incident_id)

    # The sound player and the tray are made once the first incidents show: QtMultimedia takes
    # ~0.15 s, and the window comes first. Sound commands made before are held for the player.
    player: SoundPlayer | None = None
    tray: Tray | None = None
    held: list[Command] = []

    def sounds(commands: Sequence[Command]) -> None:
        if player is None:
            held.extend(commands)
        else:
            player.run(commands)

    alerting = Alerting(
        AlertPolicy(session.user, _alert_settings(chosen)),
        sounds=sounds,
        acknowledge=acknowledge,
        open_incident=open_incident,
    )
    low_muted_until: datetime | None = None

    def save_preferences(new: Preferences) -> None:
        preferences.save(data_dir, new)
        if player is not None:
            player.set_volume(new.volume / 100)
            player.set_muted(new.muted)
        if tray is not None:
            tray.set_sound_muted(new.muted)
        alerting.carry_out(alerting.configure(_alert_settings(new, low_muted_until)))

    window = MainWindow(
        replica,
        user=session.user,
        server_label=label,
        preferences=chosen,
        save_preferences=save_preferences,
    )
    stop = asyncio.Event()
    closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def quit_console() -> None:
        if not closed.done():
            closed.set_result(None)

    app.lastWindowClosed.connect(quit_console)
    # SIGTERM (a logout, a service manager) quits like the tray's Quit. Python runs its signal
    # handlers only between bytecodes, so a quiet timer keeps the Qt loop passing through Python.
    signal.signal(signal.SIGTERM, lambda *_: quit_console())
    window.resize(1280, 800)
    window.show()
    reader = _Reader(window, alerting, replica, session.user)
    window.request_refresh = reader.request
    reader.request()  # the first read
    await reader.shown.wait()

    player = SoundPlayer(volume=chosen.volume / 100)
    player.set_muted(chosen.muted)
    player.run(held)
    window.test_sound = lambda which: player.test_sound(Urgency(which)) if player is not None else None
    player.problem.connect(lambda message: window.statusBar().showMessage(message, 15_000))
    tray = Tray(window) if Tray.available() else None
    reader.tray = tray
    if tray is not None:
        window.hide_on_close = True  # the tray's Quit ends the console

        def mute_low(on: bool) -> None:
            nonlocal low_muted_until
            low_muted_until = tray.low_muted_until if on else None
            alerting.carry_out(alerting.configure(_alert_settings(window.preferences, low_muted_until)))

        tray.acknowledge.connect(lambda incident_id: acknowledge((incident_id,)))
        tray.acknowledge_mine.connect(lambda ids: acknowledge(tuple(ids)))
        tray.open_console.connect(show_window)
        tray.mute_low.connect(mute_low)
        tray.quit.connect(quit_console)
        tray.set_sound_muted(chosen.muted)
        tray.show()
    _add_oncall_page(window, replica, session.user)
    _add_runbooks(window, replica, session.user)
    await alerting.start()
    ticks = QTimer(window)  # re-notifications and the ends of snoozes
    ticks.timeout.connect(lambda: alerting.carry_out(alerting.tick()))
    ticks.start(10_000)

    client = SyncClient(session.base_url, session.token, replica.state().client_id)

    def changed(view: SyncView) -> None:
        window.set_sync_view(view)
        reader.online = view.status is not Status.OFFLINE
        reader.pending = view.pending
        reader.request()

    engine = SyncEngine(replica, client, on_change=changed)
    window.acted.connect(engine.wake)
    heartbeat = QTimer(window)
    heartbeat.start(250)
    tasks = [asyncio.create_task(engine.run(), name="sync")]
    if demo:
        tasks.append(asyncio.create_task(_demo(session, data_dir, db_url, stop), name="demo"))
    if screenshot is not None:  # for the README: the window after a while, then quit
        path, after, page = screenshot

        async def shoot() -> None:
            await asyncio.sleep(after)
            await reader.idle()
            window.refresh()
            if window.proxy.rowCount():
                window.table.selectRow(0)
            for tabs in (window.pages, window.detail_pages):  # a page, or a page of the incident
                for index in range(tabs.count()):
                    if tabs.tabText(index) == page:
                        tabs.setCurrentIndex(index)
            await asyncio.sleep(0.5)
            window.grab().save(str(path))
            log.info("screenshot saved to %s", path)
            quit_console()

        tasks.append(asyncio.create_task(shoot(), name="screenshot"))
    try:
        await closed
    finally:
        engine.stop()
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        await client.aclose()
        await alerting.aclose()
        player.stop_high()
        if tray is not None:
            tray.hide()
    return 0


def _add_oncall_page(window: MainWindow, replica: Replica, user: str) -> None:
    """The On call page: read when shown, after an override is made, and every half minute while
    in view (who is on call moves with the clock, not only with the data). Managers and admins get
    the schedules-and-policies editor there."""
    from PySide6.QtCore import Qt, QTimer
    from PySide6.QtWidgets import QPushButton

    from console.ui.oncall_editor import NOT_ALLOWED_TEXT, OnCallEditor, can_edit
    from console.ui.oncall_view import OnCallView, acknowledged_from

    view = OnCallView(replica, user=user, acknowledged=acknowledged_from(replica))

    def refresh() -> None:
        if view.isVisible():
            view.own_zones = replica.user_zones()  # the team file's, as last synced
            view.refresh(datetime.now(UTC))

    def open_editor() -> None:
        role = _role_of(replica, user)
        editor = OnCallEditor(replica.team(), role=role, save=replica.save_oncall_config, parent=view)
        editor.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        editor.saved.connect(window.acted)  # push soon
        editor.show()

    edit = QPushButton("Edit schedules and policies…")
    edit.setToolTip("" if can_edit(_role_of(replica, user)) else NOT_ALLOWED_TEXT)
    edit.clicked.connect(open_editor)
    view.add_action(edit)
    window.add_page(view, "On call")
    window.pages.currentChanged.connect(lambda _index: refresh())
    view.acted.connect(window.acted)
    view.acted.connect(refresh)
    timer = QTimer(view)
    timer.timeout.connect(refresh)
    timer.start(30_000)


def _add_runbooks(window: MainWindow, replica: Replica, user: str) -> None:
    """The selected incident's runbook runs, as a page beside its detail; managers edit runbooks
    from the Runbooks… action."""
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QAction
    from PySide6.QtWidgets import QDialog, QVBoxLayout

    from console.ui.runbook_editor import RunbookEditor
    from console.ui.runbook_runner import RunbookRunner

    runner = RunbookRunner(replica, role=_role_of(replica, user))
    window.add_detail_page(runner, "Runbooks")

    def selected(incident_id: str | None) -> None:
        if incident_id is not None and incident_id == runner.incident_id:
            runner.refresh()  # the incident changed: ticks made elsewhere come with its pulls
        else:
            runner.show_incident(incident_id)

    window.selection_watchers.append(selected)
    runner.acted.connect(window.acted)
    runner.acted.connect(window.request_refresh)

    def open_editor() -> None:
        dialog = QDialog(window)
        dialog.setWindowTitle("Runbooks")
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        editor = RunbookEditor(replica, role=_role_of(replica, user), parent=dialog)
        editor.saved.connect(lambda _id: window.acted.emit())
        QVBoxLayout(dialog).addWidget(editor)
        dialog.resize(1000, 700)
        dialog.show()

    action = QAction("Runbooks…", window)
    action.triggered.connect(open_editor)
    window.commands["runbooks"] = action
    window.toolbar.addAction(action)


def _role_of(replica: Replica, user: str) -> str:
    """This person's role as the replica knows it ("" before the first sync)."""
    return next((role for _id, name, role in replica.users() if name == user), "")


def _report_failure(task: asyncio.Task[None]) -> None:
    """A read that failed is a bug: to the error dialog (sys.excepthook), not only the log; the
    next change starts a new read."""
    if not task.cancelled() and (exc := task.exception()) is not None:
        sys.excepthook(type(exc), exc, exc.__traceback__)


def _alert_settings(chosen: Preferences, low_muted_until: datetime | None = None) -> AlertSettings:
    from console.notify.policy import AlertSettings

    return AlertSettings(
        quiet_from=chosen.quiet_from,
        quiet_until=chosen.quiet_until,
        renotify_minutes=chosen.renotify_minutes,
        low_muted_until=low_muted_until,
        sound_muted=chosen.muted,
    )


class _Reader:
    """Reads the replica for the window in a worker thread: one read at a time, at most one per
    MIN_GAP, and only the incidents that changed since the last (ChangeWatch). A change after a
    quiet spell is read at once; a storm's changes are taken together. A full read (the first)
    comes in batches, the most urgent first, so the window is usable while 100,000 load."""

    MIN_GAP = 0.1  # seconds between reads: bounds the UI thread's share in a storm

    def __init__(self, window: MainWindow, alerting: Alerting, replica: Replica, user: str = "") -> None:
        self._window = window
        self._replica = replica
        self._alerting = alerting
        self.tray: Tray | None = None  # set once made: what it lists comes with each read
        self.shown = asyncio.Event()  # the first read is in the window
        self._user = user
        self.online = True  # as the sync engine last said, for the tray
        self.pending = 0
        self._task: asyncio.Task[None] | None = None
        self._again = False
        self._last = 0.0
        self._page_seq = -1  # pages to this person are read after the seq of the last ones read

    def request(self) -> None:
        if self._task is not None and not self._task.done():
            self._again = True  # the running read goes round once more
            return
        self._task = asyncio.ensure_future(self._read())
        self._task.add_done_callback(_report_failure)

    async def idle(self) -> None:
        while self._task is not None and not self._task.done():
            await asyncio.shield(self._task)

    async def _read(self) -> None:
        try:
            await self._read_until_done()
        finally:
            self.shown.set()  # a failed first read must not hold the start for ever

    async def _read_until_done(self) -> None:
        loop = asyncio.get_running_loop()
        window = self._window
        self._again = True
        while self._again:
            self._again = False
            if (wait := self._last + self.MIN_GAP - loop.time()) > 0:
                await asyncio.sleep(wait)
            changes, commands, waiting = await asyncio.to_thread(self._read_and_judge)
            if changes.everything is None and not changes.changed and not changes.gone:
                continue  # nothing changed (a sync round began, say): no gap before the next read
            window.show_changes(changes)
            self.shown.set()
            self._alerting.carry_out(commands)
            self._show_in_tray(waiting)
            if changes.more is not None:
                while (batch := await asyncio.to_thread(self._next_batch, changes.more)) is not None:
                    rows, commands = batch
                    window.show_more(rows)
                    self._alerting.carry_out(commands)
                    # What is loaded lives as long as the window: out of the collector's full
                    # passes, which took 0.2-0.5 s each with 100,000 incidents, holding the GIL.
                    gc.freeze()
                window.all_shown()
                self._show_in_tray(await asyncio.to_thread(self._waiting))
            self._last = loop.time()

    def _read_and_judge(self) -> tuple[Changes, list[Command], _Waiting | None]:
        """In the worker thread: the read, what the alert policy makes of it, and (when something
        changed) what the tray lists."""
        changes = self._window.read_changes(batched=True)
        views = changes.everything if changes.everything is not None else (changes.changed or {}).values()
        commands = self._alerting.evaluate(
            views,
            pages=self._new_pages(first=changes.everything is not None),
            escalated=self._replica.escalated_services(),
        )
        changed = changes.everything is not None or bool(changes.changed) or bool(changes.gone)
        return changes, commands, self._waiting() if changed else None

    def _new_pages(self, *, first: bool) -> list[Page]:
        """The server's pages to this person since the last read. Not during the first read, whose
        incidents come in batches after it: a page is taken once its incident is known, and the
        next read (any change) picks them up."""
        from console.notify.policy import Page

        if first or not self._user:
            return []
        found, self._page_seq = self._replica.new_pages(self._user, self._page_seq)
        return [Page(page.incident_id, page.user) for page in found]

    def _waiting(self) -> _Waiting | None:
        """The newest unacknowledged incidents, and the ids of those assigned to this person."""
        if self.tray is None:
            return None
        replica = self._replica
        mine = replica.unacknowledged(1000, assignee=self._user) if self._user else []
        return replica.unacknowledged(5), [view.id for view in mine]

    def _show_in_tray(self, waiting: _Waiting | None) -> None:
        from console.notify.tray import state_for, tooltip_for

        tray = self.tray
        if tray is None:
            return
        if waiting is not None:
            newest, mine = waiting
            tray.set_unacknowledged(newest, mine=mine)
        opened, high = self._window.model.counts()
        tray.set_state(
            state_for(opened, high, online=self.online),
            tooltip_for(opened, high, online=self.online, unsynced=self.pending),
            offline=not self.online,
        )

    def _next_batch(self, batches: Iterator[list[IncidentView]]) -> tuple[PreparedRows, list[Command]] | None:
        """In the worker thread: the next batch of a full read as table rows, and its alerts."""
        from console.ui.incident_model import IncidentTableModel

        batch = next(batches, None)
        if batch is None:
            return None
        return IncidentTableModel.prepare(batch), self._alerting.evaluate(batch)


async def _demo(session: Session, data_dir: Path, db_url: str | None, stop: asyncio.Event) -> None:
    from console.demo import run_demo, seed
    from console.server.database import open_engine

    if not session.embedded:
        log.warning("--demo feeds the embedded server only; this console uses %s", session.base_url)
        return
    engine = open_engine(db_url or f"sqlite:///{data_dir / 'server.db'}", writer=True)
    try:
        keys = await asyncio.to_thread(seed, engine)
    finally:
        engine.dispose()
    await run_demo(session.base_url, keys, stop)


def _report_bugs_in_a_dialog() -> None:
    """An unexpected exception is a bug: logged with its traceback and shown once, not a storm of
    dialogs. The replica is untouched (every write is its own transaction)."""
    from PySide6.QtWidgets import QMessageBox

    showing = False

    def hook(kind: type[BaseException], exc: BaseException, trace: TracebackType | None) -> None:
        nonlocal showing
        log.error("unexpected error", exc_info=(kind, exc, trace))
        if showing:
            return
        showing = True
        try:
            details = "".join(traceback.format_exception(kind, exc, trace))
            box = QMessageBox(
                QMessageBox.Icon.Critical, "Responder Console: unexpected error", str(exc) or kind.__name__
            )
            box.setInformativeText("Your data is safe. The log in the data dir has the details.")
            box.setDetailedText(details)
            box.exec()
        finally:
            showing = False

    sys.excepthook = hook
