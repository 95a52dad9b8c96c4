"""The editor of schedules and escalation policies: managers and admins only (others read, and see
why); the text checked as it is typed, each problem with its line, highlighted, a click away; what
saving would change shown before saving; saving hands the text and the base fingerprint to `save`,
and shows what it refuses inline."""

from __future__ import annotations

from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from console.config_export import config_fingerprint, without_overrides
from console.config_file import TeamConfig, load, parse
from console.domain.errors import DomainError
from console.ui.oncall_editor import NO_PREVIEW, NOT_ALLOWED_TEXT, OnCallEditor, can_edit, editor_text

EXAMPLE = Path(__file__).resolve().parents[2] / "resources" / "examples" / "team.toml"


class Saves:
    """The `save` callable: records what it was given, or refuses as the replica would."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []
        self.refuse: str | None = None

    def __call__(self, text: str, base: str) -> object:
        if self.refuse is not None:
            raise DomainError(self.refuse)
        self.calls.append((text, base))
        return None


@pytest.fixture
def team() -> TeamConfig:
    return load(EXAMPLE)


@pytest.fixture
def saves() -> Saves:
    return Saves()


def make_editor(qtbot: QtBot, team: TeamConfig, saves: Saves, role: str = "manager") -> OnCallEditor:
    editor = OnCallEditor(team, role=role, save=saves)
    qtbot.addWidget(editor)
    return editor


def replace_text(editor: OnCallEditor, old: str, new: str) -> str:
    text = editor.text_edit.toPlainText()
    assert old in text, old
    changed = text.replace(old, new, 1)
    editor.text_edit.setPlainText(changed)
    return changed


def line_of(text: str, fragment: str) -> int:
    return text[: text.index(fragment)].count("\n") + 1


def test_it_opens_with_the_team_without_overrides_and_nothing_to_change(
    qtbot: QtBot, team: TeamConfig, saves: Saves
) -> None:
    editor = make_editor(qtbot, team, saves)
    text = editor.text_edit.toPlainText()
    assert parse(text) == without_overrides(team)
    assert text.index("[[schedules]]") < text.index("[[services]]") < text.index("[[users]]")
    assert "[[schedules.overrides]]" not in text
    assert editor.problems == []
    assert editor.problem_list.isHidden()
    assert editor.changes_view.toPlainText() == "nothing to change"
    assert editor.base == config_fingerprint(team)


@pytest.mark.parametrize("role", ["responder", "viewer", ""])
def test_others_read_and_see_why_they_cannot_edit(
    qtbot: QtBot, team: TeamConfig, saves: Saves, role: str
) -> None:
    assert can_edit("manager")
    assert can_edit("Admin")
    assert not can_edit(role)
    editor = make_editor(qtbot, team, saves, role=role)
    assert editor.notice.text() == NOT_ALLOWED_TEXT
    assert editor.notice.isVisibleTo(editor)
    assert editor.text_edit.isReadOnly()
    assert not editor.save_button.isEnabled()
    assert not editor.reset_button.isEnabled()
    assert "[[schedules]]" in editor.text_edit.toPlainText()  # they can read it
    assert not editor.save()
    assert editor.status_label.text() == NOT_ALLOWED_TEXT
    assert saves.calls == []


def test_an_admin_may_edit(qtbot: QtBot, team: TeamConfig, saves: Saves) -> None:
    editor = make_editor(qtbot, team, saves, role="admin")
    assert not editor.notice.isVisibleTo(editor)
    assert not editor.text_edit.isReadOnly()
    assert editor.save_button.isEnabled()


def test_a_bad_line_is_listed_with_its_number_highlighted_and_a_click_away(
    qtbot: QtBot, team: TeamConfig, saves: Saves
) -> None:
    editor = make_editor(qtbot, team, saves)
    text = replace_text(editor, 'turn = "12 hours"', 'turn = "fortnightly"')
    line = line_of(text, "fortnightly")
    assert [(p.line, p.message.split(":")[0]) for p in editor.problems] == [(line, "turn")]
    assert editor.problem_list.isVisibleTo(editor)
    item = editor.problem_list.item(0)
    assert item.text().startswith(f"✕ line {line}: turn: ")
    assert editor.error_lines() == [line]
    assert editor.changes_view.toPlainText() == NO_PREVIEW
    editor.problem_list.itemClicked.emit(item)
    assert editor.text_edit.textCursor().blockNumber() + 1 == line
    assert not editor.save()
    assert editor.status_label.text() == "Not saved: mend the problems listed above."
    assert saves.calls == []
    replace_text(editor, "fortnightly", "12 hours")  # mended: the list and the highlight go
    assert editor.problems == []
    assert editor.error_lines() == []


def test_what_the_console_may_not_change_is_a_problem_at_its_line(
    qtbot: QtBot, team: TeamConfig, saves: Saves
) -> None:
    editor = make_editor(qtbot, team, saves)
    text = replace_text(editor, 'name = "sam"\nrole = "responder"', 'name = "sam"\nrole = "manager"')
    [problem] = editor.problems
    assert problem.line == line_of(text, 'name = "sam"') + 1
    assert "changed with admin commands" in problem.message
    assert editor.error_lines() == [problem.line]


def test_what_saving_would_change_is_shown_before_saving(
    qtbot: QtBot, team: TeamConfig, saves: Saves
) -> None:
    editor = make_editor(qtbot, team, saves)
    replace_text(editor, 'name = "payments"\nrepeats = 2', 'name = "payments"\nrepeats = 1')
    replace_text(editor, 'participants = ["sam", "priya"]', 'participants = ["priya", "sam"]')
    assert editor.changes_view.toPlainText() == (
        "changed schedule payments-primary: layer weekly changed\n"
        "changed escalation policy payments: repeats 2 → 1"
    )
    assert saves.calls == []  # shown, not saved


def test_save_hands_over_the_text_and_the_base_and_the_next_save_builds_on_it(
    qtbot: QtBot, team: TeamConfig, saves: Saves
) -> None:
    editor = make_editor(qtbot, team, saves)
    base = config_fingerprint(team)
    text = replace_text(editor, "delay_minutes = 15", "delay_minutes = 5")
    with qtbot.waitSignal(editor.saved, timeout=1000):
        assert editor.save()
    assert saves.calls == [(text, base)]
    assert editor.status_label.text() == "Saved 1 change: the server applies it at the next sync."
    assert editor.changes_view.toPlainText() == "nothing to change"  # against what was saved
    assert not editor.save()
    assert editor.status_label.text() == "Nothing to save: the text says what the schedules say already."
    again = replace_text(editor, "delay_minutes = 10", "delay_minutes = 12")
    assert editor.save()
    assert saves.calls[1] == (again, config_fingerprint(parse(text)))  # what the server has after the first


def test_a_refused_save_is_shown_inline(qtbot: QtBot, team: TeamConfig, saves: Saves) -> None:
    editor = make_editor(qtbot, team, saves)
    replace_text(editor, "repeats = 1", "repeats = 3")
    saves.refuse = "Only a manager can change schedules."
    assert not editor.save()
    assert editor.status_label.text() == "✕ Not saved: Only a manager can change schedules."
    assert "repeats 1 → 3" in editor.changes_view.toPlainText()  # the edit is still there to retry


def test_reopening_starts_from_the_new_configuration(qtbot: QtBot, team: TeamConfig, saves: Saves) -> None:
    editor = make_editor(qtbot, team, saves)
    replace_text(editor, "repeats = 1", "repeats = 3")
    moved = parse(editor.text_edit.toPlainText().replace("repeats = 2", "repeats = 0"))
    editor.open_config(moved)
    assert editor.base == config_fingerprint(moved)
    assert editor.text_edit.toPlainText() == editor_text(moved)
    assert editor.changes_view.toPlainText() == "nothing to change"
