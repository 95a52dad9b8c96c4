"""Settings: the dialog edits the preferences, the window keeps and saves them, and they survive a
restart (JSON in the data dir, written whole or not at all)."""

from __future__ import annotations

from datetime import time
from pathlib import Path

import pytest
from PySide6.QtCore import QTime
from pytestqt.qtbot import QtBot

from console import preferences
from console.preferences import DEFAULT_RESPONSES, Preferences
from console.store.replica import Replica
from console.ui.main_window import MainWindow
from console.ui.settings_dialog import SettingsDialog


def test_the_dialog_gives_back_what_was_set(qtbot: QtBot) -> None:
    dialog = SettingsDialog(Preferences(), server="http://server:8765", user="ann")
    qtbot.addWidget(dialog)
    dialog.volume.setValue(35)
    dialog.muted.setChecked(True)
    dialog.quiet.setChecked(True)
    dialog.quiet_from.setTime(QTime(23, 30))
    dialog.quiet_until.setTime(QTime(6, 15))
    dialog.responses.setPlainText("Looking.\n\n  Rolled back.  \n")
    chosen = dialog.preferences()
    assert chosen == Preferences(35, True, time(23, 30), time(6, 15), ("Looking.", "Rolled back."))
    dialog.quiet.setChecked(False)
    dialog.responses.setPlainText("   ")
    assert dialog.preferences().quiet_from is None
    assert dialog.preferences().responses == DEFAULT_RESPONSES  # never left with none


def test_preferences_survive_a_restart_and_bad_files_fall_back(tmp_path: Path) -> None:
    assert preferences.load(tmp_path) == Preferences()
    mine = Preferences(10, False, time(22, 0), time(7, 0), ("Investigating.",))
    preferences.save(tmp_path, mine)
    assert preferences.load(tmp_path) == mine
    (tmp_path / preferences.FILE).write_text("{not json")
    assert preferences.load(tmp_path) == Preferences()
    (tmp_path / preferences.FILE).write_text('{"volume": "loud"}')
    assert preferences.load(tmp_path) == Preferences()


def test_quiet_hours_may_span_midnight() -> None:
    night = Preferences(quiet_from=time(22, 0), quiet_until=time(7, 0))
    assert night.quiet_at(time(23, 0))
    assert night.quiet_at(time(6, 59))
    assert not night.quiet_at(time(7, 0))
    assert not night.quiet_at(time(12, 0))
    lunch = Preferences(quiet_from=time(12, 0), quiet_until=time(13, 0))
    assert lunch.quiet_at(time(12, 30))
    assert not lunch.quiet_at(time(13, 30))
    assert not Preferences().quiet_at(time(3, 0))


def test_the_window_saves_settings_and_offers_the_responses(qtbot: QtBot, tmp_path: Path) -> None:
    replica = Replica(tmp_path / "replica.db")
    saved: list[Preferences] = []
    window = MainWindow(replica, user="ann", server_label="embedded", save_preferences=saved.append)
    qtbot.addWidget(window)
    chosen = Preferences(responses=("Paging the DBA.",))
    window.ask_settings = lambda: chosen
    window.commands["settings"].trigger()
    assert saved == [chosen]
    assert window.preferences.responses == ("Paging the DBA.",)
    replica.close()


def test_renotify_minutes_round_trip_and_the_test_buttons_play(qtbot: QtBot, tmp_path: Path) -> None:
    played: list[str] = []
    dialog = SettingsDialog(Preferences(), server="s", user="ann", test_sound=played.append)
    qtbot.addWidget(dialog)
    assert dialog.renotify.value() == 5
    dialog.renotify.setValue(0)  # never
    assert dialog.renotify.text() == "never"
    assert dialog.preferences().renotify_minutes == 0
    dialog.test_buttons["high"].click()
    dialog.test_buttons["low"].click()
    assert played == ["high", "low"]
    preferences.save(tmp_path, Preferences(renotify_minutes=15))
    assert preferences.load(tmp_path).renotify_minutes == 15
    without = SettingsDialog(Preferences(), server="s", user="ann")  # no player: nothing to test
    qtbot.addWidget(without)
    assert not without.test_buttons["high"].isEnabled()


@pytest.mark.qt_log_ignore("does not support propagateSizeHints")  # the offscreen plugin, on show()
def test_mute_shows_in_the_window_and_closing_hides_it_when_a_tray_keeps_it(
    qtbot: QtBot, tmp_path: Path
) -> None:
    replica = Replica(tmp_path / "replica.db")
    window = MainWindow(replica, user="ann", server_label="embedded", preferences=Preferences(muted=True))
    qtbot.addWidget(window)
    assert window.sound.text() == "🔇 Sound muted"
    window.ask_settings = lambda: Preferences(muted=False)
    window.commands["settings"].trigger()
    assert window.sound.text() == ""
    window.show()
    window.hide_on_close = True
    assert window.close() is False  # refused: hidden instead, the console keeps running
    assert not window.isVisible()
    window.show()
    window.hide_on_close = False
    assert window.close() is True
    replica.close()
