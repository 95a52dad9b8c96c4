"""Qt tests run offscreen (DESIGN.md §8): no display needed, and Qt warnings fail the test."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("QT_API", "pyside6")  # qasync picks its binding from this
