"""Notify tests: the notification server stand-in's fixtures, and Qt offscreen for the tests that run
the D-Bus client on the qasync loop (like the UI's, DESIGN.md §8)."""

from __future__ import annotations

import os

from tests.notify.daemon import notification_daemon, start_daemon

__all__ = ["notification_daemon", "start_daemon"]  # fixtures

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("QT_API", "pyside6")  # qasync picks its binding from this
