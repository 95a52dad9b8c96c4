"""tests.perf.ab_intake runs the two sides at once, or one after the other in A B, B A order, each
with its own arguments. Two stand-in source trees whose `bench_intake` records when it ran and with
what, instead of loading a server."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from tests.perf import ab_intake

STAND_IN = textwrap.dedent(
    """
    import json, os, sys, time
    name = os.path.basename(os.getcwd())
    log = os.environ["AB_LOG"]
    with open(log, "a") as out:
        out.write(f"{name} start\\n")
    time.sleep(0.3)
    rate = 200.0 if "--faster" in sys.argv else 100.0
    figures = sys.argv[sys.argv.index("--json") + 1]
    with open(figures, "w") as out:
        json.dump({"pd_saturation": {"events_per_s": rate},
                   "pd_fixed_rate_2000": {"latency_ms": {"p99": 10.0}}}, out)
    given = [a for a in sys.argv[1:] if a.startswith("--") and a != "--json"]
    with open(log, "a") as out:
        out.write(f"{name} end {' '.join(given)}\\n")
    """
)


def _tree(root: Path, name: str) -> Path:
    tree = root / name
    (tree / "tests" / "perf").mkdir(parents=True)
    (tree / "tests" / "__init__.py").write_text("")
    (tree / "tests" / "perf" / "__init__.py").write_text("")
    (tree / "tests" / "perf" / "bench_intake.py").write_text(STAND_IN)
    return tree


@pytest.fixture
def trees(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, str, Path]:
    """Stand-in trees A and B, and the log where their benchmarks say when they ran."""
    log = tmp_path / "log"
    monkeypatch.setenv("AB_LOG", str(log))
    return str(_tree(tmp_path, "a")), str(_tree(tmp_path, "b")), log


def test_alternating_runs_one_side_at_a_time_in_a_b_then_b_a_order_with_its_own_arguments(
    trees: tuple[str, str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    a, b, log = trees

    assert ab_intake.main([a, b, "--alternate", "--runs", "2", "--b-arg=--faster", "--", "--only"]) == 0

    assert log.read_text().splitlines() == [
        "a start",
        "a end --only",
        "b start",
        "b end --only --faster",
        "b start",  # the second run starts with B
        "b end --only --faster",
        "a start",
        "a end --only",
    ]
    out = capsys.readouterr().out
    assert "PagerDuty events/s: B/A median 2.000" in out
    assert "PagerDuty p99 at 2,000/s, ms: B/A median 1.000" in out  # latency compares only so


def test_side_by_side_runs_both_sides_at_once(
    trees: tuple[str, str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    a, b, log = trees

    assert ab_intake.main([a, b, "--runs", "1"]) == 0

    lines = log.read_text().splitlines()
    assert sorted(lines[:2]) == ["a start", "b start"]  # both began before either ended
    out = capsys.readouterr().out
    assert "B/A median 1.000" in out
    assert "p99" not in out


def test_order_alternates_only_when_asked() -> None:
    assert [ab_intake.order(run, alternate=True) for run in (1, 2, 3)] == [("a", "b"), ("b", "a"), ("a", "b")]
    assert {ab_intake.order(run, alternate=False) for run in (1, 2, 3)} == {("a", "b")}
