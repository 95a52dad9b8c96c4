"""The editor of schedules and escalation policies, for managers and admins: the team's on-call
configuration as the text of a team file (console/config_file.py), checked as it is typed, with
what saving would change shown before saving. It looks and behaves like the runbook editor.

Why text rather than a form: the team file is the form teams already keep in git and apply with
`admin apply`; every problem the parser finds names its line (shown inline and highlighted); and a
schedule's layers, restrictions and a policy's levels would otherwise need nested forms.

What the console may change is narrower than the file (console.config_export): schedules, escalation
policies, and each service's policy and acknowledgement timeout. Users are listed for reference only,
and overrides stay in the On call view. Saving hands the text and the fingerprint of the
configuration it started from to `save` (an outbox op); the server refuses it if someone changed the
schedules meanwhile.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QDialog,
    QHBoxLayout,
    QLabel,
    QListWidgetItem,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from console.config_export import (
    config_fingerprint,
    console_edit_problems,
    console_merge,
    export_team,
    without_overrides,
)
from console.config_file import Change, ConfigError, Problem, TeamConfig, describe, diff, parse
from console.domain.errors import DomainError
from console.ui.line_marks import go_to_line, mark_lines, marked_lines, problem_list, source_editor

EDITOR_ROLES = frozenset({"manager", "admin"})
NOT_ALLOWED_TEXT = (
    "Only a manager or an admin can edit schedules and escalation policies; you can read them here."
)
NO_PREVIEW = "Mend the problems listed above to see what saving would change."
_SOURCE = "<editor>"

_HEADER = """\
# Schedules, escalation policies and each service's policy, as a team file (the layout is described
# in console/config_file.py). Saving sends the whole text; the server applies it at the next sync.
# Overrides are made in the On call view: saving here keeps them.
"""
_SERVICES_NOTE = """\
# Each service's escalation policy and acknowledgement timeout can be changed here. Services are
# added with `admin apply`; one left out of this text keeps what it has.
"""
_USERS_NOTE = """\
# People, for the schedules and policies to name: they are added and changed with admin commands.
"""


def can_edit(role: str) -> bool:
    """Whether a person of `role` may edit schedules and policies (others may read them)."""
    return role.casefold() in EDITOR_ROLES


def editor_text(current: TeamConfig) -> str:
    """What the editor opens with: schedules and policies first (what people come to change),
    services next, the users last, each kind with a note on what may change."""
    shown = without_overrides(current)
    return "\n".join(
        [
            _HEADER,
            export_team(shown, only={"schedules", "escalation_policies"}),
            _SERVICES_NOTE + export_team(shown, only={"services"}),
            _USERS_NOTE + export_team(shown, only={"users"}),
        ]
    )


def _fitted(frame: int, row: int, rows: int, most: int) -> int:
    """The height of a list showing `rows` rows of `row` pixels (at most `most`, then it scrolls)."""
    return 2 * frame + row * min(rows, most) + 4


class OnCallEditor(QDialog):
    """The text on top, its problems below it, then what saving would change, then the buttons."""

    saved = Signal()  # an edit was handed to `save`: push soon

    def __init__(
        self,
        current: TeamConfig,
        *,
        role: str,
        save: Callable[[str, str], object],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Schedules and escalation policies")
        self._save = save
        self.allowed = can_edit(role)
        self.current = without_overrides(current)
        self.base = config_fingerprint(self.current)
        self.problems: list[Problem] = []
        self.changes: list[Change] = []

        self.notice = QLabel(NOT_ALLOWED_TEXT)
        self.notice.setWordWrap(True)
        self.notice.setVisible(not self.allowed)
        self.text_edit = source_editor("Schedules and escalation policies as a team file")
        self.text_edit.textChanged.connect(self.validate)
        self.problem_list = problem_list(self._problem_chosen)
        self.changes_label = QLabel("What saving would change:")
        self.changes_view = QPlainTextEdit()
        self.changes_view.setAccessibleName("What saving would change")
        self.changes_view.setReadOnly(True)
        self.status_label = QLabel()
        self.status_label.setTextFormat(Qt.TextFormat.PlainText)
        self.status_label.setWordWrap(True)
        self.reset_button = QPushButton("Start over")
        self.reset_button.setToolTip("Drop your changes: show the schedules and policies as they are")
        self.reset_button.setAutoDefault(False)
        self.reset_button.clicked.connect(self.reset)
        self.save_button = QPushButton("Save")
        self.save_button.setAutoDefault(False)  # Enter in the text is a new line, never a save
        self.save_button.clicked.connect(self.save)
        self.close_button = QPushButton("Close")
        self.close_button.setAutoDefault(False)  # (a dialog's buttons are auto-default otherwise)
        self.close_button.clicked.connect(self.close)
        buttons = QHBoxLayout()
        buttons.addWidget(self.status_label, 1)
        buttons.addWidget(self.reset_button)
        buttons.addWidget(self.save_button)
        buttons.addWidget(self.close_button)

        layout = QVBoxLayout(self)
        layout.addWidget(self.notice)
        layout.addWidget(self.text_edit, 1)
        layout.addWidget(self.problem_list)
        layout.addWidget(self.changes_label)
        layout.addWidget(self.changes_view)
        layout.addLayout(buttons)

        for widget in (self.reset_button, self.save_button):
            widget.setEnabled(self.allowed)
        self.text_edit.setReadOnly(not self.allowed)
        self.resize(820, 720)
        self.reset()

    # -- opening --

    def open_config(self, current: TeamConfig) -> None:
        """Start again from `current` (the replica after a sync, as when the server refused a save
        because someone changed the schedules meanwhile)."""
        self.current = without_overrides(current)
        self.base = config_fingerprint(self.current)
        self.reset()

    def reset(self) -> None:
        self.text_edit.setPlainText(editor_text(self.current))  # validates, through textChanged
        self.status_label.setText("")

    # -- checking --

    def validate(self) -> TeamConfig | None:
        """Parse the text; show and highlight the problems, and what saving would change. The
        configuration the server would then have, or None."""
        text = self.text_edit.toPlainText()
        try:
            edited = parse(text, _SOURCE)
        except ConfigError as exc:
            self._show_problems(exc.problems)
            self._show_changes(None)
            return None
        problems = console_edit_problems(self.current, edited, text, _SOURCE)
        self._show_problems(problems)
        if problems:
            self._show_changes(None)
            return None
        merged = console_merge(self.current, edited)
        self._show_changes(diff(self.current, merged))
        return merged

    def _show_problems(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        self.problem_list.clear()
        for problem in problems:
            item = QListWidgetItem(f"✕ line {problem.line}: {problem.message}")
            item.setData(Qt.ItemDataRole.UserRole, problem.line)
            item.setToolTip(problem.message)
            self.problem_list.addItem(item)
        self.problem_list.setVisible(bool(problems))
        row = max(self.problem_list.sizeHintForRow(0), self.problem_list.fontMetrics().height())
        self.problem_list.setFixedHeight(_fitted(self.problem_list.frameWidth(), row, len(problems), 5))
        mark_lines(self.text_edit, (problem.line for problem in problems))

    def _show_changes(self, changes: list[Change] | None) -> None:
        self.changes = changes or []
        text = NO_PREVIEW if changes is None else describe(changes)
        self.changes_view.setPlainText(text)
        line = self.changes_view.fontMetrics().lineSpacing()
        # as tall as its lines, from 2 to 6 (the rest scrolls): the text above keeps the room
        self.changes_view.setFixedHeight(
            _fitted(self.changes_view.frameWidth(), line, max(text.count("\n") + 1, 2), 6) + 8
        )

    def error_lines(self) -> list[int]:
        """The highlighted lines (1-based), for tests."""
        return marked_lines(self.text_edit)

    def _problem_chosen(self, item: QListWidgetItem) -> None:
        self.go_to_line(int(item.data(Qt.ItemDataRole.UserRole)))

    def go_to_line(self, line: int) -> None:
        go_to_line(self.text_edit, line)

    # -- acting --

    def save(self) -> bool:
        """Hand the text and the base to `save`; False with the reason shown inline."""
        if not self.allowed:
            self.status_label.setText(NOT_ALLOWED_TEXT)
            return False
        merged = self.validate()
        if merged is None:
            self.status_label.setText("Not saved: mend the problems listed above.")
            return False
        if not self.changes:
            self.status_label.setText("Nothing to save: the text says what the schedules say already.")
            return False
        count = len(self.changes)
        try:
            self._save(self.text_edit.toPlainText(), self.base)
        except DomainError as exc:
            self.status_label.setText(f"✕ Not saved: {exc}")
            return False
        # What the server will have once it applies this: the next save builds on it, not on the
        # configuration this one replaced (which the server would call someone else's change).
        self.current = without_overrides(merged)
        self.base = config_fingerprint(self.current)
        self.validate()
        self.status_label.setText(
            f"Saved {count} change{'s' if count != 1 else ''}: the server applies "
            f"{'them' if count != 1 else 'it'} at the next sync."
        )
        self.saved.emit()
        return True
