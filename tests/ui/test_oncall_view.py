"""The On-call view over an in-memory OnCallSource (tests/ui/oncall_fakes.py; the replica's own is being
written): now/next per schedule, the timeline's bars and gaps, my shifts, making an override (pending,
not in effect; a clash refused inline), iCalendar export, and the workload table with its hint."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import cast
from zoneinfo import ZoneInfo

import pytest
from icalendar import Calendar
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QTableWidget, QTableWidgetItem
from pytestqt.qtbot import QtBot

from console.calendar_export import whole_shifts
from console.domain.errors import StorageFull
from console.domain.incident import Incident
from console.domain.oncall import HORIZON, board
from console.domain.priority import Priority
from console.domain.schedule import Layer, Override, Schedule, shifts
from console.domain.status import Rank, Status
from console.domain.views import IncidentView, OutboxOp
from console.ui.oncall_view import (
    EXPORT_AHEAD,
    PENDING,
    OnCallView,
    OverrideDialog,
    acknowledged_from,
)
from console.ui.ports import IncidentSource
from tests.ui.oncall_fakes import DEMO_NOW, DEMO_USERS, DEMO_ZONES, FakeOnCall, demo_pages, demo_source

UTC_ZONE = ZoneInfo("UTC")


def item(table: QTableWidget, row: int, column: int) -> QTableWidgetItem:
    found = table.item(row, column)
    assert found is not None, (row, column)
    return found


def cells(table: QTableWidget) -> list[list[str]]:
    return [[item(table, r, c).text() for c in range(table.columnCount())] for r in range(table.rowCount())]


def make_view(
    qtbot: QtBot, source: FakeOnCall | None = None, user: str = "priya"
) -> tuple[OnCallView, FakeOnCall]:
    source = source or demo_source()
    _, acks = demo_pages()

    def acknowledged(ids: Collection[str]) -> Mapping[str, datetime | None]:
        return {key: acks[key] for key in ids if key in acks}

    view = OnCallView(source, user=user, acknowledged=acknowledged, own_zones=DEMO_ZONES, zone=UTC_ZONE)
    qtbot.addWidget(view)
    view.resize(1400, 900)
    view.refresh(DEMO_NOW)
    return view, source


def pending_lane(view: OnCallView, row: int, start: datetime, end: datetime) -> QImage:
    """The pixels of a schedule's pending lane between two instants, right of any label."""
    timeline = view.timeline
    timeline.resize(1200, timeline.height())  # as if laid out in a shown window
    left, right = int(timeline.x_of(start)), int(timeline.x_of(end))
    top = timeline.AXIS + row * timeline.ROW + timeline.LANE + 2
    return (
        timeline.grab()
        .toImage()
        .copy((left + right) // 2, top, (right - left) // 2 - 2, timeline.PENDING_LANE)
    )


def open_override(view: OnCallView) -> OverrideDialog:
    shown: list[QDialog] = []
    view.show_dialog = shown.append
    view.new_override_button.click()
    [dialog] = shown
    assert isinstance(dialog, OverrideDialog)
    return dialog


def ok(dialog: OverrideDialog) -> None:
    dialog.buttons.button(QDialogButtonBox.StandardButton.Ok).click()


# -- reading --


def test_the_board_shows_who_is_on_call_now_and_next(qtbot: QtBot) -> None:
    view, source = make_view(qtbot)
    expected = board(source.schedules(), DEMO_NOW)
    assert [row[0] for row in cells(view.board)] == ["Database", "Payments (weekdays)", "Platform primary"]
    for row, entry in zip(cells(view.board), expected, strict=True):
        assert row[1] == entry.user
        assert row[3] == entry.next_user
        assert entry.until is not None
        assert row[2] == entry.until.strftime("%a %d %b %H:%M")
    # Platform primary at Fri 10:00 UTC: jordan's business hours (09:00-12:00 Berlin) over morgan's week
    assert cells(view.board)[2][1:4] == ["jordan", "Fri 27 Nov 11:00", "morgan"]


def test_a_gap_says_nobody_and_a_far_handoff_says_so(qtbot: QtBot) -> None:
    lone = Schedule(
        "Lone",
        (Layer("l", ("ann",), "UTC", date(2026, 11, 1), starts=DEMO_NOW + timedelta(days=1)),),
    )
    view, _ = make_view(qtbot, FakeOnCall([lone]))
    assert cells(view.board) == [
        ["Lone", "nobody (a gap)", f"beyond {HORIZON.days} days", "ann", "Sat 28 Nov 10:00"]
    ]
    [row] = view.timeline.rows
    assert row.gaps[0][1] == DEMO_NOW + timedelta(days=1)


def test_the_timeline_has_each_schedules_shifts_and_gaps(qtbot: QtBot) -> None:
    view, source = make_view(qtbot)
    start = view.timeline_start(DEMO_NOW)
    assert start == datetime(2026, 11, 27, tzinfo=UTC)  # today's midnight in the view's zone
    assert [row.schedule for row in view.timeline.rows] == [
        "Database",
        "Payments (weekdays)",
        "Platform primary",
    ]
    for row, schedule in zip(
        view.timeline.rows, sorted(source.schedules(), key=lambda s: s.name), strict=True
    ):
        expected = shifts(schedule, start, DEMO_NOW + HORIZON)
        assert [(b.user, b.start, b.end) for b in row.bars] == [(s.user, s.start, s.end) for s in expected]
    payments = view.timeline.rows[1]
    assert payments.gaps  # weekdays 09:00-18:00 in Kolkata only
    assert not view.timeline.rows[0].gaps
    # every person has a colour of their own, and the widget paints without complaint
    assert len({c.name() for c in view.timeline.colours.values()}) == len(view.timeline.colours) == 5
    assert not view.timeline.grab().isNull()
    bar = view.timeline.rows[2].bars[1]
    middle = bar.start + (bar.end - bar.start) / 2
    y = view.timeline.AXIS + 2 * view.timeline.ROW + view.timeline.LANE / 2
    assert view.timeline.bar_at(view.timeline.x_of(middle), y) == bar


def test_my_shifts_list_only_mine(qtbot: QtBot) -> None:
    view, source = make_view(qtbot, user="lee")
    mine = cells(view.mine)
    expected = sorted(
        (s.start, schedule.name)
        for schedule in source.schedules()
        for s in whole_shifts(schedule, DEMO_NOW, DEMO_NOW + HORIZON)
        if s.user == "lee"
    )
    assert [(row[0], row[1]) for row in mine] == [(name, f"{at:%a %d %b %H:%M}") for at, name in expected]
    assert any(row[4] == "override" for row in mine)  # lee's accepted override on Monday
    assert {row[3] for row in mine if row[0] == "Database"} == {"12 h"}  # whole, even the current one
    assert expected[0][0] < DEMO_NOW  # lee's current Database shift: from its real start


# -- making an override --


@pytest.mark.qt_log_ignore("does not support propagateSizeHints")  # the offscreen plugin, on a grab
def test_an_override_is_pending_until_the_server_accepts_it(qtbot: QtBot) -> None:
    view, source = make_view(qtbot, user="priya")
    before = cells(view.board)
    start, end = DEMO_NOW + timedelta(hours=2), DEMO_NOW + timedelta(days=1)
    lane_before = pending_lane(view, 2, start, end)
    dialog = open_override(view)
    qtbot.addWidget(dialog)
    dialog.schedule.setCurrentText("Platform primary")
    assert dialog.replaces.itemText(0).startswith("nobody")
    dialog.replaces.setCurrentText("morgan")
    dialog.set_times(start, end)
    with qtbot.waitSignal(view.acted, timeout=1000):
        ok(dialog)
    assert dialog.result() == QDialog.DialogCode.Accepted
    [pending] = source.pending_overrides()
    assert pending.schedule == "Platform primary"
    assert (pending.override.user, pending.override.replaces) == ("priya", "morgan")
    assert (pending.override.start, pending.override.end) == (start, end)
    # shown as pending, and not in effect: the board and the layers' bars are as before
    assert cells(view.board) == before
    assert view.overrides.text() == (
        "Pending, not in effect: Platform primary: "
        "priya takes morgan's shifts Fri 27 Nov 12:00 to Sat 28 Nov 10:00"
    )
    primary = view.timeline.rows[2]
    [bar] = primary.pending
    assert bar.pending
    assert PENDING in bar.labels[0]
    assert pending_lane(view, 2, start, end) != lane_before  # drawn (hatched) in the pending lane
    assert [b.user for b in primary.bars if b.start < end and b.end > start] == ["morgan"]
    mine = [row for row in cells(view.mine) if row[0] == "Platform primary"]
    assert mine[0][1:] == ["Fri 27 Nov 12:00", "Sat 28 Nov 10:00", "22 h", f"override, {PENDING}"]
    assert {row[4] for row in mine[1:]} == {"layer weekly"}  # priya's own week, later
    assert PENDING in view.message.text()
    # accepted by the server: in effect, no longer pending
    source.accept(pending.op_id)
    view.refresh(DEMO_NOW)
    assert not view.timeline.rows[2].pending
    now_primary = [b.user for b in view.timeline.rows[2].bars if b.start < end and b.end > start]
    assert now_primary == ["priya"]  # in effect: morgan hands over at 12:00 UTC and back on Saturday
    assert view.overrides.text() == "No overrides waiting for the server."
    assert pending_lane(view, 2, start, end) == lane_before


def test_an_overlapping_override_is_refused_inline_with_the_reason(qtbot: QtBot) -> None:
    view, source = make_view(qtbot)
    dialog = open_override(view)
    qtbot.addWidget(dialog)
    dialog.schedule.setCurrentText("Platform primary")
    dialog.who.setCurrentText("sam")
    # lee's accepted override covers Mon 30 Nov 08:00 to Tue 08:00 UTC
    dialog.set_times(datetime(2026, 11, 30, 20, tzinfo=UTC), datetime(2026, 12, 1, 2, tzinfo=UTC))
    with qtbot.assertNotEmitted(view.acted):
        ok(dialog)
    assert dialog.result() != QDialog.DialogCode.Accepted
    assert not dialog.error.isHidden()
    assert dialog.error.text() == (
        "It overlaps an override: lee already covers the schedule "
        "from 2026-11-30 08:00 to 2026-12-01 08:00 UTC."
    )
    assert source.pending_overrides() == []
    # fixed in place: moved after it, the same dialog goes through
    dialog.set_times(datetime(2026, 12, 1, 8, tzinfo=UTC), datetime(2026, 12, 1, 12, tzinfo=UTC))
    ok(dialog)
    assert dialog.result() == QDialog.DialogCode.Accepted
    assert [p.override.user for p in source.pending_overrides()] == ["sam"]


def test_an_override_ending_before_it_starts_is_explained(qtbot: QtBot) -> None:
    view, source = make_view(qtbot)
    dialog = open_override(view)
    qtbot.addWidget(dialog)
    dialog.set_times(DEMO_NOW + timedelta(hours=5), DEMO_NOW + timedelta(hours=1))
    ok(dialog)
    assert dialog.error.text() == "end: an override must end after it starts"
    assert source.pending_overrides() == []


def test_the_dialog_reads_times_in_the_views_zone_across_a_clock_change(qtbot: QtBot) -> None:
    source = demo_source()
    view = OnCallView(source, user="sam", zone=ZoneInfo("Europe/Berlin"))
    qtbot.addWidget(view)
    view.refresh(datetime(2027, 3, 26, 12, tzinfo=UTC))
    dialog = view.override_dialog()
    qtbot.addWidget(dialog)
    dialog.set_times(datetime(2027, 3, 27, 23, tzinfo=UTC), datetime(2027, 3, 28, 8, tzinfo=UTC))
    assert dialog.start.dateTime().time().hour() == 0  # Sunday 00:00 in Berlin (winter time)
    assert dialog.end.dateTime().time().hour() == 10  # Sunday 10:00 (summer time)
    override = dialog.override()
    assert (override.start, override.end) == (
        datetime(2027, 3, 27, 23, tzinfo=UTC),
        datetime(2027, 3, 28, 8, tzinfo=UTC),
    )
    assert dialog.who.currentText() == "sam"


def test_a_full_disk_is_said_in_the_dialog(qtbot: QtBot) -> None:
    class FullDisk(FakeOnCall):
        def add_override(self, schedule: str, override: Override) -> OutboxOp:
            raise StorageFull("The disk is full: nothing was saved.")

    view, _ = make_view(qtbot, FullDisk(demo_source().schedules()))
    dialog = open_override(view)
    qtbot.addWidget(dialog)
    ok(dialog)
    assert dialog.result() != QDialog.DialogCode.Accepted
    assert dialog.error.text() == "The disk is full: nothing was saved."


def test_rejected_overrides_are_listed_with_the_reason_and_not_drawn(qtbot: QtBot) -> None:
    view, source = make_view(qtbot)
    op = source.add_override(
        "Database", Override("x1", "jordan", DEMO_NOW + timedelta(days=2), DEMO_NOW + timedelta(days=3))
    )
    source.reject(op.op_id, "jordan is not a participant of Database.")
    view.refresh(DEMO_NOW)
    assert not view.rejected.isHidden()
    assert view.rejected.text().startswith(
        "Rejected: Database: jordan covers Sun 29 Nov 10:00 to Mon 30 Nov 10:00."
    )
    assert view.rejected.text().endswith("jordan is not a participant of Database.")
    assert view.timeline.rows[0].pending == ()
    assert view.overrides.text() == "No overrides waiting for the server."


def test_no_schedules_no_dialog(qtbot: QtBot) -> None:
    view, _ = make_view(qtbot, FakeOnCall([]))
    shown: list[QDialog] = []
    view.show_dialog = shown.append
    view.new_override()
    assert shown == []
    assert view.message.text() == "No schedules yet: nothing to override."
    view.ask_save_path = lambda name: pytest.fail("no schedule: nothing to ask")
    view.export_ical()
    assert view.message.text() == "No schedule to export."


# -- export --


def test_export_writes_the_selected_schedule_as_icalendar(qtbot: QtBot, tmp_path: Path) -> None:
    view, source = make_view(qtbot)
    asked: list[str] = []

    def save_path(name: str) -> Path:
        asked.append(name)
        return tmp_path / name

    view.ask_save_path = save_path
    view.board.selectRow(2)
    view.export_button.click()
    assert asked == ["Platform-primary.ics"]
    calendar = Calendar.from_ical((tmp_path / "Platform-primary.ics").read_bytes())
    primary = next(s for s in source.schedules() if s.name == "Platform primary")
    expected = shifts(primary, DEMO_NOW, DEMO_NOW + EXPORT_AHEAD)
    assert len(calendar.events) == len(expected)
    assert {str(e["SUMMARY"]) for e in calendar.events} == {
        f"On call: {s.user} (Platform primary)" for s in expected
    }
    assert "Exported Platform primary" in view.message.text()

    view.only_mine.setChecked(True)
    view.export_ical()
    mine = Calendar.from_ical((tmp_path / "Platform-primary-priya.ics").read_bytes())
    assert mine.events
    assert {str(e["SUMMARY"]) for e in mine.events} == {"On call: priya (Platform primary)"}


def test_export_cancelled_or_failing_says_so(qtbot: QtBot, tmp_path: Path) -> None:
    view, _ = make_view(qtbot)
    view.ask_save_path = lambda name: None
    view.export_ical()
    assert list(tmp_path.iterdir()) == []
    assert view.message.text() == ""
    view.ask_save_path = lambda name: tmp_path  # a folder: cannot be written as a file
    view.export_ical()
    assert view.message.text().startswith("Not exported:")


# -- workload --


def test_the_workload_table_counts_pages_nights_hours_and_acks(qtbot: QtBot) -> None:
    view, _ = make_view(qtbot)
    rows = {row[0]: row for row in cells(view.workload)}
    assert list(rows) == ["jordan", "lee", "morgan", "priya", "sam"]  # in name order; no wallboard
    morgan = rows["morgan"]
    assert morgan[1:4] == ["Europe/Berlin", "4", "3"]  # three pages between 02:00 and 05:00 in Berlin
    assert morgan[5:7] == ["3 min 30 s", "4 min 00 s"]  # waits 4, 7, 2 and 3 minutes
    assert morgan[7] == "Rest until Fri 27 Nov 16:00 (3 pages, all at night)"
    assert item(view.workload, 2, 7).font().bold()
    assert rows["priya"][1:4] == ["America/New_York (schedule)", "3", "1"]  # 03:00 UTC is 22:00 there
    assert rows["lee"][1:4] == ["America/New_York (schedule)", "2", "0"]  # 02:00 UTC is 21:00 there
    assert rows["priya"][5] == "6 min 30 s"  # one incident never acknowledged: not counted
    assert rows["jordan"][2:7] == ["0", "0", "60", "—", "—"]  # 3 h each weekday for 4 weeks
    hours = {r.user: r.hours_on_call for r in view.workload_rows}
    assert rows["sam"][4] == f"{round(hours['sam'], 1):g}"


def test_a_past_heavy_stretch_is_shown_without_the_rest_hint(qtbot: QtBot) -> None:
    view, _ = make_view(qtbot)
    view.refresh(DEMO_NOW + timedelta(days=1))
    morgan = next(row for row in cells(view.workload) if row[0] == "morgan")
    assert morgan[7] == "1 heavy stretch; last ended Fri 27 Nov 08:00 (3 pages, all at night)"


def test_acknowledgements_come_through_the_incident_port() -> None:
    acked = datetime(2026, 11, 27, 9, 5, tzinfo=UTC)

    class Incidents:
        def views(self, ids: Collection[str]) -> dict[str, IncidentView]:
            incident = Incident(
                "i1",
                1,
                1,
                "t",
                Priority.HIGH,
                "",
                Status(0, Rank.ACKNOWLEDGED),
                acked,
                acked,
                acknowledged_at=acked,
            )
            return {key: IncidentView(incident, "svc") for key in ids if key == "i1"}

    read = acknowledged_from(cast(IncidentSource, Incidents()))
    assert read({"i1", "gone"}) == {"i1": acked}


def test_viewers_are_not_offered_as_cover(qtbot: QtBot) -> None:
    view, _ = make_view(qtbot)
    dialog = view.override_dialog()
    qtbot.addWidget(dialog)
    offered = [dialog.who.itemText(i) for i in range(dialog.who.count())]
    assert offered == sorted(name for _, name, role in DEMO_USERS if role != "viewer")
