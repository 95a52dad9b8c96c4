"""The runbook runner: one incident's runs, worked through step by step (works offline).

Every action goes through RunbookSource.act_on_run, which records an outbox op in the replica, so
a tick made without a network is kept and synced later. What each step shows comes from the
domain's step_states: done, who did it, notes, and the conflict flag that the add-wins merge leaves
when a tick and an untick crossed.

Widgets are kept per run and per step across refresh(), so a note being typed or the keyboard
focus survives the replica changing under it.

Step text is the runbook author's Markdown, rendered with raw HTML escaped (a runbook is shared
text, not a web page); links open only for http, https and mailto. Names, notes and reasons
people typed are shown as plain text.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime

from PySide6.QtCore import Qt, QTimer, QUrl, Signal
from PySide6.QtGui import QDesktopServices, QFont, QFontDatabase, QGuiApplication, QTextDocument
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QStyle,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from console.domain.errors import DomainError
from console.domain.runbook import (
    MAX_NOTE,
    MAX_REASON,
    Progress,
    Run,
    Runbook,
    RunOp,
    RunOpKind,
    Step,
    StepState,
    describe,
    is_stale,
    log,
    progress,
    step_states,
)
from console.domain.views import RunbookProgress
from console.ui.detail import local_time, plain_label, relative, when
from console.ui.incident_model import runbook_text
from console.ui.ports import RunbookSource

DEFAULT_MAX_AGE_DAYS = 180  # a runbook not reviewed in half a year is flagged as maybe out of date
NO_INCIDENT_TEXT = "Select an incident to see its runbooks"
NO_RUNS_TEXT = "No runbook on this incident"
SAFE_SCHEMES = ("http", "https", "mailto")
CONFLICT_MARK = "Conflict"
COPIED_MS = 1500  # how long "Copied ✓" shows on the button
_FEATURES = QTextDocument.MarkdownFeature.MarkdownDialectGitHub | QTextDocument.MarkdownFeature.MarkdownNoHTML


def _utcnow() -> datetime:
    return datetime.now(UTC)


def markdown_html(text: str, font: QFont) -> str:
    """Markdown as Qt rich text, with any raw HTML in it shown literally."""
    document = QTextDocument()
    document.setDefaultFont(font)
    document.setMarkdown(text, _FEATURES)
    return document.toHtml()


def plain_title(step: Step) -> str:
    """The step's title as a person reads it: its Markdown rendered, then taken as plain text."""
    document = QTextDocument()
    document.setMarkdown(step.title, _FEATURES)
    return document.toPlainText().strip() or step.title


def _plain_steps(runbook: Runbook) -> Runbook:
    """`runbook` with plain-text step titles, for describe(): the history is plain text, not Markdown."""
    return replace(runbook, steps=tuple(replace(step, text=plain_title(step)) for step in runbook.steps))


def _plain_label(text: str = "", *, wrap: bool = True) -> QLabel:
    return plain_label(text, wrap=wrap)  # step texts wrap by default


def _error_label() -> QLabel:
    label = _plain_label()
    label.setObjectName("runbookError")
    label.setStyleSheet("QLabel#runbookError { color: #B03A00; }")  # vermillion, darkened for contrast
    label.hide()
    return label


def progress_text(progresses: Sequence[Progress]) -> str:
    """What the incident row shows for these runs (the table's own text: incident_model.runbook_text):
    "3/7", "3/7 ⚠" with a conflict, "✓ 7/7" when all is done, "" without runs."""
    return runbook_text(RunbookProgress.of(progresses))


_CLAIM_VERBS = {RunOpKind.APPROVE: "Approved", RunOpKind.OVERRIDE: "Overridden"}


def conflict_lines(state: StepState, now: datetime) -> list[str]:
    """Why a step is flagged: each standing claim and the untick it crossed."""
    lines = []
    for untick in state.conflicts:
        for claim in state.claims:
            if claim.op_id in untick.observed or untick.op_id in claim.observed:
                continue
            verb = _CLAIM_VERBS.get(claim.kind, "Ticked")
            lines.append(
                f"{verb} by {claim.actor} ({local_time(claim.at, now)}) while {untick.actor} unticked it "
                f"({local_time(untick.at, now)}): kept done."
            )
    lines.append("Neither had seen the other. Confirm it done, or untick it, to settle it.")
    return lines


def _claim_line(claim: RunOp, now: datetime) -> str:
    at = f"{local_time(claim.at, now)} ({relative(claim.at, now)})"
    match claim.kind:
        case RunOpKind.APPROVE:
            return f"✓ approved by {claim.actor} as {claim.role}, {at}"
        case RunOpKind.OVERRIDE:
            return f"⚡ emergency override by {claim.actor}, {at}: {claim.text.strip()}"
        case _:
            return f"✓ ticked by {claim.actor}, {at}"


def _title_apart(text: str) -> str:
    """The step's first line as a paragraph of its own: it is the step's title (Step.title), which
    Markdown would otherwise run into the next line."""
    title, _, rest = text.partition("\n")
    return f"{title}\n\n{rest}" if rest.strip() else title


def _a(role: str) -> str:
    return f"{'an' if role[:1].lower() in 'aeiou' else 'a'} {role}"


class OverrideDialog(QDialog):
    """Ask for the reason of an emergency override; an empty reason is refused here, inline."""

    def __init__(self, step: Step, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Emergency override")
        who = _a(step.approval or "manager")
        intro = _plain_label(
            f"“{plain_title(step)}” needs approval by {who}. Override it only in an emergency: "
            "your reason goes on the incident's timeline for everyone to see."
        )
        self.reason = QPlainTextEdit()
        self.reason.setPlaceholderText("Why this cannot wait for approval")
        self.reason.setAccessibleName("Reason for the override")
        self.error = _error_label()
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.override_button = buttons.addButton("Override", QDialogButtonBox.ButtonRole.AcceptRole)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(self.reason)
        layout.addWidget(self.error)
        layout.addWidget(buttons)

    def text(self) -> str:
        return self.reason.toPlainText().strip()

    def accept(self) -> None:
        problem = None
        if not self.text():
            problem = "An emergency override needs a reason."
        elif len(self.text()) > MAX_REASON:
            problem = f"The reason is longer than {MAX_REASON} characters."
        if problem is not None:
            self.error.setText(problem)
            self.error.show()
            self.reason.setFocus()
            return
        super().accept()


def ask_override(step: Step, parent: QWidget | None) -> str | None:
    dialog = OverrideDialog(step, parent)
    return dialog.text() if dialog.exec() == QDialog.DialogCode.Accepted else None


class StepRow(QFrame):
    """One step: checkbox, text, link, command, approval, who did it, conflict mark, notes."""

    def __init__(self, runner: RunbookRunner, run: Run, step: Step, number: int) -> None:
        super().__init__()
        self.setObjectName("runbookStep")
        self._runner = runner
        self.run_id = run.id
        self.step = step

        self.checkbox = QCheckBox()
        self.checkbox.setAccessibleName(f"Done: {plain_title(step)}")
        self.checkbox.clicked.connect(self._clicked)
        self.number_label = QLabel(f"{number}.")
        self.text_label = QLabel()
        self.text_label.setTextFormat(Qt.TextFormat.RichText)
        self.text_label.setText(markdown_html(_title_apart(step.text), self.font()))
        self.text_label.setWordWrap(True)
        self.text_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextBrowserInteraction)
        self.text_label.setOpenExternalLinks(False)  # through _open, which refuses unsafe schemes
        self.text_label.linkActivated.connect(runner.open_link)
        self.conflict_icon = QLabel()
        size = self.style().pixelMetric(QStyle.PixelMetric.PM_SmallIconSize)
        icon = self.style().standardIcon(QStyle.StandardPixmap.SP_MessageBoxWarning)
        self.conflict_icon.setPixmap(icon.pixmap(size, size))
        self.conflict_label = QLabel(CONFLICT_MARK)
        self.conflict_label.setObjectName("conflictMark")
        self.conflict_label.setStyleSheet(
            "QLabel#conflictMark { background: #E69F00; color: #000000; padding: 1px 6px;"
            " border-radius: 3px; }"
        )
        self.confirm_button = QPushButton("Confirm done")
        self.confirm_button.setToolTip("Mark it done again, having seen both: clears the conflict")
        self.confirm_button.clicked.connect(self._confirm)

        details = QVBoxLayout()
        details.setContentsMargins(0, 0, 0, 0)
        self.link_button: QPushButton | None = None
        if step.link is not None:
            link = step.link
            self.link_button = QPushButton(f"↗ {link.text or link.href}")
            self.link_button.setToolTip(link.href)
            self.link_button.clicked.connect(lambda: runner.open_link(link.href))
            details.addLayout(_left(self.link_button))
        self.command_label: QLabel | None = None
        self.copy_button: QPushButton | None = None
        if step.command is not None:
            command = step.command
            self.command_label = _plain_label(command)
            self.command_label.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
            self.command_label.setFrameShape(QFrame.Shape.StyledPanel)
            self.command_label.setStyleSheet("QLabel { padding: 3px; }")
            self.copy_button = QPushButton("Copy")
            self.copy_button.setToolTip("Copy the command to the clipboard")
            self.copy_button.clicked.connect(lambda: self._copy(command))
            row = QHBoxLayout()
            row.addWidget(self.command_label, 1)
            row.addWidget(self.copy_button, 0, Qt.AlignmentFlag.AlignTop)
            details.addLayout(row)

        self.awaiting_label = _plain_label(f"◷ Awaiting approval by {_a(step.approval or '')}", wrap=False)
        self.approve_button = QPushButton("Approve")
        self.approve_button.clicked.connect(lambda: self._act(RunOpKind.APPROVE, role=runner.role))
        self.override_button = QPushButton("Emergency override…")
        self.override_button.clicked.connect(self._override)
        self.approval_row = QWidget()
        approval = QHBoxLayout(self.approval_row)
        approval.setContentsMargins(0, 0, 0, 0)
        for widget in (self.awaiting_label, self.approve_button, self.override_button):
            approval.addWidget(widget)
        approval.addStretch(1)
        details.addWidget(self.approval_row)

        self.who_label = _plain_label()
        self.notes_label = _plain_label()
        self.note_edit = QLineEdit()
        self.note_edit.setPlaceholderText("Add a note on this step…")
        self.note_edit.setAccessibleName(f"Note on {plain_title(step)}")
        self.note_edit.setMaxLength(MAX_NOTE)
        self.note_edit.returnPressed.connect(self._note)
        self.note_button = QPushButton("Add note")
        self.note_button.clicked.connect(self._note)
        self.error_label = _error_label()
        note_row = QHBoxLayout()
        note_row.addWidget(self.note_edit, 1)
        note_row.addWidget(self.note_button)
        for label in (self.who_label, self.notes_label):
            details.addWidget(label)
        details.addLayout(note_row)
        details.addWidget(self.error_label)

        mark = QHBoxLayout()
        mark.setContentsMargins(0, 0, 0, 0)
        mark.addWidget(self.conflict_icon)
        mark.addWidget(self.conflict_label)
        mark.addWidget(self.confirm_button)
        self.mark_box = QWidget()
        self.mark_box.setLayout(mark)

        grid = QGridLayout(self)
        grid.setContentsMargins(4, 4, 4, 4)
        top = Qt.AlignmentFlag.AlignTop
        grid.addWidget(self.checkbox, 0, 0, top)
        grid.addWidget(self.number_label, 0, 1, top)
        grid.addWidget(self.text_label, 0, 2, top)
        grid.addWidget(self.mark_box, 0, 3, top)
        grid.addLayout(details, 1, 2, 1, 2)
        grid.setColumnStretch(2, 1)

    # -- showing --

    def show_state(self, state: StepState, now: datetime) -> None:
        self.checkbox.setChecked(state.done)
        step = self.step
        if step.approval is not None and not state.done:
            self.checkbox.setEnabled(False)  # done only by approval or override, not a tick
            self.checkbox.setToolTip(f"Needs approval by {_a(step.approval)}")
        else:
            self.checkbox.setEnabled(True)
            self.checkbox.setToolTip("Untick" if state.done else "Tick when done")
        self.approval_row.setVisible(state.awaiting_approval)
        can_approve = step.approval is not None and self._runner.role.casefold() == step.approval.casefold()
        self.approve_button.setEnabled(can_approve)
        who = _a(step.approval or "")
        self.approve_button.setToolTip(
            f"Approve as {self._runner.role}" if can_approve else f"Only {who} can approve"
        )
        self.mark_box.setVisible(state.conflict)
        # a step that needs approval is confirmed by approving it again, which only its role can do
        self.confirm_button.setVisible(step.approval is None or can_approve)
        if state.conflict:
            tip = "\n".join(conflict_lines(state, now))
            self.conflict_label.setToolTip(tip)
            self.conflict_label.setAccessibleDescription(tip)
            self.conflict_icon.setToolTip(tip)
        self.who_label.setText("\n".join(_claim_line(claim, now) for claim in state.claims))
        self.who_label.setVisible(bool(state.claims))
        notes = [f"✎ {note.actor}, {when(note.at, now)}: {note.text.strip()}" for note in state.notes]
        self.notes_label.setText("\n".join(notes))
        self.notes_label.setVisible(bool(notes))

    # -- acting --

    def _clicked(self, checked: bool) -> None:
        self._act(RunOpKind.TICK if checked else RunOpKind.UNTICK)

    def _confirm(self) -> None:
        if self.step.approval is None:
            self._act(RunOpKind.TICK)
        else:
            self._act(RunOpKind.APPROVE, role=self._runner.role)

    def _act(self, kind: RunOpKind, *, role: str = "", text: str = "") -> bool:
        error = self._runner.act(self.run_id, kind, self.step.id, role=role, text=text)
        self.show_error(error)
        return error is None

    def show_error(self, error: str | None) -> None:
        self.error_label.setText(f"✕ {error}" if error else "")
        self.error_label.setVisible(bool(error))

    def _override(self) -> None:
        reason = self._runner.ask_override(self.step)
        if reason is not None:
            self._act(RunOpKind.OVERRIDE, text=reason)

    def _note(self) -> None:
        text = self.note_edit.text().strip()
        if not text:
            self.show_error("Write the note first.")
            return
        if self._act(RunOpKind.NOTE, text=text):
            self.note_edit.clear()

    def _copy(self, command: str) -> None:
        QGuiApplication.clipboard().setText(command)
        button = self.copy_button
        if button is not None:
            button.setText("Copied ✓")
            QTimer.singleShot(COPIED_MS, button, lambda: button.setText("Copy"))


def _left(widget: QWidget) -> QHBoxLayout:
    row = QHBoxLayout()
    row.addWidget(widget)
    row.addStretch(1)
    return row


class RunView(QFrame):
    """One run: a header (title, version, progress, stale warning), its steps, and its history."""

    def __init__(self, runner: RunbookRunner, run: Run) -> None:
        super().__init__()
        self.setObjectName("runbookRun")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.run = run
        runbook = run.runbook
        self._plain_runbook = _plain_steps(runbook)
        self.title_label = _plain_label(runbook.title)
        title_font = QFont(self.title_label.font())
        title_font.setBold(True)
        title_font.setPointSizeF(title_font.pointSizeF() * 1.15)
        self.title_label.setFont(title_font)
        self.version_label = _plain_label(f"version {runbook.version}", wrap=False)
        self.progress_label = _plain_label(wrap=False)
        self.progress_label.setObjectName("runProgress")
        self.progress_label.setFont(title_font)
        head = QHBoxLayout()
        head.addWidget(self.title_label, 1)
        head.addWidget(self.version_label)
        head.addWidget(self.progress_label)
        self.stale_label = _plain_label()
        self.stale_label.setObjectName("staleWarning")
        self.stale_label.setStyleSheet(
            "QLabel#staleWarning { background: #F0E442; color: #000000; padding: 3px 6px; }"
        )
        self.stale_label.hide()

        layout = QVBoxLayout(self)
        layout.addLayout(head)
        layout.addWidget(self.stale_label)
        if runbook.description:
            layout.addWidget(_markdown_label(runner, runbook.description))
        self.step_rows: dict[str, StepRow] = {}
        for number, step in enumerate(runbook.steps, 1):
            row = StepRow(runner, run, step, number)
            self.step_rows[step.id] = row
            layout.addWidget(row)
        if runbook.afterword:
            layout.addWidget(_markdown_label(runner, runbook.afterword))

        self.history_button = QToolButton()
        self.history_button.setCheckable(True)
        self.history_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.history_button.setArrowType(Qt.ArrowType.RightArrow)
        self.history_button.toggled.connect(self._history_toggled)
        self.history_label = _plain_label()
        self.history_label.hide()
        layout.addWidget(self.history_button)
        layout.addWidget(self.history_label)

    def show_run(self, run: Run, now: datetime, max_age_days: int) -> None:
        self.run = run
        done = progress(run)
        flagged = f"   ⚠ {done.conflicts} in conflict" if done.conflicts else ""
        self.progress_label.setText(f"{done} done{flagged}")
        self.progress_label.setAccessibleName(f"{done.done} of {done.total} steps done")
        runbook = run.runbook
        today = now.astimezone().date()
        stale = is_stale(runbook, today, max_age_days)
        if stale and runbook.last_reviewed is not None:
            age = (today - runbook.last_reviewed).days
            self.stale_label.setText(
                f"⚠ Last reviewed {runbook.last_reviewed.isoformat()}, {age} days ago: "
                "check each step still holds before you follow it."
            )
        self.stale_label.setVisible(stale)
        for state in step_states(run):
            self.step_rows[state.step.id].show_state(state, now)
        entries = log(run)
        plain = replace(run, runbook=self._plain_runbook)
        self.history_button.setText(f"History ({len(entries)})")
        self.history_label.setText(
            "\n".join(f"{local_time(op.at, now)} · {describe(plain, op)}" for op in reversed(entries))
            or "Nothing done yet."
        )

    def _history_toggled(self, shown: bool) -> None:
        self.history_button.setArrowType(Qt.ArrowType.DownArrow if shown else Qt.ArrowType.RightArrow)
        self.history_label.setVisible(shown)


def _markdown_label(runner: RunbookRunner, text: str) -> QLabel:
    label = QLabel()
    label.setTextFormat(Qt.TextFormat.RichText)
    label.setText(markdown_html(text, label.font()))
    label.setWordWrap(True)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextBrowserInteraction)
    label.setOpenExternalLinks(False)
    label.linkActivated.connect(runner.open_link)
    return label


class RunbookRunner(QWidget):
    """The runs of one incident. `role` is the person's role (who may approve); `now` gives the
    current time (aware) for "3 min ago" and the stale check; tests hand in a fixed one."""

    acted = Signal()  # an op was recorded: push soon, and refresh the incident row's progress

    def __init__(
        self,
        source: RunbookSource,
        *,
        role: str,
        now: Callable[[], datetime] = _utcnow,
        max_age_days: int = DEFAULT_MAX_AGE_DAYS,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._source = source
        self.role = role
        self._now = now
        self._max_age_days = max_age_days
        self.incident_id: str | None = None
        self.run_views: dict[str, RunView] = {}
        # Tests answer the override dialog and catch opened links through these.
        self.ask_override: Callable[[Step], str | None] = lambda step: ask_override(step, self)
        self.open_url: Callable[[QUrl], object] = QDesktopServices.openUrl

        self.empty_label = _plain_label(NO_INCIDENT_TEXT)
        self.empty_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.error_label = _error_label()  # for what is not about one step (a refused link)
        self._runs_box = QWidget()
        self._runs_layout = QVBoxLayout(self._runs_box)
        self._runs_layout.setContentsMargins(0, 0, 0, 0)
        self._runs_layout.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(self._runs_box)
        self.scroll_area = scroll
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.empty_label)
        layout.addWidget(self.error_label)
        layout.addWidget(scroll, 1)
        self.show_incident(None)

    # -- showing --

    def show_incident(self, incident_id: str | None) -> None:
        """Show the runs of `incident_id` (None: nothing selected). Cheap when it is the same one."""
        if incident_id != self.incident_id:
            self.incident_id = incident_id
            self._clear()
            self.error_label.hide()
        self.refresh()

    def refresh(self) -> None:
        """Read the runs again from the source and show them, keeping widgets (and typed notes)."""
        if self.incident_id is None:
            self._show_empty(NO_INCIDENT_TEXT)
            return
        runs = self._source.runs(self.incident_id)
        if not runs:
            self._clear()
            self._show_empty(NO_RUNS_TEXT)
            return
        now = self._now()
        wanted = [run.id for run in runs]
        for run_id in [key for key in self.run_views if key not in wanted]:
            self._drop(run_id)
        self.setUpdatesEnabled(False)
        try:
            for index, run in enumerate(runs):
                view = self.run_views.get(run.id)
                if view is None or view.run.runbook != run.runbook:
                    if view is not None:
                        self._drop(run.id)
                    view = self.run_views[run.id] = RunView(self, run)
                self._runs_layout.removeWidget(view)
                self._runs_layout.insertWidget(index, view)
                view.show_run(run, now, self._max_age_days)
        finally:
            self.setUpdatesEnabled(True)
        self.empty_label.hide()
        self.scroll_area.show()

    def progresses(self) -> list[Progress]:
        """Each shown run's progress, for a caller that shows a summary (progress_text)."""
        return [progress(view.run) for view in self.run_views.values()]

    def _show_empty(self, text: str) -> None:
        self.empty_label.setText(text)
        self.empty_label.show()
        self.scroll_area.hide()

    def _clear(self) -> None:
        for run_id in list(self.run_views):
            self._drop(run_id)

    def _drop(self, run_id: str) -> None:
        view = self.run_views.pop(run_id)
        self._runs_layout.removeWidget(view)
        view.deleteLater()

    # -- acting --

    def act(
        self, run_id: str, kind: RunOpKind, step_id: str, *, role: str = "", text: str = ""
    ) -> str | None:
        """Record an op through the source; the reason it was refused, or None. Refreshes either way,
        so a step changed by another console since the last read shows as it is now."""
        try:
            self._source.act_on_run(run_id, kind, step_id, role=role, text=text)
        except DomainError as exc:
            self.refresh()
            return str(exc)
        self.refresh()
        self.acted.emit()
        return None

    def open_link(self, href: str) -> None:
        url = QUrl(href)
        if not url.isValid() or url.scheme().lower() not in SAFE_SCHEMES:
            self.error_label.setText(f"✕ Not opened: {href} (only http, https and mailto links open here)")
            self.error_label.show()
            return
        self.error_label.hide()
        self.open_url(url)

    # -- for tests and callers --

    def step_row(self, step_id: str, run_id: str | None = None) -> StepRow:
        """The row of `step_id` in `run_id` (or in the first run that has it)."""
        views = [self.run_views[run_id]] if run_id is not None else list(self.run_views.values())
        return next(view.step_rows[step_id] for view in views if step_id in view.step_rows)
