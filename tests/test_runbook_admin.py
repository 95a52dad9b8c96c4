"""`python main.py admin import-runbooks DIR` and `admin export-runbooks DIR` as real processes on a
real server database: the round trip through files, a second import changing nothing, and imports
refused whole with file:line (a bad file, or a runbook changed without raising its version)."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

from console.runbook_files import load_dir
from tests.serverproc import MAIN

EXAMPLES = Path(__file__).resolve().parent.parent / "resources" / "runbooks"


def admin(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(MAIN), "admin", *args, "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def stored(data_dir: Path) -> tuple[list[tuple[str, int]], int]:
    """(runbook id, version) in the server database, and its newest change-log seq."""
    with sqlite3.connect(data_dir / "server.db") as db:
        runbooks = db.execute("SELECT id, version FROM runbooks ORDER BY id").fetchall()
        seq = db.execute("SELECT coalesce(max(seq), 0) FROM change_log").fetchone()[0]
    return [(str(i), int(v)) for i, v in runbooks], int(seq)


def copy_examples(tmp_path: Path) -> Path:
    folder = tmp_path / "runbooks"
    shutil.copytree(EXAMPLES, folder)
    return folder


def test_import_export_round_trip_and_a_second_import_changes_nothing(tmp_path: Path) -> None:
    data = tmp_path / "data"
    done = admin(data, "import-runbooks", str(EXAMPLES))
    assert done.returncode == 0, done.stderr
    assert sorted(done.stdout.splitlines()) == [
        "added checkout-api-high-error-rate (version 3): checkout-api: high error rate",
        "added disk-full (version 2): Disk almost full",
        "added tls-certificate-expiry (version 1): TLS certificate expires soon",
    ]
    runbooks, seq = stored(data)
    assert runbooks == [("checkout-api-high-error-rate", 3), ("disk-full", 2), ("tls-certificate-expiry", 1)]

    again = admin(data, "import-runbooks", str(EXAMPLES))
    assert again.returncode == 0, again.stderr
    assert again.stdout == "Nothing to change: the server holds these 3 runbook(s) already.\n"
    assert stored(data) == (runbooks, seq)  # not even an empty change

    out = tmp_path / "exported"
    exported = admin(data, "export-runbooks", str(out))
    assert exported.returncode == 0, exported.stderr
    assert sorted(path.name for path in out.iterdir()) == [
        "checkout-api-high-error-rate.md",
        "disk-full.md",
        "tls-certificate-expiry.md",
    ]
    by_id = sorted(load_dir(EXAMPLES), key=lambda runbook: runbook.id)
    assert sorted(load_dir(out), key=lambda runbook: runbook.id) == by_id
    back = admin(data, "import-runbooks", str(out))
    assert back.returncode == 0, back.stderr
    assert back.stdout.startswith("Nothing to change")
    assert stored(data) == (runbooks, seq)


def test_a_bad_file_refuses_the_import_whole_with_file_and_line(tmp_path: Path) -> None:
    data = tmp_path / "data"
    folder = copy_examples(tmp_path)
    bad = folder / "disk-full.md"
    bad.write_text(bad.read_text().replace("version: 2", "version: two"))
    done = admin(data, "import-runbooks", str(folder))
    assert done.returncode == 1
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert lines[0] == f"error: {folder} was not imported; nothing changed:"
    assert lines[1].startswith(f"{bad}:4: version")
    assert "Traceback" not in done.stderr
    assert stored(data)[0] == []  # the good files were not imported either


def test_a_changed_runbook_must_have_a_higher_version(tmp_path: Path) -> None:
    data = tmp_path / "data"
    folder = copy_examples(tmp_path)
    assert admin(data, "import-runbooks", str(folder)).returncode == 0
    before = stored(data)
    changed = folder / "tls-certificate-expiry.md"
    text = changed.read_text()
    changed.write_text(text.replace("title: TLS certificate expires soon", "title: TLS certificate expiring"))
    done = admin(data, "import-runbooks", str(folder))
    assert done.returncode == 1
    assert done.stderr.splitlines()[1] == (
        f"{changed}:4: version: 1 is not above version 1, which the server holds with other content; "
        "raise it to 2"
    )
    assert stored(data) == before
    changed.write_text(changed.read_text().replace("version: 1", "version: 2"))
    done = admin(data, "import-runbooks", str(folder))
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["changed tls-certificate-expiry: version 1 → 2", "2 unchanged"]
    assert ("tls-certificate-expiry", 2) in stored(data)[0]
