"""Lines of a text being edited marked as having a problem, as the runbook and on-call editors show
the problems a parser found ("line 12: …")."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from PySide6.QtGui import QColor, QFontDatabase, QTextCursor, QTextFormat
from PySide6.QtWidgets import QListWidget, QListWidgetItem, QPlainTextEdit, QTextEdit

ERROR_LINE = QColor("#F6D2C0")  # a light vermillion behind a line with a problem; black text stays legible


def mark_lines(edit: QPlainTextEdit, lines: Iterable[int]) -> None:
    """Highlight these lines (1-based) across the editor's width; others lose their mark."""
    document = edit.document()
    marks = []
    for line in sorted(set(lines)):
        block = document.findBlockByNumber(line - 1)
        if not block.isValid():
            continue
        selection = QTextEdit.ExtraSelection()
        selection.format.setBackground(ERROR_LINE)
        selection.format.setProperty(QTextFormat.Property.FullWidthSelection, True)
        selection.cursor = QTextCursor(block)
        marks.append(selection)
    edit.setExtraSelections(marks)


def marked_lines(edit: QPlainTextEdit) -> list[int]:
    """The highlighted lines (1-based)."""
    return [selection.cursor.blockNumber() + 1 for selection in edit.extraSelections()]


def go_to_line(edit: QPlainTextEdit, line: int) -> None:
    """Put the cursor at the start of `line` (1-based), in view, and focus the editor."""
    edit.setTextCursor(QTextCursor(edit.document().findBlockByNumber(max(line - 1, 0))))
    edit.centerCursor()
    edit.setFocus()


def source_editor(accessible_name: str) -> QPlainTextEdit:
    """A text editor for a file's source (a runbook's Markdown, a team file): fixed-width, unwrapped,
    so line numbers in problems match what the person sees."""
    edit = QPlainTextEdit()
    edit.setAccessibleName(accessible_name)
    edit.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
    edit.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
    return edit


def problem_list(chosen: Callable[[QListWidgetItem], object]) -> QListWidget:
    """The list of a text's problems; choosing one calls `chosen` with its item."""
    found = QListWidget()
    found.setAccessibleName("Problems")
    found.itemActivated.connect(chosen)
    found.itemClicked.connect(chosen)
    return found
