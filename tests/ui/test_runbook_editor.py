"""The runbook editor: managers only; Markdown text checked as it is typed, problems shown with
their line and highlighted; saving makes a new version through the source, and refuses a reused
id, a version not raised, an unchanged runbook and what the source refuses."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest
from PySide6.QtWidgets import QListWidgetItem
from pytestqt.qtbot import QtBot

from console.domain.runbook import runbook_from_annotation
from console.runbook_files import export, parse
from console.ui.line_marks import ERROR_LINE
from console.ui.runbook_editor import NOT_ALLOWED_TEXT, RunbookEditor, can_edit, new_runbook_text
from tests.ui.runbook_fakes import RUNBOOK, FakeRunbooks

TODAY = date(2026, 11, 27)


def make_editor(qtbot: QtBot, source: FakeRunbooks, role: str = "manager") -> RunbookEditor:
    editor = RunbookEditor(source, role=role, today=lambda: TODAY)
    qtbot.addWidget(editor)
    return editor


@pytest.fixture
def source() -> FakeRunbooks:
    return FakeRunbooks(actor="jordan", runbooks=[RUNBOOK])


@pytest.fixture
def editor(qtbot: QtBot, source: FakeRunbooks) -> RunbookEditor:
    return make_editor(qtbot, source)


def set_text(editor: RunbookEditor, text: str) -> None:
    editor.text_edit.setPlainText(text)


def test_only_a_manager_may_edit(qtbot: QtBot, source: FakeRunbooks) -> None:
    assert can_edit("manager")
    assert can_edit("Manager")
    assert not can_edit("responder")
    editor = make_editor(qtbot, source, role="responder")
    assert editor.notice.text() == NOT_ALLOWED_TEXT
    assert editor.notice.isVisibleTo(editor)
    assert editor.text_edit.isReadOnly()
    assert not editor.save_button.isEnabled()
    assert not editor.new_button.isEnabled()
    editor.open_runbook(RUNBOOK)
    assert not editor.save()
    assert source.saved == []


def test_the_list_shows_the_runbooks_and_opening_one_prepares_its_next_version(
    editor: RunbookEditor,
) -> None:
    assert editor.runbook_list.count() == 1
    item = editor.runbook_list.item(0)
    assert item.text() == "checkout-api: high error rate\ncheckout-errors · version 3"
    editor.runbook_list.itemClicked.emit(item)
    assert parse(editor.text_edit.toPlainText()) == replace(RUNBOOK, version=4)
    assert "saving makes version 4" in editor.info_label.text()
    assert editor.problems == []
    assert editor.problem_list.isHidden()


def test_an_edit_is_saved_as_a_new_version(qtbot: QtBot, editor: RunbookEditor, source: FakeRunbooks) -> None:
    editor.open_runbook(RUNBOOK)
    set_text(editor, editor.text_edit.toPlainText().replace("Check recent deploys", "Check the last deploys"))
    with qtbot.waitSignal(editor.saved, timeout=1000) as signal:
        assert editor.save()
    assert signal.args == ["checkout-errors"]
    assert [runbook.version for runbook in source.saved] == [4]
    assert source.saved[0].step("deploys") is not None
    assert source.saved[0].steps[1].text == "Check the last deploys"
    assert [op.type for op in source.outbox] == ["runbook.save"]
    assert editor.status_label.text().startswith("Saved version 4 of checkout-errors")
    assert editor.runbook_list.item(0).text().endswith("version 4")
    assert "saving makes version 5" in editor.info_label.text()  # ready for the next edit


def test_problems_show_their_line_are_highlighted_and_block_saving(
    editor: RunbookEditor, source: FakeRunbooks
) -> None:
    editor.open_runbook(RUNBOOK)
    lines = editor.text_edit.toPlainText().split("\n")
    version_line = lines.index("version: 4") + 1
    lines[version_line - 1] = "version: four"
    set_text(editor, "\n".join(lines))
    assert [item.text() for item in _items(editor)] == [
        f"✕ line {version_line}: version: must be a whole number, 1 or more"
    ]
    assert editor.problem_list.isVisibleTo(editor)
    assert editor.error_lines() == [version_line]
    assert editor.text_edit.extraSelections()[0].format.background().color() == ERROR_LINE
    assert not editor.save()
    assert editor.status_label.text() == "Not saved: mend the problems listed above."
    assert source.saved == []


def test_a_step_problem_names_the_steps_line_and_a_click_goes_there(editor: RunbookEditor) -> None:
    text = new_runbook_text(TODAY) + "- [ ] \n"
    set_text(editor, text)
    line = len(text.split("\n")) - 1
    assert {problem.line for problem in editor.problems} == {line}
    assert "a step without text: write what to do after the [ ]" in [p.message for p in editor.problems]
    assert editor.error_lines() == [line]  # one highlight, however many problems the line has
    editor.problem_list.itemClicked.emit(editor.problem_list.item(0))
    assert editor.text_edit.textCursor().blockNumber() + 1 == line


def test_the_problems_clear_when_the_text_is_mended(editor: RunbookEditor) -> None:
    set_text(editor, "no front matter")
    assert editor.error_lines() == [1]
    set_text(editor, new_runbook_text(TODAY))
    assert editor.problems == []
    assert editor.error_lines() == []
    assert editor.problem_list.isHidden()


def test_a_version_not_raised_is_refused_at_its_line(editor: RunbookEditor, source: FakeRunbooks) -> None:
    editor.open_runbook(RUNBOOK)
    text = editor.text_edit.toPlainText().replace("version: 4", "version: 3").replace("deploys", "deploy")
    set_text(editor, text)
    assert not editor.save()
    assert [(p.line, p.message) for p in editor.problems] == [
        (text.split("\n").index("version: 3") + 1, "version: 3 is saved already; raise it to 4")
    ]
    assert source.saved == []


def test_an_unchanged_runbook_is_not_saved_again(editor: RunbookEditor, source: FakeRunbooks) -> None:
    editor.open_runbook(RUNBOOK)
    assert not editor.save()
    assert editor.problems[0].message == "nothing to save: no change since version 3"
    assert source.saved == []


def test_a_new_runbook_saves_as_version_1_and_cannot_take_an_existing_id(
    editor: RunbookEditor, source: FakeRunbooks
) -> None:
    editor.new_button.click()
    assert editor.problems == []  # the template is a valid runbook
    text = editor.text_edit.toPlainText().replace("id: new-runbook", "id: checkout-errors")
    set_text(editor, text)
    assert not editor.save()
    assert editor.problems[0].line == 2
    assert "already the id of “checkout-api: high error rate”" in editor.problems[0].message

    set_text(editor, text.replace("id: checkout-errors", "id: disk-full"))
    assert editor.save()
    assert [(runbook.id, runbook.version) for runbook in source.saved] == [("disk-full", 1)]
    assert editor.runbook_list.count() == 2


def test_what_the_source_refuses_is_shown_inline(editor: RunbookEditor, source: FakeRunbooks) -> None:
    source.refuse_save = "runbooks: only a manager can save one"
    editor.new_runbook()
    assert not editor.save()
    assert editor.status_label.text() == "✕ Not saved: runbooks: only a manager can save one"


def test_reviewed_today_sets_the_date_and_can_be_undone(editor: RunbookEditor) -> None:
    editor.open_runbook(RUNBOOK)
    before = editor.text_edit.toPlainText()
    editor.reviewed_button.click()
    assert parse(editor.text_edit.toPlainText()).last_reviewed == TODAY
    editor.text_edit.undo()
    assert editor.text_edit.toPlainText() == before


def test_a_runbook_made_from_a_link_cannot_be_edited(editor: RunbookEditor) -> None:
    linked = runbook_from_annotation("https://runbooks.example.net/checkout")
    with pytest.raises(ValueError, match="last_reviewed"):
        export(linked)
    editor.open_runbook(linked)
    assert "cannot be edited here" in editor.info_label.text()
    assert editor.text_edit.toPlainText() == ""


def _items(editor: RunbookEditor) -> list[QListWidgetItem]:
    return [editor.problem_list.item(row) for row in range(editor.problem_list.count())]
