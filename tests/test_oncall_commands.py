"""`python main.py admin apply FILE.toml` and `python main.py oncall`, run as users run them."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import orjson

from console.config_file import parse
from console.server.database import migrate, open_engine
from console.server.pull import read_page
from console.store.replica import Replica
from tests.serverproc import MAIN, ROOT

EXAMPLE = ROOT / "resources" / "examples" / "team.toml"


def main(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(MAIN), *args], capture_output=True, text=True, timeout=60, check=False
    )


def test_apply_declares_the_team_and_a_second_apply_changes_nothing(tmp_path: Path) -> None:
    first = main("admin", "apply", str(EXAMPLE), "--data-dir", str(tmp_path))
    assert first.returncode == 0, first.stderr
    assert "added schedule payments-primary" in first.stdout
    tokens = re.search(r"New users' API tokens.*?\n((?:\S+ \S+\n)+)", first.stdout)
    assert tokens is not None
    assert {line.split()[0] for line in tokens.group(1).splitlines()} >= {"sam", "morgan"}
    second = main("admin", "apply", str(EXAMPLE), "--data-dir", str(tmp_path))
    assert (second.returncode, second.stdout.strip()) == (0, "nothing to change")


def test_a_bad_file_is_refused_whole_with_its_lines(tmp_path: Path) -> None:
    bad = tmp_path / "team.toml"
    bad.write_text(
        '[[users]]\nname = "sam"\n\n[[services]]\nname = "api"\nescalation_policy = "nope"\n'
        '\n[[users]]\nname = "ann"\nrole = "boss"\n'
    )
    done = main("admin", "apply", str(bad), "--data-dir", str(tmp_path))
    assert done.returncode == 1
    assert f"{bad}:6:" in done.stderr  # the unknown policy
    assert f"{bad}:10:" in done.stderr  # the unknown role
    assert "nothing changed" in done.stderr
    engine = open_engine(f"sqlite:///{tmp_path / 'server.db'}", writer=True)
    migrate(engine)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM users").scalar() == 0
    engine.dispose()


def test_dry_run_prints_the_changes_and_makes_none(tmp_path: Path) -> None:
    done = main("admin", "apply", str(EXAMPLE), "--dry-run", "--data-dir", str(tmp_path))
    assert done.returncode == 0, done.stderr
    assert "added user sam" in done.stdout
    assert "token" not in done.stdout
    again = main("admin", "apply", str(EXAMPLE), "--dry-run", "--data-dir", str(tmp_path))
    assert again.stdout == done.stdout


def test_oncall_answers_from_the_server_database(tmp_path: Path) -> None:
    assert main("admin", "apply", str(EXAMPLE), "--data-dir", str(tmp_path)).returncode == 0
    config = parse(EXAMPLE.read_text())
    schedule = config.schedules[0].name
    # a Wednesday morning in Berlin, inside the example's first rotation week
    at = "2026-12-02T10:00:00+01:00"
    one = main("oncall", schedule, "--at", at, "--data-dir", str(tmp_path))
    assert one.returncode == 0, one.stderr
    from console.domain.schedule import on_call
    from console.oncall_command import parse_at

    assert one.stdout.strip() == on_call(config.schedules[0], parse_at(at))
    every = main("oncall", "--at", at, "--data-dir", str(tmp_path))
    assert every.returncode == 0, every.stderr
    assert [line.split()[0] for line in every.stdout.splitlines()] == [s.name for s in config.schedules]
    unknown = main("oncall", "nope", "--data-dir", str(tmp_path))
    assert unknown.returncode == 1
    assert "no schedule named 'nope'" in unknown.stderr


def test_oncall_answers_offline_from_the_replica(tmp_path: Path) -> None:
    server_dir, console_dir = tmp_path / "server", tmp_path / "console"
    assert main("admin", "apply", str(EXAMPLE), "--data-dir", str(server_dir)).returncode == 0
    engine = open_engine(f"sqlite:///{server_dir / 'server.db'}")
    with engine.connect() as conn:
        page = read_page(conn, "", 10_000)
    engine.dispose()
    replica = Replica.in_dir(console_dir)
    replica.apply_page(orjson.loads(orjson.dumps(page)))  # as a sync brought it, before the link went down
    replica.close()
    at = "2026-12-02T10:00:00+01:00"
    from_server = main("oncall", "--at", at, "--data-dir", str(server_dir))
    from_replica = main("oncall", "--at", at, "--data-dir", str(console_dir))
    assert from_replica.returncode == 0, from_replica.stderr
    assert from_replica.stdout == from_server.stdout


def test_the_readme_example_applies(tmp_path: Path) -> None:
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"```toml\n(.*?)```", readme, re.DOTALL)
    assert block is not None, "README has no TOML example"
    config = parse(block.group(1), "README.md")
    assert config.escalation_policies
    assert config.schedules
    team = tmp_path / "team.toml"
    team.write_text(block.group(1))
    done = main("admin", "apply", str(team), "--data-dir", str(tmp_path))
    assert done.returncode == 0, done.stderr
