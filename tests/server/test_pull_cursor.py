"""Pull cursors across the schema change that added on-call and runbook tables: a console that
synced before the upgrade keeps its place instead of taking a new snapshot."""

from __future__ import annotations

from console.server.pull import REPLICATED, Cursor


def test_a_version_1_cursor_in_the_tombstones_still_points_at_the_tombstones() -> None:
    # version 1 had five tables, then tombstones at index 5 (now a replicated table's index)
    old = Cursor.decode("1.server-a.42.5.incidents:0190")
    assert old == Cursor("server-a", 42, len(REPLICATED), "incidents:0190")


def test_a_version_1_cursor_in_a_table_keeps_its_index_and_new_ones_round_trip() -> None:
    assert Cursor.decode("1.server-a.42.2.some-id") == Cursor("server-a", 42, 2, "some-id")
    current = Cursor("server-a", 7, len(REPLICATED), "pages:x")
    assert Cursor.decode(current.encode()) == current
    assert current.encode().startswith("2.")
