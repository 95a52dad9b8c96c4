"""The runbook editor, for managers: a runbook is edited as the Markdown text of its file
(console/runbook_files.py), the form teams keep in git, and saved through RunbookSource.

Why text rather than a form: the file format already says everything a runbook holds (front matter,
prose, `- [ ]` steps with `{#id}` and `(approval: role)`), a manager can paste a runbook from the
team's repository or copy one out, and every problem the parser finds names its line, which is
shown inline and highlighted. A form would restate the format's rules and still need a text field
per step.

The editor prepares the next version: opening version 4 shows the text as version 5, and saving
refuses a version that does not go above the saved one (runs keep the version they started with).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import date

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QTextCursor
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from console.domain.errors import DomainError
from console.domain.runbook import Runbook
from console.runbook_files import Problem, RunbookFileError, export, parse
from console.ui.line_marks import go_to_line, mark_lines, marked_lines, problem_list, source_editor
from console.ui.ports import RunbookSource

EDITOR_ROLES = frozenset({"manager"})
NOT_ALLOWED_TEXT = "Only a manager can edit runbooks."
_SOURCE = "<editor>"


def can_edit(role: str) -> bool:
    """Whether a person of `role` may edit runbooks (the window hides the editor otherwise)."""
    return role.casefold() in EDITOR_ROLES


def new_runbook_text(today: date) -> str:
    """A starting point for a new runbook: every part of the format, once."""
    return (
        "---\n"
        "id: new-runbook\n"
        'title: "service: what went wrong"\n'
        "version: 1\n"
        f"last_reviewed: {today.isoformat()}\n"
        "applies_to:\n"
        "  service: checkout-api\n"
        "  match:\n"
        '    - alertname=~"Checkout.*"\n'
        "---\n"
        "\n"
        "When this runbook applies, and what to know first.\n"
        "\n"
        "- [ ] Open the dashboard {#dashboard}\n"
        "  [Dashboard](https://grafana.example.com/d/example)\n"
        "- [ ] Roll back the last deploy (approval: manager) {#rollback}\n"
        "  `kubectl rollout undo deploy/example`\n"
    )


def _front_line(text: str, key: str) -> int:
    """The line of `key:` in the front matter (1 when it cannot be found), for a problem to point at."""
    lines = text.split("\n")
    for number, line in enumerate(lines[1:], 2):
        if line.rstrip() in ("---", "..."):
            break
        if re.match(rf"{key}\s*:", line):
            return number
    return 1


@dataclass(frozen=True, slots=True)
class Opened:
    """What the editor holds: the saved runbook it started from (None for a new one)."""

    saved: Runbook | None


class RunbookEditor(QWidget):
    """Runbooks listed on the left, the chosen one's Markdown on the right, problems below it."""

    saved = Signal(str)  # a runbook was saved (its id): push soon, and show it in the runner's lists

    def __init__(
        self,
        source: RunbookSource,
        *,
        role: str,
        today: Callable[[], date] = date.today,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._source = source
        self._today = today
        self.allowed = can_edit(role)
        self.opened = Opened(None)
        self.problems: list[Problem] = []

        self.notice = QLabel(NOT_ALLOWED_TEXT)
        self.notice.setVisible(not self.allowed)
        self.runbook_list = QListWidget()
        self.runbook_list.setAccessibleName("Runbooks")
        self.runbook_list.itemActivated.connect(self._item_chosen)
        self.runbook_list.itemClicked.connect(self._item_chosen)
        self.new_button = QPushButton("New runbook")
        self.new_button.clicked.connect(self.new_runbook)
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(self.runbook_list)
        left_layout.addWidget(self.new_button)

        self.info_label = QLabel()
        self.info_label.setWordWrap(True)
        self.text_edit = source_editor("Runbook as Markdown")
        self.text_edit.textChanged.connect(self.validate)
        self.problem_list = problem_list(self._problem_chosen)
        self.problem_list.setMaximumHeight(120)
        self.reviewed_button = QPushButton("Reviewed today")
        self.reviewed_button.setToolTip(
            "Set last_reviewed to today's date: you checked every step still holds"
        )
        self.reviewed_button.clicked.connect(self.mark_reviewed)
        self.status_label = QLabel()
        self.status_label.setTextFormat(Qt.TextFormat.PlainText)
        self.status_label.setWordWrap(True)
        self.save_button = QPushButton("Save")
        self.save_button.clicked.connect(self.save)
        buttons = QHBoxLayout()
        buttons.addWidget(self.reviewed_button)
        buttons.addWidget(self.status_label, 1)
        buttons.addWidget(self.save_button)
        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        right_layout.addWidget(self.info_label)
        right_layout.addWidget(self.text_edit, 1)
        right_layout.addWidget(self.problem_list)
        right_layout.addLayout(buttons)

        split = QSplitter()
        split.addWidget(left)
        split.addWidget(right)
        split.setStretchFactor(1, 3)
        layout = QVBoxLayout(self)
        layout.addWidget(self.notice)
        layout.addWidget(split, 1)

        for widget in (self.new_button, self.reviewed_button, self.save_button):
            widget.setEnabled(self.allowed)
        self.text_edit.setReadOnly(not self.allowed)
        self.refresh()
        if self.allowed:
            self.new_runbook()

    # -- the list --

    def refresh(self) -> None:
        """Read the runbooks again (a manager elsewhere may have saved one)."""
        self.runbook_list.clear()
        for runbook in sorted(self._source.runbooks(), key=lambda each: each.title.casefold()):
            item = QListWidgetItem(f"{runbook.title}\n{runbook.id} · version {runbook.version}")
            item.setData(Qt.ItemDataRole.UserRole, runbook.id)
            self.runbook_list.addItem(item)

    def _saved(self, runbook_id: str) -> Runbook | None:
        return next((each for each in self._source.runbooks() if each.id == runbook_id), None)

    def _item_chosen(self, item: QListWidgetItem) -> None:
        runbook = self._saved(str(item.data(Qt.ItemDataRole.UserRole)))
        if runbook is not None:
            self.open_runbook(runbook)

    # -- opening --

    def new_runbook(self) -> None:
        self.opened = Opened(None)
        self.info_label.setText("A new runbook: give it an id of its own.")
        self._set_text(new_runbook_text(self._today()))

    def open_runbook(self, runbook: Runbook) -> None:
        """Show `runbook` as the text of its next version."""
        try:
            text = export(replace(runbook, version=runbook.version + 1))
        except ValueError as exc:  # made from an alert's runbook_url: its content lives elsewhere
            self.opened = Opened(None)
            self.info_label.setText(f"“{runbook.title}” cannot be edited here: {exc}")
            self._set_text("")
            return
        self.opened = Opened(runbook)
        self.info_label.setText(
            f"Editing “{runbook.title}”: saving makes version {runbook.version + 1}. "
            "Runs already started keep the version they started with."
        )
        self._set_text(text)

    def _set_text(self, text: str) -> None:
        self.text_edit.setPlainText(text)  # validates, through textChanged
        self.status_label.setText("")

    # -- checking --

    def validate(self) -> Runbook | None:
        """Parse the text; show and highlight the problems. The runbook, or None."""
        text = self.text_edit.toPlainText()
        try:
            runbook: Runbook | None = parse(text, _SOURCE)
        except RunbookFileError as exc:
            runbook = None
            self._show_problems(list(exc.problems))
        else:
            self._show_problems([])
        return runbook

    def _show_problems(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        self.problem_list.clear()
        for problem in problems:
            item = QListWidgetItem(f"✕ line {problem.line}: {problem.message}")
            item.setData(Qt.ItemDataRole.UserRole, problem.line)
            self.problem_list.addItem(item)
        self.problem_list.setVisible(bool(problems))
        mark_lines(self.text_edit, (problem.line for problem in problems))

    def error_lines(self) -> list[int]:
        """The highlighted lines (1-based), for tests."""
        return marked_lines(self.text_edit)

    def _problem_chosen(self, item: QListWidgetItem) -> None:
        self.go_to_line(int(item.data(Qt.ItemDataRole.UserRole)))

    def go_to_line(self, line: int) -> None:
        go_to_line(self.text_edit, line)

    def _against_saved(self, runbook: Runbook, text: str) -> Problem | None:
        """What the saved runbooks say against saving `runbook`: a reused id, a version not raised."""
        saved = self._saved(runbook.id)
        if saved is None:
            return None
        opened = self.opened.saved
        if opened is None or opened.id != runbook.id:
            return Problem(
                _SOURCE,
                _front_line(text, "id"),
                f"id: {runbook.id!r} is already the id of “{saved.title}”; "
                "choose another, or open that runbook to edit it",
            )
        if runbook.version <= saved.version:
            return Problem(
                _SOURCE,
                _front_line(text, "version"),
                f"version: {saved.version} is saved already; raise it to {saved.version + 1}",
            )
        if replace(runbook, version=saved.version) == saved:
            return Problem(_SOURCE, 1, f"nothing to save: no change since version {saved.version}")
        return None

    # -- acting --

    def save(self) -> bool:
        """Save the text as a runbook through the source; False with the reason shown inline."""
        if not self.allowed:
            self.status_label.setText(NOT_ALLOWED_TEXT)
            return False
        runbook = self.validate()
        if runbook is None:
            self.status_label.setText("Not saved: mend the problems listed above.")
            return False
        text = self.text_edit.toPlainText()
        problem = self._against_saved(runbook, text)
        if problem is not None:
            self._show_problems([problem])
            self.status_label.setText("Not saved.")
            return False
        try:
            self._source.save_runbook(runbook)
        except DomainError as exc:
            self.status_label.setText(f"✕ Not saved: {exc}")
            return False
        self.refresh()
        self.open_runbook(runbook)
        self.status_label.setText(
            f"Saved version {runbook.version} of {runbook.id}; other consoles get it at the next sync."
        )
        self.saved.emit(runbook.id)
        return True

    def mark_reviewed(self) -> None:
        """Set last_reviewed in the text to today: an edit through a cursor, so Ctrl+Z takes it back."""
        text = self.text_edit.toPlainText()
        stamp = f"last_reviewed: {self._today().isoformat()}"
        document = self.text_edit.document()
        line = _front_line(text, "last_reviewed")
        if line > 1:
            cursor = QTextCursor(document.findBlockByNumber(line - 1))
            cursor.movePosition(QTextCursor.MoveOperation.EndOfBlock, QTextCursor.MoveMode.KeepAnchor)
            cursor.insertText(stamp)
        elif text.startswith("---"):  # missing: add it under the opening line
            cursor = QTextCursor(document.findBlockByNumber(0))
            cursor.movePosition(QTextCursor.MoveOperation.EndOfBlock)
            cursor.insertText(f"\n{stamp}")
