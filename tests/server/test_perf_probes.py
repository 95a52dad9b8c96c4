"""The probes bench_intake sets its figures against: the bare disk's flushes (tests.perf.disk_flush,
on a real file) and the machine's speed (tests.perf.machine_speed)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.perf import disk_flush, machine_speed
from tests.perf.disk_flush import FlushProbe, FlushStats


def test_stats_count_the_stalls_and_what_the_long_ones_cost() -> None:
    stats = FlushStats.of([0.4, 0.3, 25.0, 0.5, 80.0, 130.0, 0.2])
    assert (stats.flushes, stats.p50_ms, stats.max_ms) == (7, 0.5, 130.0)
    assert (stats.stalls, stats.long, stats.long_total_ms) == (3, 2, 110.0)
    assert "7 flushes" in stats.describe()
    assert "110 ms beyond 50" in stats.describe()


def test_no_flush_is_zeros_not_an_error() -> None:
    assert FlushStats.of([]) == FlushStats(0, 0.0, 0.0, 0.0, 0, 0, 0.0)


def test_probe_times_real_flushes_and_leaves_no_file(tmp_path: Path) -> None:
    with FlushProbe(tmp_path, every=0.01) as probe:
        time.sleep(0.3)
        assert any(tmp_path.iterdir())  # its file, in the directory it was given
    stats = probe.stats
    assert stats.flushes >= 5
    assert 0 < stats.p50_ms <= stats.max_ms
    assert list(tmp_path.iterdir()) == []


def test_command_prints_the_figures(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert disk_flush.main(["--seconds", "0.2", "--every", "0.01", "--dir", str(tmp_path)]) == 0
    assert f"disk flush in {tmp_path}, 0 s: " in capsys.readouterr().out


def test_reference_work_is_timed_and_the_best_round_kept() -> None:
    one, best_of_five = machine_speed.reference_ms(rounds=1), machine_speed.reference_ms()
    assert one > 0
    assert best_of_five > 0
    assert machine_speed._work() == machine_speed._work()  # the same work every time


def test_speed_command_prints_the_spread(capsys: pytest.CaptureFixture[str]) -> None:
    assert machine_speed.main(["--seconds", "0.1", "--every", "0.01"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("reference work, ")
    assert "max/min " in out
