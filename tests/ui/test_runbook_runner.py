"""The runbook runner over an in-memory RunbookSource (tests/ui/runbook_fakes.py; the replica's is
the lead's): tick and untick, notes, who and when, approval and emergency override, the add-wins
conflict mark after a merge with another console, refusals shown inline, and the runbook's text,
link and command."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

import pytest
from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QGuiApplication
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QDialog
from pytestqt.qtbot import QtBot

from console.domain.incident import Link
from console.domain.runbook import Progress, RunOpKind, Step
from console.ui.detail import local_time
from console.ui.runbook_runner import (
    CONFLICT_MARK,
    DEFAULT_MAX_AGE_DAYS,
    NO_INCIDENT_TEXT,
    NO_RUNS_TEXT,
    OverrideDialog,
    RunbookRunner,
    progress_text,
)
from tests.ui.runbook_fakes import INCIDENT_ID, RUN_ID, RUNBOOK, T0, FakeRunbooks, reviewed

NOW = T0 + timedelta(minutes=10)
AT = local_time(T0, NOW)  # what every op's time reads as: the fake's ops are a second apart from T0


def make_runner(
    qtbot: QtBot, source: FakeRunbooks, *, role: str = "responder", max_age_days: int = DEFAULT_MAX_AGE_DAYS
) -> RunbookRunner:
    runner = RunbookRunner(source, role=role, now=lambda: NOW, max_age_days=max_age_days)
    qtbot.addWidget(runner)
    runner.show_incident(INCIDENT_ID)
    return runner


@pytest.fixture
def source() -> FakeRunbooks:
    return FakeRunbooks.with_run("ann")


@pytest.fixture
def runner(qtbot: QtBot, source: FakeRunbooks) -> RunbookRunner:
    return make_runner(qtbot, source)


def kinds(source: FakeRunbooks) -> list[str]:
    return [op.type for op in source.outbox]


# -- what is shown --


def test_without_an_incident_or_runs_the_runner_says_so(qtbot: QtBot) -> None:
    runner = RunbookRunner(FakeRunbooks(actor="ann"), role="responder", now=lambda: NOW)
    qtbot.addWidget(runner)
    assert runner.empty_label.text() == NO_INCIDENT_TEXT
    assert not runner.empty_label.isHidden()
    runner.show_incident(INCIDENT_ID)
    assert runner.empty_label.text() == NO_RUNS_TEXT
    assert runner.run_views == {}


def test_the_header_shows_title_version_progress_and_a_stale_warning(qtbot: QtBot) -> None:
    old = reviewed(RUNBOOK, date(2026, 1, 12))
    runner = make_runner(qtbot, FakeRunbooks.with_run("ann", old), max_age_days=180)
    view = runner.run_views[RUN_ID]
    assert view.title_label.text() == "checkout-api: high error rate"
    assert view.version_label.text() == "version 3"
    assert view.progress_label.text() == "0/4 done"
    assert view.stale_label.isVisibleTo(runner)
    assert "Last reviewed 2026-01-12, 319 days ago" in view.stale_label.text()

    fresh = make_runner(qtbot, FakeRunbooks.with_run("ann", reviewed(RUNBOOK, date(2026, 11, 1))))
    assert not fresh.run_views[RUN_ID].stale_label.isVisibleTo(fresh)


def test_steps_show_in_order_with_markdown_link_and_command(runner: RunbookRunner) -> None:
    view = runner.run_views[RUN_ID]
    assert list(view.step_rows) == ["dashboard", "deploys", "rollback", "status"]
    dashboard = view.step_rows["dashboard"]
    assert dashboard.number_label.text() == "1."
    assert "font-weight:700" in dashboard.text_label.text()  # **checkout errors** is bold
    assert dashboard.link_button is not None
    assert dashboard.link_button.text() == "↗ Checkout errors"
    assert dashboard.command_label is None
    deploys = view.step_rows["deploys"]
    assert deploys.command_label is not None
    assert deploys.command_label.text() == "kubectl -n checkout rollout history deploy/checkout-api"
    assert deploys.link_button is None


def test_raw_html_in_a_step_is_shown_literally(qtbot: QtBot) -> None:
    step = Step("s", "Restart <b>now</b> <img src=x>")
    runner = make_runner(qtbot, FakeRunbooks.with_run("ann", replace(RUNBOOK, steps=(step,))))
    text = runner.step_row("s").text_label.text()
    assert "&lt;b&gt;now&lt;/b&gt;" in text
    assert "<img" not in text


# -- ticking --


def test_a_tick_and_an_untick_go_through_the_source_and_show_who_and_when(
    qtbot: QtBot, runner: RunbookRunner, source: FakeRunbooks
) -> None:
    row = runner.step_row("deploys")
    with qtbot.waitSignal(runner.acted, timeout=1000):
        row.checkbox.click()
    assert kinds(source) == ["run.tick"]
    assert source.outbox[0].state == "pending"  # recorded locally: works offline, synced later
    assert row.checkbox.isChecked()
    assert row.who_label.text() == f"✓ ticked by ann, {AT} (10 min ago)"
    assert runner.run_views[RUN_ID].progress_label.text() == "1/4 done"

    with qtbot.waitSignal(runner.acted, timeout=1000):
        row.checkbox.click()
    assert kinds(source) == ["run.tick", "run.untick"]
    assert not row.checkbox.isChecked()
    assert row.who_label.isHidden()
    assert runner.run_views[RUN_ID].progress_label.text() == "0/4 done"


def test_the_history_lists_who_did_what_newest_first_in_plain_words(runner: RunbookRunner) -> None:
    runner.step_row("dashboard").checkbox.click()
    runner.step_row("status").checkbox.click()
    view = runner.run_views[RUN_ID]
    assert view.history_button.text() == "History (2)"
    assert view.history_label.isHidden()
    view.history_button.click()
    assert view.history_label.isVisibleTo(runner)
    assert view.history_label.text().splitlines() == [
        f"{AT} · ann ticked “Post a status update in #incidents”",
        f"{AT} · ann ticked “Open the checkout errors dashboard”",  # the title's **bold** rendered away
    ]


def test_a_note_is_added_per_step_and_an_empty_one_is_refused_inline(
    qtbot: QtBot, runner: RunbookRunner, source: FakeRunbooks
) -> None:
    row = runner.step_row("deploys")
    row.note_button.click()
    assert row.error_label.text() == "✕ Write the note first."
    assert source.outbox == []

    QTest.keyClicks(row.note_edit, "deploy 4812 at 08:50")
    QTest.keyClick(row.note_edit, Qt.Key.Key_Return)
    assert kinds(source) == ["run.note"]
    assert row.notes_label.text() == f"✎ ann, {AT} (10 min ago): deploy 4812 at 08:50"
    assert row.note_edit.text() == ""
    assert row.error_label.isHidden()
    assert not row.checkbox.isChecked()  # a note does not tick the step


# -- approval --


def test_a_step_needing_approval_waits_and_only_its_role_can_approve(
    qtbot: QtBot, source: FakeRunbooks
) -> None:
    responder = make_runner(qtbot, source)
    row = responder.step_row("rollback")
    assert row.awaiting_label.text() == "◷ Awaiting approval by a manager"
    assert row.approval_row.isVisibleTo(responder)
    assert not row.checkbox.isEnabled()
    assert not row.approve_button.isEnabled()
    assert row.approve_button.toolTip() == "Only a manager can approve"
    assert row.override_button.isEnabled()

    manager = make_runner(qtbot, source, role="manager")
    row = manager.step_row("rollback")
    assert row.approve_button.isEnabled()
    row.approve_button.click()
    assert kinds(source) == ["run.approve"]
    assert source.outbox[0].args["role"] == "manager"
    assert row.checkbox.isChecked()
    assert row.approval_row.isHidden()
    assert row.who_label.text() == f"✓ approved by ann as manager, {AT} (10 min ago)"


def test_an_emergency_override_takes_a_reason_that_is_recorded(
    runner: RunbookRunner, source: FakeRunbooks
) -> None:
    asked: list[str] = []

    def cancelled(step: Step) -> str | None:
        asked.append(step.id)
        return None

    runner.ask_override = cancelled
    row = runner.step_row("rollback")
    row.override_button.click()
    assert asked == ["rollback"]
    assert source.outbox == []

    runner.ask_override = lambda step: "checkout down for everyone, no manager answering"
    row.override_button.click()
    assert kinds(source) == ["run.override"]
    assert source.outbox[0].args["reason"] == "checkout down for everyone, no manager answering"
    assert row.checkbox.isChecked()
    assert row.who_label.text().startswith(f"⚡ emergency override by ann, {AT} (10 min ago): checkout down")
    assert runner.run_views[RUN_ID].progress_label.text() == "1/4 done"


def test_the_override_dialog_refuses_an_empty_reason_inline(qtbot: QtBot) -> None:
    dialog = OverrideDialog(RUNBOOK.steps[2])
    qtbot.addWidget(dialog)
    accepted: list[bool] = []
    dialog.accepted.connect(lambda: accepted.append(True))
    QTest.keyClicks(dialog.reason, "   ")
    dialog.override_button.click()
    assert accepted == []
    assert dialog.result() != QDialog.DialogCode.Accepted
    assert dialog.error.text() == "An emergency override needs a reason."
    assert dialog.error.isVisibleTo(dialog)

    QTest.keyClicks(dialog.reason, "site down")
    dialog.override_button.click()
    assert accepted == [True]
    assert dialog.result() == QDialog.DialogCode.Accepted
    assert dialog.text() == "site down"


# -- two consoles --


def test_a_tick_and_a_concurrent_untick_leave_the_step_done_with_a_conflict_mark(
    runner: RunbookRunner, source: FakeRunbooks
) -> None:
    row = runner.step_row("deploys")
    row.checkbox.click()  # ann ticks; cat's console syncs that
    cat = source.fork("cat")
    cat.act_on_run(RUN_ID, RunOpKind.TICK, "deploys")  # cat ticks too, offline
    row.checkbox.click()  # ann unticks, not having seen cat's tick
    assert not row.checkbox.isChecked()
    assert row.mark_box.isHidden()

    source.merge_from(cat)
    runner.refresh()
    assert row.checkbox.isChecked()  # add-wins: cat's tick survives ann's untick
    assert row.mark_box.isVisibleTo(runner)
    assert row.conflict_label.text() == CONFLICT_MARK
    assert f"Ticked by cat ({AT}) while ann unticked it ({AT}): kept done." in row.conflict_label.toolTip()
    assert row.conflict_icon.toolTip() == row.conflict_label.toolTip()
    assert row.who_label.text() == f"✓ ticked by cat, {AT} (10 min ago)"
    assert runner.run_views[RUN_ID].progress_label.text() == "1/4 done   ⚠ 1 in conflict"

    row.confirm_button.click()  # a tick that has seen both sides settles it
    assert row.checkbox.isChecked()
    assert row.mark_box.isHidden()
    assert runner.run_views[RUN_ID].progress_label.text() == "1/4 done"


def test_a_conflict_on_an_approval_step_is_confirmed_by_approving_again(
    qtbot: QtBot, source: FakeRunbooks
) -> None:
    manager = make_runner(qtbot, source, role="manager")
    row = manager.step_row("rollback")
    row.approve_button.click()
    cat = source.fork("cat")
    cat.act_on_run(RUN_ID, RunOpKind.APPROVE, "rollback", role="manager")
    row.checkbox.click()  # ann unticks her approval, not having seen cat's
    source.merge_from(cat)
    manager.refresh()
    assert row.checkbox.isChecked()
    assert f"Approved by cat ({AT}) while ann unticked it" in row.conflict_label.toolTip()

    responder = make_runner(qtbot, source)
    assert responder.step_row("rollback").mark_box.isVisibleTo(responder)
    assert responder.step_row("rollback").confirm_button.isHidden()  # a tick cannot settle it

    assert row.confirm_button.isVisibleTo(manager)
    row.confirm_button.click()
    assert [op.type for op in source.outbox][-1] == "run.approve"
    assert row.mark_box.isHidden()
    assert row.checkbox.isChecked()


def test_a_refused_op_is_shown_inline_and_the_step_shows_its_real_state(
    runner: RunbookRunner, source: FakeRunbooks
) -> None:
    row = runner.step_row("deploys")
    row.checkbox.click()
    bob = source.fork("bob")
    bob.act_on_run(RUN_ID, RunOpKind.UNTICK, "deploys")
    source.merge_from(bob)  # the replica changed; the runner has not read it yet
    assert row.checkbox.isChecked()

    row.checkbox.click()  # ann unticks what bob already unticked
    assert row.error_label.isVisibleTo(runner)
    assert row.error_label.text() == "✕ The step is not done: there is nothing to untick."
    assert not row.checkbox.isChecked()
    assert kinds(source) == ["run.tick"]

    row.checkbox.click()
    assert row.error_label.isHidden()  # the next action that works clears it


def test_a_refresh_keeps_the_widgets_and_a_note_being_typed(
    qtbot: QtBot, runner: RunbookRunner, source: FakeRunbooks
) -> None:
    row = runner.step_row("status")
    QTest.keyClicks(row.note_edit, "half typed")
    bob = source.fork("bob")
    bob.act_on_run(RUN_ID, RunOpKind.TICK, "status")
    source.merge_from(bob)
    runner.refresh()
    assert runner.step_row("status") is row
    assert row.note_edit.text() == "half typed"
    assert row.who_label.text() == f"✓ ticked by bob, {AT} (10 min ago)"


def test_another_incident_replaces_the_runs(runner: RunbookRunner) -> None:
    before = runner.run_views[RUN_ID]
    runner.show_incident("another-incident")
    assert runner.run_views == {}
    assert runner.empty_label.text() == NO_RUNS_TEXT
    runner.show_incident(INCIDENT_ID)
    assert runner.run_views[RUN_ID] is not before


# -- link and command --


def test_the_link_opens_and_a_link_of_another_scheme_is_refused(runner: RunbookRunner) -> None:
    opened: list[QUrl] = []
    runner.open_url = opened.append
    link_button = runner.step_row("dashboard").link_button
    assert link_button is not None
    link_button.click()
    assert opened == [QUrl("https://grafana.example.com/d/checkout")]
    assert runner.error_label.isHidden()

    runner.open_link("file:///etc/passwd")
    assert opened == [QUrl("https://grafana.example.com/d/checkout")]
    assert runner.error_label.isVisibleTo(runner)
    assert runner.error_label.text().startswith("✕ Not opened: file:///etc/passwd")


def test_a_link_in_the_step_text_opens_through_the_same_check(qtbot: QtBot) -> None:
    step = Step("s", "See [the guide](https://wiki.example.com/guide)", link=Link("javascript:alert(1)"))
    runner = make_runner(qtbot, FakeRunbooks.with_run("ann", replace(RUNBOOK, steps=(step,))))
    opened: list[QUrl] = []
    runner.open_url = opened.append
    row = runner.step_row("s")
    assert 'href="https://wiki.example.com/guide"' in row.text_label.text()
    row.text_label.linkActivated.emit("https://wiki.example.com/guide")
    assert row.link_button is not None
    row.link_button.click()
    assert opened == [QUrl("https://wiki.example.com/guide")]


def test_copy_puts_the_command_on_the_clipboard(runner: RunbookRunner) -> None:
    QGuiApplication.clipboard().clear()
    copy_button = runner.step_row("deploys").copy_button
    assert copy_button is not None
    copy_button.click()
    assert QGuiApplication.clipboard().text() == "kubectl -n checkout rollout history deploy/checkout-api"
    assert copy_button.text() == "Copied ✓"


# -- the incident row --


def test_progress_text_sums_the_runs_and_flags_a_conflict() -> None:
    assert progress_text([]) == ""
    assert progress_text([Progress(3, 7)]) == "3/7"
    assert progress_text([Progress(3, 7), Progress(1, 2, conflicts=1)]) == "4/9 ⚠"


def test_the_runner_reports_each_runs_progress(runner: RunbookRunner) -> None:
    runner.step_row("deploys").checkbox.click()
    assert runner.progresses() == [Progress(1, 4, 0)]
