"""The Qt binding must not leak references to None: PySide6 6.12.0 dropped one on every call of a
Qt method returning nothing, and on Python 3.11 the console died after a few thousand such calls."""

from __future__ import annotations

import sys

from PySide6.QtWidgets import QLabel
from pytestqt.qtbot import QtBot


def test_calls_returning_nothing_keep_none_alive(qtbot: QtBot) -> None:
    label = QLabel()
    qtbot.addWidget(label)
    before = sys.getrefcount(None)
    for n in range(2_000):
        label.setText(str(n))
        label.setObjectName("x")
    assert abs(sys.getrefcount(None) - before) < 100  # 4,000 calls: a leak would show thousands
