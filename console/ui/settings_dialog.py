"""Settings: where this console syncs and as whom (shown), sound volume and mute, quiet hours for
low priority, and the ready-made note responses."""

from __future__ import annotations

from collections.abc import Callable
from datetime import time

from PySide6.QtCore import Qt, QTime
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QSlider,
    QSpinBox,
    QTimeEdit,
    QWidget,
)

from console.preferences import Preferences


class SettingsDialog(QDialog):
    def __init__(
        self,
        preferences: Preferences,
        *,
        server: str,
        user: str,
        test_sound: Callable[[str], None] | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self._base = preferences
        server_label = QLabel(server)
        server_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        server_label.setToolTip(
            "Start with --server URL, or `python main.py login --server URL`, to change it"
        )
        self.volume = QSlider(Qt.Orientation.Horizontal)
        self.volume.setRange(0, 100)
        self.volume.setValue(preferences.volume)
        self.muted = QCheckBox("Mute")
        self.muted.setChecked(preferences.muted)
        self.quiet = QCheckBox("Quiet hours for low priority")
        self.quiet.setChecked(preferences.quiet_from is not None and preferences.quiet_until is not None)
        self.quiet_from = QTimeEdit(_qtime(preferences.quiet_from or time(22, 0)))
        self.quiet_until = QTimeEdit(_qtime(preferences.quiet_until or time(7, 0)))
        for edit in (self.quiet_from, self.quiet_until):
            edit.setDisplayFormat("HH:mm")
            edit.setEnabled(self.quiet.isChecked())
            self.quiet.toggled.connect(edit.setEnabled)
        self.renotify = QSpinBox()
        self.renotify.setRange(0, 120)
        self.renotify.setSuffix(" min")
        self.renotify.setSpecialValueText("never")
        self.renotify.setValue(preferences.renotify_minutes)
        self.renotify.setToolTip("How often an unacknowledged high-priority notification comes back")
        self.responses = QPlainTextEdit("\n".join(preferences.responses))
        self.responses.setToolTip("One response a line; they are offered when you add a note (N)")

        sound = QHBoxLayout()
        sound.addWidget(self.volume)
        sound.addWidget(self.muted)
        self.test_buttons: dict[str, QPushButton] = {}
        for which, text in (("high", "Test high"), ("low", "Test low")):
            button = QPushButton(text)
            button.setToolTip(f"Play the {which}-priority sound once")
            button.setEnabled(test_sound is not None)
            if test_sound is not None:
                button.clicked.connect(lambda _checked=False, w=which: test_sound(w))
            sound.addWidget(button)
            self.test_buttons[which] = button
        hours = QHBoxLayout()
        hours.addWidget(self.quiet)
        hours.addWidget(self.quiet_from)
        hours.addWidget(QLabel("to"))
        hours.addWidget(self.quiet_until)
        form = QFormLayout(self)
        form.addRow("Server", server_label)
        form.addRow("Signed in as", QLabel(user))
        form.addRow("Sound volume", sound)
        form.addRow("", hours)
        form.addRow("Remind about high priority every", self.renotify)
        form.addRow("Note responses", self.responses)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def preferences(self) -> Preferences:
        """What the dialog holds now."""
        responses = tuple(line.strip() for line in self.responses.toPlainText().splitlines() if line.strip())
        quiet = self.quiet.isChecked()
        return Preferences(
            volume=self.volume.value(),
            muted=self.muted.isChecked(),
            quiet_from=_time(self.quiet_from.time()) if quiet else None,
            quiet_until=_time(self.quiet_until.time()) if quiet else None,
            responses=responses or self._base.responses,
            renotify_minutes=self.renotify.value(),
        )


def _qtime(value: time) -> QTime:
    return QTime(value.hour, value.minute)


def _time(value: QTime) -> time:
    return time(value.hour(), value.minute())
