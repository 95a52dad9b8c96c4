"""The in-process intake benchmark stores what it measures: PagerDuty events first, then new
Alertmanager groups, through the real writer into a real SQLite file."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from tests.perf.bench_writer import measure, parse_args, without_vs


def test_a_run_after_pagerduty_events_stores_every_alert_it_counts(tmp_path: Path) -> None:
    args = parse_args(["--alerts", "300", "--pd-first", "50", "--drop-view"])
    result = asyncio.run(measure(args, tmp_path, server_gc=False))  # keeps pytest's own collector

    assert result["alerts"] == 300
    assert result["alerts_per_s"] > 0
    assert result["user_us"] > 0
    with sqlite3.connect(tmp_path / "server.db") as db:
        grouped = db.execute("SELECT count(*) FROM alerts WHERE group_key != ''").fetchone()
        events = db.execute("SELECT format, count(*) FROM events GROUP BY format ORDER BY format").fetchall()
    assert grouped == (300,)
    assert events == [("alertmanager", 3), ("pagerduty", 50)]


def test_the_side_by_side_options_leave_out_only_vs() -> None:
    assert without_vs(["--alerts", "10", "--vs", "--pd-first 5", "--drop-view"]) == [
        "--alerts",
        "10",
        "--drop-view",
    ]
    assert without_vs(["--vs=--pd-first 5", "--alerts", "10"]) == ["--alerts", "10"]
